# The inbound scenarios' client on the peer: TCP connections (3 request lines each) and UDP
# flows (3 datagrams each, one socket = one flow) to DVIPA, from SOURCE. Prints one JSON
# object: {"tcp": [[answer, answer, answer], ...], "udp": [[...], ...]}; an answer is the
# target's name, or "error: ...". Usage: inbound-client.py DVIPA SOURCE TCP_COUNT UDP_COUNT
import json, socket, sys

dvipa, source, tcp_count, udp_count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
result = {"tcp": [], "udp": []}
for i in range(tcp_count):
    answers = []
    try:
        s = socket.create_connection((dvipa, 8080), timeout=15, source_address=(source, 0))
        reader = s.makefile("rb")
        for r in range(3):
            s.sendall(b"hello %d %d\n" % (i, r))
            answers.append(reader.readline().decode().strip() or "error: closed")
        s.close()
    except OSError as e:
        answers.append("error: %s" % e)
    result["tcp"].append(answers)
for i in range(udp_count):
    answers = []
    s = socket.socket(socket.AF_INET6 if ":" in dvipa else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(3)
    for r in range(3):
        answer = "error: no answer"
        for attempt in range(3):
            s.sendto(b"flow %d datagram %d" % (i, r), (dvipa, 8081))
            try:
                data, _ = s.recvfrom(2048)
                answer = data.split(b" ", 1)[0].decode()
                break
            except socket.timeout:
                continue
        answers.append(answer)
    s.close()
    result["udp"].append(answers)
print(json.dumps(result))
