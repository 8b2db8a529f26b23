# netns-lab/lib/inbound.sh: helpers for the inbound distributor scenarios (inbound-queue).
#
# Hand-made tunnel-mode SAs (no IKE): the peer's protected addresses 10.1.0.N each use their
# own inbound SA (SPI 0x100N) toward the DVIPA, which every target holds; each target has its
# own outbound SA back to the peer. The router holds no SA at all.

# The tool, from the run's binary snapshot (netns-lab/run copies it with the others).
inbound_tool() {
  [[ -x "$VIPSEC_BIN/vipsec-inbound-lab" ]] || { echo "no vipsec-inbound-lab in $VIPSEC_BIN" >&2; return 1; }
  echo "$VIPSEC_BIN/vipsec-inbound-lab"
}

# Lab-only keys (never printed: lab_show_xfrm masks them). One AEAD key per SA.
inbound_key() { printf '0x%s%08x' "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20" "$1"; }

# inbound_sa NS SRC DST SPI [extra ip-xfrm words...]: a tunnel-mode AES-GCM SA.
inbound_sa() {
  local ns=$1 src=$2 dst=$3 spi=$4; shift 4
  nsx "$ns" ip xfrm state add src "$src" dst "$dst" proto esp spi "$spi" reqid "$((spi & 0xff))" mode tunnel \
    replay-window 128 aead 'rfc4106(gcm(aes))' "$(inbound_key "$spi")" 128 "$@"
}

# inbound_sa_packets NS SRC DST SPI: the SA's packet counter (`ip -s xfrm state get`), or -1.
inbound_sa_packets() {
  nsx "$1" ip -s xfrm state get src "$2" dst "$3" proto esp spi "$4" 2>/dev/null | awk '
    /lifetime current:/ { cur = 1; next }
    cur && /bytes/ { print $2 + 0; found = 1; exit }
    END { if (!found) print -1 }'
}

# inbound_nft_counter NS TABLE-FAMILY TABLE NAME: packets of a named nft counter.
inbound_nft_counter() {
  nsx "$1" nft list counter "$2" "$3" "$4" 2>/dev/null | awk '/packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }'
}

# inbound_queue_start [ARGS...]: the lab tool's queue in the router namespace, log in
# $LAB_LOG/queue.log (appended), pid in $LAB_RUN/queue.pid.
inbound_queue_start() {
  local tool
  tool=$(inbound_tool) || return 1
  # Not through the nsx function: `func &` forks a bash subshell, and $! would be that
  # shell, not the tool (`ip netns exec` execs the tool in its own process).
  ip netns exec router "$tool" queue "$@" >>"$LAB_LOG/queue.log" 2>&1 &
  echo $! >"$LAB_RUN/queue.pid"
  wait_for 20 grep -q "bound:" "$LAB_LOG/queue.log"
}

# inbound_queue_stop: SIGTERM, wait for its exit (it prints counters and unbinds).
inbound_queue_stop() {
  local pid
  pid=$(cat "$LAB_RUN/queue.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; return 1; }
  rm -f "$LAB_RUN/queue.pid"
  return 0
}

# inbound_queue_counter NAME: the last value of NAME=... printed by the tool (SIGUSR1).
inbound_queue_counter() {
  local pid
  pid=$(cat "$LAB_RUN/queue.pid" 2>/dev/null) && kill -USR1 "$pid" 2>/dev/null && sleep 0.7
  grep -o "$1=[0-9]*" "$LAB_LOG/queue.log" | tail -1 | cut -d= -f2
}

# inbound_ping FROM COUNT: pings the DVIPA from the peer's protected address FROM; prints
# the replies received.
inbound_ping() {
  nsx peer ping -n -q -c "$2" -i 0.3 -W 2 -I "$1" "$LAB_DVIPA" 2>/dev/null |
    awk '/packets transmitted/ { for (i = 1; i <= NF; i++) if ($i ~ /^received/) print $(i - 1) }'
}

# --- The whole cluster with the inbound distributor (inbound-replay, inbound-failclosed) ---

# inbound_cluster_up: after `lab_up 3` (with cluster.sh and strongswan.sh sourced): PKI,
# `vipsec routing` with `inbound { mode = $INBOUND_MODE }` (default direct; config in $LAB_RUN/routing.conf), the
# peer's strongSwan connection, agents t1-t3 each with inbound-service.py (rp_filter strict
# before the agent starts: the agent must loosen it, the forwarded ESP arrives on clu0 from
# the peer's address), the IKE_SA with one per-target
# CHILD_SA each, the classifier holding every inbound SA. Each step is a check.
inbound_cluster_up() {
  local i
  cluster_pki router t1 t2 t3 --rogue   # no rogue credentials: none of its users needs them (openssl is slow here)
  CLUSTER_EXTRA=$'        inbound {\n            mode = '"${INBOUND_MODE:-direct}"$'\n            queue = 0\n        }' cluster_ike_config "$LAB_RUN/routing.conf"
  check "vipsec routing starts (cluster channel, IKE sockets, inbound distributor)" cluster_ike_routing_start "$LAB_RUN/routing.conf"
  check "charon starts in peer" ss_start peer
  check "peer loads its connection to the DVIPA" cluster_peer_connection
  for i in 1 2 3; do
    # Strict reverse-path filtering, as many distributions set it: the agent loosens it.
    nsx "t$i" sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.clu0.rp_filter=1
    cluster_agent_start "$i"
    ip netns exec "t$i" python3 -S "$VIPSEC_ROOT/netns-lab/lib/inbound-service.py" "t$i" >>"$LAB_LOG/service-t$i.log" 2>&1 &
    echo $! > "$LAB_RUN/t$i/service.pid"
  done
  _inbound_three_members() { [[ "$(cluster_members | tr '\n' ' ')" == "t1 t2 t3 " ]]; }
  check "t1, t2, t3 join the routing node" wait_for 120 _inbound_three_members
  # Loose on clu0 only: all goes to 0 and wan0 keeps its strictness on its own value.
  _inbound_loose() {
    local out; out=$(nsx "t$1" sysctl net.ipv4.conf.all.rp_filter net.ipv4.conf.clu0.rp_filter net.ipv4.conf.wan0.rp_filter)
    echo "$out"
    grep -qx 'net.ipv4.conf.all.rp_filter = 0' <<<"$out" && grep -qx 'net.ipv4.conf.clu0.rp_filter = 2' <<<"$out" \
      && grep -qx 'net.ipv4.conf.wan0.rp_filter = 1' <<<"$out"
  }
  for i in 1 2 3; do check "t$i: the agent made rp_filter loose on clu0 only (all 1 -> 0, clu0 1 -> 2, wan0 stays strict: 1)" _inbound_loose "$i"; done
  _inbound_service_up() { nsx "t$1" ss -ltn | grep -q ':8080'; }
  for i in 1 2 3; do check "t$i: the service listens" wait_for 20 _inbound_service_up "$i"; done
  inbound_establish
}

# inbound_establish: the peer initiates to the DVIPA; every target gets its per-target
# CHILD_SA and the classifier every inbound SA (checks).
inbound_establish() {
  check "peer initiates to the DVIPA" ss_initiate peer lab
  _inbound_three_owners() { [[ "$(cluster_outbound_owners | tr '\n' ' ')" == "t1 t2 t3 " ]]; }
  check "one per-target outbound SA for each of t1, t2, t3" wait_for 120 _inbound_three_owners
  _inbound_classifier_sas() { cluster_router_status | jq -r '.routing.inbound.sas'; }
  _inbound_sa_count() { cluster_inbound_spis | wc -l; }
  check "the classifier holds every inbound SA the authority distributes" \
    wait_for_eq 30 "$(_inbound_sa_count)" _inbound_classifier_sas
}

# inbound_stop_services: the targets' inbound-service.py.
inbound_stop_services() { local i; for i in 1 2 3; do kill "$(cat "$LAB_RUN/t$i/service.pid")" 2>/dev/null; done; }
