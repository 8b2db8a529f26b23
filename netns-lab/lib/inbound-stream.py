# A long-lived TCP connection to the DVIPA for the inbound fail-closed scenario: one line
# every INTERVAL seconds, each answered by the target's name. Runs until SIGTERM (or
# SECONDS), then prints one JSON object: answers, the targets that answered, the longest
# wait for an answer, and the error that ended it early (a reset would show here), or null.
# Usage: inbound-stream.py DVIPA SOURCE INTERVAL SECONDS
import json, signal, socket, sys, time

dvipa, source, interval, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
stopping = False
def stop(*_):
    global stopping
    stopping = True
signal.signal(signal.SIGTERM, stop)

result = {"answers": 0, "targets": [], "longest_wait": 0.0, "error": None}
try:
    s = socket.create_connection((dvipa, 8080), timeout=15, source_address=(source, 0))
    s.settimeout(1)
    buffer = b""
    end = time.monotonic() + seconds
    i = 0
    while not stopping and time.monotonic() < end:
        sent = time.monotonic()
        s.sendall(b"line %d\n" % i)
        i += 1
        closed = False
        while not stopping and b"\n" not in buffer:
            try:
                data = s.recv(4096)
            except socket.timeout:
                continue
            if not data:
                closed = True
                break
            buffer += data
        if closed:
            result["error"] = "closed by the other end"
            break
        if stopping:
            break
        answer, buffer = buffer.split(b"\n", 1)
        result["answers"] += 1
        result["longest_wait"] = max(result["longest_wait"], round(time.monotonic() - sent, 2))
        name = answer.decode().strip()
        if name not in result["targets"]:
            result["targets"].append(name)
        print("answer %d %s %.2f" % (result["answers"], name, time.monotonic()), file=sys.stderr, flush=True)
        time.sleep(interval)
except OSError as e:
    result["error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(result), flush=True)
