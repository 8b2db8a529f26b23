#!/usr/bin/env python3
"""Checks captures of ESP against the properties the claims need.

usage: esp-sequence-check.py CAPTURE.pcap ROUTING.log MACS [--killed NODE --kill-at T --restart-at T [--slack S]]
       esp-sequence-check.py wire CAPTURE.pcap --window W [--spis N] [--per-spi N] [--one-sender]

`wire`: per SPI, what the peer's replay check sees. A (SPI, sequence number) seen twice is a
real fault (two packets under one key and IV: GCM's one rule broken) and fails. A packet
behind a higher number already sent on its SPI is only *reordered*: the sending kernel's
asynchronous crypto finishes packets out of order, and the peer accepts them inside its
replay window; it is counted and printed, and fails only when it is so far behind that the
peer's window (W packets) would drop it. --one-sender: each SPI from one MAC (per-target
SAs); --spis / --per-spi: how many SPIs, and frames per SPI, the capture must hold.

The grants form (a shared-SA cluster against the routing node's grants):

MACS: "t1=aa:bb:..,t2=..": the wan MAC of every target (the lab's bridge keeps the sender's
MAC, so each captured frame names the target that encrypted it).
ROUTING.log: `vipsec routing --log-level debug`, with one line per sequence block grant:
    sequence-grant node=t1 sa=5 first=1 last=256

Checks, each printed with its numbers; exit status 1 if any fails:
1. the granted blocks are pairwise disjoint (per SA);
2. no (SPI, sequence number) pair appears twice in the capture;
3. every captured packet's sequence number lies in a block granted to the target that sent it;
4. with --killed: from shortly after the kill until the restart the killed target's packets
   come from one block (its kernel's fence: nobody moves it on), and it sent again after the
   restart, above every number it sent before.
"""
import re
import struct
import sys


def read_pcap(path):
    """Yields (time, source MAC, SPI, sequence number) of every ESP frame, IPv4 or IPv6 (ESP
    right after the fixed IPv6 header, as the kernel sends it: no extension headers)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    offset = 24
    while offset + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + incl]
        offset += 16 + incl
        ip = frame[14:]
        if frame[12:14] == b"\x08\x00" and len(ip) >= 20:
            header, protocol = (ip[0] & 0x0F) * 4, ip[9]
        elif frame[12:14] == b"\x86\xdd" and len(ip) >= 40:
            header, protocol = 40, ip[6]
        else:
            continue
        if protocol != 50 or len(ip) < header + 8:
            continue
        spi, seq = struct.unpack(">II", ip[header:header + 8])
        mac = ":".join("%02x" % b for b in frame[6:12])
        yield sec + frac / (1e9 if nano else 1e6), mac, spi, seq


def wire_report(packets, window):
    """Per SPI: frames, senders, repeated (SPI, seq) pairs, and reordered packets with how
    far behind the highest number already seen each one came (its displacement)."""
    report = {}
    for _, mac, spi, seq in packets:
        r = report.setdefault(spi, {"frames": 0, "senders": set(), "seen": set(), "top": 0,
                                    "duplicates": 0, "reordered": 0, "max_behind": 0, "beyond_window": 0})
        r["frames"] += 1
        r["senders"].add(mac)
        if seq in r["seen"]:
            r["duplicates"] += 1
        elif seq < r["top"]:
            behind = r["top"] - seq
            r["reordered"] += 1
            r["max_behind"] = max(r["max_behind"], behind)
            if behind >= window:
                r["beyond_window"] += 1
        r["seen"].add(seq)
        r["top"] = max(r["top"], seq)
    return report


def wire_main(argv):
    capture = argv[0]
    options = dict(zip(argv[1::2], argv[2::2]))
    window = int(options["--window"])
    report = wire_report(read_pcap(capture), window)
    failed = False
    for spi, r in sorted(report.items()):
        print("SPI %#010x: %d frames from %d sender(s); repeated (SPI, seq): %d; reordered by the sender: %d "
              "(at most %d behind; %d beyond the peer's window of %d)" % (
                  spi, r["frames"], len(r["senders"]), r["duplicates"], r["reordered"], r["max_behind"],
                  r["beyond_window"], window))
        failed |= r["duplicates"] > 0 or r["beyond_window"] > 0
        if "--one-sender" in argv and len(r["senders"]) != 1:
            print("  SPI %#010x was sent by %d senders, want 1" % (spi, len(r["senders"])))
            failed = True
        if "--per-spi" in options and r["frames"] != int(options["--per-spi"]):
            print("  SPI %#010x: %d frames, want %s" % (spi, r["frames"], options["--per-spi"]))
            failed = True
    if not report:
        print("no ESP frame in %s" % capture)
        failed = True
    if "--spis" in options and len(report) != int(options["--spis"]):
        print("%d SPIs, want %s" % (len(report), options["--spis"]))
        failed = True
    return 1 if failed else 0


def read_grants(path):
    grants = []  # (node, sa, first, last, line number)
    pattern = re.compile(r"sequence-grant node=(\S+) sa=(\d+) first=(\d+) last=(\d+)")
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, 1):
            m = pattern.search(line)
            if m:
                grants.append((m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), number))
    return grants


def main(argv):
    capture, log, macs = argv[1], argv[2], argv[3]
    options = dict(zip(argv[4::2], argv[5::2]))
    by_mac = dict((mac.lower(), node) for node, mac in (p.split("=", 1) for p in macs.split(",")))
    grants = read_grants(log)
    failed = False

    # 1. Disjoint blocks. (A resent grant is the same block to the same node: counted once.)
    blocks = sorted(set((sa, first, last, node) for node, sa, first, last, _ in grants))
    overlaps = [(a, b) for a, b in zip(blocks, blocks[1:]) if a[0] == b[0] and b[1] <= a[2]]
    print("grants: %d blocks to %s; overlapping pairs: %d" % (
        len(blocks), ",".join(sorted(set(b[3] for b in blocks))), len(overlaps)))
    for a, b in overlaps[:5]:
        print("  overlap: %s and %s" % (a, b))
    failed |= bool(overlaps) or not blocks

    # 2. and 3. Unique (SPI, seq); each inside a block of its sender.
    packets = list(read_pcap(capture))
    seen, duplicates, outside, unknown = set(), [], [], 0
    per_node = {}
    for time, mac, spi, seq in packets:
        node = by_mac.get(mac)
        if node is None:
            unknown += 1
            continue
        per_node[node] = per_node.get(node, 0) + 1
        if (spi, seq) in seen:
            duplicates.append((node, spi, seq))
        seen.add((spi, seq))
        if not any(first <= seq <= last for _, first, last, n in blocks if n == node):
            outside.append((node, spi, seq))
    print("capture: %d ESP packets (%s), %d from unknown MACs" % (
        len(packets), ", ".join("%s %d" % kv for kv in sorted(per_node.items())), unknown))
    print("duplicate (SPI, sequence number) pairs: %d %s" % (len(duplicates), duplicates[:5]))
    print("packets outside every block granted to their sender: %d %s" % (len(outside), outside[:5]))
    failed |= bool(duplicates) or bool(outside) or not packets

    # 4. The killed target's fence. The log is written with some delay, so which grants came
    # before the kill is read from the capture, not the log: once the agent is dead nobody
    # moves its kernel state to another block, so after the kill (plus `--slack` seconds for
    # packets already on their way) its packets come from ONE block, at most a block's worth,
    # and the block it held in hand is never used.
    if "--killed" in options:
        node, kill_at, restart_at = options["--killed"], float(options["--kill-at"]), float(options["--restart-at"])
        slack = float(options.get("--slack", "0.5"))
        mine = sorted((first, last) for _, first, last, n in blocks if n == node)
        def block_of(seq):
            return next(((f, l) for f, l in mine if f <= seq <= l), None)
        dead = [seq for time, mac, spi, seq in packets if by_mac.get(mac) == node and kill_at + slack <= time < restart_at]
        used = sorted(set(block_of(seq) for seq in dead), key=lambda b: b or (0, 0))
        size = max((l - f + 1 for f, l in mine), default=0)
        after = [seq for time, mac, spi, seq in packets if by_mac.get(mac) == node and time >= restart_at]
        print("%s from %.1f s after the kill until the restart: %d packets from block(s) %s (block size %d)" % (
            node, slack, len(dead), ", ".join("%d...%d" % b for b in used if b), size))
        before = [seq for time, mac, spi, seq in packets if by_mac.get(mac) == node and time < restart_at]
        unused = [b for b in mine if b[0] > max(before, default=0) and b[0] < min(after, default=1 << 64)]
        print("%s blocks granted before the restart and never used (the one in hand when it died): %s" % (node, ", ".join("%d...%d" % b for b in unused) or "none"))
        print("%s after the restart: %d packets, sequence numbers %s..%s" % (
            node, len(after), min(after, default="-"), max(after, default="-")))
        failed |= len(used) > 1 or len(dead) > size or not after or (bool(dead) and min(after, default=0) <= max(dead))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "wire":
        sys.exit(wire_main(sys.argv[2:]))
    sys.exit(main(sys.argv))
