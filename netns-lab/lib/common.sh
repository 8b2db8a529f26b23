# netns-lab/lib/common.sh: what every scenario shares: checks, waiting, logging.
#
# A scenario sources this (topology.sh and strongswan.sh source it too), calls `check`
# for every property it verifies, and ends with `lab_finish`, whose exit status is the
# verdict. Every check prints one line: `check: <what> ... ok` or `... FAILED`.

LAB_CHECKS_FAILED=${LAB_CHECKS_FAILED:-0}
LAB_CHECKS_PASSED=${LAB_CHECKS_PASSED:-0}
# Scratch space that lives as long as the VM (or this host run): configs, pids, sockets.
LAB_RUN=${LAB_RUN:-/dev/shm/lab}
mkdir -p "$LAB_RUN"

lab_log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*"; }   # bash's clock: no `date` start per line

# check "what is verified" command [args...]
# Runs the command; its output goes to the log; the check passes when it exits 0.
check() {
  local what=$1; shift
  local out started=$SECONDS
  if out=$("$@" 2>&1); then
    LAB_CHECKS_PASSED=$((LAB_CHECKS_PASSED + 1))
    printf 'check: %s ... ok\n' "$what"
  else
    LAB_CHECKS_FAILED=$((LAB_CHECKS_FAILED + 1))
    printf 'check: %s ... FAILED\n' "$what"
  fi
  [[ -n "$out" ]] && printf '%s\n' "$out" | sed 's/^/    /'
  # Where a scenario spends its time: a check that waited shows how long, and when.
  (( SECONDS - started >= 5 )) && printf '    (took %ss, at %ss)\n' "$((SECONDS - started))" "$SECONDS"
  return 0
}

# lab_status_json SOCKET: the JSON document a vipsec status socket answers with, the bytes
# `vipsec status --json` prints (it checks and passes them through). The polls use this:
# under emulation a start of socat costs a small part of a start of the Swift CLI, which a
# poll of every half second would pay again and again. Fails when the socket cannot be read
# or the daemon answered with an error. The CLI itself is checked where a scenario shows
# `vipsec status` to the operator (text and --json).
lab_status_json() {
  local out
  out=$(socat -t 10 -T 10 -u "UNIX-CONNECT:$1" STDOUT 2>/dev/null) || { echo "status socket $1: cannot be read" >&2; return 1; }
  [[ $out == "{"* && $out != '{"error"'* ]] || { echo "status socket $1 answered: ${out:0:200}" >&2; return 1; }
  printf '%s\n' "$out"
}

# expect_ge NAME VALUE MINIMUM: succeeds when VALUE >= MINIMUM, saying both.
expect_ge() {
  local name=$1 value=$2 minimum=$3
  [[ "$value" =~ ^[0-9]+$ ]] || { echo "$name: '$value' is not a number"; return 1; }
  echo "$name = $value (want >= $minimum)"
  (( value >= minimum ))
}

# expect_eq NAME VALUE WANT
expect_eq() {
  local name=$1 value=$2 want=$3
  echo "$name = $value (want $want)"
  [[ "$value" == "$want" ]]
}

# The pause between two polls: 0.5 s, or as long as the poll itself took when that was
# longer. A poll of `vipsec status | jq` costs a second of CPU under emulation; polled
# back to back it would take a whole vCPU from the very daemons it waits for. Call with the
# poll's start time ($EPOCHREALTIME).
# Pure bash (no awk, no sleep: each would be one more program start per poll).
_poll_pause() {
  local start=${1/[.,]/} now=${EPOCHREALTIME/[.,]/} took
  took=$(( 10#$now - 10#$start ))
  (( took < 500000 )) && took=500000
  local fraction; printf -v fraction '%06d' $(( took % 1000000 ))
  read -rt "$(( took / 1000000 )).$fraction" -u "$_LAB_PAUSE_FD" _ || true
}
# A pipe nobody writes to: `read -t` on it is a sleep without a program start.
[[ -n ${_LAB_PAUSE_FD:-} ]] || exec {_LAB_PAUSE_FD}<> <(:)

# wait_for SECONDS command [args...]: polls (every 0.5 s at most) until the command succeeds.
# wait_for_eq SECONDS WANT CMD...: runs CMD again until it prints WANT (at most SECONDS);
# prints what it printed last. (`wait_for N test "$(cmd)" = X` would run cmd once.)
wait_for_eq() {
  local seconds=$1 want=$2; shift 2
  local deadline=$((SECONDS + seconds)) got start
  while :; do
    start=$EPOCHREALTIME
    got=$("$@" 2>/dev/null)
    if [[ $got == "$want" ]]; then echo "$got (want $want)"; return 0; fi
    if (( SECONDS >= deadline )); then echo "$got (want $want)"; return 1; fi
    _poll_pause "$start"
  done
}

wait_for() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds)) start
  while start=$EPOCHREALTIME; ! "$@" >/dev/null 2>&1; do
    (( SECONDS >= deadline )) && return 1
    _poll_pause "$start"
  done
}

# lab_settle SECONDS CMD...: polls CMD every 0.5 s until its output has not changed for 1.5 s
# (traffic drained, counters at rest: a state, not a guessed sleep); prints the last output;
# fails when it is still moving after SECONDS.
lab_settle() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds)) last="" now same=0 start
  while :; do
    start=$EPOCHREALTIME
    now=$("$@" 2>/dev/null)
    if [[ $now == "$last" ]]; then same=$((same + 1)); else same=0; last=$now; fi
    (( same >= 3 )) && { echo "$now"; return 0; }
    (( SECONDS >= deadline )) && { echo "$now (still changing after ${seconds}s)"; return 1; }
    _poll_pause "$start"
  done
}

# lab_finish: prints the tally and exits with the verdict (0 only if checks ran and all passed).
lab_finish() {
  echo "checks: $LAB_CHECKS_PASSED passed, $LAB_CHECKS_FAILED failed"
  if (( LAB_CHECKS_PASSED == 0 && LAB_CHECKS_FAILED == 0 )); then
    echo "no check ran: that is a failure"
    exit 1
  fi
  (( LAB_CHECKS_FAILED == 0 ))
  exit $?
}

# lab_require_root: the lab creates namespaces and kernel state.
lab_require_root() {
  [[ $(id -u) -eq 0 ]] || { echo "the lab must run as root" >&2; exit 1; }
}
