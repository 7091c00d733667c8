"""One iperf3 run in the benchmark guest, with the CPU time it cost.

Runs inside the QEMU guest (copied there by setup.yml); Python 3 standard
library only. It reads the CPU time (user + system) of the given systemd
units' main processes and of the whole guest from /proc, runs the iperf3
client in the node's network namespace, reads them again and prints one JSON
object: throughput, bytes received, UDP loss, and the CPU seconds spent.

    python3 measure.py --ns NS --target ADDR --proto tcp|udp --seconds S [--rate MBIT]
                       [--length BYTES] [--unit UNIT ...] [--idle]
With --idle it only waits S seconds (the daemons' CPU time with no traffic).
"""

import argparse
import json
import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def main_pid(unit):
    out = subprocess.run(["systemctl", "show", "--property=MainPID", "--value", unit],
                         capture_output=True, text=True, check=True).stdout.strip()
    if not out or out == "0":
        sys.exit(f"measure.py: unit {unit} has no running process")
    return int(out)


def process_cpu(pid):
    """utime + stime of one process, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def guest_cpu():
    """Busy CPU seconds of the whole guest, all CPUs: everything but idle and iowait."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ns", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--proto", choices=["tcp", "udp"], required=True)
    parser.add_argument("--seconds", type=int, required=True)
    parser.add_argument("--rate", type=int, default=0, help="UDP rate in Mbit/s")
    parser.add_argument("--length", type=int, default=1200, help="UDP payload bytes")
    parser.add_argument("--unit", action="append", default=[])
    parser.add_argument("--idle", action="store_true", help="no iperf3: only the CPU time of S idle seconds")
    args = parser.parse_args()

    pids = {unit: main_pid(unit) for unit in args.unit}
    before = {unit: process_cpu(pid) for unit, pid in pids.items()}
    guest_before = guest_cpu()
    wall_before = time.monotonic()
    if args.idle:
        time.sleep(args.seconds)
        result = {"mbit_s": 0, "bytes": 0}
    else:
        result = iperf3(args)
    wall = time.monotonic() - wall_before
    guest_after = guest_cpu()
    after = {unit: process_cpu(pid) for unit, pid in pids.items()}
    result["cpu_units"] = {unit: round(after[unit] - before[unit], 3) for unit in pids}
    if any(pids[unit] != main_pid(unit) for unit in pids):
        sys.exit("measure.py: a daemon restarted during the run")
    result["cpu_daemons"] = round(sum(result["cpu_units"].values()), 3)
    result["cpu_guest"] = round(guest_after - guest_before, 3)
    result["wall"] = round(wall, 3)
    print(json.dumps(result))


def iperf3(args):
    cmd = ["ip", "netns", "exec", args.ns, "iperf3", "--json", "--client", args.target,
           "--time", str(args.seconds)]
    if args.proto == "udp":
        cmd += ["--udp", "--bitrate", f"{args.rate}M", "--length", str(args.length)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 60, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        sys.exit(f"measure.py: iperf3 gave no JSON (exit {proc.returncode}): {proc.stderr[-2000:]}")
    if "error" in report:
        sys.exit(f"measure.py: iperf3: {report['error']}")
    end = report["end"]
    if args.proto == "tcp":
        received = end["sum_received"]
        result = {"mbit_s": received["bits_per_second"] / 1e6, "bytes": received["bytes"],
                  "retransmits": end["sum_sent"].get("retransmits")}
    else:
        total = end["sum"]
        result = {"mbit_s": total["bits_per_second"] / 1e6 * (1 - total["lost_percent"] / 100),
                  "bytes": int(total["bytes"] * (1 - total["lost_percent"] / 100)),
                  "lost_percent": total["lost_percent"], "sent_mbit_s": total["bits_per_second"] / 1e6}
    return result


if __name__ == "__main__":
    main()
