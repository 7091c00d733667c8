"""The node swarm of bench/recovery and bench/status: one gateway container
whose fastd instances the collection's fastd role configures, and one node
container running many Gluon-like fastd node processes.

    swarm = Swarm("recovery")          # containers ffbench-recovery-gw, -nodes
    swarm.cleanup()                    # leftovers of an aborted run
    swarm.start()                      # network, containers, fastd in the nodes
    keys = swarm.make_keys(300)        # [(secret, public)], fastd --generate-key
    swarm.configure_gateway([...])     # ansible-playbook swarm_gateway.yml (the role)
    swarm.start_nodes("s", keys[:100], port=10001)
    swarm.sample(...)                  # swarm_sample.py in the gateway
    swarm.cleanup()

Python 3 standard library and benchlib only. Every command is bounded in
time; the secrets are test keys made for this one run and never printed.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import benchlib

IMAGE = "localhost/freifunk-gateway-test:bookworm"
HERE = Path(__file__).resolve().parent
BRIDGE = "br-mesh"
# Where swarm_sample.py and the collection's status parser go in the gateway.
SAMPLER_DIR = "/opt/ffbench"
# The collection's files the sampler imports (parse_status and what it needs).
_SAMPLER_LIBS = ("fastd_status.py", "rules.py")


def exit_on_sigterm() -> None:
    """Let SIGTERM (a timeout, make's interrupt) run the atexit clean-up too."""
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))


class Swarm:
    """One gateway and one node container of one bench part."""

    def __init__(self, part: str):
        self.part = part
        self.network = f"ffbench-{part}"
        self.gw = f"ffbench-{part}-gw"
        self.nodes = f"ffbench-{part}-nodes"
        self.work = Path(tempfile.mkdtemp(prefix=f"ffbench-{part}-"))
        self.gw_ip = None
        self.timings = {}

    @classmethod
    def for_part(cls, part: str, keep: bool = False) -> "Swarm":
        """The part's swarm, after removing an aborted run's containers; its
        containers go at exit (also on SIGTERM) unless ``keep``."""
        swarm = cls(part)
        exit_on_sigterm()
        swarm.cleanup()
        if not keep:
            atexit.register(swarm.cleanup)
        return swarm

    def start_with_gateway(self, peers: int, instances_of) -> tuple:
        """Start the containers, make ``peers`` node keys and the gateway's,
        and configure the gateway with ``instances_of(node_keys)``.
        Returns (node_keys, the gateway's public key)."""
        self.start()
        keys = self.make_keys(peers + 1)
        gw_secret, gw_public = keys.pop()
        self.configure_gateway(instances_of(keys), gw_secret)
        return keys, gw_public

    # -- containers -------------------------------------------------------
    def cleanup(self) -> None:
        """Remove the part's containers, network and work folder (also an aborted run's containers)."""
        for name in (self.gw, self.nodes):
            benchlib.podman("rm", "-f", "-t", "2", name, timeout=120, check=False)
        benchlib.podman("network", "rm", "-f", self.network, timeout=60, check=False)
        shutil.rmtree(self.work, ignore_errors=True)

    def start(self) -> None:
        t0 = time.monotonic()
        benchlib.podman("network", "create", self.network, timeout=60)
        for name in (self.gw, self.nodes):
            benchlib.podman(
                "run", "-d", "--name", name, "--hostname", name, "--network", self.network,
                "--systemd=always", "--cap-add", "NET_ADMIN", "--device", "/dev/net/tun",
                IMAGE, "/lib/systemd/systemd", timeout=120)
        for name in (self.gw, self.nodes):
            benchlib.wait_until(lambda n=name: self.sh(n, "systemctl is-system-running", check=False)
                                .stdout.strip() in ("running", "degraded"),
                                timeout=90, interval=0.5, what=f"systemd in {name}")
        self.gw_ip = benchlib.podman(
            "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", self.gw).stdout.strip()
        # fastd for the nodes (the role installs it on the gateway itself).
        self.sh(self.nodes, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q fastd >/dev/null", timeout=600)
        self.timings["start_s"] = round(time.monotonic() - t0, 1)

    def sh(self, container: str, script: str, timeout=120, check=True, stdin=None):
        """Run a shell script in a container."""
        if stdin is None:
            return benchlib.podman("exec", container, "sh", "-c", script, timeout=timeout, check=check)
        env = dict(os.environ)
        env.setdefault("CONTAINERS_CONF", str(benchlib.repo_root() / "tests" / "bed" / "containers.conf"))
        return benchlib.run(["podman", "exec", "-i", container, "sh", "-c", script],
                            timeout=timeout, check=check, input=stdin, env=env)

    # -- keys -------------------------------------------------------------
    def make_keys(self, count: int) -> list:
        """count (secret, public) pairs, fastd --generate-key in the node container."""
        t0 = time.monotonic()
        out = self.sh(self.nodes, f"for i in $(seq {int(count)}); do fastd --generate-key; done",
                      timeout=60 + count).stdout
        secrets = [line.split()[1] for line in out.splitlines() if line.startswith("Secret:")]
        publics = [line.split()[1] for line in out.splitlines() if line.startswith("Public:")]
        if len(secrets) != count or len(publics) != count:
            raise benchlib.BenchError(f"fastd --generate-key gave {len(secrets)} keys, wanted {count}")
        self.timings[f"keys_{count}_s"] = round(time.monotonic() - t0, 2)
        return list(zip(secrets, publics))

    # -- gateway ----------------------------------------------------------
    def configure_gateway(self, instances: list, secret: str) -> float:
        """Run the collection's fastd role on the gateway (swarm_gateway.yml).

        instances: fastd_instances entries without secret (it is added here).
        Returns the seconds ansible-playbook took."""
        gw_vars = {"fastd_instances": [dict(i, secret=secret) for i in instances],
                   "swarm_bridge": BRIDGE}
        self.work.mkdir(mode=0o700, parents=True, exist_ok=True)
        vars_file = self.work / "gateway.json"
        vars_file.write_text(json.dumps(gw_vars), encoding="utf-8")
        os.chmod(vars_file, 0o600)
        t0 = time.monotonic()
        benchlib.run(["ansible-playbook", "-i", f"{self.gw},", "-c", "containers.podman.podman",
                      "-e", f"@{vars_file}", str(HERE / "swarm_gateway.yml")], timeout=1200)
        took = time.monotonic() - t0
        self.timings["gateway_playbook_s"] = round(took, 1)
        for name in _SAMPLER_LIBS:
            self.copy_in(self.gw, benchlib.repo_root() / "plugins" / "module_utils" / name,
                         f"{SAMPLER_DIR}/ansible_collections/freifunk/gateway/plugins/module_utils/{name}")
        self.copy_in(self.gw, HERE / "swarm_sample.py", f"{SAMPLER_DIR}/swarm_sample.py")
        return took

    def copy_in(self, container: str, src: Path, dest: str) -> None:
        self.sh(container, f"mkdir -p {shlex.quote(os.path.dirname(dest))}")
        benchlib.podman("cp", str(src), f"{container}:{dest}", timeout=60)

    def status(self, instance: str, timeout=60) -> dict:
        """One status sample of instance (the collection's parse_status), via swarm_sample.py."""
        out = self.sh(self.gw, f"python3 {SAMPLER_DIR}/swarm_sample.py status {shlex.quote(instance)}",
                      timeout=timeout).stdout
        return json.loads(out)

    def sample_restart(self, instance: str, prefix: str, expect: int, timeout: float) -> dict:
        """Restart fastd@instance and sample its recovery (see swarm_sample.py)."""
        out = self.sh(self.gw, f"python3 {SAMPLER_DIR}/swarm_sample.py restart {shlex.quote(instance)} "
                      f"{shlex.quote(prefix)} {int(expect)} {float(timeout)} {BRIDGE}",
                      timeout=timeout + 120).stdout
        return json.loads(out)

    # -- nodes ------------------------------------------------------------
    def start_nodes(self, group: str, keys: list, gw_public: str, port: int, first: int = 0,
                    methods=("salsa2012+umac", "null"), mtu: int = 1312) -> float:
        """Start node processes group-FIRST .. for keys, each with the gateway as its one peer.

        Gluon-like: tap mode, the site's methods in the site's order, the site's
        MTU, secure handshakes, one backbone peer (the gateway's address and port).
        Returns the seconds it took to start them (fastd --daemon each)."""
        lines = []
        for offset, (secret, _public) in enumerate(keys):
            index = first + offset
            name = f"{group}{index:04d}"
            conf = "\n".join([
                "log level error;",
                "mode tap;",
                f'interface "{name}";',
                f"mtu {mtu};",
                *[f'method "{m}";' for m in methods],
                "secure handshakes yes;",
                f'secret "{secret}";',
                'on up "ip link set dev $INTERFACE up";',
                'peer group "mesh_vpn_backbone" {',
                "  peer limit 1;",
                '  peer "mesh_vpn_backbone_peer_gw" {',
                f'    key "{gw_public}";',
                f"    remote {self.gw_ip}:{int(port)};",
                "  }",
                "}",
                "",
            ])
            lines.append((name, conf))
        # One tar-free transfer: a shell script with here-documents, fed on stdin.
        script = ["set -e", "mkdir -p /etc/ffbench-nodes /run/ffbench-nodes", "umask 077"]
        for name, conf in lines:
            script.append(f"cat > /etc/ffbench-nodes/{name}.conf <<'EOF'\n{conf}EOF")
        script.append("for n in " + " ".join(name for name, _conf in lines) + "; do "
                      "fastd --daemon --pid-file /run/ffbench-nodes/$n.pid --config /etc/ffbench-nodes/$n.conf; done")
        t0 = time.monotonic()
        self.sh(self.nodes, "sh -s", stdin="\n".join(script) + "\n", timeout=120 + 2 * len(keys))
        return time.monotonic() - t0

    def start_chatter(self, group: str) -> None:
        """Start swarm_chatter.py for the node group (one frame per node per second)."""
        self.copy_in(self.nodes, HERE / "swarm_chatter.py", f"{SAMPLER_DIR}/swarm_chatter.py")
        pidfile = f"/run/ffbench-nodes/chatter-{group}.pid"
        benchlib.podman("exec", "-d", self.nodes, "python3", f"{SAMPLER_DIR}/swarm_chatter.py", group, pidfile)
        benchlib.wait_until(lambda: self.sh(self.nodes, f"test -s {pidfile}", check=False).returncode == 0,
                            timeout=30, what=f"the chatter of node group {group}")

    def stop_chatter(self, group: str) -> None:
        pidfile = f"/run/ffbench-nodes/chatter-{group}.pid"
        self.sh(self.nodes, f"if test -s {pidfile}; then kill $(cat {pidfile}); rm -f {pidfile}; fi")

    def node_count(self) -> int:
        return int(self.sh(self.nodes, "pgrep -c -x fastd || true").stdout.strip() or 0)

    def node_rss_kib(self) -> int:
        """Sum of the node processes' resident memory (KiB)."""
        out = self.sh(self.nodes, "ps -C fastd -o rss= | awk '{s+=$1} END {print s+0}'").stdout
        return int(out.strip() or 0)
