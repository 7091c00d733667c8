# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The numbers of a gateway, in one place: per fastd instance the peers it
knows, those connected, per method, and those offloaded to the kernel; per
tunneldigger broker its sessions and those in the mesh. Built from the
parsed documents of fastd_status and tunneldigger_status, then:

* summed per gateway and over the fleet (``fleet``, ``fleet_lines``: the
  table of playbooks/status.yml),
* written in the Prometheus text format (``prometheus_text``) by the
  program freifunk-gateway-metrics that the role freifunk.gateway.metrics
  runs on a timer (``main``).

"Offloaded" means connected with ``null@l2tp`` on an instance with
``offload_l2tp: true``: then fastd only does the handshake and the kernel's
L2TP carries the data. Without offload fastd carries ``null@l2tp`` itself.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import socket
# subprocess, not AnsibleModule.run_command: this code also runs in the
# gateway's own scripts (a systemd timer), where there is no module.
import subprocess
import sys
import tempfile
import time

from ansible_collections.freifunk.gateway.plugins.module_utils import fastd_status as fs
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import OFFLOAD_METHODS
from ansible_collections.freifunk.gateway.plugins.module_utils import tunneldigger_status as tds
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe, int_errors

CONFIG_FILE = "/etc/freifunk-gateway/metrics.json"
PROM_FILE = "freifunk_gateway.prom"
PREFIX = "freifunk_gateway_"
# The timer's interval: often enough to see a gateway restart, rarely
# enough that reading sockets and the kernel's L2TP state costs nothing.
INTERVAL_MIN, INTERVAL_MAX = 10, 3600
# fastd answers at once; a status socket that does not is reported, not waited for.
SOCKET_TIMEOUT = 5.0


# --- numbers of one instance / broker ----------------------------------------------

def fastd_numbers(name, status, offload_l2tp=False, error=None):
    """The numbers of fastd instance ``name`` from a parse_status result
    (``status`` None with ``error`` when its socket did not answer)."""
    if status is None:
        return {"instance": name, "up": False, "error": error or "no status", "peers": None,
                "connected": None, "methods": {}, "offloaded": None}
    methods = dict(sorted((status.get("methods") or {}).items()))
    offloaded = sum(n for m, n in methods.items() if m in OFFLOAD_METHODS) if offload_l2tp else 0
    return {"instance": name, "up": True, "error": None, "peers": status.get("count", 0),
            "connected": status.get("connected", 0), "methods": methods, "offloaded": offloaded}


def broker_numbers(name, status, active=None, error=None):
    """The numbers of tunneldigger broker ``name`` from a tunneldigger_status
    result (``build_status``/``gather``, or the module's result)."""
    if status is None:
        return {"broker": name, "up": False if active is None else active, "error": error or "no status",
                "sessions": None, "in_mesh": None, "stale": None}
    return {"broker": name, "up": active, "error": None, "sessions": status.get("count", 0),
            "in_mesh": status.get("in_mesh_count"), "stale": len(status.get("stale") or [])}


def host_numbers(fastd=(), brokers=()):
    """One gateway's numbers: ``{fastd: [...], tunneldigger: [...], totals}``,
    instances and brokers sorted by name."""
    numbers = {
        "fastd": sorted(fastd, key=lambda n: n["instance"]),
        "tunneldigger": sorted(brokers, key=lambda n: n["broker"]),
    }
    numbers["totals"] = totals([numbers])
    return numbers


def from_results(fastd_results=None, tunneldigger_results=None):
    """host_numbers from the registered loop results of the modules
    fastd_status and tunneldigger_status (as playbooks/status.yml has them);
    the loop item is the normalized instance."""
    fastd, brokers = [], []
    for result in _results(fastd_results):
        item = result.get("item") or {}
        ok = not result.get("failed") and "connected" in result
        fastd.append(fastd_numbers(item.get("name"), result if ok else None, bool(item.get("offload_l2tp")),
                                   None if ok else result.get("msg")))
    for result in _results(tunneldigger_results):
        item = result.get("item") or {}
        ok = not result.get("failed") and "count" in result
        brokers.append(broker_numbers(item.get("name"), result if ok else None, result.get("active"),
                                      None if ok else result.get("msg")))
    return host_numbers(fastd, brokers)


def _results(registered):
    if not registered:
        return []
    if isinstance(registered, dict):
        registered = registered.get("results") or []
    return [r for r in registered if isinstance(r, dict) and not r.get("skipped")]


def totals(hosts):
    """Sums over the numbers of ``hosts`` (a list of host_numbers):
    nodes (fastd peers connected + broker sessions), per method, offloaded,
    sessions, and how many instances or brokers did not answer."""
    out = {"nodes": 0, "fastd_connected": 0, "fastd_peers": 0, "methods": {}, "offloaded": 0,
           "sessions": 0, "in_mesh": 0, "not_answering": 0}
    for host in hosts:
        for inst in host.get("fastd") or []:
            if not inst.get("up"):
                out["not_answering"] += 1
                continue
            out["fastd_connected"] += inst["connected"]
            out["fastd_peers"] += inst["peers"]
            out["offloaded"] += inst["offloaded"]
            for method, count in inst["methods"].items():
                out["methods"][method] = out["methods"].get(method, 0) + count
        for broker in host.get("tunneldigger") or []:
            if broker.get("sessions") is None:
                out["not_answering"] += 1
                continue
            out["sessions"] += broker["sessions"]
            out["in_mesh"] += broker["in_mesh"] or 0
    out["methods"] = dict(sorted(out["methods"].items()))
    out["nodes"] = out["fastd_connected"] + out["sessions"]
    return out


# --- the fleet --------------------------------------------------------------------------

def fleet(per_host):
    """``{gateways: [{gateway, answered, fastd, tunneldigger, totals}], totals}``
    from ``{host: host_numbers or None}`` (None: the host gave no numbers,
    for example unreachable), gateways in name order."""
    gateways, answered = [], []
    for host in sorted(per_host):
        numbers = per_host[host]
        if not isinstance(numbers, dict):
            gateways.append({"gateway": host, "answered": False, "fastd": [], "tunneldigger": [], "totals": None})
            continue
        entry = {"gateway": host, "answered": True, "fastd": numbers.get("fastd") or [],
                 "tunneldigger": numbers.get("tunneldigger") or []}
        entry["totals"] = totals([entry])
        gateways.append(entry)
        answered.append(entry)
    summary = totals(answered)
    summary["gateways"] = len(gateways)
    summary["gateways_answered"] = len(answered)
    return {"gateways": gateways, "totals": summary}


def _methods_cell(methods):
    return ", ".join("%s %d" % kv for kv in methods.items()) or "-"


def _row(entry):
    if not entry["answered"]:
        return [entry["gateway"], "-", "-", "-", "-", "-", "no answer"]
    tot = entry["totals"]
    fastd_up = [i for i in entry["fastd"] if i.get("up")]
    fastd = "%d/%d" % (tot["fastd_connected"], tot["fastd_peers"]) if fastd_up else "-"
    brokers = ", ".join("%s %s" % (b["broker"], "-" if b["sessions"] is None else b["sessions"])
                        for b in entry["tunneldigger"]) or "-"
    problems = ["fastd@%s down" % i["instance"] for i in entry["fastd"] if not i.get("up")]
    problems += ["broker %s not active" % b["broker"] for b in entry["tunneldigger"] if b.get("up") is False]
    return [entry["gateway"], str(tot["nodes"]), fastd, _methods_cell(tot["methods"]),
            str(tot["offloaded"]) if fastd_up else "-", brokers, ", ".join(problems)]


HEADER = ["gateway", "nodes", "fastd", "methods", "offloaded", "tunneldigger sessions", "problems"]


def fleet_lines(fleet_doc):
    """The fleet as an aligned table: one row per gateway (nodes = fastd
    peers connected + tunneldigger sessions; fastd = connected/known peers;
    methods; offloaded; sessions per broker; what did not answer), then the
    fleet's totals."""
    rows = [HEADER] + [_row(e) for e in fleet_doc["gateways"]]
    tot = fleet_doc["totals"]
    rows.append(["all %d" % tot["gateways"], str(tot["nodes"]),
                 "%d/%d" % (tot["fastd_connected"], tot["fastd_peers"]), _methods_cell(tot["methods"]),
                 str(tot["offloaded"]), str(tot["sessions"]),
                 "%d of %d gateways answered" % (tot["gateways_answered"], tot["gateways"])
                 if tot["gateways_answered"] != tot["gateways"] else ""])
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "-" * len(max(lines, key=len)))
    lines.insert(len(lines) - 1, lines[1])
    return lines


# --- Prometheus text format ---------------------------------------------------------------

# name (without PREFIX), type, help; the order in which they are written.
METRICS = (
    ("fastd_up", "gauge", "1 when the fastd instance's status socket answered, else 0."),
    ("fastd_peers", "gauge", "Peers the fastd instance knows (configured, or connected through on verify)."),
    ("fastd_peers_connected", "gauge", "Peers with an established fastd session."),
    ("fastd_method_peers", "gauge", "Connected fastd peers per method in use."),
    ("fastd_peers_offloaded", "gauge",
     "Peers connected with null@l2tp on an instance with L2TP offload: the kernel carries their data."),
    ("tunneldigger_up", "gauge", "1 when the broker's unit tunneldigger@BROKER is active, else 0."),
    ("tunneldigger_sessions", "gauge", "L2TP sessions of the tunneldigger broker in the kernel."),
    ("tunneldigger_sessions_in_mesh", "gauge", "Broker sessions whose interface is in the mesh."),
    ("tunneldigger_stale_records", "gauge", "Session records of the broker without a kernel session."),
    ("metrics_timestamp_seconds", "gauge", "When freifunk-gateway-metrics wrote these numbers (Unix time)."),
)


def escape_label(value):
    """A label value as the text format wants it: backslash, double quote
    and line feed escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name, labels, value):
    # in name order, as the node exporter serves them
    text = ",".join('%s="%s"' % (k, escape_label(v)) for k, v in sorted(labels))
    if isinstance(value, bool):
        value = int(value)
    return "%s%s{%s} %s" % (PREFIX, name, text, value)


def prometheus_text(numbers, hostname, now=None):
    """host_numbers in the Prometheus text exposition format, every series
    labelled ``gateway=hostname`` (the label ``instance`` is Prometheus'
    own, so fastd instances are ``fastd_instance`` and brokers ``broker``).
    Values that are unknown (an instance that did not answer) are left
    out, not written as 0."""
    samples = {name: [] for name, _type, _help in METRICS}
    gw = ("gateway", hostname)
    for inst in numbers.get("fastd") or []:
        labels = [gw, ("fastd_instance", inst["instance"])]
        samples["fastd_up"].append(_sample("fastd_up", labels, bool(inst["up"])))
        if not inst["up"]:
            continue
        samples["fastd_peers"].append(_sample("fastd_peers", labels, inst["peers"]))
        samples["fastd_peers_connected"].append(_sample("fastd_peers_connected", labels, inst["connected"]))
        for method, count in sorted(inst["methods"].items()):
            samples["fastd_method_peers"].append(
                _sample("fastd_method_peers", labels + [("method", method)], count))
        samples["fastd_peers_offloaded"].append(_sample("fastd_peers_offloaded", labels, inst["offloaded"]))
    for broker in numbers.get("tunneldigger") or []:
        labels = [gw, ("broker", broker["broker"])]
        if broker["up"] is not None:
            samples["tunneldigger_up"].append(_sample("tunneldigger_up", labels, bool(broker["up"])))
        if broker["sessions"] is None:
            continue
        samples["tunneldigger_sessions"].append(_sample("tunneldigger_sessions", labels, broker["sessions"]))
        if broker["in_mesh"] is not None:
            samples["tunneldigger_sessions_in_mesh"].append(
                _sample("tunneldigger_sessions_in_mesh", labels, broker["in_mesh"]))
        samples["tunneldigger_stale_records"].append(
            _sample("tunneldigger_stale_records", labels, broker["stale"]))
    if now is not None:
        samples["metrics_timestamp_seconds"].append(_sample("metrics_timestamp_seconds", [gw], int(now)))
    lines = []
    for name, kind, text in METRICS:
        if samples[name]:
            lines.append("# HELP %s%s %s" % (PREFIX, name, text.replace("\\", "\\\\").replace("\n", "\\n")))
            lines.append("# TYPE %s%s %s" % (PREFIX, name, kind))
            lines.extend(samples[name])
    return "\n".join(lines) + "\n" if lines else ""


# --- the program's configuration ----------------------------------------------------------

def validate_interval(value, var="metrics_interval"):
    """The timer's interval in whole seconds."""
    return int_errors(value, var, INTERVAL_MIN, INTERVAL_MAX)


def validate_directory(value, var="metrics_textfile_directory"):
    """The node exporter's textfile folder: absolute, shortest form, and
    characters a systemd unit takes as they are."""
    if not isinstance(value, str) or not value.startswith("/") or value == "/":
        return ["%s must be an absolute folder such as /var/lib/prometheus/node-exporter, got %s"
                % (var, describe(value))]
    if os.path.normpath(value) != value or not all(c.isalnum() or c in "_.-/+" for c in value):
        return ["%s: %r must be an absolute folder in its shortest form of letters, digits and "
                "'_ . - + /' (no spaces or '%%'), e.g. /var/lib/prometheus/node-exporter" % (var, value)]
    return []


# Debian's node exporter reads this folder unless --collector.textfile.directory
# says otherwise (compiled into Debian's build, bookworm 1.5 and trixie 1.9).
EXPORTER_TEXTFILE_DEFAULT = "/var/lib/prometheus/node-exporter"
EXPORTER_DEFAULTS_FILE = "/etc/default/prometheus-node-exporter"


def exporter_args(defaults_text):
    """The arguments in ``ARGS=...`` of Debian's
    /etc/default/prometheus-node-exporter (the last assignment wins; systemd
    passes ``$ARGS`` split at white space)."""
    value = ""
    for line in (defaults_text or "").splitlines():
        match = re.match(r"\s*(?:export\s+)?ARGS=(.*)", line)
        if match:
            try:
                words = shlex.split(match.group(1), comments=True)
            except ValueError:
                words = [match.group(1)]
            value = " ".join(words)
    return value.split()


def exporter_errors(defaults_text, directory, var="metrics_textfile_directory"):
    """Whether the node exporter, started with the ARGS of its defaults
    file, reads ``directory`` with its textfile collector."""
    args = exporter_args(defaults_text)
    reads = EXPORTER_TEXTFILE_DEFAULT
    errors = []
    for index, arg in enumerate(args):
        if arg == "--no-collector.textfile":
            errors.append("the node exporter's textfile collector is off (--no-collector.textfile in ARGS of %s); "
                          "remove it, or the exporter never reads %s" % (EXPORTER_DEFAULTS_FILE, PROM_FILE))
        elif arg.startswith("--collector.textfile.directory="):
            reads = arg.split("=", 1)[1]
        elif arg == "--collector.textfile.directory" and index + 1 < len(args):
            reads = args[index + 1]
    if reads.rstrip("/") != directory.rstrip("/"):
        errors.append("%s is %s, but the node exporter reads %s (ARGS of %s); set %s: %s"
                      % (var, directory, reads, EXPORTER_DEFAULTS_FILE, var, reads))
    return errors


def validate_config(cfg):
    """Errors in the program's configuration (what the role writes): every
    mistake, each naming its key."""
    if not isinstance(cfg, dict):
        return ["the configuration must be a JSON object, got %s" % describe(cfg)]
    errors = []
    if not isinstance(cfg.get("hostname"), str) or not cfg["hostname"]:
        errors.append("hostname must be a non-empty string, got %s" % describe(cfg.get("hostname")))
    errors.extend(validate_directory(cfg.get("directory"), "directory"))
    return errors + validate_instances(cfg.get("fastd", []), cfg.get("tunneldigger", []))


def validate_instances(fastd, tunneldigger):
    """Errors in the lists of fastd instances (name, status_socket,
    offload_l2tp) and tunneldigger brokers (name, tunnel_id_base,
    max_tunnels, mesh) to read."""
    errors = []
    for key, value in (("fastd", fastd), ("tunneldigger", tunneldigger)):
        if not isinstance(value, list):
            errors.append("%s must be a list, got %s" % (key, describe(value)))
    for index, inst in enumerate(fastd if isinstance(fastd, list) else []):
        var = "fastd[%d]" % index
        if not isinstance(inst, dict):
            errors.append("%s must be an object with name and status_socket, got %s" % (var, describe(inst)))
            continue
        if not isinstance(inst.get("name"), str) or not inst["name"]:
            errors.append("%s.name must be the instance's name, got %s" % (var, describe(inst.get("name"))))
        # Only read here: where the socket may be is the role fastd's rule.
        sock = inst.get("status_socket")
        if sock is not None and (not isinstance(sock, str) or not sock.startswith("/")):
            errors.append("%s.status_socket must be an absolute path or null (/run/fastd/NAME.sock), got %s"
                          % (var, describe(sock)))
        if not isinstance(inst.get("offload_l2tp", False), bool):
            errors.append("%s.offload_l2tp must be true or false, got %s" % (var, describe(inst.get("offload_l2tp"))))
    for index, broker in enumerate(tunneldigger if isinstance(tunneldigger, list) else []):
        var = "tunneldigger[%d]" % index
        if not isinstance(broker, dict):
            errors.append("%s must be an object with name, tunnel_id_base, max_tunnels and mesh, got %s"
                          % (var, describe(broker)))
            continue
        errors.extend("%s: %s" % (var, e) for e in tds.validate_options(
            broker.get("name"), broker.get("tunnel_id_base"), broker.get("max_tunnels"), broker.get("mesh")))
    return errors


def config(hostname, directory, fastd_instances=(), tunneldigger_instances=()):
    """The program's configuration from the normalized present instances
    of the roles fastd and tunneldigger: only what it reads, no secret."""
    return {
        "hostname": hostname,
        "directory": directory,
        "fastd": [{"name": i["name"], "status_socket": fs.status_socket_path(i["name"], i.get("status_socket")),
                   "offload_l2tp": bool(i.get("offload_l2tp"))}
                  for i in fastd_instances if i.get("state", "present") == "present"],
        "tunneldigger": [{"name": b["name"], "tunnel_id_base": b["tunnel_id_base"],
                          "max_tunnels": b["max_tunnels"], "mesh": b.get("mesh")}
                         for b in tunneldigger_instances if b.get("state", "present") == "present"],
    }


# --- reading a host ------------------------------------------------------------------------

def read_fastd(inst, timeout=SOCKET_TIMEOUT):
    """fastd_numbers of one configured instance, read from its socket."""
    path = fs.status_socket_path(inst["name"], inst.get("status_socket"))
    try:
        status = fs.parse_status(fs.read_socket(path, timeout))
    except (OSError, ValueError, socket.timeout) as exc:
        return fastd_numbers(inst["name"], None, error=fs.socket_error(exc, path))
    return fastd_numbers(inst["name"], status, bool(inst.get("offload_l2tp")))


def run_ip(what):
    """``(rc, stdout, stderr)`` of ``ip -j l2tp show WHAT``."""
    ip = shutil.which("ip", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin")
    if ip is None:
        return 127, "", "no ip command (iproute2)"
    proc = subprocess.run([ip, "-j", "l2tp", "show", what], stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                          universal_newlines=True, timeout=30, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def unit_active(name):
    """Whether tunneldigger@NAME is active; None without systemctl."""
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return None
    proc = subprocess.run([systemctl, "is-active", tds.unit_name(name)], stdout=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                          stderr=subprocess.DEVNULL, universal_newlines=True, check=False)
    return proc.stdout.strip() == "active"


def read_l2tp(run=run_ip):
    """The kernel's L2TP tunnels and sessions as ``ip`` prints them; two
    empty texts when the kernel has no L2TP netlink (then there are none)."""
    texts = []
    for what in ("tunnel", "session"):
        rc, out, err = run(what)
        if rc != 0 and tds.no_l2tp_netlink(err):
            return "", ""
        if rc != 0:
            raise ValueError("ip -j l2tp show %s failed (rc %d): %s" % (what, rc, err.strip()))
        texts.append(out)
    return texts[0], texts[1]


def read_brokers(brokers, run=run_ip, active=unit_active, state_dir=tds.STATE_DIR, sysfs=tds.SYSFS_NET):
    """broker_numbers of every configured broker."""
    if not brokers:
        return []
    try:
        tunnels, sessions = read_l2tp(run)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return [broker_numbers(b["name"], None, active(b["name"]), str(exc)) for b in brokers]
    out = []
    for broker in brokers:
        try:
            status = tds.gather(tunnels, sessions, broker["name"], broker["tunnel_id_base"],
                                broker["max_tunnels"], broker.get("mesh"), state_dir, sysfs)
            out.append(broker_numbers(broker["name"], status, active(broker["name"])))
        except (OSError, ValueError) as exc:
            out.append(broker_numbers(broker["name"], None, active(broker["name"]), str(exc)))
    return out


def read_host(cfg, timeout=SOCKET_TIMEOUT, **broker_readers):
    """host_numbers of this host, as the configuration ``cfg`` names its instances."""
    return host_numbers([read_fastd(i, timeout) for i in cfg.get("fastd") or []],
                        read_brokers(cfg.get("tunneldigger") or [], **broker_readers))


def write_atomically(path, text):
    """Write ``text`` to ``path`` so that a reader sees the old file or the
    new one, never half of it: a temporary file in the same folder (not
    ending in .prom, which the node exporter would read), then a rename."""
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv=None, **readers):
    """freifunk-gateway-metrics [--config FILE] [--print]: read the
    instances the configuration names and write DIRECTORY/freifunk_gateway.prom
    (or print it). Exit 0 when written, also when an instance did not answer
    (that is a metric); 1 when the configuration is bad or the file could not
    be written."""
    parser = argparse.ArgumentParser(prog="freifunk-gateway-metrics",
                                     description="Write the gateway's numbers for the node exporter.")
    parser.add_argument("--config", default=CONFIG_FILE, help="configuration (default: %(default)s)")
    parser.add_argument("--print", action="store_true", help="print the metrics instead of writing them")
    args = parser.parse_args(argv)
    try:
        with open(args.config) as handle:
            cfg = json.load(handle)
    except (OSError, ValueError) as exc:
        sys.stderr.write("freifunk-gateway-metrics: cannot read %s: %s\n" % (args.config, exc))
        return 1
    errors = validate_config(cfg)
    if errors:
        sys.stderr.write("".join("freifunk-gateway-metrics: %s: %s\n" % (args.config, e) for e in errors))
        return 1
    numbers = read_host(cfg, **readers)
    for item in numbers["fastd"] + numbers["tunneldigger"]:
        if item["error"]:
            sys.stderr.write("freifunk-gateway-metrics: %s\n" % item["error"])
    text = prometheus_text(numbers, cfg["hostname"], now=time.time())
    if args.print:
        sys.stdout.write(text)
        return 0
    path = os.path.join(cfg["directory"], PROM_FILE)
    try:
        write_atomically(path, text)
    except OSError as exc:
        sys.stderr.write("freifunk-gateway-metrics: cannot write %s: %s\n" % (path, exc))
        return 1
    return 0
