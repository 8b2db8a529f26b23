# Decrypts the captured AES-CBC + HMAC IKE_AUTH messages (runs cbcecp, multi) with the keys
# strongSwan logged, after checking the truncated HMAC ICV over header..padding.
import re, sys, hmac, hashlib
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
fx = sys.argv[1]
def secret(log, name):
    for i, line in enumerate(log):
        if f"] {name} secret =>" in line:
            n = int(re.search(r"=> (\d+) bytes", line).group(1)); out = b""; j = i + 1
            while len(out) < n:
                out += bytes.fromhex(log[j].split(":", 3)[3][:49].replace(" ", "")); j += 1
            return out[:n]
for run, hashf, icvlen in [("cbcecp", hashlib.sha256, 16), ("multi", hashlib.sha384, 24)]:
    log = open(f"{run}.a.log").read().splitlines()
    for n, ek, ak in [(3, "Sk_ei", "Sk_ai"), (4, "Sk_er", "Sk_ar")]:
        kind = "request" if n == 3 else "response"
        fn = f"strongswan-{run}-{n}-ike_auth-{kind}"
        msg = open(f"{fx}/{fn}.bin", "rb").read()
        icv = msg[-icvlen:]
        assert hmac.new(secret(log, ak), msg[:-icvlen], hashf).digest()[:icvlen] == icv, fn
        iv = msg[32:48]; ct = msg[48:-icvlen]
        d = Cipher(algorithms.AES(secret(log, ek)), modes.CBC(iv)).decryptor()
        pt = d.update(ct) + d.finalize()
        inner = pt[:len(pt) - 1 - pt[-1]]
        open(f"{fx}/{fn}.plaintext.bin", "wb").write(inner)
        print(fn, "ICV ok, pad", pt[-1], "inner", len(inner), "first", msg[28])
