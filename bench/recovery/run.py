"""Recovery after a restart, userspace fastd methods (see README.md).

    python3 bench/recovery/run.py [--quick] [--json FILE] [--keep]
        [--sizes 100,300] [--repeat 2] [--timeout 300]

One gateway container (the collection's fastd role: two multitap instances,
`rnull` offering only `null` on port 10000 and `rsalsa` offering only
`salsa2012+umac` on port 10001, every per-peer interface put into the bridge
br-mesh by the on-connect hook) and one node container with N Gluon-like fastd
processes per instance. Each run restarts one instance (systemctl restart
fastd@INSTANCE) and samples, every 0.2 s inside the gateway, how many peers
are connected and how many per-peer interfaces are back in the bridge: with
idle nodes (only fastd's keepalives) and with chatter (every node sends one
frame a second into its tunnel, as batman-adv does). The four cases take
turns run by run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import benchlib  # noqa: E402
import swarm as swarmlib  # noqa: E402

# (label, gateway instance, port, interface prefix, node group letter)
METHODS = [
    ("null", "rnull", 10000, "n-", "n"),
    ("salsa2012+umac", "rsalsa", 10001, "s-", "s"),
]
SHARES = (0.5, 0.9, 1.0)
# idle: the nodes send only fastd's keepalives; chatter: every node also sends
# one frame a second into its tunnel, as a Gluon node's batman-adv does.
TRAFFIC = ("idle", "chatter")


def instances(keys):
    result = []
    for method, name, port, prefix, _group in METHODS:
        result.append({
            "name": name,
            "port": port,
            "mode": "multitap",
            "interface": prefix + "%n",
            "methods": [method],
            "mtu": 1312,
            "mesh": {"backend": "bridge", "interface": swarmlib.BRIDGE, "isolated": True},
            "peers": [{"name": f"node{i:04d}", "key": public} for i, (_s, public) in enumerate(keys)],
        })
    return result


def first_at(samples, column, want):
    """Seconds of the first sample whose column reaches want, or None."""
    for sample in samples:
        if sample[column] >= want:
            return sample[0]
    return None


def wait_connected(swarm, size, timeout):
    """Wait until every instance has size connected peers; the seconds waited."""
    def ready():
        return all((swarm.status(name) or {}).get("connected", 0) >= size for _method, name, *_rest in METHODS)
    return benchlib.wait_until(ready, timeout=timeout, interval=1.0,
                               what=f"{size} connected peers on every instance")


def one_run(swarm, size, rep, method, name, prefix, group, traffic, timeout, failures):
    """Restart one instance and sample its recovery; the row of the run."""
    if traffic == "chatter":
        swarm.start_chatter(group)
    try:
        result = swarm.sample_restart(name, prefix, size, timeout)
    finally:
        if traffic == "chatter":
            swarm.stop_chatter(group)
    samples = result.pop("samples")
    row = {"size": size, "rep": rep, "method": method, "traffic": traffic, "instance": name, **result}
    for share in SHARES:
        want = math.ceil(share * size)
        row[f"connected_{int(share * 100)}"] = first_at(samples, 1, want)
        row[f"bridge_{int(share * 100)}"] = first_at(samples, 2, want)
    row["samples"] = samples
    what = f"N={size} {method} {traffic} run {rep + 1}"
    if result["timed_out"] or row["connected_100"] is None or row["bridge_100"] is None:
        last = samples[-1] if samples else [None, 0, 0]
        failures.append(f"{what}: after {timeout:.0f} s only {last[1]} of {size} connected, "
                        f"{last[2]} in {swarmlib.BRIDGE}")
    if result["methods"] and set(result["methods"]) != {method}:
        failures.append(f"{what}: peers use {result['methods']}")
    print(f"{what}: restart {result['restart_s']:.2f} s, new fastd at {fmt(result['new_fastd_s'])} s, "
          f"connected 50/90/100% {fmt(row['connected_50'])}/{fmt(row['connected_90'])}/"
          f"{fmt(row['connected_100'])} s, in bridge 100% {fmt(row['bridge_100'])} s, "
          f"UDP drops {result.get('udp_rcvbuf_drops')}", flush=True)
    return row


def fmt(value):
    return "-" if value is None else f"{value:.1f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 and 20 nodes, one run of each case")
    parser.add_argument("--json", help="write the raw numbers here")
    parser.add_argument("--keep", action="store_true", help="keep the containers afterwards")
    parser.add_argument("--sizes", default="100,300", help="node counts (default 100,300)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each case and size (default 2)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a run may take to recover")
    args = parser.parse_args(argv)
    sizes = [10, 20] if args.quick else sorted(int(s) for s in args.sizes.split(","))
    repeat = 1 if args.quick else args.repeat

    head = benchlib.header()
    benchlib.print_header(head, "Recovery after a restart (userspace fastd, containers)")
    wall0 = time.monotonic()
    swarm = swarmlib.Swarm.for_part("recovery", keep=args.keep)
    failures = []
    runs = []
    setup = {}
    try:
        keys, gw_public = swarm.start_with_gateway(max(sizes), instances)
        started = 0
        for size in sizes:
            start_s = {}
            for _method, _name, port, _prefix, group in METHODS:
                start_s[group] = swarm.start_nodes(group, keys[started:size], gw_public, port, first=started)
            started = size
            connect_s = wait_connected(swarm, size, timeout=120 + size)
            setup[size] = {"node_start_s": {g: round(s, 2) for g, s in start_s.items()},
                           "all_connected_after_start_s": round(connect_s, 1),
                           "node_processes": swarm.node_count(), "node_rss_mib": round(swarm.node_rss_kib() / 1024, 1)}
            for rep in range(repeat):
                for traffic in TRAFFIC:
                    for method, name, _port, prefix, group in METHODS:
                        runs.append(one_run(swarm, size, rep, method, name, prefix, group, traffic,
                                            args.timeout, failures))
    except benchlib.BenchError as exc:
        failures.append(str(exc))
    finally:
        if args.keep:
            print(f"kept containers {swarm.gw}, {swarm.nodes}")

    table = []
    medians = {}
    keys = ("restart_s", "new_fastd_s", "udp_rcvbuf_drops", "connected_50", "connected_90", "connected_100",
            "bridge_50", "bridge_90", "bridge_100")
    for size in sizes:
        for traffic in TRAFFIC:
            for method, *_rest in METHODS:
                rows = [r for r in runs if (r["size"], r["method"], r["traffic"]) == (size, method, traffic)]
                if not rows:
                    continue
                m = {}
                for key in keys:
                    values = [r.get(key) for r in rows if r.get(key) is not None]
                    m[key] = benchlib.median(values) if values else None
                drops = m["udp_rcvbuf_drops"]
                medians[(size, method, traffic)] = m
                spread = [r["connected_100"] for r in rows if r["connected_100"] is not None]
                table.append([size, method, traffic, len(rows), fmt(m["restart_s"]), fmt(m["new_fastd_s"]),
                              fmt(m["connected_50"]), fmt(m["connected_90"]), fmt(m["connected_100"]),
                              f"{min(spread):.1f}-{max(spread):.1f}" if spread else "-",
                              fmt(m["bridge_50"]), fmt(m["bridge_90"]), fmt(m["bridge_100"]),
                              "-" if drops is None else f"{drops:,.0f}"])
    print()
    print(benchlib.md_table(
        ["nodes", "method", "node traffic", "runs", "restart cmd s", "new fastd at s", "connected 50% s", "90% s",
         "100% s", "100% min-max s", "in bridge 50% s", "90% s", "100% s", "UDP drops"], table))
    ratio_rows = []
    for size in sizes:
        for traffic in TRAFFIC:
            a, b = medians.get((size, "salsa2012+umac", traffic)), medians.get((size, "null", traffic))
            if a and b:
                ratio_rows.append([size, f"salsa2012+umac / null, {traffic}",
                                   benchlib.ratio(a["connected_90"], b["connected_90"]),
                                   benchlib.ratio(a["bridge_100"], b["bridge_100"])])
        for method, *_rest in METHODS:
            a, b = medians.get((size, method, "idle")), medians.get((size, method, "chatter"))
            if a and b:
                ratio_rows.append([size, f"{method}: idle / chatter",
                                   benchlib.ratio(a["connected_90"], b["connected_90"]),
                                   benchlib.ratio(a["bridge_100"], b["bridge_100"])])
    if ratio_rows:
        print()
        print(benchlib.md_table(["nodes", "ratio", "90% connected", "100% in bridge"], ratio_rows))
    print()
    setup_rows = [[size, s["node_processes"], s["node_start_s"].get("n"), s["node_start_s"].get("s"),
                   s["all_connected_after_start_s"], s["node_rss_mib"]] for size, s in setup.items()]
    print(benchlib.md_table(["nodes", "node processes", "start null nodes s", "start salsa nodes s",
                             "all connected after start s", "node RSS total MiB"], setup_rows))
    wall = time.monotonic() - wall0
    print(f"\nSet-up: {swarm.timings}. Whole run {wall / 60:.1f} min.")
    return benchlib.finish(args.json, {"header": head, "sizes": sizes, "repeat": repeat, "runs": runs,
                                       "setup": {str(k): v for k, v in setup.items()},
                                       "timings": swarm.timings, "wall_s": round(wall, 1)}, failures)


if __name__ == "__main__":
    sys.exit(main())
