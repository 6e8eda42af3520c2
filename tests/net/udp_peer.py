#!/usr/bin/env python3
"""UDP test peer for tests/net/*.sh (python3 standard library only).

  udp_peer.py echo PORT IP...            on each IP, answer each datagram with
                                         "ip:port" of its sender, until killed
  udp_peer.py probe PORT DEST...         from one socket, send to DEST:PORT in
                                         turn; print each answer or "timeout"
  udp_peer.py blast DEST PORT N SIZE     send N datagrams of SIZE bytes, print
                                         how many were answered
  udp_peer.py stun DEST PORT             send a STUN Binding request; print
                                         the response type and XOR-MAPPED-ADDRESS
"""
import os
import select
import socket
import struct
import sys
import time


def echo(port, ips):
    socks = []
    for ip in ips:  # one socket per address: answers leave from where asked
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        s.bind((ip, port))
        socks.append(s)
    while True:
        for s in select.select(socks, [], [])[0]:
            _, (ip, p) = s.recvfrom(2048)
            s.sendto(f"{ip}:{p}".encode(), (ip, p))


def probe(port, dests):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    for d in dests:
        s.sendto(b"probe", (d, port))
        try:
            print(s.recv(2048).decode())
        except socket.timeout:
            print("timeout")


def blast(dest, port, n, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    s.setblocking(False)
    got = 0
    payload = b"x" * size
    for i in range(n):
        s.sendto(payload, (dest, port))
        if i % 50 == 49:
            time.sleep(0.002)  # keep the receivers' queues short
        try:
            while True:
                s.recv(2048)
                got += 1
        except BlockingIOError:
            pass
    s.settimeout(0.5)
    try:
        while True:
            s.recv(2048)
            got += 1
    except socket.timeout:
        pass
    print(got)


def stun(dest, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    txid = os.urandom(12)
    req = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + txid
    for _ in range(3):
        s.sendto(req, (dest, port))
        try:
            resp = s.recv(2048)
            break
        except socket.timeout:
            continue
    else:
        print("timeout")
        return
    mtype, mlen, cookie = struct.unpack("!HHI", resp[:8])
    mapped = "none"
    at = 20
    while at + 4 <= 20 + mlen and resp[8:20] == txid and cookie == 0x2112A442:
        atype, alen = struct.unpack("!HH", resp[at:at + 4])
        if atype == 0x0020 and alen >= 8 and resp[at + 5] == 1:
            xport = struct.unpack("!H", resp[at + 6:at + 8])[0] ^ 0x2112
            xip = struct.unpack("!I", resp[at + 8:at + 12])[0] ^ 0x2112A442
            mapped = f"{socket.inet_ntoa(struct.pack('!I', xip))}:{xport}"
        at += 4 + (alen + 3) // 4 * 4
    print(f"type=0x{mtype:04x} mapped={mapped}")


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "echo":
        echo(int(args[0]), args[1:])
    elif mode == "probe":
        probe(int(args[0]), args[1:])
    elif mode == "blast":
        blast(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif mode == "stun":
        stun(args[0], int(args[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
