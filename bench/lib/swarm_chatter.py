"""Runs inside the swarm's node container (bench/lib/swarm.py copies it
there): mesh-like chatter on the nodes' tap interfaces.

    swarm_chatter.py GROUP PIDFILE

Sends one small broadcast Ethernet frame per second on every interface
named GROUP followed by four digits (the node processes of one group), spread
evenly over the second, until killed. A Gluon node's batman-adv sends an
originator message about once a second into its mesh-VPN interface; fastd
carries each frame to the gateway as payload. The frames use the IEEE's
local experimental EtherType 0x88B5, so nothing on the gateway mistakes them
for real mesh traffic.
"""

import os
import re
import socket
import sys
import time

ETHERTYPE = 0x88B5


def main(group, pidfile):
    with open(pidfile, "w", encoding="ascii") as handle:
        handle.write("%d\n" % os.getpid())
    pattern = re.compile(re.escape(group) + r"\d{4}")
    names = sorted(n for n in os.listdir("/sys/class/net") if pattern.fullmatch(n))
    sockets = []
    for name in names:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        sock.bind((name, 0))
        with open("/sys/class/net/%s/address" % name, encoding="ascii") as handle:
            mac = handle.read().strip()
        source = bytes.fromhex(mac.replace(":", ""))
        frame = b"\xff" * 6 + source + ETHERTYPE.to_bytes(2, "big") + b"ffbench".ljust(46, b"\0")
        sockets.append((sock, frame))
    step = 1.0 / max(len(sockets), 1)
    while True:
        start = time.monotonic()
        for i, (sock, frame) in enumerate(sockets):
            try:
                sock.send(frame)
            except OSError:
                pass
            delay = start + (i + 1) * step - time.monotonic()
            if delay > 0:
                time.sleep(delay)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
