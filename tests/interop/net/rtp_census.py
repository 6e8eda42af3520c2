#!/usr/bin/env python3
"""Counts the RTP and RTCP packets crossing the lab's router, as seen on the
wire: for RTP, the payload type and the one-byte header extension ids; for
RTCP, the type and format of the first packet of each datagram (SRTCP leaves
the first 8 bytes in the clear, so a compound's first packet and a lone
transport-cc feedback or REMB are visible; what follows it in a compound is
not). Run inside the router namespace (tests/interop/lib/quality.js does):

    python3 rtp_census.py IFACE[,IFACE...] SECONDS [ADDR=NAME ...]

Prints one JSON object: {"rtcp": {"<from>-><to> <TYPE> fmt<N>": count},
"rtp": {"<from>-><to> pt<N> ext [ids]": count}}. Only packets arriving on
the listed interfaces are counted (each once).
"""
import collections
import json
import select
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
RTCP_NAMES = {200: 'SR', 201: 'RR', 202: 'SDES', 203: 'BYE', 204: 'APP', 205: 'RTPFB', 206: 'PSFB'}


def main():
    ifaces = sys.argv[1].split(',')
    seconds = float(sys.argv[2])
    names = dict(a.split('=', 1) for a in sys.argv[3:])
    socks = {}
    for ifname in ifaces:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind((ifname, 0))
        s.setblocking(False)
        socks[s] = ifname
    rtcp = collections.Counter()
    rtp = collections.Counter()
    other = collections.Counter()

    def handle(pkt, addr):
        if addr[2] == socket.PACKET_OUTGOING:
            return
        ip = pkt[14:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            return
        ihl = (ip[0] & 15) * 4
        src = socket.inet_ntoa(ip[12:16])
        dst = socket.inet_ntoa(ip[16:20])
        key = f"{names.get(src, src)}->{names.get(dst, dst)}"
        pl = ip[ihl + 8:]
        if len(pl) < 12 or pl[0] >> 6 != 2:
            other[f"{key} non-rtp"] += 1  # STUN, DTLS
            return
        pt = pl[1]
        if 192 <= pt <= 223:
            rtcp[f"{key} {RTCP_NAMES.get(pt, pt)} fmt{pl[0] & 31}"] += 1
            return
        ids = []
        if pl[0] & 0x10:
            off = 12 + 4 * (pl[0] & 15)
            prof, words = struct.unpack('!HH', pl[off:off + 4])
            p = off + 4
            end = p + 4 * words
            if prof == 0xBEDE:
                while p < end:
                    b = pl[p]
                    if b == 0:
                        p += 1
                        continue
                    ids.append(b >> 4)
                    p += 2 + (b & 15)
            else:
                ids.append('two-byte')
        rtp[f"{key} pt{pt & 127} ext {sorted(ids, key=str)}"] += 1

    stop = time.time() + seconds
    while time.time() < stop:
        ready, _, _ = select.select(list(socks), [], [], 0.2)
        for s in ready:
            while True:
                try:
                    pkt, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                try:
                    handle(pkt, addr)
                except (struct.error, IndexError):
                    other['unparsed'] += 1
    print(json.dumps({'rtcp': dict(sorted(rtcp.items())), 'rtp': dict(sorted(rtp.items())), 'other': dict(other)}))


if __name__ == '__main__':
    main()
