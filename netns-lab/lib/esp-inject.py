# ESP the inbound scenarios send to the DVIPA besides the peer's real traffic, from the
# namespace it runs in (the peer: the packets leave its wan0 like its own ESP).
#
#   esp-inject.py forge DST SPI[,SPI...] SECONDS FIRST_SEQ
#       Forged packets: a known SPI, sequence numbers from FIRST_SEQ up (far ahead of the
#       real ones), random IV, body and ICV (no key): as fast as one socket goes for SECONDS.
#   esp-inject.py garbage DST SPI SECONDS
#       Bad input, round robin: 1-7 octets (no room for SPI and sequence number), a known
#       SPI with 8-23 octets (no room for IV + ICV), unknown SPIs with 64-200 random octets,
#       and a known SPI with random payload of an odd length (not a GCM/CBC layout).
#   esp-inject.py replay PCAP DST MAX_SEQ
#       Sends again, byte for byte (IP header included, so with the peer's source address),
#       every IPv4 ESP packet to DST in PCAP (tcpdump -w, Ethernet) whose sequence number
#       is at most MAX_SEQ (the forged ones are left out).
# forge and garbage also end early on SIGTERM (the scenario stops them when its traffic is
# done), and send at most INJECT_PPS packets per second when that is set (0: as fast as
# the socket goes). Prints one JSON object: what was sent, per kind.
import json, os, random, signal, socket, struct, sys, time

stopping = False
def stop(*_):
    global stopping
    stopping = True
signal.signal(signal.SIGTERM, stop)

def esp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50)   # the kernel writes the IP header
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    return s

PPS = float(os.environ.get("INJECT_PPS", "0") or 0)
next_send = time.monotonic()
def pace():
    global next_send
    if PPS > 0:
        next_send = max(next_send + 1.0 / PPS, time.monotonic() - 1.0)   # no catch-up burst after a stall
        delay = next_send - time.monotonic()
        if delay > 0:
            time.sleep(delay)
def send(s, payload, dst):
    try:
        s.sendto(payload, (dst, 0))
        return True
    except OSError:   # ENOBUFS under load: not sent, not counted
        return False

def forge(dst, spis, seconds, first):
    s, sent, seq = esp_socket(), 0, first
    spis = [int(x, 16) for x in spis.split(",")]
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end and not stopping:
        for spi in spis:
            pace()
            body = os.urandom(8 + 64 + 16)   # IV, "ciphertext", ICV
            if send(s, struct.pack("!II", spi, seq & 0xFFFFFFFF) + body, dst):
                sent += 1
        seq += 1
    return {"forged": sent, "first": first, "last": seq - 1, "pps": int(sent / (time.monotonic() - start))}

def garbage(dst, spi, seconds):
    s, counts, i = esp_socket(), {"short": 0, "known-spi-short": 0, "unknown-spi": 0, "known-spi-random": 0}, 0
    spi = int(spi, 16)
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end and not stopping:
        kind = i % 4
        i += 1
        if kind == 0:
            name, payload = "short", os.urandom(random.randint(1, 7))
        elif kind == 1:
            name, payload = "known-spi-short", struct.pack("!II", spi, i) + os.urandom(random.randint(0, 15))
        elif kind == 2:
            other = random.randint(0x100, 0xFFFFFFFF)
            if other == spi:
                continue
            name, payload = "unknown-spi", struct.pack("!II", other, i) + os.urandom(random.randint(56, 192))
        else:
            name, payload = "known-spi-random", struct.pack("!II", spi, 0x40000000 + i) + os.urandom(2 * random.randint(30, 90) + 1)
        pace()
        if send(s, payload, dst):
            counts[name] += 1
    counts["total"] = sum(counts.values())
    counts["pps"] = int(counts["total"] / (time.monotonic() - start))
    return counts

def replay(path, dst, max_seq):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    assert linktype == 1, "Ethernet captures only"
    dst_bytes = socket.inet_aton(dst)
    packets, offset = [], 24
    while offset + 16 <= len(data):
        caplen, origlen = struct.unpack(endian + "II", data[offset + 8:offset + 16])
        frame = data[offset + 16:offset + 16 + caplen]
        offset += 16 + caplen
        if caplen != origlen or len(frame) < 14 + 28 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        if ip[0] >> 4 != 4 or ip[9] != 50 or ip[16:20] != dst_bytes:
            continue
        total = struct.unpack("!H", ip[2:4])[0]
        spi, seq = struct.unpack("!II", ip[ihl:ihl + 8])
        if seq <= max_seq:
            packets.append((ip[:total], spi, seq))
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)   # IP_HDRINCL
    sent = 0
    for packet, _, _ in packets:
        if send(s, packet, dst):
            sent += 1
        time.sleep(0.001)
    spis = sorted({"%08x" % spi for _, spi, _ in packets})
    return {"replayed": sent, "captured": len(packets), "spis": spis,
            "highest": max((seq for _, _, seq in packets), default=0)}

if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "forge":
        result = forge(args[0], args[1], float(args[2]), int(args[3], 0))
    elif command == "garbage":
        result = garbage(args[0], args[1], float(args[2]))
    elif command == "replay":
        result = replay(args[0], args[1], int(args[2], 0))
    else:
        sys.exit("usage: esp-inject.py forge|garbage|replay ...")
    print(json.dumps(result), flush=True)
