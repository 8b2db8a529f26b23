# Judges inbound-client.py's output. Usage: inbound-verdict.py FILE KIND PROPERTY
#   answered: every connection/flow got all its answers, each naming a target
#   one-target: no connection/flow was answered by two targets
#   spread: prints the targets used; succeeds when at least 2 answered
import collections, json, sys

result = json.load(open(sys.argv[1]))[sys.argv[2]]
prop = sys.argv[3]
per_target = collections.Counter(a[0] for a in result if a)
if prop == "answered":
    bad = [a for a in result if len(a) != 3 or any(not x.startswith("t") for x in a)]
    print("%d %s, %d fully answered; failures: %s" % (len(result), sys.argv[2], len(result) - len(bad), bad[:5]))
    sys.exit(0 if result and not bad else 1)
if prop == "one-target":
    mixed = [a for a in result if len(set(a)) != 1]
    print("%d answered by exactly one target, %d mixed: %s" % (len(result) - len(mixed), len(mixed), mixed[:5]))
    sys.exit(0 if result and not mixed else 1)
if prop == "spread":
    print("answers per target: " + ", ".join("%s=%d" % kv for kv in sorted(per_target.items())))
    sys.exit(0 if len([t for t in per_target if t.startswith("t")]) >= 2 else 1)
sys.exit(2)
