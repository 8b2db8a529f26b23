#!/usr/bin/env bash
# Captures a real strongSwan ↔ strongSwan IKEv2 exchange with charon's level-4 key logs,
# to check vipsec's key derivation against (StrongSwanDerivationTests). Run as root inside
# the lab VM (a kernel with ESP):
#
#   vng --disable-kvm --force-9p --run /boot/vmlinuz-<v> --user root -m 2G --rwdir /tmp/ikecap \
#       --qemu-opts="-device virtio-rng-pci" --exec "bash <this script> /tmp/ikecap"
#
# Two namespaces `ini` (192.0.2.1) and `res` (192.0.2.2) joined by a veth; one charon each;
# PSK; one connection per IKE proposal below; the logs land in OUT/<ns>-charon.log.
set -euo pipefail
OUT=${1:?usage: capture.sh OUTDIR}
RUN=/dev/shm/ikecap
PSK=vipsec-capture-psk-0123456789
PROPOSALS=(
  "gcm:aes256gcm16-prfsha256-x25519:aes256gcm16"
  "cbc:aes128-sha256-ecp256:aes128-sha256"
  "modp:aes256-sha384-prfsha384-modp2048:aes256gcm16-modp2048"
  "rekey:aes128gcm16-prfsha256-x25519:aes128gcm16-x25519"
)
modprobe -a esp4 xfrm_user 2>/dev/null || true
rm -rf "$RUN"; mkdir -p "$RUN" "$OUT"
ip netns add ini; ip netns add res
ip link add veth-i netns ini type veth peer name veth-r netns res
ip -n ini addr add 192.0.2.1/24 dev veth-i; ip -n ini link set veth-i up; ip -n ini link set lo up
ip -n res addr add 192.0.2.2/24 dev veth-r; ip -n res link set veth-r up; ip -n res link set lo up

for ns in ini res; do
  d=$RUN/$ns; mkdir -p "$d"
  if [[ $ns == ini ]]; then me=192.0.2.1 peer=192.0.2.2; else me=192.0.2.2 peer=192.0.2.1; fi
  cat > "$d/strongswan.conf" <<CONF
charon {
  threads = 16
  install_routes = no
  load = random nonce openssl aes sha1 sha2 hmac gmp curve25519 kdf kernel-netlink socket-default vici updown
  plugins { vici { socket = unix://$d/vici } }
  filelog {
    cap {
      path = $OUT/$ns-charon.log
      default = 1
      ike = 4
      enc = 4
      cfg = 4
      chd = 4
      net = 4
    }
  }
}
CONF
  {
    echo "connections {"
    for p in "${PROPOSALS[@]}"; do
      IFS=: read -r name ike esp <<<"$p"
      cat <<CONN
  $name {
    version = 2
    local_addrs = $me
    remote_addrs = $peer
    proposals = $ike
    local { auth = psk
      id = $me-$name }
    remote { auth = psk
      id = $peer-$name }
    children { $name { esp_proposals = $esp
        local_ts = 10.$([[ $ns == ini ]] && echo 1 || echo 2).$((${#name})).0/24
        remote_ts = 10.$([[ $ns == ini ]] && echo 2 || echo 1).$((${#name})).0/24
        mode = tunnel } }
  }
CONN
    done
    echo "}"
    echo "secrets {"
    for p in "${PROPOSALS[@]}"; do
      IFS=: read -r name _ _ <<<"$p"
      printf '  ike-%s {\n    id-1 = 192.0.2.1-%s\n    id-2 = 192.0.2.2-%s\n    secret = "%s"\n  }\n' "$name" "$name" "$name" "$PSK"
    done
    echo "}"
  } > "$d/swanctl.conf"
  ip netns exec "$ns" sh -c "mount -t tmpfs tmpfs /run && STRONGSWAN_CONF=$d/strongswan.conf exec /usr/lib/ipsec/charon" \
    > "$OUT/$ns-charon.stdout" 2>&1 &
done
for ns in ini res; do
  for _ in $(seq 1 60); do [[ -S $RUN/$ns/vici ]] && break; sleep 0.5; done
  STRONGSWAN_CONF=$RUN/$ns/strongswan.conf swanctl --load-all --noprompt --uri "unix://$RUN/$ns/vici" --file "$RUN/$ns/swanctl.conf"
done
for p in "${PROPOSALS[@]}"; do
  IFS=: read -r name _ _ <<<"$p"
  STRONGSWAN_CONF=$RUN/ini/strongswan.conf timeout 60 swanctl --initiate --child "$name" --timeout 50 \
    --uri "unix://$RUN/ini/vici" > "$OUT/initiate-$name.txt" 2>&1 || echo "initiate $name failed"
done
ip -n ini xfrm state > "$OUT/ini-xfrm-state.txt" 2>&1 || true
STRONGSWAN_CONF=$RUN/ini/strongswan.conf swanctl --list-sas --uri "unix://$RUN/ini/vici" > "$OUT/ini-list-sas.txt" 2>&1 || true
# Rekey the "rekey" connection: its CHILD_SA with PFS (x25519 KE in CREATE_CHILD_SA), then
# the IKE_SA itself (RFC 7296 2.18), initiated by the same side.
swan() { STRONGSWAN_CONF=$RUN/ini/strongswan.conf timeout 30 swanctl "$@" --uri "unix://$RUN/ini/vici"; }
swan --rekey --child rekey > "$OUT/rekey-child.txt" 2>&1 || echo "child rekey failed"
sleep 3
swan --rekey --ike rekey > "$OUT/rekey-ike.txt" 2>&1 || echo "ike rekey failed"
sleep 3
ip -n ini xfrm state > "$OUT/ini-xfrm-state-after-rekey.txt" 2>&1 || true
swan --list-sas > "$OUT/ini-list-sas-after-rekey.txt" 2>&1 || true
sleep 1
echo "capture done"
