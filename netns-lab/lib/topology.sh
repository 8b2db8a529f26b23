# netns-lab/lib/topology.sh: the lab's hosts as network namespaces.
#
#            protected 10.1.0.0/24 (dummy lan0, 10.1.0.1)
#                      |
#                   [peer] wan0 192.0.2.1                       remote IPsec peer
#                      |
#   ---------------- br-wan (in [net]) 192.0.2.0/24 -------------------  "the network"
#        |                         |                   |
#   [router] wan0 192.0.2.2     [t1] wan0 192.0.2.11  [t2] wan0 192.0.2.12 ...
#            + DVIPA 192.0.2.100      DVIPA on lo       DVIPA on lo
#            clu0 10.0.0.1            clu0 10.0.0.11    clu0 10.0.0.12
#        |                         |                   |
#   ---------------- br-clu (in [net]) 10.0.0.0/24 --------------------  cluster LAN
#
#   [router] also has a protected subnet of its own (dummy svc0 10.2.0.1/24) for
#   gateway-to-gateway scenarios.
#
# Every address is from a documentation or private range and exists only in these
# namespaces. Targets hold the DVIPA on loopback and never answer ARP for it, so the
# network sends traffic for the DVIPA to the router, while each target can still send
# packets with the DVIPA as source straight onto the network.

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LAB_PEER_WAN=192.0.2.1
LAB_ROUTER_WAN=192.0.2.2
LAB_DVIPA=192.0.2.100
LAB_PEER_SUBNET=10.1.0.0/24
LAB_PEER_LAN_ADDR=10.1.0.1
LAB_ROUTER_SUBNET=10.2.0.0/24
LAB_ROUTER_SVC_ADDR=10.2.0.1
LAB_CLUSTER_SUBNET=10.0.0.0/24
LAB_ROUTER_CLU=10.0.0.1
LAB_TARGETS=0

lab_target_wan() { echo "192.0.2.$((10 + $1))"; }
lab_target_clu() { echo "10.0.0.$((10 + $1))"; }

# nsx NS command...: run a command inside a namespace.
# nsx NS CMD...: CMD in NS. `ip` itself switches (`ip -n NS`): one program start, not two
# (under emulation a start costs 0.1-0.4 s of CPU, and the scenarios run `ip` thousands of times).
nsx() {
  local ns=$1; shift
  if [[ $1 == ip ]]; then shift; ip -n "$ns" "$@"; else ip netns exec "$ns" "$@"; fi
}

lab_namespaces() {
  echo peer net router
  local i
  for ((i = 1; i <= LAB_TARGETS; i++)); do echo "t$i"; done
}

_lab_ns_add() {
  ip netns add "$1"
  nsx "$1" ip link set lo up
  nsx "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.disable_ipv6=1
}

# _lab_link NS IFNAME BRIDGE ADDR/PREFIX: a veth from NS (named IFNAME) to BRIDGE in [net].
_lab_link() {
  local ns=$1 ifname=$2 bridge=$3 addr=$4
  local peer_end="${ns}-${ifname%0}"
  ip link add "$peer_end" netns net type veth peer name "$ifname" netns "$ns"
  nsx net ip link set "$peer_end" master "$bridge" up
  nsx "$ns" ip addr add "$addr" dev "$ifname"
  nsx "$ns" ip link set "$ifname" up
}

# lab_up [N]: builds the topology with N target hosts (default 0). Tears down first.
lab_up() {
  local n=${1:-0} i
  lab_down
  LAB_TARGETS=$n
  echo "$n" > "$LAB_RUN/targets"
  _lab_ns_add net
  nsx net ip link add br-wan type bridge
  nsx net ip link add br-clu type bridge
  nsx net ip link set br-wan up
  nsx net ip link set br-clu up

  _lab_ns_add peer
  _lab_link peer wan0 br-wan "$LAB_PEER_WAN/24"
  nsx peer ip link add lan0 type dummy
  nsx peer ip addr add "$LAB_PEER_LAN_ADDR/24" dev lan0
  nsx peer ip link set lan0 up

  _lab_ns_add router
  _lab_link router wan0 br-wan "$LAB_ROUTER_WAN/24"
  nsx router ip addr add "$LAB_DVIPA/24" dev wan0
  _lab_link router clu0 br-clu "$LAB_ROUTER_CLU/24"
  nsx router ip link add svc0 type dummy
  nsx router ip addr add "$LAB_ROUTER_SVC_ADDR/24" dev svc0
  nsx router ip link set svc0 up

  for ((i = 1; i <= n; i++)); do
    local t="t$i"
    _lab_ns_add "$t"
    # Never answer ARP for the DVIPA held on loopback; announce with the link's own address.
    nsx "$t" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
    _lab_link "$t" wan0 br-wan "$(lab_target_wan "$i")/24"
    _lab_link "$t" clu0 br-clu "$(lab_target_clu "$i")/24"
    nsx "$t" ip addr add "$LAB_DVIPA/32" dev lo
    # Replies to the peer's protected subnet leave directly toward the network.
    nsx "$t" ip route add "$LAB_PEER_SUBNET" via "$LAB_PEER_WAN" dev wan0 src "$LAB_DVIPA"
  done
  # The peer reaches the cluster's subnets through the network.
  nsx peer ip route add "$LAB_ROUTER_SUBNET" via "$LAB_ROUTER_WAN"
  nsx router ip route add "$LAB_PEER_SUBNET" via "$LAB_PEER_WAN"
}

# lab_down: removes every lab namespace (and the processes inside them).
lab_down() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    case "$ns" in
      peer | net | router | router2 | nat | t[0-9]* | e[0-9]*)
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
        ;;
    esac
  done
  LAB_TARGETS=0
  return 0
}

# lab_xfrm_stat NS FIELD: a counter from /proc/net/xfrm_stat inside NS (e.g. XfrmInStateProtoError).
lab_xfrm_stat() { nsx "$1" awk -v f="$2" '$1 == f { print $2 }' /proc/net/xfrm_stat; }

# lab_xfrm_errors NS: prints every non-zero /proc/net/xfrm_stat counter; succeeds if all are zero.
lab_xfrm_errors() {
  local nonzero
  nonzero=$(nsx "$1" awk '$2 != 0 { print $1 "=" $2 }' /proc/net/xfrm_stat)
  [[ -z "$nonzero" ]] && { echo "$1: all /proc/net/xfrm_stat counters are zero"; return 0; }
  echo "$1: non-zero xfrm_stat: $nonzero"
  return 1
}

# lab_sa_count NS: the SAs in NS's kernel (`ip xfrm state`).
lab_sa_count() { nsx "$1" ip xfrm state | grep -c '^src'; }

# lab_policies NS: the SPD policies (dir in/out/fwd) in NS's kernel; `ip xfrm policy` also
# lists the per-socket policies an IKE daemon puts on its sockets (socket in/out), which
# are not counted here.
lab_policies() { nsx "$1" ip xfrm policy | grep -cE '^[[:space:]]+dir (in|out|fwd) '; }

# lab_sa_counter NS SRC DST FIELD: sum of a counter over ESP SAs from SRC to DST, read from
# `ip -s xfrm state`. FIELD: bytes | packets | replay | integrity | replay-window
lab_sa_counter() {
  local ns=$1 src=$2 dst=$3 field=$4
  nsx "$ns" ip -s xfrm state list src "$src" dst "$dst" proto esp | awk -v field="$field" '
    /lifetime current:/ { cur = 1; next }
    cur && /bytes/ { b += $1; p += $2; cur = 0 }
    /stats:/ { st = 1; next }
    st && /replay-window/ { rw += $2; r += $4; i += $6; st = 0 }
    END {
      if (field == "bytes") print b + 0
      else if (field == "packets") print p + 0
      else if (field == "replay-window") print rw + 0
      else if (field == "replay") print r + 0
      else if (field == "integrity") print i + 0
    }'
}

# lab_show_xfrm NS: `ip -s xfrm state` and `ip xfrm policy` in NS for the log, with key
# material replaced by <key>: lab logs never carry keys either.
lab_show_xfrm() {
  echo "--- $1: ip -s xfrm state"
  nsx "$1" ip -s xfrm state | sed -E 's/0x[0-9a-f]{16,}/<key>/g'
  echo "--- $1: ip xfrm policy"
  nsx "$1" ip xfrm policy
}

# The peer behind a NAT (lab_up_nat): the peer's wan0 moves into a private network behind
# the [nat] namespace, which holds LAB_PEER_WAN on the network and masquerades.
#
#   [peer] wan0 172.16.0.2 --- lan0 172.16.0.1 [nat] wan0 192.0.2.1 (LAB_PEER_WAN) --- br-wan
LAB_PEER_PRIVATE=172.16.0.2
LAB_NAT_INSIDE=172.16.0.1

# lab_up_nat [PORT_FORWARD] [N]: lab_up N (default 0 targets), then the NAT. Masquerading
# picks random source ports (so nobody can rely on the peer's port 500 surviving). With
# PORT_FORWARD = yes, UDP 500 and 4500 arriving at LAB_PEER_WAN are forwarded to the peer
# (so the router can initiate toward it). The targets' route to the peer's subnet goes via
# LAB_PEER_WAN, now the NAT's public address.
lab_up_nat() {
  local forward=${1:-no}
  lab_up "${2:-0}"
  _lab_ns_add nat
  nsx net ip link del peer-wan
  _lab_link nat wan0 br-wan "$LAB_PEER_WAN/24"
  ip link add nat-lan netns peer type veth peer name lan0 netns nat
  nsx peer ip link set nat-lan name wan0
  nsx peer ip addr add "$LAB_PEER_PRIVATE/24" dev wan0
  nsx peer ip link set wan0 up
  nsx nat ip addr add "$LAB_NAT_INSIDE/24" dev lan0
  nsx nat ip link set lan0 up
  nsx peer ip route add default via "$LAB_NAT_INSIDE"
  nsx nat ip route add "$LAB_PEER_SUBNET" via "$LAB_PEER_PRIVATE"
  local dnat=""
  if [[ $forward == yes ]]; then
    dnat="chain pre { type nat hook prerouting priority -100; iifname \"wan0\" udp dport { 500, 4500 } dnat to $LAB_PEER_PRIVATE; }"
  fi
  nsx nat nft -f - <<NFT
table ip labnat {
  chain post { type nat hook postrouting priority 100; oifname "wan0" masquerade random; }
  $dnat
}
NFT
}

# The same hosts over IPv6 (lab_up_ipv6 [N]): lab_up N, then IPv6 on the network, the
# router, the peer and the N targets, each beside the IPv4 addresses above (the cluster LAN
# stays IPv4).
#
#   [peer] wan0 2001:db8::1, lan0 fd00:1::1/64 -- br-wan -- [router] wan0 2001:db8::2
#          + DVIPA 2001:db8::100, svc0 fd00:2::1/64
#   [tN]   wan0 2001:db8::1N (on br-wan), DVIPA 2001:db8::100/128 on lo; IPv6 answers
#          neighbour solicitations only for addresses on the asking link, so the targets
#          never claim the DVIPA (no arp_ignore needed)
LAB_PEER_WAN6=2001:db8::1
LAB_ROUTER_WAN6=2001:db8::2
LAB_DVIPA6=2001:db8::100
LAB_PEER_SUBNET6=fd00:1::/64
LAB_PEER_LAN_ADDR6=fd00:1::1
LAB_ROUTER_SUBNET6=fd00:2::/64
LAB_ROUTER_SVC_ADDR6=fd00:2::1

lab_up_ipv6() {
  local ns i n=${1:-0}
  lab_up "$n"
  for ns in net peer router; do
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
      net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  done
  nsx net sysctl -qw net.ipv6.conf.br-wan.disable_ipv6=0
  for ns in peer router; do
    nsx "$ns" sysctl -qw net.ipv6.conf.wan0.disable_ipv6=0 net.ipv6.conf.lo.disable_ipv6=0
  done
  # nodad: usable at once, no duplicate address detection on a lab bridge.
  nsx peer ip -6 addr add "$LAB_PEER_WAN6/64" dev wan0 nodad
  nsx peer sysctl -qw net.ipv6.conf.lan0.disable_ipv6=0
  nsx peer ip -6 addr add "$LAB_PEER_LAN_ADDR6/64" dev lan0 nodad
  nsx router ip -6 addr add "$LAB_ROUTER_WAN6/64" dev wan0 nodad
  nsx router ip -6 addr add "$LAB_DVIPA6/64" dev wan0 nodad
  nsx router sysctl -qw net.ipv6.conf.svc0.disable_ipv6=0
  nsx router ip -6 addr add "$LAB_ROUTER_SVC_ADDR6/64" dev svc0 nodad
  nsx peer ip -6 route add "$LAB_ROUTER_SUBNET6" via "$LAB_ROUTER_WAN6"
  nsx router ip -6 route add "$LAB_PEER_SUBNET6" via "$LAB_PEER_WAN6"
  for ((i = 1; i <= n; i++)); do
    nsx "t$i" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
      net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.lo.disable_ipv6=0 net.ipv6.conf.wan0.disable_ipv6=0
    nsx "t$i" ip -6 addr add "$(lab_target_wan6 "$i")/64" dev wan0 nodad
    nsx "t$i" ip -6 addr add "$LAB_DVIPA6/128" dev lo nodad
    nsx "t$i" ip -6 route add "$LAB_PEER_SUBNET6" via "$LAB_PEER_WAN6" dev wan0 src "$LAB_DVIPA6"
  done
}

# lab_target_wan6 N: target N's own IPv6 address on the network.
lab_target_wan6() { echo "2001:db8::1$1"; }

# lab_host_prefix ADDRESS: 32 for an IPv4 address, 128 for an IPv6 one (a host selector).
lab_host_prefix() { [[ $1 == *:* ]] && echo 128 || echo 32; }

# lab_capture_start NS FILE FILTER...: tcpdump on NS's wan0 into FILE (pcap, the first 128
# bytes of each frame), returns once it listens; its pid is kept in FILE.pid.
# lab_capture_stop FILE: stops it and waits until it has written everything and exited.
# (`ip netns exec` execs tcpdump, so $! is tcpdump's own pid: no pkill by pattern, which
# could hit another scenario's capture running beside this one.)
lab_capture_start() {
  local ns=$1 file=$2; shift 2
  ip netns exec "$ns" tcpdump -i wan0 -U -s "${LAB_CAPTURE_SNAPLEN:-128}" -w "$file" "$@" 2>"$file.log" &
  echo $! > "$file.pid"
  wait_for 20 grep -q "listening" "$file.log"
}
lab_capture_stop() {
  local pid; pid=$(cat "$1.pid") || return 1
  kill -INT "$pid" 2>/dev/null
  wait_for 20 sh -c "! kill -0 $pid 2>/dev/null"
}
