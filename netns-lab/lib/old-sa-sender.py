#!/usr/bin/env python3
"""A peer that moves to the new SA late: after each CHILD_SA rekey, keep sending on the old
outbound SA for HOLD seconds after strongSwan removed it (run in the peer's namespace).

    old-sa-sender.py SRC DST SENDER REMOTE_TS HOLD STOP_FILE

Polls `ip -s xfrm state list src SRC dst DST` (the peer's outbound ESP SAs) and remembers
each SA's algorithm, key and output sequence number. When one disappears (strongSwan deleted
it: the rekey is over on its side), it is added back under a reqid of its own (4242) with
its sequence number moved ahead (the receiver's replay window accepts that), and a policy
SENDER/32 -> REMOTE_TS (narrower than strongSwan's, which the kernel refuses to duplicate; of
higher priority) sends the test traffic from SENDER into it. After
HOLD the policy and the SA go and traffic flows on the new SA, as strongSwan meant.
The hold ends HOLD seconds after the poll that last saw the SA, so never later than HOLD
after strongSwan removed it (a hold that cannot start in time is skipped and said so).
Prints one line per hold with the packets sent on the old SA meanwhile (the kernel's count).
Runs until STOP_FILE exists. Deterministic: every rekey gets its window, whatever the timing.
"""
import os
import re
import subprocess
import sys
import time

src, dst, sender, remote_ts, hold, stop = sys.argv[1:7]
local_ts = sender + "/32"
hold = float(hold)
PIN_REQID = "4242"


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True).stdout


def states():
    """{spi: {reqid, aead, key, icv, oseq, packets}} of the outbound SAs from src to dst."""
    out = ip("-s", "xfrm", "state", "list", "src", src, "dst", dst, check=False)
    found = {}
    for block in re.split(r"(?m)^src ", out):
        spi = re.search(r"spi (0x[0-9a-f]+)", block)
        aead = re.search(r"aead (\S+) (0x[0-9a-f]+) \(\d+ bits\) (\d+)", block)
        if not spi or not aead:
            continue
        reqid = re.search(r"reqid (\d+)", block)
        oseq = re.search(r"oseq (0x[0-9a-f]+)", block)
        packets = re.search(r"lifetime current:\s*\n\s*\d+\(bytes\), (\d+)\(packets\)", block)
        found[spi.group(1)] = {
            "reqid": reqid.group(1) if reqid else "0",
            "aead": aead.group(1), "key": aead.group(2), "icv": aead.group(3),
            "oseq": int(oseq.group(1), 16) if oseq else 0,
            "packets": int(packets.group(1)) if packets else 0,
        }
    return found


def hold_old(spi, sa, until):
    """Sends on the old SA until `until` (HOLD after strongSwan's removal at the latest)."""
    if time.monotonic() > until - 0.3:
        print(f"{time.strftime('%H:%M:%S')} too late to hold {spi} (busy with another)", flush=True)
        return
    try:
        ip("xfrm", "state", "add", "src", src, "dst", dst, "proto", "esp", "spi", spi, "reqid", PIN_REQID,
           "mode", "tunnel", "aead", sa["aead"], sa["key"], sa["icv"], "replay-oseq", str(sa["oseq"] + 5000))
        ip("xfrm", "policy", "add", "src", local_ts, "dst", remote_ts, "dir", "out", "priority", "10",
           "tmpl", "src", src, "dst", dst, "proto", "esp", "reqid", PIN_REQID, "mode", "tunnel")
        started = time.monotonic()
        time.sleep(max(0, until - started))
    finally:
        ip("xfrm", "policy", "delete", "src", local_ts, "dst", remote_ts, "dir", "out", check=False)
        ended = time.monotonic()
        sent = states().get(spi, {}).get("packets", 0)   # the re-added state's own count
        ip("xfrm", "state", "delete", "src", src, "dst", dst, "proto", "esp", "spi", spi, check=False)
    last_seen = until - hold
    print(f"{time.strftime('%H:%M:%S')} held {spi} from {started - last_seen:.1f}s to {ended - last_seen:.1f}s after it"
          f" was last seen in strongSwan's kernel: {sent} packets sent on it", flush=True)


# Only an SA that carried traffic is held (with several CHILD_SAs the peer sends on one; the
# others' rekeys would only delay the hold that matters), at most one at a time.
seen, last_seen, done = {}, {}, set()
while not os.path.exists(stop):
    now = states()
    polled = time.monotonic()   # (starting `ip` is what takes long; its dump comes at the end)
    for spi, sa in now.items():
        if sa["reqid"] != PIN_REQID:
            seen[spi] = sa
            last_seen[spi] = polled
    for spi in [s for s in seen if s not in now and s not in done]:
        done.add(spi)
        sa = seen.pop(spi)
        if sa["packets"] == 0:
            print(f"{time.strftime('%H:%M:%S')} skipped {spi}: it carried nothing", flush=True)
            continue
        try:
            hold_old(spi, sa, last_seen.pop(spi) + hold)
        except subprocess.CalledProcessError as error:
            print(f"could not hold {spi}: {error.stderr.strip()}", flush=True)
    time.sleep(0.05)
