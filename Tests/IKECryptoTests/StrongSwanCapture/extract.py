#!/usr/bin/env python3
"""Turns the level-4 charon logs written by capture.sh into StrongSwanCaptureVectors.swift.

  extract.py CAPTURE_DIR > ../StrongSwanCaptureVectors.swift
  (the capture committed in logs/: extract.py logs > ../StrongSwanCaptureVectors.swift)

Each IKE_SA in the initiator's log (ini-charon.log) becomes one vector: the values charon
dumped (g^ir, SKEYSEED, SK_*, IDx', the signed octets and AUTH of both sides, the CHILD_SA
seed and keys), copied verbatim; nothing here computes anything.
"""
import gzip
import os
import re
import sys

DUMP_HEAD = re.compile(r"^\d+\[(IKE|CHD|ENC)\] (.+?) => (\d+) bytes @ 0x[0-9a-f]+$")
DUMP_LINE = re.compile(r"^\d+\[(IKE|CHD|ENC)\]\s+\d+: ((?:[0-9A-F]{2} )+)")
# The SK payload dumps charon's encryption layer writes (ENC level 4); other ENC dumps are skipped.
SK_LABELS = {"IV", "plain", "padding", "assoc", "encrypted", "ICV"}


def dumps(path):
    out = []
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        lines = gzip.open(path + ".gz", "rt", encoding="latin-1").read().splitlines()
    else:
        lines = open(path, encoding="latin-1").read().splitlines()
    i = 0
    while i < len(lines):
        m = DUMP_HEAD.match(lines[i])
        if not m:
            i += 1
            continue
        label, length = m.group(2), int(m.group(3))
        if m.group(1) == "ENC" and label not in SK_LABELS:
            i += 1
            continue
        data = []
        i += 1
        while len(data) < length and i < len(lines):
            d = DUMP_LINE.match(lines[i])
            if not d:
                break
            data += d.group(2).split()
            i += 1
        if len(data) == length:
            out.append((label, "".join(data).lower()))
    return out


def sessions(entries):
    current = None
    for label, hexdata in entries:
        if label == "shared Diffie Hellman secret":
            if current:
                yield current
            current = {}
        if current is None:
            continue
        key = label
        n = 1
        while key in current:
            n += 1
            key = f"{label}#{n}"
        current[key] = hexdata
    if current:
        yield current


def kernel_keys(cap, suffix="", prefix="kernel"):
    """The initiator's `ip xfrm state` keys per connection: {name: {field: hex}}."""
    spis, name = {}, None
    for line in open(f"{cap}/ini-list-sas{suffix}.txt", encoding="latin-1"):
        m = re.match(r"^(\w+): #\d+, ESTABLISHED", line)
        if m:
            name = m.group(1)
        m = re.match(r"^\s+(in|out)\s+([0-9a-f]{8}),", line)
        if m and name:
            spis[m.group(2)] = (name, m.group(1))
    keys, current = {}, None
    for line in open(f"{cap}/ini-xfrm-state{suffix}.txt", encoding="latin-1"):
        m = re.search(r"proto esp spi 0x([0-9a-f]{8})", line)
        if m:
            current = spis.get(m.group(1))
            continue
        m = re.match(r"^\s+(aead|enc|auth-trunc) \S+ 0x([0-9a-f]+)", line)
        if m and current:
            name, direction = current
            kind = "Integrity" if m.group(1) == "auth-trunc" else "Encryption"
            field = prefix + ("InitiatorToResponder" if direction == "out" else "ResponderToInitiator")
            keys.setdefault(name, {})[field + kind] = m.group(2)
    return keys


def main():
    cap = sys.argv[1]
    # capture.sh initiates gcm, cbc, modp, rekey in this order, then rekeys "rekey"'s
    # CHILD_SA (with PFS) and its IKE_SA: the new IKE_SA's keys are the fifth derivation.
    names = ["gcm", "cbc", "modp", "rekey", "rekeyedIKESA"]
    fields = [
        ("sharedSecret", "shared Diffie Hellman secret"), ("skeyseed", "SKEYSEED"),
        ("skD", "Sk_d secret"), ("skAi", "Sk_ai secret"), ("skAr", "Sk_ar secret"),
        ("skEi", "Sk_ei secret"), ("skEr", "Sk_er secret"), ("skPi", "Sk_pi secret"),
        ("skPr", "Sk_pr secret"), ("idInitiatorBody", "IDx'"), ("idResponderBody", "IDx'#2"),
        ("initiatorSignedOctets", "octets = message + nonce + prf(Sk_px, IDx')"),
        ("responderSignedOctets", "octets = message + nonce + prf(Sk_px, IDx')#2"),
        ("psk", "secret"), ("initiatorAuth", "AUTH = prf(prf(secret, keypad), octets)"),
        ("responderAuth", "AUTH = prf(prf(secret, keypad), octets)#2"),
        ("childSeed", "seed"), ("childEncryptionInitiator", "encryption initiator key"),
        ("childEncryptionResponder", "encryption responder key"),
        ("childIntegrityInitiator", "integrity initiator key"),
        ("childIntegrityResponder", "integrity responder key"),
        # The first SK payload the initiator sealed (its IKE_AUTH request).
        ("skIV", "IV"), ("skPlain", "plain"), ("skPadding", "padding"), ("skAssociatedData", "assoc"),
        ("skEncrypted", "encrypted"), ("skICV", "ICV"),
        # The CHILD_SA rekey with PFS (CREATE_CHILD_SA with KE): g^ir, seed = g^ir | Ni | Nr, keys.
        ("pfsSharedSecret", "DH secret"), ("pfsSeed", "seed#2"),
        ("pfsEncryptionInitiator", "encryption initiator key#2"), ("pfsEncryptionResponder", "encryption responder key#2"),
    ]
    print("// Generated by StrongSwanCapture/extract.py from a real strongSwan 5.9.8 exchange")
    print("// (StrongSwanCapture/capture.sh in the lab VM). Test keys only. Do not edit by hand.")
    print("")
    print("let strongSwanCapture: [String: [String: String]] = [")
    kernel = kernel_keys(cap)
    if os.path.exists(f"{cap}/ini-list-sas-after-rekey.txt"):
        for name, values in kernel_keys(cap, "-after-rekey", "kernelAfterRekey").items():
            kernel.setdefault(name, {}).update(values)
    for name, session in zip(names, sessions(dumps(f"{cap}/ini-charon.log"))):
        print(f'    "{name}": [')
        for field, label in fields:
            if label in session:
                print(f'        "{field}": "{session[label]}",')
        # The last two SK plaintexts before the next derivation: for "rekey", the IKE_SA
        # rekey's CREATE_CHILD_SA request and response (their Nonce and SA payloads).
        plains = sorted((k for k in session if k == "plain" or k.startswith("plain#")),
                        key=lambda k: int(k.split("#")[1]) if "#" in k else 1)
        assocs = sorted((k for k in session if k == "assoc" or k.startswith("assoc#")),
                        key=lambda k: int(k.split("#")[1]) if "#" in k else 1)
        if name == "rekey" and len(plains) >= 2 and len(assocs) >= 2:
            print(f'        "rekeyRequestPlain": "{session[plains[-2]]}",')
            print(f'        "rekeyRequestAssociatedData": "{session[assocs[-2]]}",')
            print(f'        "rekeyResponsePlain": "{session[plains[-1]]}",')
            print(f'        "rekeyResponseAssociatedData": "{session[assocs[-1]]}",')
        for field, value in sorted(kernel.get(name, {}).items()):
            print(f'        "{field}": "{value}",')
        print("    ],")
    print("]")


main()
