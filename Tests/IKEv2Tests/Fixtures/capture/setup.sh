#!/bin/bash
# Two strongSwan charons in namespaces ikw-a (initiator) and ikw-b (responder), capture on B.
set -x
D=/tmp/ikewire-lab
for side in a b; do
  mkdir -p $D/$side /dev/shm/ikw-$side
  if [ $side = a ]; then me=10.99.0.1; peer=10.99.0.2; else me=10.99.0.2; peer=10.99.0.1; fi
  cat > $D/$side/strongswan.conf <<EOC
charon {
  threads = 16
  load = random nonce openssl aes sha1 sha2 hmac gmp kdf kernel-netlink socket-default vici updown pem pkcs1 x509
  install_routes = no
  plugins { vici { socket = unix:///dev/shm/ikw-$side/vici } }
  filelog { log { path = $D/$side/charon.log
    time_format = %T
    default = 1
    ike = 4
    enc = 2
    cfg = 2 } }
}
EOC
  cat > $D/$side/swanctl.conf <<EOC
connections {
  lab {
    version = 2
    local_addrs = $me
    remote_addrs = $peer
    proposals = $IKE_PROPOSALS
    local {
      auth = psk
      id = $side.vipsec.test
    }
    remote {
      auth = psk
    }
    children {
      net {
        esp_proposals = $ESP_PROPOSALS
        local_ts = $me/32
        remote_ts = $peer/32
        mode = transport
      }
    }
  }
}
secrets {
  ike-lab {
    secret = "vipsec-lab-psk-not-secret"
  }
}
EOC
done
ip netns add ikw-a; ip netns add ikw-b
ip link add ikw-va netns ikw-a type veth peer name ikw-vb netns ikw-b
ip -n ikw-a addr add 10.99.0.1/24 dev ikw-va; ip -n ikw-a link set ikw-va up; ip -n ikw-a link set lo up
ip -n ikw-b addr add 10.99.0.2/24 dev ikw-vb; ip -n ikw-b link set ikw-vb up; ip -n ikw-b link set lo up
