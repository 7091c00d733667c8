"""fastd_status at scale (see README.md).

    python3 bench/status/run.py [--quick] [--json FILE] [--keep]
        [--peers 1000] [--connected 250] [--repeat 5]

One gateway container with one multitap fastd instance (the collection's
fastd role) that has PEERS configured peers, CONNECTED of which are running
as Gluon-like fastd processes in a node container (bench/lib/swarm.py). Four
ways of reading the instance's status take turns run by run:

  socket read   python3 in the gateway: connect, read, json.loads (the floor)
  module        the fastd_status module's AnsiballZ file, run by python3 in
                the gateway as Ansible runs it (the module process alone)
  ansible task  `ansible -m freifunk.gateway.fastd_status` on the controller,
                podman connection (the whole task as an admin runs it)
  ansible ping  `ansible -m ansible.builtin.ping`, same connection (Ansible's
                own floor for one task on one host)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import benchlib  # noqa: E402
import swarm as swarmlib  # noqa: E402

HERE = Path(__file__).resolve().parent
INSTANCE = "smesh"
PREFIX = "m-"
PORT = 10000
MEASURE = f"{swarmlib.SAMPLER_DIR}/measure.py"
ANSIBALLZ = f"{swarmlib.SAMPLER_DIR}/AnsiballZ_fastd_status.py"
SOCKET = f"/run/fastd/{INSTANCE}.sock"
FLOOR = ("import json, socket; s = socket.socket(socket.AF_UNIX); s.connect(%r); b = b''\n"
         "while True:\n    d = s.recv(65536)\n    if not d: break\n    b += d\n"
         "print(len(json.loads(b)['peers']))" % SOCKET)
VARIANTS = ["socket read", "module", "ansible task", "ansible ping"]


def instance(keys):
    return {
        "name": INSTANCE, "port": PORT, "mode": "multitap", "interface": PREFIX + "%n",
        "methods": ["salsa2012+umac"], "mtu": 1312,
        "mesh": {"backend": "bridge", "interface": swarmlib.BRIDGE, "isolated": True},
        "peers": [{"name": f"node{i:04d}", "key": public} for i, (_s, public) in enumerate(keys)],
    }


def ansible_cmd(swarm, module, args=None):
    cmd = ["ansible", "all", "-i", f"{swarm.gw},", "-c", "containers.podman.podman", "-m", module]
    return cmd + (["-a", args] if args else [])


def ansible_env():
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    env.setdefault("CONTAINERS_CONF", str(benchlib.repo_root() / "tests" / "bed" / "containers.conf"))
    return env


def in_gateway(swarm, *cmd):
    out = swarm.sh(swarm.gw, " ".join(shlex.quote(c) for c in ["python3", MEASURE, *cmd]), timeout=300).stdout
    return json.loads(out)


def on_controller(cmd):
    out = benchlib.run([sys.executable, str(HERE / "measure.py"), *cmd], timeout=300, env=ansible_env()).stdout
    return json.loads(out)


def keep_ansiballz(swarm):
    """Run the module once through Ansible without pipelining, keeping the
    AnsiballZ file it sends, and put it where the bench runs it."""
    env = dict(ansible_env(), ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="False",
               ANSIBLE_REMOTE_TMP="/root/.ansible/tmp")
    benchlib.run(ansible_cmd(swarm, "freifunk.gateway.fastd_status", f"instance={INSTANCE}"), timeout=300, env=env)
    swarm.sh(swarm.gw, f"cp \"$(ls -t /root/.ansible/tmp/*/AnsiballZ_fastd_status.py | head -n 1)\" {ANSIBALLZ} "
             "&& rm -rf /root/.ansible/tmp/ansible-tmp-*")


def check_status(label, result, peers, connected, failures):
    """The module's answer names every configured peer and every running node as connected."""
    doc = result.get("out")
    if label == "ansible task" and doc:
        doc = next(iter(doc["plays"][0]["tasks"][0]["hosts"].values()), None)
    if result["returncode"] != 0 or not isinstance(doc, dict):
        failures.append(f"{label}: exit {result['returncode']} {result.get('err_tail', '')[-300:]}")
        return
    if doc.get("count") != peers or doc.get("connected", 0) < connected:
        failures.append(f"{label}: saw {doc.get('count')} peers, {doc.get('connected')} connected; "
                        f"wanted {peers} and {connected}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 peers, 20 connected, one run")
    parser.add_argument("--json", help="write the raw numbers here")
    parser.add_argument("--keep", action="store_true", help="keep the containers afterwards")
    parser.add_argument("--peers", type=int, default=1000, help="configured peers (default 1000)")
    parser.add_argument("--connected", type=int, default=250, help="running nodes (default 250)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each variant (default 5)")
    args = parser.parse_args(argv)
    peers, connected, repeat = (100, 20, 1) if args.quick else (args.peers, args.connected, args.repeat)
    if connected > peers:
        parser.error("--connected must not exceed --peers")

    head = benchlib.header()
    benchlib.print_header(head, "fastd_status at scale (containers)")
    wall0 = time.monotonic()
    swarm = swarmlib.Swarm.for_part("status", keep=args.keep)
    failures, runs, facts = [], [], {}
    try:
        keys, gw_public = swarm.start_with_gateway(peers, lambda node_keys: [instance(node_keys)])
        swarm.copy_in(swarm.gw, HERE / "measure.py", MEASURE)
        swarm.start_nodes("v", keys[:connected], gw_public, PORT, methods=("salsa2012+umac",))
        facts["all_connected_after_start_s"] = round(benchlib.wait_until(
            lambda: (swarm.status(INSTANCE) or {}).get("connected", 0) >= connected,
            timeout=120 + connected, interval=1.0, what=f"{connected} connected peers"), 1)
        keep_ansiballz(swarm)
        facts["status_doc_bytes"] = int(swarm.sh(swarm.gw, "python3 -c " + shlex.quote(
            FLOOR.replace("print(len(json.loads(b)['peers']))", "print(len(b))"))).stdout)
        facts["fastd_peak_rss_kib"] = int(swarm.sh(
            swarm.gw, f"awk '/VmHWM/ {{print $2}}' /proc/$(systemctl show -p MainPID --value fastd@{INSTANCE})/status")
            .stdout.strip() or 0)
        for rep in range(repeat):
            for label in VARIANTS:
                if label == "socket read":
                    result = in_gateway(swarm, "python3", "-c", FLOOR)
                elif label == "module":
                    result = in_gateway(swarm, "python3", ANSIBALLZ)
                elif label == "ansible task":
                    result = on_controller(ansible_cmd(swarm, "freifunk.gateway.fastd_status", f"instance={INSTANCE}"))
                else:
                    result = on_controller(ansible_cmd(swarm, "ansible.builtin.ping"))
                if label in ("module", "ansible task"):
                    check_status(label, result, peers, connected, failures)
                elif result["returncode"] != 0:
                    failures.append(f"{label}: exit {result['returncode']} {result['err_tail'][-300:]}")
                result.pop("out", None)
                runs.append({"rep": rep, "variant": label, **result})
                print(f"run {rep + 1} {label:12}: {result['wall_s']:.3f} s, cpu {result['cpu_s']:.3f} s, "
                      f"peak RSS {result['maxrss_kib'] / 1024:.1f} MiB, output {result['out_bytes']} bytes", flush=True)
        facts["connected_at_end"] = (swarm.status(INSTANCE) or {}).get("connected")
    except benchlib.BenchError as exc:
        failures.append(str(exc))
    finally:
        if args.keep:
            print(f"kept containers {swarm.gw}, {swarm.nodes}")

    rows, med = [], {}
    where = {"socket read": "gateway", "module": "gateway", "ansible task": "controller", "ansible ping": "controller"}
    for label in VARIANTS:
        got = [r for r in runs if r["variant"] == label]
        if not got:
            continue
        med[label] = {k: benchlib.median([r[k] for r in got]) for k in ("wall_s", "cpu_s", "maxrss_kib", "out_bytes")}
        m = med[label]
        rows.append([label, where[label], len(got), f"{m['wall_s']:.3f}", f"{m['cpu_s']:.3f}",
                     f"{m['maxrss_kib'] / 1024:.1f}", f"{int(m['out_bytes']):,}"])
    print(f"\n{peers:,} configured peers, {connected} running nodes; medians of {repeat} runs.\n")
    print(benchlib.md_table(["variant", "measured on", "runs", "wall s", "cpu s", "peak RSS MiB",
                             "output bytes"], rows))
    if "module" in med and "ansible task" in med:
        print()
        pairs = [("module / socket read", "module", "socket read"), ("ansible task / module", "ansible task", "module"),
                 ("ansible task / ansible ping", "ansible task", "ansible ping")]
        print(benchlib.md_table(["ratio", "wall", "cpu"], [
            [name, benchlib.ratio(med[a]["wall_s"], med.get(b, {}).get("wall_s")),
             benchlib.ratio(med[a]["cpu_s"], med.get(b, {}).get("cpu_s"))] for name, a, b in pairs]))
    wall = time.monotonic() - wall0
    print(f"\nFacts: {facts}. Set-up: {swarm.timings}. Whole run {wall / 60:.1f} min.")
    return benchlib.finish(args.json, {"header": head, "peers": peers, "connected": connected, "repeat": repeat,
                                       "runs": runs, "medians": med, "facts": facts, "timings": swarm.timings,
                                       "wall_s": round(wall, 1)}, failures)


if __name__ == "__main__":
    sys.exit(main())
