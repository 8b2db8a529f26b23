#!/usr/bin/env python3
"""Searches files and process memory for an IKE private key and its certificate.

    secret-search.py KEY.der CERT.der SUBJECT [--path P]... [--pid PID]... [--expect found|absent]

Needles: the EC private key's scalar (as stored in the DER, byte-reversed as OpenSSL's
BIGNUM limbs hold it on little-endian machines, in hex both cases), a base64 run of the key
DER that covers the scalar (PEM), the certificate's last 32 bytes (its signature) raw and in
base64, and the certificate subject's text. Paths are read whole (folders recursively);
processes through /proc/PID/mem, every readable mapping.
Prints what it read and every hit; `--expect absent` (default) exits 1 on any hit,
`--expect found` exits 1 unless every source has a hit (the positive control).
"""
import base64
import os
import sys


def needles(key, cert, subject):
    start = key.find(b"\x02\x01\x01\x04")   # SEC1 ECPrivateKey: version 1, OCTET STRING
    if start < 0:
        sys.exit("no SEC1 EC private key in the key file")
    length = key[start + 4]
    scalar = key[start + 5:start + 5 + length]
    b64 = base64.b64encode(key).decode()
    tail = cert[-32:]
    return {
        "key scalar": scalar,
        "key scalar reversed": scalar[::-1],
        "key scalar hex": scalar.hex().encode(),
        "key scalar HEX": scalar.hex().upper().encode(),
        "key base64": b64[12:44].encode(),
        "certificate signature": tail,
        "certificate base64": base64.b64encode(cert[-48:]).decode()[8:40].encode(),
        "certificate subject": subject.encode(),
    }


def search(data, found, source, wanted):
    for name, needle in wanted.items():
        if needle in data:
            found.setdefault(source, set()).add(name)


def files(path):
    if os.path.isdir(path):
        for root, _, names in os.walk(path):
            for name in names:
                yield os.path.join(root, name)
    else:
        yield path


def main():
    args = sys.argv[1:]
    key, cert, subject = open(args[0], "rb").read(), open(args[1], "rb").read(), args[2]
    wanted = needles(key, cert, subject)
    expect, sources, found, total = "absent", [], {}, 0
    rest = args[3:]
    while rest:
        option, value = rest[0], rest[1]
        rest = rest[2:]
        if option == "--expect":
            expect = value
        else:
            sources.append((option, value))
    for kind, value in sources:
        source = f"{kind[2:]} {value}"
        read = 0
        if kind == "--path":
            for name in files(value):
                try:
                    data = open(name, "rb").read()
                except OSError:
                    continue
                read += len(data)
                before = set(found.get(source, set()))
                search(data, found, source, wanted)
                if found.get(source, set()) != before:
                    print(f"  {name}: {sorted(found[source] - before)}")
        else:
            with open(f"/proc/{value}/maps") as maps, open(f"/proc/{value}/mem", "rb", 0) as mem:
                for line in maps:
                    fields = line.split()
                    if "r" not in fields[1]:
                        continue
                    low, high = (int(x, 16) for x in fields[0].split("-"))
                    try:
                        mem.seek(low)
                        data = mem.read(high - low)
                    except (OSError, ValueError, OverflowError):
                        continue
                    read += len(data)
                    search(data, found, source, wanted)
        total += read
        print(f"{source}: {read} bytes read, hits: {sorted(found.get(source, []))}")
        if read == 0:
            print(f"{source}: nothing could be read")
            return 1
    if expect == "found":
        return 0 if all(f"{k[2:]} {v}" in found for k, v in sources) else 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
