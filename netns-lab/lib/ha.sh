# netns-lab/lib/ha.sh: two routing nodes elected through etcd (issue 19, first phase).
# Source after topology.sh, strongswan.sh, cluster.sh and etcd.sh.
#
#   ha_topology N        lab_up N, then a second routing node [router2] (wan0 192.0.2.3,
#                        clu0 10.0.0.2); the DVIPA is on neither: vipsec adds it to the active
#   ha_config NODE FILE  `vipsec routing`'s config for NODE (router | router2): the cluster
#                        scenarios' config (cluster_ike_config) plus `ha { }` with the lab's etcd
#                        (and `seal_key = $HA_SEAL_KEY` when set: IKE state kept in etcd;
#                        $HA_CLUSTER_EXTRA: more lines of the cluster section, e.g. inbound { })
#   ha_start NODE        `vipsec routing` in NODE's namespace (pid in $LAB_RUN/NODE/pid)
#   ha_agent_start N ROUTING [ARG...]   `vipsec target` in tN with --routing ROUTING (a list)
#                        and any further arguments (e.g. --grace 90)
#   ha_status NODE       `vipsec status --json` of NODE
#   ha_role NODE         active | standby | campaigning | starting (empty when unreadable)
#   ha_term NODE         the term NODE holds (or last held)
#   ha_since NODE        CLOCK_MONOTONIC ms of NODE's last role change
#   ha_active            the node(s) whose role is active, sorted, space-separated
#   ha_has_dvipa NODE    the DVIPA is on NODE's wan0
#   ha_mac NODE          NODE's wan0 hardware address
#   ha_monotonic_ms      CLOCK_MONOTONIC now, in ms (the clock vipsec's status uses)

LAB_ROUTER2_WAN=192.0.2.3
LAB_ROUTER2_CLU=10.0.0.2
HA_LEASE=${HA_LEASE:-3s}
HA_NODES=(router router2)

ha_clu() { [[ $1 == router ]] && echo "$LAB_ROUTER_CLU" || echo "$LAB_ROUTER2_CLU"; }

ha_topology() {
  lab_up "$1"
  nsx router ip addr del "$LAB_DVIPA/24" dev wan0
  _lab_ns_add router2
  _lab_link router2 wan0 br-wan "$LAB_ROUTER2_WAN/24"
  _lab_link router2 clu0 br-clu "$LAB_ROUTER2_CLU/24"
  nsx router2 ip route add "$LAB_PEER_SUBNET" via "$LAB_PEER_WAN"
}

ha_config() {
  local node=$1 file=$2
  CLUSTER_EXTRA="        node_id = $node
        ha {
            etcd = $(etcd_endpoints | sed 's/,/, /g')
            ca = $ETCD_PKI/ca.crt
            cert = $ETCD_PKI/$node.crt
            key = $ETCD_PKI/$node.key
            interface = wan0
            prefix = /vipsec/lab/
            lease = $HA_LEASE${HA_SEAL_KEY:+
            seal_key = $HA_SEAL_KEY}
        }${HA_CLUSTER_EXTRA:+
$HA_CLUSTER_EXTRA}" cluster_ike_config "$file"
  # The per-node keys: cluster address, certificate, status socket, control socket (the
  # namespaces share one file system: two daemons must not both use /run/vipsec/control.sock).
  sed -i "0,/^vipsec {/s##vipsec {\n    control {\n        socket = $LAB_RUN/$node/control.sock\n    }#" "$file"
  sed -i -e "s#listen = $LAB_ROUTER_CLU:#listen = $(ha_clu "$node"):#" \
    -e "s#$CLUSTER_PKI/router\.crt#$CLUSTER_PKI/$node.crt#" -e "s#$CLUSTER_PKI/router\.key#$CLUSTER_PKI/$node.key#" \
    -e "s#$LAB_RUN/router/status\.sock#$LAB_RUN/$node/status.sock#" "$file"
}

ha_start() {
  local node=$1
  mkdir -p "$LAB_RUN/$node"
  ha_config "$node" "$LAB_RUN/$node/vipsec.conf"
  ip netns exec "$node" "$CLUSTER_BIN/vipsec" routing --config "$LAB_RUN/$node/vipsec.conf" --log-level debug \
    >>"$LAB_LOG/routing-$node.log" 2>&1 &
  echo $! > "$LAB_RUN/$node/pid"
}

ha_status() { lab_status_json "$LAB_RUN/$1/status.sock" 2>/dev/null; }
ha_role() { ha_status "$1" | jq -r '.routing.ha.role // empty'; }
ha_term() { ha_status "$1" | jq -r '.routing.ha.term // empty'; }
ha_since() { ha_status "$1" | jq -r '.routing.ha.roleSinceMonotonicMilliseconds // empty'; }
ha_active() {
  local node out=()
  for node in "${HA_NODES[@]}"; do [[ $(ha_role "$node") == active ]] && out+=("$node"); done
  echo "${out[*]}"
}
ha_has_dvipa() { nsx "$1" ip -o addr show dev wan0 | grep -q " $LAB_DVIPA/"; }
ha_mac() { nsx "$1" cat /sys/class/net/wan0/address; }
ha_monotonic_ms() { python3 -S -c 'import time; print(int(time.monotonic() * 1000))'; }
ha_other() { [[ $1 == router ]] && echo router2 || echo router; }

ha_agent_start() {
  local i=$1
  mkdir -p "$LAB_RUN/t$i"
  ip netns exec "t$i" "$CLUSTER_BIN/vipsec" target --node-id "t$i" --routing "$2" \
    --cert "$CLUSTER_PKI/t$i.crt" --key "$CLUSTER_PKI/t$i.key" --ca "$CLUSTER_PKI/ca.crt" --dvipa "$LAB_DVIPA" \
    --cluster-address "$(lab_target_clu "$i")" --status-socket "$LAB_RUN/t$i/status.sock" \
    --state-dir "$LAB_RUN/t$i" "${@:3}" >>"$LAB_LOG/agent-t$i.log" 2>&1 &
  echo $! > "$LAB_RUN/t$i/pid"
}
