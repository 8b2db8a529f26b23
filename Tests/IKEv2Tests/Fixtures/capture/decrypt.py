# Decrypts the captured AES-GCM IKE_AUTH messages with the keys strongSwan logged (ike=4),
# writing the inner payload chain (padding and pad length removed) next to the fixture.
import re, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
fx = sys.argv[1]
log = open("x25519gcm.a.log").read().splitlines()
def secret(name):
    for i, line in enumerate(log):
        if f"] {name} secret =>" in line:
            n = int(re.search(r"=> (\d+) bytes", line).group(1)); out = b""
            j = i + 1
            while len(out) < n:
                hexpart = log[j].split(":", 3)[3][:49]
                out += bytes.fromhex(hexpart.replace(" ", "")); j += 1
            return out[:n]
for fn, key in [("strongswan-x25519gcm-3-ike_auth-request", secret("Sk_ei")),
                ("strongswan-x25519gcm-4-ike_auth-response", secret("Sk_er"))]:
    msg = open(f"{fx}/{fn}.bin", "rb").read()
    aad = msg[:32]; iv = msg[32:40]; ct = msg[40:]
    pt = AESGCM(key[:32]).decrypt(key[32:] + iv, ct, aad)
    inner = pt[:len(pt) - 1 - pt[-1]]
    open(f"{fx}/{fn}.plaintext.bin", "wb").write(inner)
    print(fn, len(pt), "pad", pt[-1], "inner", len(inner), "first payload", msg[28])
