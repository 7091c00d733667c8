"""Runs inside the swarm's gateway container (bench/lib/swarm.py copies it
there, with the collection's plugins/module_utils/fastd_status.py).

    swarm_sample.py status INSTANCE
        one status document of fastd@INSTANCE, as the collection's
        parse_status normalizes it (the logic of the fastd_status module),
        without the per-peer list: count, connected, methods, uptime.
    swarm_sample.py restart INSTANCE PREFIX EXPECT TIMEOUT BRIDGE
        restarts fastd@INSTANCE (systemctl restart) and samples every 0.2 s
        until EXPECT peers are connected and EXPECT interfaces whose names
        start with PREFIX are in BRIDGE, or TIMEOUT seconds have passed.
        Prints JSON: the restart command's duration, when the new fastd
        process started (new_fastd_s, from its uptime), the UDP packets the
        gateway's kernel dropped for a full receive buffer meanwhile
        (udp_rcvbuf_drops), and the samples
        [seconds since the restart began, connected, in bridge], counted
        only from the new fastd process (its uptime is shorter than the time
        since the restart began).
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_status import (  # noqa: E402
    parse_status, read_socket, status_socket_path)

INTERVAL = 0.2


def read(instance):
    try:
        return parse_status(read_socket(status_socket_path(instance), 2.0))
    except (OSError, ValueError):
        return None


def in_bridge(bridge, prefix):
    try:
        return sum(1 for name in os.listdir("/sys/class/net/%s/brif" % bridge) if name.startswith(prefix))
    except OSError:
        return 0


def udp_rcvbuf_errors():
    """UDP packets the kernel dropped in this network namespace because a
    socket's receive buffer was full (RcvbufErrors in /proc/net/snmp)."""
    with open("/proc/net/snmp", encoding="ascii") as handle:
        rows = [line.split() for line in handle if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def restart(instance, prefix, expect, timeout, bridge):
    drops = udp_rcvbuf_errors()
    start = time.monotonic()
    proc = subprocess.Popen(["systemctl", "restart", "fastd@%s" % instance])
    restart_s = None
    new_fastd_s = None
    samples = []
    while True:
        now = time.monotonic() - start
        if restart_s is None and proc.poll() is not None:
            restart_s = now
        status = read(instance)
        bridged = in_bridge(bridge, prefix)
        fresh = status is not None and status["uptime"] is not None and status["uptime"] <= now + 0.05
        connected = status["connected"] if fresh else 0
        if fresh and new_fastd_s is None:
            new_fastd_s = max(0.0, now - status["uptime"])
        samples.append([round(now, 3), connected, bridged if fresh else 0])
        if fresh and connected >= expect and bridged >= expect and restart_s is not None:
            break
        if now > timeout:
            break
        time.sleep(max(0.0, INTERVAL - (time.monotonic() - start - now)))
    if proc.poll() is None:
        proc.wait(timeout=120)
        restart_s = time.monotonic() - start
    final = read(instance)
    return {"restart_s": round(restart_s, 3),
            "new_fastd_s": round(new_fastd_s, 3) if new_fastd_s is not None else None,
            "udp_rcvbuf_drops": udp_rcvbuf_errors() - drops, "returncode": proc.returncode, "samples": samples,
            "methods": final["methods"] if final else {}, "timed_out": now > timeout}


def main(argv):
    if argv[1] == "status":
        status = read(argv[2])
        if status is None:
            print(json.dumps(None))
            return
        status.pop("peers")
        print(json.dumps(status))
    elif argv[1] == "restart":
        print(json.dumps(restart(argv[2], argv[3], int(argv[4]), float(argv[5]), argv[6])))


if __name__ == "__main__":
    main(sys.argv)
