#!/bin/bash
# Usage: IKE_PROPOSALS=... ESP_PROPOSALS=... run.sh name
set -x
D=/tmp/ikewire-lab; name=$1
ip netns exec ikw-b tcpdump -i ikw-vb -U -w $D/$name.pcap udp port 500 or udp port 4500 2>$D/tcpdump.err &
TD=$!
for side in a b; do
  ip netns exec ikw-$side sh -c "mount -t tmpfs tmpfs /run; STRONGSWAN_CONF=$D/$side/strongswan.conf exec /usr/lib/ipsec/charon" > $D/$side/charon.out 2>&1 &
  echo $! > $D/$side/pid
done
sleep 3
for side in a b; do
  STRONGSWAN_CONF=$D/$side/strongswan.conf swanctl --load-all --uri unix:///dev/shm/ikw-$side/vici --file $D/$side/swanctl.conf
done
timeout 20 swanctl --initiate --child net --uri unix:///dev/shm/ikw-a/vici > $D/$name.initiate 2>&1
sleep 2
kill $TD
for side in a b; do kill $(cat $D/$side/pid); done
sleep 1
cp $D/a/charon.log $D/$name.a.log; cp $D/b/charon.log $D/$name.b.log; : > $D/a/charon.log; : > $D/b/charon.log
