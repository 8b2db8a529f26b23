import struct, sys, os
out = sys.argv[1]
for name in ["x25519gcm", "cbcecp", "multi"]:
    data = open(f"{name}.pcap", "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    assert magic == 0xa1b2c3d4, hex(magic)
    linktype = struct.unpack("<I", data[20:24])[0]
    off = 24; n = 0
    while off < len(data):
        ts, tus, incl, orig = struct.unpack("<IIII", data[off:off+16]); off += 16
        pkt = data[off:off+incl]; off += incl
        assert linktype == 1
        eth = pkt[14:]
        ihl = (eth[0] & 0xf) * 4
        src = ".".join(map(str, eth[12:16]))
        udp = eth[ihl:]
        sport, dport, ulen = struct.unpack(">HHH", udp[:6])
        payload = udp[8:ulen]
        if sport == 4500 or dport == 4500:
            assert payload[:4] == b"\0\0\0\0"; payload = payload[4:]
        exch = {34: "ike_sa_init", 35: "ike_auth", 36: "create_child_sa", 37: "informational"}[payload[18]]
        kind = "response" if payload[19] & 0x20 else "request"
        n += 1
        fn = f"{out}/strongswan-{name}-{n}-{exch}-{kind}.bin"
        open(fn, "wb").write(payload)
        print(fn, len(payload), src)
