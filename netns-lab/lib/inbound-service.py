# The inbound scenarios' service on a target: TCP 8080 answers every line with the node's
# name, UDP 8081 echoes each datagram prefixed with it. Usage: inbound-service.py NODE
import socket, sys, threading

node = sys.argv[1].encode()

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
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 8080))
    s.listen(128)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=tcp_client, args=(conn,), daemon=True).start()

def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 8081))
    while True:
        data, address = s.recvfrom(2048)
        s.sendto(node + b" " + data, address)

threading.Thread(target=udp, daemon=True).start()
tcp()
