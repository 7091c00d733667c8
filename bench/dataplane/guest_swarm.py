"""Many nodes in the benchmark guest, and the time they need after a restart.

Runs inside the QEMU guest after setup.yml (run.py --recovery copies it there);
Python 3 standard library only.

    guest_swarm.py fastd-up N       N fastd null@l2tp nodes, one network namespace
                                    each (sw0, sw1, ...), all on the bridge br-swarm
    guest_swarm.py td-up N          N tunneldigger clients in the namespace td-node
    guest_swarm.py restart KIND --timeout S
                                    KIND fastd or tunneldigger: count what the
                                    gateway serves, restart its daemon, and time
                                    until 50, 90 and 100 % of it are connected and
                                    in bat0 again; prints JSON
    guest_swarm.py count KIND       what the gateway serves now, as JSON
    guest_swarm.py down             stop the swarm's processes, remove its namespaces

The fastd nodes are Gluon's mesh-vpn-fastd-l2tp nodes reduced to what the
gateway sees: multitap, offload l2tp, peer limit 1, the gateway as the one
peer; no batman-adv and no hooks on the node side. The gateway accepts them
with on_verify. Connected: a peer with a connection in fastd's status socket;
in the mesh: a per-peer interface in bat0 that the new process made (its
on-connect hook put it there).
"""

import argparse
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

WORK = "/run/bench-swarm"
GW_ADDRESS = "fd00:ffff:9::1"
FASTD_SOCKET = "/run/fastd/mesh0.sock"
FASTD_UNIT = "fastd@mesh0"
TD_UNIT = "tunneldigger@td1364"
TD_PORT = 20000
TD_BROKER = f"10.200.0.1:{TD_PORT}"
TD_CLIENT = "/root/tunneldigger/build/tunneldigger"
# The shares of what the gateway served before a restart whose return is timed, in %.
SHARES = ("50", "90", "100")


def sh(cmd, check=True):
    return subprocess.run(cmd, shell=True, check=check, capture_output=True, text=True).stdout


def gateway_key():
    """The gateway's public key, from the config of setup.yml's offloaded node."""
    with open("/etc/fastd-node/n-offload/fastd.conf", encoding="ascii") as conf:
        return re.search(r'key "([0-9a-f]{64})"', conf.read()).group(1)


def fastd_up(count):
    os.makedirs(WORK, exist_ok=True)
    key = gateway_key()
    sh("ip link show br-swarm >/dev/null 2>&1 || { ip link add br-swarm type bridge && "
       f"ip addr add {GW_ADDRESS}/64 dev br-swarm nodad && ip link set br-swarm up; }}")
    started = 0
    for i in range(count):
        ns, folder = f"sw{i}", f"{WORK}/sw{i}"
        if os.path.exists(f"{folder}/pid"):
            continue
        os.makedirs(folder, exist_ok=True)
        sh(f"ip netns add {ns} && ip link add vsw{i} type veth peer name eth0 netns {ns} && "
           f"ip link set vsw{i} master br-swarm up && ip -n {ns} link set lo up && "
           f"ip -n {ns} addr add fd00:ffff:9::{i + 16:x}/64 dev eth0 nodad && ip -n {ns} link set eth0 up")
        secret = sh("fastd --generate-key --machine-readable").strip()
        with open(f"{folder}/fastd.conf", "w", encoding="ascii") as conf:
            conf.write(f"""log level warn;
mode multitap;
interface "mesh-%n";
persist interface no;
offload l2tp yes;
peer limit 1;
mtu 1312;
method "null@l2tp";
secure handshakes yes;
bind any:10001;
secret "{secret}";
peer group "mesh_vpn_backbone" {{
  peer limit 1;
  peer "gw" {{
    key "{key}";
    remote [{GW_ADDRESS}]:10000;
  }}
}}
""")
        # The daemon must not keep sh()'s pipes open, or sh() waits for it forever.
        sh(f"ip netns exec {ns} fastd --config {folder}/fastd.conf --daemon --pid-file {folder}/pid "
           f"</dev/null >{folder}/log 2>&1")
        started += 1
    print(json.dumps({"started": started, "nodes": count}))


def td_up(count):
    os.makedirs(f"{WORK}/td", exist_ok=True)
    started = 0
    for i in range(count):
        pidfile = f"{WORK}/td/{i}.pid"
        if os.path.exists(pidfile):
            continue
        with open(f"{WORK}/td/{i}.log", "w", encoding="ascii") as log:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", "td-node", TD_CLIENT, "-u", f"0200b0{i:06x}", "-i", f"tds{i}",
                 "-t", str(1000 + i), "-b", TD_BROKER, "-f"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        with open(pidfile, "w", encoding="ascii") as out:
            out.write(str(proc.pid))
        started += 1
    print(json.dumps({"started": started, "clients": count}))


def bat0_lower(prefix):
    """ifindex of each interface in bat0 whose name starts with prefix."""
    found = {}
    for path in glob.glob(f"/sys/class/net/bat0/lower_{prefix}*"):
        name = path.rsplit("/lower_", 1)[1]
        try:
            with open(f"/sys/class/net/{name}/ifindex", encoding="ascii") as f:
                found[name] = int(f.read())
        except OSError:
            pass
    return found


def fastd_connected():
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(FASTD_SOCKET)
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        doc = json.loads(data)
    except (OSError, ValueError):
        return 0
    return sum(1 for peer in doc.get("peers", {}).values() if peer.get("connection"))


def l2tp_tunnels(text, port):
    """{tunnel id: (peer address, peer's tunnel id)} of the tunnels in text
    (`ip l2tp show tunnel`) whose local UDP port is port. The peer's tunnel id
    is the one a tunneldigger client is started with (-t): it names the client
    also after it reopened its socket on a new UDP port."""
    tunnels = {}
    for block in re.split(r"^(?=Tunnel )", text, flags=re.M):
        tid = re.match(r"Tunnel (\d+),", block)
        peer = re.search(r"^\s*From \S+ to (\S+)", block, flags=re.M)
        peer_tid = re.search(r"^\s*Peer tunnel (\d+)", block, flags=re.M)
        ports = re.search(r"UDP source / dest ports: (\d+)/\d+", block)
        if tid and peer and peer_tid and ports and int(ports.group(1)) == port:
            tunnels[int(tid.group(1))] = (peer.group(1), int(peer_tid.group(1)))
    return tunnels


def l2tp_sessions(text):
    """{interface name: tunnel id} of the sessions in text (`ip l2tp show session`)."""
    sessions = {}
    for block in re.split(r"^(?=Session )", text, flags=re.M):
        tid = re.match(r"Session \d+ in tunnel (\d+)", block)
        name = re.search(r"interface name: (\S+)", block)
        if tid and name:
            sessions[name.group(1)] = int(tid.group(1))
    return sessions


def td_served(tunnels, sessions, lower, old):
    """What the broker serves, counted by client (its address and tunnel id),
    not by tunnel: a client whose request the broker answered late asks again,
    and the broker makes a tunnel for each request, so one client can have
    several until the stale ones time out. connected: the clients with a
    tunnel; in_mesh: the clients with a tunnel interface in bat0 that was not
    there before (old: name to ifindex)."""
    client_of = {name: tunnels[tid] for name, tid in sessions.items() if tid in tunnels}
    fresh = {client_of[name] for name, index in lower.items() if name in client_of and old.get(name) != index}
    return {"connected": len(set(tunnels.values())), "in_mesh": len(fresh), "tunnels": len(tunnels)}


def count(kind, old=None):
    """What the gateway serves: connected, in_mesh (new in bat0 since old, the
    interfaces' ifindex before; every one without old), and lower (bat0's)."""
    old = old or {}
    if kind == "fastd":
        lower = bat0_lower("mesh0-")
        in_mesh = sum(1 for name, index in lower.items() if old.get(name) != index)
        return {"connected": fastd_connected(), "in_mesh": in_mesh, "lower": lower}
    lower = bat0_lower("l2tp")
    served = td_served(l2tp_tunnels(sh("ip l2tp show tunnel", check=False), TD_PORT),
                       l2tp_sessions(sh("ip l2tp show session", check=False)), lower, old)
    return dict(served, lower=lower)


def new_marks():
    """For connected and in_mesh: the seconds at which each share was first reached (None: not yet)."""
    return {key: {share: None for share in SHARES} for key in ("connected", "in_mesh")}


def mark(marks, now, want, elapsed):
    """Note elapsed for every share that the count now reaches for the first
    time (a share of want, rounded up: 50 % of 13 is 7); True once both counts
    have reached all of want."""
    for key, shares in marks.items():
        for share, seen in shares.items():
            if seen is None and now[key] >= want * int(share) / 100:
                shares[share] = round(elapsed, 2)
    return marks["connected"]["100"] is not None and marks["in_mesh"]["100"] is not None


def restart(kind, timeout, interval):
    before = count(kind)
    want = before["connected"]
    if want == 0:
        sys.exit("guest_swarm.py: the gateway serves no one; nothing to restart")
    unit = FASTD_UNIT if kind == "fastd" else TD_UNIT
    start = time.monotonic()
    subprocess.run(["systemctl", "restart", unit], check=True)
    restarted = time.monotonic() - start
    marks = new_marks()
    samples = []
    now = count(kind, before["lower"])
    while True:
        elapsed = time.monotonic() - start
        samples.append([round(elapsed, 2), now["connected"], now["in_mesh"], now.get("tunnels")])
        if mark(marks, now, want, elapsed):
            break
        if elapsed > timeout:
            break
        time.sleep(interval)
        now = count(kind, before["lower"])
    print(json.dumps({"kind": kind, "before": want, "restart_command_s": round(restarted, 2),
                      "marks": marks, "final": {k: now[k] for k in ("connected", "in_mesh", "tunnels") if k in now},
                      "timeout": timeout, "samples": samples}))


def swarm_pids():
    """Every process of the swarm, found by its command line (also those of an
    aborted run, whose pid files or namespaces may be gone): the node fastds
    with a config in WORK and the tunneldigger clients with a tds* interface."""
    pids = set()
    for proc in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(proc, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        node = "fastd" in argv[0] and any(a.startswith(WORK + "/") for a in argv)
        client = argv[0] == TD_CLIENT and any(a.startswith("tds") for a in argv)
        if node or client:
            pids.add(int(proc.split("/")[2]))
    return pids


def down():
    for pid in swarm_pids():
        try:
            os.kill(pid, 15)
        except OSError:
            pass
    deadline = time.monotonic() + 30
    while swarm_pids() and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in swarm_pids():
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    for path in glob.glob("/run/netns/sw*"):
        sh(f"ip netns del {os.path.basename(path)}", check=False)
    sh("ip link del br-swarm", check=False)
    shutil.rmtree(WORK, ignore_errors=True)
    print(json.dumps({"down": True}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["fastd-up", "td-up", "restart", "count", "down"])
    parser.add_argument("arg", nargs="?")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    if args.action == "fastd-up":
        fastd_up(int(args.arg))
    elif args.action == "td-up":
        td_up(int(args.arg))
    elif args.action == "restart":
        restart(args.arg, args.timeout, args.interval)
    elif args.action == "count":
        result = count(args.arg)
        del result["lower"]
        print(json.dumps(result))
    else:
        down()


if __name__ == "__main__":
    main()
