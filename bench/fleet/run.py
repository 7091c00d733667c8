# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet convergence benchmark (see README.md).

playbooks/gateway.yml (freifunk.gateway.gateway) against 1, 2, 4 and 8
gateway containers: the first converge of fresh containers, then the
no-change re-run (every host must report changed=0), and in the same run the
floor: the same hosts answering one ansible.builtin.ping. At the largest
size it also compares forks, pipelining, the default batch size
(gateway_serial "25%") and, with --compare REF, the collection as of a git
revision, run by run in turn.

    run.py [--quick] [--json FILE] [--keep] [--sizes 1,2,4,8] [--repeat N] [--compare REF]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import benchlib  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = benchlib.repo_root()
WORK = ROOT / ".build" / "bench" / "fleet"
PART = "fleet"
NETWORK = f"ffbench-{PART}"
IMAGE = "localhost/freifunk-gateway-test:bookworm"
PLAYBOOK = "freifunk.gateway.gateway"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
# Ansible's own default; the variants below change it.
DEFAULT_FORKS = 5
PLAY_TIMEOUT = 1800


def container(host: str) -> str:
    return f"ffbench-{PART}-{host}"


def hosts_of(size: int) -> list:
    return [f"gw{i:02d}" for i in range(1, size + 1)]


def cleanup() -> None:
    """Remove the containers and the network of this part (also leftovers of an aborted run)."""
    names = benchlib.podman("ps", "-a", "--format", "{{.Names}}", timeout=60).stdout.split()
    gone = [n for n in names if n.startswith(f"ffbench-{PART}-")]
    if gone:
        benchlib.podman("rm", "-f", "-t", "2", *gone, timeout=300, check=False)
    benchlib.podman("network", "rm", "-f", NETWORK, timeout=60, check=False)


def start_gateways(size: int) -> None:
    """size fresh gateway containers (systemd, NET_ADMIN and /dev/net/tun from containers.conf)."""
    names = benchlib.podman("ps", "-a", "--format", "{{.Names}}", timeout=60).stdout.split()
    old = [n for n in names if n.startswith(f"ffbench-{PART}-")]
    if old:
        benchlib.podman("rm", "-f", "-t", "2", *old, timeout=300)
    if benchlib.podman("network", "exists", NETWORK, check=False).returncode != 0:
        benchlib.podman("network", "create", NETWORK, timeout=60)
    for host in hosts_of(size):
        benchlib.podman("run", "-d", "--name", container(host), "--hostname", host, "--network", NETWORK,
                        "--systemd=always", IMAGE, "/lib/systemd/systemd", timeout=120)
    for host in hosts_of(size):
        def booted(host=host):
            state = benchlib.podman("exec", container(host), "systemctl", "is-system-running",
                                    timeout=30, check=False).stdout.strip()
            return state in ("running", "degraded")
        benchlib.wait_until(booted, timeout=120, interval=0.5, what=f"systemd in {container(host)} up")
        # The client bridge the hooks put the nodes' interfaces into (as
        # molecule/fleet's prepare.yml makes it).
        benchlib.podman("exec", container(host), "sh", "-c",
                        "ip link add br-client type bridge && ip link set br-client up", timeout=30)


def write_inventory(size: int, directory: Path) -> Path:
    """An inventory of the first size gateways with the podman connection, beside group_vars."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "group_vars").exists():
        shutil.rmtree(directory / "group_vars")
    shutil.copytree(HERE / "group_vars", directory / "group_vars")
    lines = ["[gateways]"] + [f"{h} ansible_host={container(h)}" for h in hosts_of(size)]
    lines += ["", "[gateways:vars]", "ansible_connection=containers.podman.podman",
              "ansible_python_interpreter=/usr/bin/python3", ""]
    path = directory / "hosts.ini"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def collection_at(ref: str) -> Path:
    """The collection as of git revision ref, in a collections folder of its own."""
    base = WORK / f"collection-{ref}"
    target = base / "ansible_collections" / "freifunk" / "gateway"
    if target.exists():
        shutil.rmtree(base)
    target.mkdir(parents=True)
    archive = benchlib.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref], timeout=120,
                           text=False).stdout
    benchlib.run(["tar", "-x", "-C", str(target)], timeout=120, input=archive, text=False)
    return base


def play(inventory: Path, playbook: str, forks: int = DEFAULT_FORKS, pipelining: bool = True,
         extra: dict | None = None, collections: Path | None = None, label: str = "") -> dict:
    """One ansible-playbook run: wall-clock, the recap per host and the per-task times."""
    timing = WORK / "timing.json"
    timing.unlink(missing_ok=True)
    env = dict(os.environ)
    env.update({
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_PIPELINING": "True" if pipelining else "False",
        "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "fleet_timing",
        "FLEET_TIMING_FILE": str(timing),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
    })
    if collections is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = f"{collections}{os.pathsep}{env.get('ANSIBLE_COLLECTIONS_PATH', '')}"
    cmd = ["ansible-playbook", "-i", str(inventory), playbook]
    if extra:
        cmd += ["--extra-vars", json.dumps(extra)]
    start = time.perf_counter()
    proc = benchlib.run(cmd, timeout=PLAY_TIMEOUT, check=False, env=env, cwd=str(WORK))
    wall = time.perf_counter() - start
    recap = {m[0]: {"ok": int(m[1]), "changed": int(m[2]), "unreachable": int(m[3]), "failed": int(m[4]),
                    "skipped": int(m[5])} for m in RECAP.findall(proc.stdout)}
    tasks = json.loads(timing.read_text(encoding="utf-8")) if timing.exists() else []
    if proc.returncode != 0 or not recap or any(r["failed"] or r["unreachable"] for r in recap.values()):
        (WORK / "failed-run.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        raise benchlib.BenchError(f"{label or playbook}: ansible-playbook exited {proc.returncode}; recap {recap}; "
                                  f"output in {WORK / 'failed-run.log'}\n{proc.stdout[-3000:]}\n{proc.stderr[-1500:]}")
    return {"wall": wall, "recap": recap, "tasks": tasks}


def remote_tasks(result: dict) -> dict:
    """Per host: how many tasks reached the host (not skipped, not controller-only)."""
    counts = {}
    for rec in result["tasks"]:
        if rec["remote"] and rec["status"] != "skipped":
            counts[rec["host"]] = counts.get(rec["host"], 0) + 1
    return counts


def check_no_change(result: dict, hosts: list, label: str) -> None:
    changed = {h: r["changed"] for h, r in result["recap"].items() if r["changed"]}
    missing = sorted(set(hosts) - set(result["recap"]))
    if changed or missing:
        raise benchlib.BenchError(f"{label}: the re-run was not a no-change run: changed {changed}, "
                                  f"hosts without a recap {missing}")


def task_profile(result: dict, top: int = 12) -> list:
    """The remote tasks of one run, by their median time per host, slowest first."""
    per_task = {}
    for rec in result["tasks"]:
        if rec["remote"] and rec["status"] != "skipped":
            per_task.setdefault(rec["task"], []).append(rec["seconds"])
    rows = sorted(((benchlib.median(v), len(v), name) for name, v in per_task.items()), reverse=True)
    return rows[:top] if top else rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 and 2 gateways, one run each")
    parser.add_argument("--json", help="write the raw numbers to this file")
    parser.add_argument("--keep", action="store_true", help="leave the containers and the work folder")
    parser.add_argument("--sizes", help="gateway counts, comma-separated (default 1,2,4,8)")
    parser.add_argument("--repeat", type=int, help="no-change and floor runs per size (default 2; --quick 1)")
    parser.add_argument("--variant-repeat", type=int, default=1,
                        help="runs of each variant at the largest size (default 1)")
    parser.add_argument("--compare", metavar="REF",
                        help="also time the no-change run of the collection as of git revision REF (largest size)")
    args = parser.parse_args()
    sizes = [int(s) for s in (args.sizes or ("1,2" if args.quick else "1,2,4,8")).split(",")]
    repeat = args.repeat or (1 if args.quick else 2)

    t0 = time.monotonic()
    # A stopped run cleans up too (finally and atexit run on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cleanup()
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    if not args.keep:
        atexit.register(cleanup)
    head = benchlib.header()
    benchlib.print_header(head, "Fleet convergence: playbooks/gateway.yml against 1-8 gateway containers")
    compare = collection_at(args.compare) if args.compare else None

    data = {"header": head, "sizes": {}, "variants": {}, "repeat": repeat}
    size_rows = []
    variant_rows = []
    profile = None
    try:
        # The largest size first: it carries the variants.
        for size in sorted(sizes, reverse=True):
            hosts = hosts_of(size)
            print(f"{size} gateway(s): starting containers", file=sys.stderr, flush=True)
            start_gateways(size)
            inventory = write_inventory(size, WORK / f"inventory-{size}")
            first = play(inventory, PLAYBOOK, label=f"first converge, {size} gateways")
            # Variants of the no-change run, taken in turn run by run. The
            # floor runs with the same forks as the run it is compared with.
            variants = {
                "no-change": dict(playbook=PLAYBOOK),
                "floor": dict(playbook=str(HERE / "ping.yml")),
            }
            if size == max(sizes):
                forks_high = max(size, DEFAULT_FORKS)
                if forks_high != DEFAULT_FORKS:
                    variants[f"no-change forks {forks_high}"] = dict(playbook=PLAYBOOK, forks=forks_high)
                    variants[f"floor forks {forks_high}"] = dict(playbook=str(HERE / "ping.yml"), forks=forks_high)
                if size <= 2:
                    # Cheap only for few hosts: forks 1 runs the hosts one after another.
                    variants["no-change forks 1"] = dict(playbook=PLAYBOOK, forks=1)
                    variants["floor forks 1"] = dict(playbook=str(HERE / "ping.yml"), forks=1)
                variants["no-change pipelining off"] = dict(playbook=PLAYBOOK, pipelining=False)
                variants['no-change gateway_serial "25%"'] = dict(playbook=PLAYBOOK, extra={"gateway_serial": "25%"})
                if compare is not None:
                    variants[f"no-change, collection at {args.compare}"] = dict(playbook=PLAYBOOK,
                                                                                collections=compare)
            runs = {name: [] for name in variants}
            for rep in range(repeat):
                for name, spec in variants.items():
                    # The variants run once, in the first round; the
                    # no-change run and its floor every round.
                    if rep >= args.variant_repeat and name not in ("no-change", "floor"):
                        continue
                    print(f"{size} gateway(s): {name}, run {rep + 1}/{repeat}", file=sys.stderr, flush=True)
                    result = play(inventory, label=f"{name}, {size} gateways", **spec)
                    if spec["playbook"] == PLAYBOOK:
                        check_no_change(result, hosts, f"{name}, {size} gateways")
                    runs[name].append(result)
            nochange = runs["no-change"]
            floor = runs["floor"]
            walls = {name: [r["wall"] for r in rs] for name, rs in runs.items()}
            tasks_per_host = benchlib.median(list(remote_tasks(nochange[0]).values()))
            first_tasks = benchlib.median(list(remote_tasks(first).values()))
            med_nc = benchlib.median(walls["no-change"])
            med_floor = benchlib.median(walls["floor"])
            size_rows.append([
                size, f"{first['wall']:.1f}", f"{first['wall'] / size:.1f}", f"{first_tasks:.0f}",
                f"{med_nc:.1f}", f"{med_nc / size:.1f}", f"{tasks_per_host:.0f}",
                f"{med_floor:.2f}", benchlib.ratio(med_nc, med_floor),
                f"{min(walls['no-change']):.1f}-{max(walls['no-change']):.1f}",
            ])
            print(f"{size} gateway(s) done: " + " | ".join(map(str, size_rows[-1][:9])), file=sys.stderr, flush=True)
            data["sizes"][size] = {
                "first": {"wall": first["wall"], "recap": first["recap"], "remote_tasks": remote_tasks(first)},
                "walls": walls,
                "no_change_recap": nochange[0]["recap"],
                "no_change_remote_tasks": remote_tasks(nochange[0]),
            }
            if size == max(sizes):
                base = med_nc
                for name in variants:
                    if name in ("no-change", "floor"):
                        continue
                    med = benchlib.median(walls[name])
                    variant_rows.append([name, f"{med:.1f}", f"{med / size:.1f}", benchlib.ratio(med, base),
                                         benchlib.ratio(med, med_floor)])
                data["variants"] = {name: walls[name] for name in variants}
                profile = task_profile(nochange[len(nochange) // 2], top=0)
                data["profile"] = [{"task": n, "median_s": s, "hosts": c} for s, c, n in profile]
                for row in variant_rows:
                    print(f"  {row[0]}: {row[1]} s", file=sys.stderr, flush=True)
            if args.json:
                benchlib.write_json(args.json, data)
    finally:
        if args.keep:
            print(f"kept: containers {container('gw01')}..., work folder {WORK}", file=sys.stderr)
        else:
            cleanup()
            shutil.rmtree(WORK, ignore_errors=True)

    print(f"Medians of {repeat} no-change and floor runs per size, taken in turn; one first converge per size "
          f"(fresh containers). forks {DEFAULT_FORKS} (Ansible's default), podman connection, "
          "gateway_serial \"100%\". Seconds.\n")
    size_rows.sort(key=lambda row: row[0])
    print(benchlib.md_table(
        ["gateways", "first converge s", "first s/gateway", "first remote tasks/gateway",
         "no-change s", "no-change s/gateway", "no-change remote tasks/gateway", "floor (ping) s",
         "no-change/floor", "no-change range s"],
        size_rows))
    if variant_rows:
        print(f"\nThe no-change run of {max(sizes)} gateways, varied (medians; ratios to the no-change run "
              "above and to its floor at forks 5):\n")
        print(benchlib.md_table(["variant", "s", "s/gateway", "vs no-change", "vs floor"], variant_rows))
    if profile:
        shown = [row for row in profile if row[0] >= 0.05][:15]
        print(f"\nSlowest remote tasks of one no-change run ({max(sizes)} gateways; seconds from the task's start "
              "to each host's result, median over the hosts):\n")
        print(benchlib.md_table(["task", "s", "hosts"], [[n, f"{s:.2f}", c] for s, c, n in shown]))
        print(f"\n{len(profile)} tasks reached the hosts in that run.")
    total = time.monotonic() - t0
    print(f"\nTotal benchmark time {total:.0f} s.")
    data["total_seconds"] = total
    if args.json:
        benchlib.write_json(args.json, data)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except benchlib.BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
