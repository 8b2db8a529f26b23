# The inbound scenarios' service on a target: TCP 8080 answers every line with the node's
# name, UDP 8081 echoes each datagram prefixed with it. Usage: inbound-service.py NODE [6]
# (with 6: on IPv6, ::, as well; otherwise IPv4 only, for namespaces with IPv6 disabled)
import socket, sys, threading

node = sys.argv[1].encode()
ipv6 = len(sys.argv) > 2 and sys.argv[2] == "6"
family, anywhere = (socket.AF_INET6, "::") if ipv6 else (socket.AF_INET, "0.0.0.0")

def bound(kind, port):
    s = socket.socket(family, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if ipv6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((anywhere, port))
    return s

def tcp_client(conn):
    with conn:
        buffer = b""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buffer += data
            while b"\n" in buffer:
                _, buffer = buffer.split(b"\n", 1)
                conn.sendall(node + b"\n")

def tcp():
    s = bound(socket.SOCK_STREAM, 8080)
    s.listen(128)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=tcp_client, args=(conn,), daemon=True).start()

def udp():
    s = bound(socket.SOCK_DGRAM, 8081)
    while True:
        data, address = s.recvfrom(2048)
        s.sendto(node + b" " + data, address)

threading.Thread(target=udp, daemon=True).start()
tcp()
