#!/usr/bin/env python3
"""netns-lab/lib/ike_packets.py: IKE datagrams for the lab's bad-input scenario.

  ike_packets.py extract PCAP EXCHANGE         hex of the first IKE request of EXCHANGE (34 = IKE_SA_INIT,
                                              35 = IKE_AUTH) sent by the original initiator in PCAP
  ike_packets.py send DST PORT HEX [HEX ...]   sends each datagram from an ephemeral UDP port (a non-ESP
        [--sport N] [--wait S] [--expect N] [--src A]      marker is prepended for port 4500), prints each reply's
                                              hex on a line `reply <hex>`, and `replies N`
  ike_packets.py garbage DST PORT COUNT SEED   COUNT random datagrams (28..300 bytes; after the marker on
                                              4500), then like send: `replies N`
  ike_packets.py mutate HEX truncate N | rspi | msgid N | ispi N   prints the changed datagram
                                              (ispi: initiator SPI 0x71000000000000NN, a new initiator)
  ike_packets.py fragments DST PORT ISPI RSPI COUNT SEED   COUNT forged SKF fragments (RFC 7383) of the
                                              IKE_SA ISPI/RSPI (hex, as the initiator's requests):
                                              INFORMATIONAL, message IDs 0..3, Total Fragments 2..64,
                                              random bodies (no valid ICV), 250 a second (a
                                              receive buffer must not be what drops them); then
                                              like send: `replies N`

Only the Python standard library; the pcap reader knows Ethernet and Linux cooked captures.
"""
import random
import socket
import struct
import sys
import time


def pcap_udp_payloads(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    offset = 24
    while offset + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + caplen]
        offset += 16 + caplen
        link = 14 if linktype == 1 else 16 if linktype == 113 else 0
        ip = frame[link:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
        yield socket.inet_ntoa(ip[12:16]), sport, socket.inet_ntoa(ip[16:20]), dport, ip[ihl + 8:]


def ike_message(payload, port):
    if port == 4500:
        if len(payload) < 5 or payload[:4] != b"\0\0\0\0":
            return None
        payload = payload[4:]
    return payload if len(payload) >= 28 else None


def extract(path, exchange):
    for _, sport, _, dport, payload in pcap_udp_payloads(path):
        message = ike_message(payload, dport)
        if message is None:
            continue
        flags = message[19]
        if message[18] == exchange and flags & 0x08 and not flags & 0x20:
            print(message.hex())
            return 0
    print(f"no exchange {exchange} request in {path}", file=sys.stderr)
    return 1


def send(dst, port, datagrams, sport=0, wait=1.5, src="0.0.0.0", expect=None, pps=None):
    """Sends, then counts replies until none came for `wait` seconds; with `expect`, until
    that many came (then 1 s more for any extra), so a slow responder under load still
    counts and a fast one costs no waiting."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, sport))
    for d in datagrams:
        s.sendto((b"\0\0\0\0" if port == 4500 else b"") + d, (dst, port))
        if pps:
            time.sleep(1 / pps)
    s.settimeout(wait)
    replies = 0
    try:
        while True:
            reply, _ = s.recvfrom(65535)
            replies += 1
            print("reply " + reply.hex())
            if expect is not None and replies >= expect:
                s.settimeout(1.0)
    except socket.timeout:
        pass
    print(f"replies {replies}")
    return 0


def mutate(message, how, arg):
    m = bytearray(message)
    if how == "truncate":
        m = m[:arg]
    elif how == "rspi":          # another responder SPI: nobody's
        m[8:16] = bytes(b ^ 0x5A for b in m[8:16])
    elif how == "msgid":         # another message ID: the ICV no longer matches
        m[20:24] = struct.pack("!I", arg)
    elif how == "ispi":          # another initiator SPI: an IKE_SA_INIT of a new initiator
        m[0:8] = struct.pack("!Q", 0x7100_0000_0000_0000 + arg)
    else:
        raise SystemExit(f"unknown mutation {how}")
    return bytes(m)


def forged_fragments(ispi, rspi, count, seed):
    """SKF payloads (type 53) in INFORMATIONAL requests from the original initiator."""
    rng = random.Random(seed)
    for _ in range(count):
        total = rng.randrange(2, 65)
        number = rng.randrange(1, total + 1)
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(40, 900)))   # datagrams below 1000
        skf = struct.pack("!BBHHH", 41 if number == 1 else 0, 0, 8 + len(body), number, total) + body
        header = struct.pack("!QQBBBBII", ispi, rspi, 53, 0x20, 37, 0x08, rng.randrange(4), 28 + len(skf))
        yield header + skf


def main(argv):
    if len(argv) >= 3 and argv[0] == "extract":
        return extract(argv[1], int(argv[2]))
    if len(argv) >= 4 and argv[0] == "send":
        args, sport, wait, src, expect = argv[3:], 0, 1.5, "0.0.0.0", None
        datagrams = []
        i = 0
        while i < len(args):
            if args[i] == "--sport":
                sport = int(args[i + 1]); i += 2
            elif args[i] == "--wait":
                wait = float(args[i + 1]); i += 2
            elif args[i] == "--expect":
                expect = int(args[i + 1]); i += 2
            elif args[i] == "--src":
                src = args[i + 1]; i += 2
            else:
                datagrams.append(bytes.fromhex(args[i])); i += 1
        return send(argv[1], int(argv[2]), datagrams, sport, wait, src, expect)
    if len(argv) == 5 and argv[0] == "garbage":
        rng = random.Random(int(argv[4]))
        datagrams = [bytes(rng.randrange(256) for _ in range(rng.randrange(28, 300))) for _ in range(int(argv[3]))]
        return send(argv[1], int(argv[2]), datagrams)
    if len(argv) == 7 and argv[0] == "fragments":
        datagrams = list(forged_fragments(int(argv[3], 16), int(argv[4], 16), int(argv[5]), int(argv[6])))
        return send(argv[1], int(argv[2]), datagrams, pps=250)
    if len(argv) >= 3 and argv[0] == "mutate":
        print(mutate(bytes.fromhex(argv[1]), argv[2], int(argv[3]) if len(argv) > 3 else 0).hex())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
