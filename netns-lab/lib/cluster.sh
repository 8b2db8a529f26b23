# netns-lab/lib/cluster.sh: the cluster's pieces in the lab: credentials, a routing node fed
# with test SAs (vipsec-cluster-lab routing: stands in for the IKE daemon until it drives
# ClusterService.install), and `vipsec target` agents; and the whole cluster with vipsec's IKE
# daemon (`vipsec routing` with `vipsec { cluster { } }`, cluster-outbound/-lifesize). Source after topology.sh.

CLUSTER_PORT=4501

# The binaries the cluster scenarios run (netns-lab/run hands the guest private copies).
CLUSTER_BIN=$VIPSEC_BIN
[[ -x "$CLUSTER_BIN/vipsec" && -x "$CLUSTER_BIN/vipsec-cluster-lab" ]] \
  || { echo "cluster.sh: no vipsec or vipsec-cluster-lab in $CLUSTER_BIN" >&2; exit 1; }
CLUSTER_PKI=$LAB_RUN/pki
CLUSTER_ROGUE=$LAB_RUN/rogue-pki

# cluster_pki NODE... [--rogue NODE...]: a fresh cluster CA with credentials for every NODE,
# and a rogue CA that issues the same names (a node "with wrong credentials"): for the nodes
# after --rogue, or for every NODE without it. (Each openssl run costs seconds under
# emulation: issue only what the scenario uses.)
cluster_pki() {
  rm -rf "$CLUSTER_PKI" "$CLUSTER_ROGUE"
  local nodes=() rogues=() node
  while (($#)) && [[ $1 != --rogue ]]; do nodes+=("$1"); shift; done
  if (($#)); then shift; rogues=("$@"); else rogues=("${nodes[@]}"); fi
  "$VIPSEC_ROOT/scripts/cluster-ca" init "$CLUSTER_PKI" >/dev/null
  for node in "${nodes[@]}"; do "$VIPSEC_ROOT/scripts/cluster-ca" issue "$CLUSTER_PKI" "$node" >/dev/null; done
  "$VIPSEC_ROOT/scripts/cluster-ca" init "$CLUSTER_ROGUE" >/dev/null
  for node in "${rogues[@]}"; do "$VIPSEC_ROOT/scripts/cluster-ca" issue "$CLUSTER_ROGUE" "$node" >/dev/null; done
}

# cluster_routing_start [extra options...]: the routing node's cluster side in [router].
# (`ip netns exec` execs the program, so $! is its pid, for kill -STOP/-KILL)
cluster_routing_start() {
  mkdir -p "$LAB_RUN/router"
  ip netns exec router "$CLUSTER_BIN/vipsec-cluster-lab" routing --listen "$LAB_ROUTER_CLU:$CLUSTER_PORT" \
    --cert "$CLUSTER_PKI/router.crt" --key "$CLUSTER_PKI/router.key" --ca "$CLUSTER_PKI/ca.crt" \
    --status-socket "$LAB_RUN/router/status.sock" --peer "$LAB_PEER_WAN" --dvipa "$LAB_DVIPA" \
    --remote-ts "$LAB_PEER_SUBNET" --local-ts "$LAB_ROUTER_SUBNET" "$@" \
    >>"$LAB_LOG/routing.log" 2>&1 &
  echo $! > "$LAB_RUN/router/pid"
  wait_for 90 test -S "$LAB_RUN/router/status.sock"
}

cluster_routing_pid() { cat "$LAB_RUN/router/pid"; }

# cluster_agent_start N [pki dir] [extra options...]: `vipsec target` in tN.
cluster_agent_start() {
  local i=$1 pki=${2:-$CLUSTER_PKI}; shift; (($#)) && shift
  mkdir -p "$LAB_RUN/t$i"
  ip netns exec "t$i" "$CLUSTER_BIN/vipsec" target --node-id "t$i" --routing "$LAB_ROUTER_CLU:$CLUSTER_PORT" \
    --cert "$pki/t$i.crt" --key "$pki/t$i.key" --ca "$pki/ca.crt" --dvipa "$LAB_DVIPA" \
    --cluster-address "$(lab_target_clu "$i")" --status-socket "$LAB_RUN/t$i/status.sock" \
    --state-dir "$LAB_RUN/t$i" "$@" >>"$LAB_LOG/agent-t$i.log" 2>&1 &
  echo $! > "$LAB_RUN/t$i/pid"
}

cluster_agent_pid() { cat "$LAB_RUN/t$1/pid"; }

# cluster_status NS SOCKET: what `vipsec status --json` prints for the node whose socket is
# SOCKET, read from the socket (lab_status_json: one cheap program start per poll). A unix
# socket's path reaches it from any network namespace, so no `ip netns exec` (NS stays in the
# signature for the reader). cluster_status_cli: the same through `vipsec status --json`.
cluster_status() { lab_status_json "$2"; }
cluster_status_cli() { "$CLUSTER_BIN/vipsec" status --json --socket "$2"; }
cluster_router_status() { cluster_status router "$LAB_RUN/router/status.sock"; }
cluster_target_status() { cluster_status "t$1" "$LAB_RUN/t$1/status.sock"; }

# cluster_members: the routing node's members, one per line, sorted.
# (fails when the status cannot be read, so "not a member" is never concluded from an error)
cluster_members() {
  local status
  status=$(cluster_router_status) || return 1
  jq -er '.routing.members | map(.node) | sort | .[]' <<<"$status" || [[ "$(jq -r '.routing.members | length' <<<"$status")" == 0 ]]
}

# cluster_kernel_spis N: the SPIs in tN's kernel (`ip xfrm state`), sorted, one per line.
cluster_kernel_spis() { nsx "t$1" ip xfrm state | awk '/proto esp spi/ { print $4 }' | sort; }

# cluster_status_spis N: the SPIs tN's agent says are in its kernel.
cluster_status_spis() { cluster_target_status "$1" | jq -r '.target.sas[] | select(.inKernel) | .spi' | sort; }

# cluster_inbound_spis: the inbound SAs the routing node distributes.
cluster_inbound_spis() { cluster_router_status | jq -r '.routing.sas[] | select(.direction == "in") | .spi' | sort; }

# cluster_outbound_spi_of N: the per-target outbound SA owned by tN.
cluster_outbound_spi_of() {
  cluster_router_status | jq -r --arg o "per-target(t$1)" '.routing.sas[] | select(.sequencing == $o) | .spi'
}

# cluster_expected_spis N: what tN must hold: every inbound SA plus its own outbound one.
cluster_expected_spis() { { cluster_inbound_spis; cluster_outbound_spi_of "$1"; } | sort; }

# cluster_target_agrees N: tN's kernel, its agent's status and the routing node's plan agree.
cluster_target_agrees() {
  local i=$1 kernel status expected
  kernel=$(cluster_kernel_spis "$i"); status=$(cluster_status_spis "$i"); expected=$(cluster_expected_spis "$i")
  echo "t$i ip xfrm state: $(echo $kernel)"
  echo "t$i vipsec status: $(echo $status)"
  echo "routing node plan: $(echo $expected)"
  [[ -n "$kernel" && "$kernel" == "$status" && "$kernel" == "$expected" ]]
}

# cluster_holders_include SPI NODE: the routing node lists NODE as a holder of SPI.
cluster_holders_include() {
  cluster_router_status | jq -e --arg s "$1" --arg n "$2" '.routing.sas[] | select(.spi == $s) | .holders | index($n)' >/dev/null
}

# cluster_drop NAME: a frame drop counter of the routing node (0 when absent).
cluster_drop() { cluster_router_status | jq -r --arg n "$1" '.routing.drops.frames[$n] // 0'; }
cluster_authority_drop() { cluster_router_status | jq -r --arg n "$1" '.routing.drops[$n]'; }

# cluster_stop_all: ends the routing node and agents started here.
cluster_stop_all() {
  local f
  for f in "$LAB_RUN"/t*/pid "$LAB_RUN/router/pid"; do
    [[ -f "$f" ]] && kill "$(cat "$f")" 2>/dev/null
  done
  sleep 1
  return 0
}

# settled SECONDS command...: waits until the command succeeds, then runs it once more so
# its output (what was compared) lands in the log.
settled() { local seconds=$1; shift; wait_for "$seconds" "$@"; "$@"; }

# --- The whole cluster with vipsec's IKE daemon (cluster-outbound, cluster-lifesize) ---

# cluster_ike_config FILE [child lines...]: `vipsec routing`'s config: IKE on the DVIPA,
# `vipsec { cluster { } }` on the cluster LAN, one connection `lab` for the peer with
# local_ts = DVIPA/32 (the targets send from the DVIPA) and remote_ts = the peer's subnet.
# Extra lines (e.g. `life_bytes = 1m`) go into the child. CLUSTER_EXTRA: lines for cluster { }.
# CLUSTER_SECTION=no leaves cluster { } out (a standalone gateway, as lifecycle runs it) and
# LOCAL_TS replaces the child's local_ts; CLUSTER_MEMBER_TIMEOUT the failure timeout [15s],
# CLUSTER_INSTALL_TIMEOUT the install timeout [20s]. IKE_AUTH=pubkey: both sides authenticate
# with certificates (ours: x509/routing.der + x509/int.der with its key in private/, the
# peer's to x509ca/root.der, all next to FILE), no PSK.
cluster_ike_config() {
  local file=$1; shift
  local extra_child="" cluster="" nl=$'\n'
  local local_auth="auth = psk" remote_auth="auth = psk"
  if [[ ${IKE_AUTH:-psk} == pubkey ]]; then
    local_auth="auth = pubkey${nl}            certs = routing.der, int.der"
    remote_auth="auth = pubkey${nl}            cacerts = root.der"
  fi
  (($#)) && extra_child=$(printf '\n                %s' "$@")
  local local_ts=${LOCAL_TS:-$LAB_DVIPA/$(lab_host_prefix "$LAB_DVIPA")}
  [[ ${CLUSTER_SECTION:-yes} == no ]] || cluster=$(cat <<SECTION
    cluster {
        listen = $LAB_ROUTER_CLU:$CLUSTER_PORT
        ca = $CLUSTER_PKI/ca.crt
        cert = $CLUSTER_PKI/router.crt
        key = $CLUSTER_PKI/router.key
        dvipa = $LAB_DVIPA
        status_socket = $LAB_RUN/router/status.sock
        install_timeout = ${CLUSTER_INSTALL_TIMEOUT:-20s}
        heartbeat = 0.5s
        member_timeout = ${CLUSTER_MEMBER_TIMEOUT:-15s}
${CLUSTER_EXTRA:-}
    }
SECTION
)
  cat > "$file" <<CONF
vipsec {
    listen = $LAB_DVIPA${cluster:+$nl$cluster}
}
connections {
    lab {
        version = 2
        local_addrs = $LAB_DVIPA
        remote_addrs = $LAB_PEER_WAN
        proposals = aes256gcm16-prfsha256-x25519
        local {
            $local_auth
            id = $LAB_DVIPA
        }
        remote {
            $remote_auth
            id = $LAB_PEER_WAN
        }
        children {
            lab {
                local_ts = $local_ts
                remote_ts = $LAB_PEER_SUBNET
                esp_proposals = aes256gcm16
                mode = tunnel
                start_action = none$extra_child
            }
        }
    }
}
secrets {
    ike-lab {
        id-1 = $LAB_DVIPA
        id-2 = $LAB_PEER_WAN
        secret = "$LAB_PSK"
    }
}
CONF
  chmod 600 "$file"
}

# cluster_ike_routing_start CONF: `vipsec routing --config CONF` in [router] (pid in router/pid).
cluster_ike_routing_start() {
  mkdir -p "$LAB_RUN/router"
  ip netns exec router "$CLUSTER_BIN/vipsec" routing --config "$1" --log-level debug >>"$LAB_LOG/routing.log" 2>&1 &
  echo $! > "$LAB_RUN/router/pid"
  wait_for 90 test -S "$LAB_RUN/router/status.sock" && wait_for 60 grep -q ":4500" "$LAB_LOG/routing.log"
}

# cluster_peer_connection [key=value...]: the peer's strongSwan connection `lab` to the DVIPA.
cluster_peer_connection() {
  ss_conn peer lab local_addrs=$LAB_PEER_WAN remote_addrs=$LAB_DVIPA \
    local_ts=$LAB_PEER_SUBNET remote_ts=$LAB_DVIPA/$(lab_host_prefix "$LAB_DVIPA") "$@"
  ss_load peer
}

# cluster_outbound_owners: "tN" for every per-target outbound SA, sorted (one line each).
cluster_outbound_owners() {
  cluster_router_status | jq -r '.routing.sas[] | select(.direction == "out") | .sequencing' |
    sed -n 's/^per-target(\(.*\))$/\1/p' | sort
}

# cluster_send N COUNT SIZE [PAUSE_EVERY]: tN sends COUNT UDP datagrams of SIZE bytes from
# the DVIPA to the peer's protected address (port 9, discard), paced so no queue overflows.
cluster_send() {
  nsx "t$1" python3 -S - "$LAB_DVIPA" "$LAB_PEER_LAN_ADDR" "$2" "$3" "${4:-20}" <<'PY'
import socket, sys, time
src, dst, count, size, every = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
payload = bytes(size)
sent = 0
for i in range(count):
    try:
        s.sendto(payload, (dst, 9))
        sent += 1
    except OSError as e:   # e.g. EPERM/ENOENT while no SA: counted, not fatal
        print("send error:", e, file=sys.stderr)
        time.sleep(0.01)
    if i % every == every - 1:
        time.sleep(0.002)
print(sent)
PY
}

# cluster_esp_counters NS IFACE: an nftables counter of ESP from the DVIPA seen on IFACE
# (netdev ingress: every frame the device receives, flooded ones too) and sent by NS; in
# the DVIPA's family (tables `ip`/`ip6 labespout`: read with cluster_esp_count NS $(cluster_nft_family) ...).
cluster_esp_counters() {
  local family proto
  family=$(cluster_nft_family)
  [[ $family == ip6 ]] && proto="meta l4proto" || proto="ip protocol"
  nsx "$1" nft -f - <<NFT
table netdev labesp {
  chain ingress { type filter hook ingress device $2 priority 0; $family saddr $LAB_DVIPA $proto esp counter name esp_in; }
  counter esp_in { }
}
table $family labespout {
  chain out { type filter hook output priority 0; $proto esp counter name esp_out; }
  counter esp_out { }
}
NFT
}
cluster_nft_family() { [[ $LAB_DVIPA == *:* ]] && echo ip6 || echo ip; }
cluster_esp_count() { nsx "$1" nft list counter "$2" "${3}" "${4}" | awk '/packets/ { print $2 }'; }

# cluster_send_paced N COUNT SIZE RATE: like cluster_send, at RATE datagrams per second;
# prints how many were sent (send errors, e.g. while no SA is in the kernel, are counted on stderr).
cluster_send_paced() {
  nsx "t$1" python3 -S - "$LAB_DVIPA" "$LAB_PEER_LAN_ADDR" "$2" "$3" "$4" <<'PY'
import socket, sys, time
src, dst, count, size, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
payload, sent, errors, start = bytes(size), 0, 0, time.monotonic()
for i in range(count):
    try:
        s.sendto(payload, (dst, 9)); sent += 1
    except OSError:
        errors += 1
    delay = start + (i + 1) / rate - time.monotonic()
    if delay > 0: time.sleep(delay)
print("send errors:", errors, file=sys.stderr)
print(sent)
PY
}

# cluster_wan_macs: "t1=MAC,t2=MAC,..." of the targets' wan0 (the peer's capture names senders by MAC).
cluster_wan_macs() {
  local i out=()
  for ((i = 1; i <= LAB_TARGETS; i++)); do out+=("t$i=$(nsx "t$i" cat /sys/class/net/wan0/address)"); done
  local IFS=,; echo "${out[*]}"
}
