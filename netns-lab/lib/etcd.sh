# netns-lab/lib/etcd.sh: a three-member etcd cluster (the HA coupling facility, issue 19)
# in lab namespaces, with TLS everywhere (client certificates required, peers too).
# Source after topology.sh and after `lab_up` (the members hang on br-clu).
#
#   etcd_pki NODE...     the HA CA (openssl, P-256) in $ETCD_PKI, a server+peer certificate
#                        per member, and a client certificate per NODE (e.g. router router2);
#                        plus `rogue`, a client certificate from another CA (must be refused)
#   etcd_up [N]          members e1..eN (default 3) in namespaces e1..eN, 10.0.0.31.. on
#                        br-clu, data on tmpfs ($LAB_RUN/etcd); returns once all are healthy
#   etcd_stop I          SIGKILL member eI (its pid file, never pkill)
#   etcd_start I         start member eI again (same data dir: it rejoins)
#   etcd_down            stop every member and remove their namespaces
#   etcd_endpoints [N]   https://10.0.0.31:2379,... (for vipsec's `ha { etcd = ... }`)
#   etcd_health [N]      `etcdctl endpoint health` over TLS: succeeds when all N are healthy
#   etcdctl_lab ARGS...  etcdctl from the router namespace with the `router` client certificate
#
# Timings are etcd's --heartbeat-interval 150 --election-timeout 1500: under emulation on two
# shared cores the defaults' 100/1000 lost leaders on load spikes; 1500 ms still lets a 3 s
# lease through (etcd raises a TTL below 1.5 x election timeout = 2.25 s).

command -v etcd >/dev/null || { echo "etcd is missing (scripts/setup installs etcd-server)"; exit 1; }
command -v etcdctl >/dev/null || { echo "etcdctl is missing (scripts/setup installs etcd-client)"; exit 1; }
command -v openssl >/dev/null || { echo "openssl is missing (scripts/setup installs it)"; exit 1; }

ETCD_PKI=${ETCD_PKI:-$LAB_RUN/ha-pki}
ETCD_DATA=$LAB_RUN/etcd
ETCD_MEMBERS=${ETCD_MEMBERS:-3}

etcd_member_addr() { echo "10.0.0.$((30 + $1))"; }

etcd_endpoints() {
  local n=${1:-$ETCD_MEMBERS} i out=""
  for ((i = 1; i <= n; i++)); do out+="${out:+,}https://$(etcd_member_addr "$i"):2379"; done
  echo "$out"
}

# _etcd_cert DIR NAME CA USAGE SAN: NAME.key (P-256, 0600) and NAME.crt signed by CA.
_etcd_cert() {
  local d=$1 name=$2 ca=$3 usage=$4 san=$5
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/$name.key" 2>/dev/null || return 1
  chmod 600 "$d/$name.key"
  openssl req -new -key "$d/$name.key" -subj "/O=vipsec lab/CN=$name" -out "$d/$name.csr" 2>/dev/null || return 1
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$usage" "$san" > "$d/$name.ext"
  openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial -days 30 \
    -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null || return 1
  rm -f "$d/$name.csr" "$d/$name.ext"
}

_etcd_ca() {
  local d=$1 name=$2
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/$name.key" 2>/dev/null &&
    chmod 600 "$d/$name.key" &&
    openssl req -x509 -new -key "$d/$name.key" -subj "/O=vipsec lab/CN=$name" -days 30 \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -out "$d/$name.crt" 2>/dev/null
}

etcd_pki() {
  local d=$ETCD_PKI i node
  rm -rf "$d"; mkdir -p "$d"; chmod 700 "$d"
  _etcd_ca "$d" ca || { echo "etcd_pki: CA failed"; return 1; }
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do
    _etcd_cert "$d" "e$i" ca serverAuth,clientAuth "IP:$(etcd_member_addr "$i"),IP:127.0.0.1" ||
      { echo "etcd_pki: e$i failed"; return 1; }
  done
  for node in "$@"; do
    _etcd_cert "$d" "$node" ca clientAuth "DNS:$node" || { echo "etcd_pki: $node failed"; return 1; }
  done
  # A client certificate from a CA etcd does not trust.
  _etcd_ca "$d" rogue-ca && _etcd_cert "$d" rogue rogue-ca clientAuth "DNS:rogue" || { echo "etcd_pki: rogue failed"; return 1; }
}

_etcd_cluster_spec() {
  local i out=""
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do out+="${out:+,}e$i=https://$(etcd_member_addr "$i"):2380"; done
  echo "$out"
}

etcd_start() {
  local i=$1 addr d=$ETCD_PKI state=new
  addr=$(etcd_member_addr "$i")
  [[ -d $ETCD_DATA/e$i/member ]] && state=existing
  mkdir -p "$ETCD_DATA/e$i"; chmod 700 "$ETCD_DATA/e$i"
  # `ip netns exec` execs etcd, so $! is etcd's own pid (through the nsx function, $! was a
  # subshell's: etcd_stop killed that and left etcd running).
  ip netns exec "e$i" etcd --name "e$i" --data-dir "$ETCD_DATA/e$i" \
    --listen-client-urls "https://$addr:2379" --advertise-client-urls "https://$addr:2379" \
    --listen-peer-urls "https://$addr:2380" --initial-advertise-peer-urls "https://$addr:2380" \
    --initial-cluster "$(_etcd_cluster_spec)" --initial-cluster-state "$state" \
    --initial-cluster-token vipsec-lab \
    --client-cert-auth --trusted-ca-file "$d/ca.crt" --cert-file "$d/e$i.crt" --key-file "$d/e$i.key" \
    --peer-client-cert-auth --peer-trusted-ca-file "$d/ca.crt" --peer-cert-file "$d/e$i.crt" --peer-key-file "$d/e$i.key" \
    --heartbeat-interval 150 --election-timeout 1500 --max-txn-ops 1024 \
    --auto-compaction-mode periodic --auto-compaction-retention 5m \
    > "$ETCD_DATA/e$i.log" 2>&1 &
  echo $! > "$ETCD_DATA/e$i.pid"
}

etcd_stop() {
  local pidfile=$ETCD_DATA/e$1.pid
  [[ -f $pidfile ]] || return 0
  kill -9 "$(cat "$pidfile")" 2>/dev/null
  rm -f "$pidfile"
}

etcdctl_lab() {
  nsx router etcdctl --endpoints "$(etcd_endpoints)" --cacert "$ETCD_PKI/ca.crt" \
    --cert "$ETCD_PKI/router.crt" --key "$ETCD_PKI/router.key" --dial-timeout 3s --command-timeout 5s "$@"
}

# etcd_health [N]: every one of the first N members (default all) answers healthy.
etcd_health() {
  local n=${1:-$ETCD_MEMBERS}
  nsx router etcdctl --endpoints "$(etcd_endpoints "$n")" --cacert "$ETCD_PKI/ca.crt" \
    --cert "$ETCD_PKI/router.crt" --key "$ETCD_PKI/router.key" --dial-timeout 3s --command-timeout 5s \
    endpoint health 2>&1
}

etcd_up() {
  ETCD_MEMBERS=${1:-$ETCD_MEMBERS}
  local i
  mkdir -p "$ETCD_DATA"
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do
    ip netns add "e$i"
    nsx "e$i" ip link set lo up
    _lab_link "e$i" clu0 br-clu "$(etcd_member_addr "$i")/24"
  done
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do etcd_start "$i"; done
  # Healthy = a quorum read answered by each member over TLS with a client certificate.
  # (A loaded VM needs long: raft elects its leader only once members answer within 1.5 s.)
  wait_for 120 etcd_health || { echo "etcd_up: not healthy after 120 s:"; etcd_health; tail -n 5 "$ETCD_DATA"/e*.log; return 1; }
}

etcd_down() {
  local i
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do
    etcd_stop "$i"
    ip netns del "e$i" 2>/dev/null
  done
  return 0
}
