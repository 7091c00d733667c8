"""Tunnel data plane benchmark in the QEMU guest (see README.md).

Boots one guest (tests/bed/guest-vm.sh), sets up the gateway with the
collection's playbook and the nodes as network namespaces (setup.yml), then
runs iperf3 from each node's namespace to the gateway, mode after mode, run
after run, and prints Mbit/s, UDP loss and CPU seconds per GB.

    run.py [--quick] [--json FILE] [--keep] [--repeat N] [--seconds S] [--udp-rate MBIT]
           [--parts dataplane,recovery] [--sizes N,...] [--recovery-repeat N] [--timeout S]
           [--kinds fastd,tunneldigger]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import benchlib  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = benchlib.repo_root()
BED = ROOT / "tests" / "bed"
GUEST_DIR = ROOT / ".build" / "bench" / "guest-dataplane"
TD_UUID = "0200005e0001"
GATEWAY_BAT0 = "10.201.0.1"
# Where the helper scripts go in the guest.
MEASURE = "/usr/local/sbin/bench-measure"
SWARM = "/root/bench-swarm.py"
COST = "/root/bench-cost.py"
TD_STATUS = "/root/bench-td-status.py"

# name, namespace, target address, units whose processes' CPU time counts,
# what it is.
MODES = [
    {"name": "plain veth", "ns": "plain", "target": "10.202.0.1", "units": [],
     "what": "the bare veth link, no tunnel (ceiling)"},
    {"name": "batman-adv on veth", "ns": "n-bat", "target": GATEWAY_BAT0, "units": [],
     "what": "bat0 to bat0 over the bare veth link, no tunnel"},
    {"name": "null@l2tp", "ns": "n-offload", "target": GATEWAY_BAT0,
     "units": ["fastd@mesh0", "fastd-node@n-offload"], "what": "fastd, offloaded to kernel L2TP"},
    {"name": "null", "ns": "n-null", "target": GATEWAY_BAT0,
     "units": ["fastd@mesh0", "fastd-node@n-null"], "what": "fastd in userspace, no encryption"},
    {"name": "salsa2012+umac", "ns": "n-salsa", "target": GATEWAY_BAT0,
     "units": ["fastd@mesh0", "fastd-node@n-salsa"], "what": "fastd in userspace, encrypted"},
    {"name": "tunneldigger", "ns": "td-node", "target": GATEWAY_BAT0,
     "units": ["tunneldigger@td1364", f"td-node@{TD_UUID}"], "what": "tunneldigger broker and client, kernel L2TP"},
]
OFFLOAD = "null@l2tp"
CEILING = "plain veth"


class Guest:
    """The QEMU guest: boot, SSH, stop."""

    def __init__(self, directory: Path, keep: bool):
        self.dir = directory
        self.keep = keep
        self.port = None
        self.key = None

    def boot(self):
        # An earlier aborted run may have left its guest behind.
        benchlib.run([str(BED / "guest-vm.sh"), "stop", str(self.dir)], timeout=60)
        atexit.register(self.stop)
        self.key = Path(benchlib.run([str(BED / "guest.sh")], timeout=3600).stdout.strip()) / "id_ed25519"
        out = benchlib.run([str(BED / "guest-vm.sh"), "start", str(self.dir)], timeout=600).stdout
        self.port = int(out.split()[-1])

    def stop(self):
        if self.keep:
            print(f"(--keep: the guest stays up, SSH port {self.port}; stop it with "
                  f"tests/bed/guest-vm.sh stop {self.dir.relative_to(ROOT)})", file=sys.stderr)
            return
        benchlib.run([str(BED / "guest-vm.sh"), "stop", str(self.dir)], timeout=60, check=False)

    def ssh_options(self):
        return ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "ControlMaster=auto", "-o", f"ControlPath={self.dir}/cm-%C",
                "-o", "ControlPersist=300"]

    def ssh(self, command: str, timeout: int, check=True):
        return benchlib.run(["ssh", *self.ssh_options(), "-i", str(self.key), "-p", str(self.port),
                             "root@127.0.0.1", command], timeout=timeout, check=check)

    def inventory(self) -> Path:
        inv = self.dir / "inventory"
        (inv / "group_vars").mkdir(parents=True, exist_ok=True)
        shutil.copy(HERE / "group_vars" / "gateways.yml", inv / "group_vars" / "gateways.yml")
        common = " ".join(self.ssh_options()[:8])
        (inv / "hosts.yml").write_text(json.dumps({"gateways": {"hosts": {"bench-gw": {
            "ansible_host": "127.0.0.1", "ansible_port": self.port, "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key), "ansible_ssh_common_args": common}}}}),
            encoding="utf-8")
        return inv


def setup(guest: Guest) -> float:
    """Run setup.yml against the guest; its output goes to setup.log in the guest's folder."""
    start = time.monotonic()
    log = guest.dir / "setup.log"
    print(f"Setting up the guest (setup.yml, output in {log.relative_to(ROOT)}) ...", file=sys.stderr, flush=True)
    with log.open("w", encoding="utf-8") as out:
        proc = benchlib.run(["ansible-playbook", "-i", str(guest.inventory()), str(HERE / "setup.yml")],
                            timeout=3600, check=False, capture_output=False, stdout=out,
                            stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-40:])
        raise benchlib.BenchError(f"setup.yml failed (exit {proc.returncode}); full log: {log}\n{tail}")
    return time.monotonic() - start


def link_facts(guest: Guest, modes) -> dict:
    """The MTU of the link under each mode: the veth, or the tunnel interface in the node's bat0."""
    facts = {}
    for mode in modes:
        which = "eth0" if mode["ns"] == "plain" else "master bat0"
        out = guest.ssh(f"ip -n {mode['ns']} -o link show {which}", timeout=60).stdout
        if " mtu " not in out:
            raise benchlib.BenchError(f"{mode['name']}: no link in bat0 of namespace {mode['ns']}")
        facts[mode["name"]] = int(out.split(" mtu ")[1].split()[0])
    return facts


def reachable(guest: Guest, mode) -> None:
    """Wait until the node reaches the gateway over its path (batman-adv needs a few OGMs)."""
    def ping():
        return guest.ssh(f"ip netns exec {mode['ns']} ping -c 1 -W 2 {mode['target']}",
                         timeout=30, check=False).returncode == 0
    benchlib.wait_until(ping, timeout=120, interval=1, what=f"{mode['name']}: ping from {mode['ns']} to {mode['target']}")


def measure(guest: Guest, mode, proto: str, seconds: int, rate: int, idle=False) -> dict:
    cmd = ["python3", MEASURE, "--ns", mode["ns"], "--target", mode["target"],
           "--proto", proto, "--seconds", str(seconds), "--rate", str(rate)] + (["--idle"] if idle else [])
    for unit in mode["units"]:
        cmd += ["--unit", unit]
    out = guest.ssh(shlex.join(cmd), timeout=seconds + 120).stdout
    return json.loads(out.strip().splitlines()[-1])


def net_cpu(run, idle_rates):
    """The daemons' CPU seconds of a run less what they spend idle in the same time (not below 0)."""
    return sum(max(0.0, cpu - idle_rates[unit] * run["wall"]) for unit, cpu in run["cpu_units"].items())


def per_gb(cpu, nbytes):
    return cpu / (nbytes / 1e9) if nbytes else None


def fmt(value, digits=1):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def goal(name, measured, target, higher_is_better=True):
    if measured is None:
        return [name, "n/a", "n/a", "not measured"]
    ok = measured >= target if higher_is_better else measured <= target
    if higher_is_better:
        by = f"{(measured / target - 1) * 100:+.0f}% against the goal"
    else:
        by = f"{(1 - measured / target) * 100:+.0f}% headroom" if ok else f"{(measured / target - 1) * 100:.0f}% over"
    return [name, f"{measured:.1f}x", f"{'>=' if higher_is_better else '<='} {target}x",
            ("PASS" if ok else "MISS") + f" ({by})"]


def dataplane(guest: Guest, modes, args, seconds: int, repeat: int) -> dict:
    """iperf3 per mode, interleaved; prints the table and the goals, returns the numbers."""
    mtus = link_facts(guest, modes)
    for mode in modes:
        reachable(guest, mode)
    runs = {m["name"]: {"tcp": [], "udp": []} for m in modes}
    all_units = {"name": "idle", "ns": "plain", "target": "10.202.0.1",
                 "units": sorted({u for m in modes for u in m["units"]})}
    idle = []
    for rep in range(repeat):
        # The daemons' CPU time with no traffic (timers, keepalives, batman-adv OGMs).
        idle.append(measure(guest, all_units, "tcp", seconds, 0, idle=True))
        for proto in ("tcp", "udp"):
            for mode in modes:  # interleaved: every mode once, then again
                result = measure(guest, mode, proto, seconds, args.udp_rate)
                runs[mode["name"]][proto].append(result)
                print(f"  run {rep + 1}/{repeat} {proto} {mode['name']}: {result['mbit_s']:.1f} Mbit/s"
                      + (f", loss {result['lost_percent']:.1f}%" if proto == "udp" else "")
                      + f", daemons {result['cpu_daemons']:.2f} s, guest {result['cpu_guest']:.2f} s",
                      file=sys.stderr, flush=True)

    idle_rates = {u: benchlib.median([r["cpu_units"][u] / r["wall"] for r in idle]) for u in all_units["units"]}
    summary = {}
    for mode in modes:
        tcp, udp = runs[mode["name"]]["tcp"], runs[mode["name"]]["udp"]
        summary[mode["name"]] = {
            "tcp_mbit_s": benchlib.median([r["mbit_s"] for r in tcp]),
            "tcp_mbit_s_runs": [round(r["mbit_s"], 1) for r in tcp],
            "udp_mbit_s": benchlib.median([r["mbit_s"] for r in udp]),
            "udp_loss_percent": benchlib.median([r["lost_percent"] for r in udp]),
            "daemon_cpu_s_per_gb": benchlib.median([per_gb(net_cpu(r, idle_rates), r["bytes"]) for r in tcp])
            if mode["units"] else None,
            "guest_cpu_s_per_gb": benchlib.median([per_gb(r["cpu_guest"], r["bytes"]) for r in tcp]),
            "mtu": mtus[mode["name"]],
        }
    ceiling = summary[CEILING]["tcp_mbit_s"]
    offload = summary[OFFLOAD]["tcp_mbit_s"]

    print(f"iperf3 from the node's namespace to the gateway: TCP {seconds} s runs, UDP {seconds} s at "
          f"{args.udp_rate} Mbit/s with 1,200-byte datagrams; median of {repeat} interleaved runs. "
          f"CPU per GB from the TCP runs; daemon CPU less its idle rate "
          f"({', '.join(f'{u} {r:.2f}' for u, r in idle_rates.items())} CPU s/s).\n")
    rows = []
    for mode in modes:
        s = summary[mode["name"]]
        rows.append([mode["name"], s["mtu"], fmt(s["tcp_mbit_s"]), " ".join(map(str, s["tcp_mbit_s_runs"])),
                     benchlib.ratio(s["tcp_mbit_s"], ceiling), benchlib.ratio(s["tcp_mbit_s"], offload),
                     fmt(s["udp_mbit_s"]), fmt(s["udp_loss_percent"]),
                     fmt(s["daemon_cpu_s_per_gb"]), fmt(s["guest_cpu_s_per_gb"])])
    print(benchlib.md_table(["mode", "link MTU", "TCP Mbit/s", "TCP runs", "of ceiling", "of offload",
                             f"UDP@{args.udp_rate} Mbit/s", "UDP loss %", "daemon CPU s/GB",
                             "guest CPU s/GB"], rows))
    print()
    goals = [goal("null@l2tp TCP / userspace null TCP", offload / summary["null"]["tcp_mbit_s"], 8),
             goal("plain veth TCP / null@l2tp TCP", ceiling / offload, 2, higher_is_better=False)]
    batman = summary.get("batman-adv on veth", {}).get("tcp_mbit_s")
    goals.append(["(for comparison) batman-adv on veth TCP / null@l2tp TCP",
                  "n/a" if batman is None else f"{batman / offload:.1f}x", "-",
                  "the same bat0-to-bat0 path with no tunnel under it"])
    print(benchlib.md_table(["goal", "measured", "wanted", "result"], goals))
    print(flush=True)
    return {"seconds": seconds, "repeat": repeat, "udp_rate_mbit_s": args.udp_rate, "summary": summary,
            "runs": runs, "goals": goals, "idle": idle, "idle_rates": idle_rates}


# One count of what the gateway serves: the status modules under emulation,
# with 100 or more peers and a restart's hooks still running, take up to a minute.
COUNT_TIMEOUT = 180


def swarm(guest: Guest, command: str, timeout: int) -> dict:
    out = guest.ssh(f"python3 {SWARM} {command}", timeout=timeout).stdout
    return json.loads(out.strip().splitlines()[-1])


def wait_served(guest: Guest, kind: str, want: int, timeout: int) -> float:
    """Wait until the gateway serves want peers or sessions, all in bat0."""
    def served():
        now = swarm(guest, f"count {kind}", timeout=COUNT_TIMEOUT)
        return now["connected"] >= want and now["in_mesh"] >= want
    return benchlib.wait_until(served, timeout=timeout, interval=3,
                               what=f"{want} {kind} nodes connected and in bat0")


def peak_tunnels(results) -> str:
    """The most kernel tunnels the broker held at one sample of these restarts
    (the clients are counted once each; a client it answered late has more
    than one tunnel until the stale ones time out); n/a for fastd."""
    peaks = [sample[3] for r in results for sample in r["samples"] if len(sample) > 3 and sample[3] is not None]
    return str(max(peaks)) if peaks else "n/a"


def recovery(guest: Guest, sizes, repeat: int, timeout: int, kinds) -> dict:
    """N nodes per kind; restart the gateway's daemon; time until they are back."""
    benchlib.run(["scp", "-q", *guest.ssh_options(), "-i", str(guest.key), "-P", str(guest.port),
                  str(HERE / "guest_swarm.py"), f"root@127.0.0.1:{SWARM}"], timeout=60)
    # The data plane's own nodes (setup.yml): one fastd node per fastd mode, one tunneldigger node.
    base = {"fastd": sum(1 for m in MODES if m["units"] and m["units"][0] == "fastd@mesh0"), "tunneldigger": 1}
    # What an aborted run (--keep, --guest-dir) left: its nodes stopped, and the
    # gateway waits until it has dropped their sessions (fastd and the broker
    # time out a silent peer after 1.5 to 2 minutes).
    swarm(guest, "down", timeout=120)
    for kind in kinds:
        benchlib.wait_until(lambda k=kind: swarm(guest, f"count {k}", timeout=COUNT_TIMEOUT)["connected"] <= base[k],
                            timeout=timeout, interval=5, what=f"only the data plane's {base[kind]} {kind} node(s) left")
    results = []
    for size in sizes:
        start = time.monotonic()
        if "fastd" in kinds:
            swarm(guest, f"fastd-up {size}", timeout=60 + 10 * size)
        if "tunneldigger" in kinds:
            swarm(guest, f"td-up {size}", timeout=60 + size)
        for kind in kinds:
            wait_served(guest, kind, base[kind] + size, timeout=timeout)
        print(f"  {size} nodes of each kind up and in bat0 after {time.monotonic() - start:.0f} s",
              file=sys.stderr, flush=True)
        for rep in range(repeat):
            for kind in kinds:  # interleaved
                result = swarm(guest, f"restart {kind} --timeout {timeout}", timeout=timeout + 120)
                result["size"] = size
                results.append(result)
                print(f"  {kind} {size} run {rep + 1}/{repeat}: {result['marks']} final {result['final']}",
                      file=sys.stderr, flush=True)
                wait_served(guest, kind, base[kind] + size, timeout=timeout)

    rows = []
    for size in sizes:
        for kind in kinds:
            mine = [r for r in results if r["size"] == size and r["kind"] == kind]
            row = [kind if kind == "tunneldigger" else "fastd null@l2tp", size, mine[0]["before"]]
            for key in ("connected", "in_mesh"):
                for share in ("50", "90", "100"):
                    values = [r["marks"][key][share] for r in mine]
                    row.append(">%d" % timeout if None in values else fmt(benchlib.median(values)))
            row.append(peak_tunnels(mine))
            rows.append(row)
    print(f"Restart of the gateway's daemon (systemctl restart) with the nodes running: seconds from the "
          f"restart until the share of what it served before is connected again, and in bat0 again; "
          f"median of {repeat} runs, interleaved.\n")
    print(benchlib.md_table(["daemon", "nodes", "served before", "50% connected", "90% connected",
                             "100% connected", "50% in bat0", "90% in bat0", "100% in bat0",
                             "most tunnels at once"], rows))
    print(flush=True)
    return {"sizes": sizes, "repeat": repeat, "timeout": timeout, "results": results, "base": base}


def td_status_cost(guest: Guest, inventory: Path, repeat: int) -> dict:
    """tunneldigger_status with the sessions that are up: the module process alone, in the guest."""
    args = json.dumps({"instance": "td1364", "tunnel_id_base": 100, "max_tunnels": 400,
                       "mesh": {"backend": "batman_adv", "interface": "bat0"}})
    env = dict(os.environ, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="0")
    task = []
    for _run in range(repeat):
        start = time.monotonic()
        benchlib.run(["ansible", "gateways", "-i", str(inventory), "-m", "freifunk.gateway.tunneldigger_status",
                      "-a", args], timeout=600, env=env)
        task.append(time.monotonic() - start)
    guest.ssh(f'cp "$(ls -t /root/.ansible/tmp/*/AnsiballZ_tunneldigger_status.py | head -n 1)" {TD_STATUS}',
              timeout=60)
    benchlib.run(["scp", "-q", *guest.ssh_options(), "-i", str(guest.key), "-P", str(guest.port),
                  str(HERE.parent / "status" / "measure.py"), f"root@127.0.0.1:{COST}"], timeout=60)
    module = []
    for _run in range(repeat):
        out = guest.ssh(f"python3 {COST} python3 {TD_STATUS}", timeout=600).stdout
        result = json.loads(out.strip().splitlines()[-1])
        if result["returncode"] != 0 or not result["out"]:
            raise benchlib.BenchError(f"tunneldigger_status failed in the guest: {result['err_tail']}")
        module.append(result)
    sessions = module[-1]["out"].get("count")
    guest.ssh("rm -rf /root/.ansible/tmp/*", timeout=60)
    rows = [["module process (AnsiballZ file in the guest)", sessions,
             fmt(benchlib.median([r["wall_s"] for r in module]), 2),
             fmt(benchlib.median([r["cpu_s"] for r in module]), 2),
             fmt(benchlib.median([r["maxrss_kib"] for r in module]) / 1024, 1)],
            ["ansible task (ad hoc, from the controller)", sessions, fmt(benchlib.median(task), 2), "n/a", "n/a"]]
    print(f"tunneldigger_status on the broker td1364, median of {repeat} runs.\n")
    print(benchlib.md_table(["what", "sessions", "wall s", "CPU s", "peak MiB"], rows))
    print(flush=True)
    return {"sessions": sessions, "module": module, "task_s": task}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--quick", action="store_true", help="one short run per mode, 10 recovery nodes")
    parser.add_argument("--json", help="write the raw numbers here")
    parser.add_argument("--keep", action="store_true", help="leave the guest running")
    parser.add_argument("--parts", default="dataplane",
                        help="dataplane (default), recovery (with tunneldigger_status at the largest size), or both: "
                             "dataplane,recovery")
    parser.add_argument("--repeat", type=int, help="runs per mode and protocol (default 3, --quick 1)")
    parser.add_argument("--seconds", type=int, help="iperf3 run length (default 8, --quick 3)")
    parser.add_argument("--udp-rate", type=int, default=10, help="UDP rate in Mbit/s (default 10)")
    parser.add_argument("--sizes", help="recovery: nodes of each kind (default 100, --quick 10)")
    parser.add_argument("--recovery-repeat", type=int, help="recovery: restarts per size and kind (default 2, --quick 1)")
    parser.add_argument("--timeout", type=int, default=300, help="recovery: seconds to wait for the nodes")
    parser.add_argument("--kinds", default="fastd,tunneldigger",
                        help="recovery: whose restart to time, fastd, tunneldigger or both (default); "
                             "each kind's nodes load the guest during the other's restart")
    # Development only: use a guest that already runs (and was set up: --no-setup).
    parser.add_argument("--guest-dir", help=argparse.SUPPRESS)
    parser.add_argument("--no-setup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    seconds = args.seconds or (3 if args.quick else 8)
    sizes = [int(n) for n in (args.sizes or ("10" if args.quick else "100")).split(",")]
    recovery_repeat = args.recovery_repeat or (1 if args.quick else 2)
    parts = args.parts.split(",")

    head = benchlib.header()
    benchlib.print_header(head, "Tunnel data plane (QEMU guest, software emulation)")
    td_source = os.environ.get("TUNNELDIGGER_SOURCE_DIR", "")
    modes = [m for m in MODES if td_source or m["name"] != "tunneldigger"]
    if not td_source:
        print("tunneldigger: SKIPPED, TUNNELDIGGER_SOURCE_DIR is not set (it names a folder with "
              "tunneldigger-v0.4.0.tar.gz); no broker and no tunneldigger row.\n")

    kinds = [k for k in args.kinds.split(",") if k != "tunneldigger" or td_source]
    if set(kinds) - {"fastd", "tunneldigger"} or not kinds:
        raise benchlib.BenchError(f"--kinds {args.kinds}: name fastd, tunneldigger or both, comma-separated "
                                  "(tunneldigger needs TUNNELDIGGER_SOURCE_DIR)")

    wall = time.monotonic()
    if args.guest_dir:
        guest = Guest(Path(args.guest_dir).resolve(), keep=True)
        guest.key = Path(benchlib.run([str(BED / "guest.sh")], timeout=60).stdout.strip()) / "id_ed25519"
        guest.port = int((guest.dir / "port").read_text(encoding="utf-8"))
    else:
        guest = Guest(GUEST_DIR, keep=args.keep)
        guest.boot()
    boot_s = time.monotonic() - wall
    setup_s = 0.0 if args.no_setup else setup(guest)
    data = {"header": head, "boot_s": boot_s, "setup_s": setup_s, "tunneldigger": bool(td_source)}
    if "dataplane" in parts:
        data["dataplane"] = dataplane(guest, modes, args, seconds, repeat)
    if "recovery" in parts:
        data["recovery"] = recovery(guest, sizes, recovery_repeat, args.timeout, kinds)
        if "tunneldigger" in kinds:
            data["tunneldigger_status"] = td_status_cost(guest, guest.inventory(), 3 if not args.quick else 1)
    print(f"Guest boot {boot_s:.0f} s, set-up (setup.yml) {setup_s:.0f} s, "
          f"whole run {time.monotonic() - wall:.0f} s.")
    if args.json:
        benchlib.write_json(args.json, data)
    return 0


if __name__ == "__main__":
    # SIGTERM (a timeout, make killed) ends the run like ^C: the guest is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main())
    except benchlib.BenchError as exc:
        print(f"dataplane: FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
