# netns-lab/lib/lifecycle.sh: stopping daemons and checking what they leave (scenario
# `lifecycle`). Source after topology.sh and cluster.sh. Every pid is this scenario's own
# child (kept in $LAB_RUN): nothing here matches processes by name.

# The promise: a stop takes at most 2 s. Under software emulation on a loaded 2-core host a
# process's own work (netlink removals, its exit) is many times slower, hence the slack (7 s:
# the scenario runs beside two others on the same two emulated CPUs; the original bug never
# exited at all).
LIFE_BOUND_MS=${LIFE_BOUND_MS:-2000}
LIFE_SLACK_MS=${LIFE_SLACK_MS:-7000}
LIFE_LIMIT_MS=$((LIFE_BOUND_MS + LIFE_SLACK_MS))

# The build a lifecycle run stops, by LIFE_BUILD: release ($VIPSEC_RELEASE_BIN, the default)
# or debug ($VIPSEC_DEBUG_BIN).
life_build_dir() { if [[ ${LIFE_BUILD:-release} == release ]]; then echo "${VIPSEC_RELEASE_BIN:-}"; else echo "${VIPSEC_DEBUG_BIN:-}"; fi; }

# life_build_present: that build is there. A missing build is a FAILED check, never a skip.
life_build_present() {
  local dir; dir=$(life_build_dir)
  echo "${LIFE_BUILD:-release} build: '$dir'"
  [[ -n $dir && -x $dir/vipsec ]] \
    || { echo "no ${LIFE_BUILD:-release} build (VIPSEC_DEBUG_BIN / VIPSEC_RELEASE_BIN empty or without vipsec)"; return 1; }
}

# life_builds: "NAME=PATH" for that build, copied to tmpfs ($LAB_RUN: every start would page
# the binary in again over 9p otherwise); nothing when it is missing, so its cases do not run.
life_builds() {
  local name=${LIFE_BUILD:-release} dir; dir=$(life_build_dir)
  [[ -n $dir && -x $dir/vipsec ]] || return 0
  mkdir -p "$LAB_RUN/$name" && cp "$dir/vipsec" "$LAB_RUN/$name/vipsec" && echo "$name=$LAB_RUN/$name/vipsec"
}

# life_exited PID: the process is gone or a zombie (exited, not yet reaped).
life_exited() {
  local state
  [[ -r /proc/$1/stat ]] || return 0
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
  [[ -z $state || $state == Z ]]
}

# life_poll SECONDS CMD...: like wait_for, polling every 0.05 s (for moments that matter).
life_poll() {
  local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s%N) >= deadline )) && return 1
    sleep 0.05
  done
}

# life_stop PID LOG SIGNALS: SIGTERM (SIGNALS=2: a second one once the daemon logged the
# first), then waits for the exit. Sets LIFE_MS (signal to exit), LIFE_STATUS (exit
# status; "killed" when it outlived the limit and was SIGKILLed) and LIFE_SECOND (what
# happened to the second signal). Must run in the scenario's shell (it reaps its child).
life_stop() {
  local pid=$1 log=$2 signals=$3 start
  LIFE_SECOND=""
  start=$(date +%s%N)
  kill -TERM "$pid" 2>/dev/null
  if [[ $signals == 2 ]]; then
    if life_poll 5 grep -q "stopping" "$log"; then
      kill -TERM "$pid" 2>/dev/null && LIFE_SECOND="sent" || LIFE_SECOND="exited before the second signal"
    else
      LIFE_SECOND="no 'stopping' line within 5 s"
      kill -TERM "$pid" 2>/dev/null
    fi
  fi
  life_poll $(( (LIFE_LIMIT_MS + 999) / 1000 + 3 )) life_exited "$pid"
  LIFE_MS=$(( ($(date +%s%N) - start) / 1000000 ))
  if life_exited "$pid"; then
    wait "$pid"; LIFE_STATUS=$?
  else
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; LIFE_STATUS=killed
  fi
  echo "$LIFE_MS" >>"$LAB_RUN/stop-times"
}

# life_stopped_in_time WHAT: the verdict on the last life_stop (status 0 within the limit).
life_stopped_in_time() {
  echo "$1: stopped in $LIFE_MS ms (promise $LIFE_BOUND_MS ms + $LIFE_SLACK_MS ms emulation slack), exit status $LIFE_STATUS${LIFE_SECOND:+, second signal: $LIFE_SECOND}"
  [[ $LIFE_STATUS == 0 ]] && (( LIFE_MS <= LIFE_LIMIT_MS ))
}

# life_host_clean NS [SOCKET] [JOURNAL]: no SA, no policy, no DVIPA on lo, no socket file,
# no journal in NS.
life_host_clean() {
  local ns=$1 socket=${2:-} journal=${3:-} dirty=0
  local states policies lo
  states=$(nsx "$ns" ip xfrm state); policies=$(nsx "$ns" ip xfrm policy)
  lo=$(nsx "$ns" ip addr show dev lo | grep -F " $LAB_DVIPA/")
  [[ -z $states ]] || { echo "ip xfrm state in $ns:"; echo "$states" | head -8; dirty=1; }
  [[ -z $policies ]] || { echo "ip xfrm policy in $ns:"; echo "$policies" | head -8; dirty=1; }
  [[ -z $lo ]] || { echo "the DVIPA is still on $ns's lo: $lo"; dirty=1; }
  [[ -z $socket || ! -e $socket ]] || { echo "the status socket $socket is still there"; dirty=1; }
  [[ -z $journal || ! -e $journal ]] || { echo "the journal $journal is still there"; dirty=1; }
  ((dirty == 0)) && echo "$ns: no SA, no policy, no DVIPA on lo${socket:+, no $socket}${journal:+, no journal}"
  return $dirty
}

# life_target_start BIN LOG ROUTING [extra options...]: `BIN target` in t1 (pid in LIFE_PID).
life_target_start() {
  local bin=$1 log=$2 routing=$3; shift 3
  mkdir -p "$LAB_RUN/t1"
  : >"$log"
  ip netns exec t1 "$bin" target --node-id t1 --routing "$routing" \
    --cert "$CLUSTER_PKI/t1.crt" --key "$CLUSTER_PKI/t1.key" --ca "$CLUSTER_PKI/ca.crt" --dvipa "$LAB_DVIPA" \
    --cluster-address "$(lab_target_clu 1)" --status-socket "$LAB_RUN/t1/status.sock" \
    --state-dir "$LAB_RUN/t1" "$@" >>"$log" 2>&1 &
  LIFE_PID=$!
  echo "$LIFE_PID" >"$LAB_RUN/t1/pid"
}

# life_t1_socket_to ADDR:PORT STATE: t1 has a TCP socket in STATE (syn-sent, established) to ADDR:PORT.
life_t1_socket_to() { nsx t1 ss -Htn state "$2" dst "$1" | grep -q .; }

# life_silent_listener PORT: a TCP listener on the router's cluster address that accepts and
# never says a word (no TLS), in [router]; pid in LIFE_LISTENER.
life_silent_listener() {
  ip netns exec router python3 -S -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$LAB_ROUTER_CLU" "$1" >>"$LAB_LOG/silent-listener.log" 2>&1 &
  LIFE_LISTENER=$!
  echo "$LIFE_LISTENER" >"$LAB_RUN/listener.pid"
  wait_for 20 sh -c "ip netns exec router ss -Htln | grep -q ':$1 '"
}

# life_standalone_config FILE: `vipsec routing` without a cluster: one tunnel CHILD_SA
# (router subnet <-> peer subnet) that the peer initiates.
life_standalone_config() { CLUSTER_SECTION=no LOCAL_TS=$LAB_ROUTER_SUBNET cluster_ike_config "$1"; }

# life_routing_start BIN CONF LOG: `BIN routing` in [router] (pid in LIFE_RPID).
life_routing_start() {
  mkdir -p "$LAB_RUN/router"
  : >"$3"
  ip netns exec router "$1" routing --config "$2" --log-level debug >>"$3" 2>&1 &
  LIFE_RPID=$!
  echo "$LIFE_RPID" >"$LAB_RUN/router/pid"
}

# life_fails_fast WHAT OPTION BIN target-options...: `BIN target` exits non-zero within the
# limit with a one-line error naming OPTION, and installs nothing in t1.
life_fails_fast() {
  local option=$1 bin=$2; shift 2
  local start out status ms lines
  start=$(date +%s%N)
  out=$(timeout 30 ip netns exec t1 "$bin" target "$@" 2>&1); status=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  lines=$(grep -c . <<<"$out")
  echo "exit $status after $ms ms; output ($lines lines): $out"
  (( status != 0 && status != 124 )) && [[ $lines == 1 ]] && grep -q -- "$option" <<<"$out" \
    && life_host_clean t1 "$LAB_RUN/t1/status.sock"
}
