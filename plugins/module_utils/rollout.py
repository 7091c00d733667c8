# -*- coding: utf-8 -*-
# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health gate of playbooks/gateway.yml's rolling changes.

Before a batch changes its gateways, the playbook reads what each daemon
serves (fastd peers connected, tunneldigger sessions up) and who it is
(systemd's MainPID and ActiveEnterTimestampMonotonic). After the change, a
daemon whose identity changed was restarted; if it served anyone before, the
batch waits until it serves ceil(share * before) again. These are the pure
functions behind that: the settings' checks, the counts, which daemons to
wait for, and the messages when one did not recover."""

from __future__ import annotations

import math
import re

from ansible_collections.freifunk.gateway.plugins.module_utils.tunneldigger_status import count_ready

DEFAULTS = {
    "gateway_serial": "25%",
    "gateway_max_fail_percentage": 0,
    "gateway_recovery_share": 0.8,
    "gateway_recovery_timeout": 300,
}
# The playbook's play keywords; the other two settings act per host.
PLAY_KEYS = ("gateway_serial", "gateway_max_fail_percentage")
UNIT_PROPERTIES = ("Id", "MainPID", "ActiveState", "ActiveEnterTimestampMonotonic")


def _number(value):
    """``value`` as int or float, or None; booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]+(\.[0-9]+)?", value.strip()):
        return float(value) if "." in value else int(value)
    return None


def _serial_step_ok(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 1
    if isinstance(value, str):
        match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(%?)", value.strip())
        if not match:
            return False
        amount = float(match.group(1))
        return 0 < amount <= 100 if match.group(2) else amount >= 1 and amount == int(amount)
    return False


def setting_errors(settings, host=None):
    """Every mistake in one gateway's rollout settings (a dict with the keys
    of DEFAULTS; missing keys take the defaults)."""
    merged = dict(DEFAULTS)
    merged.update({k: v for k, v in (settings or {}).items() if v is not None})
    prefix = "%s: " % host if host else ""
    errors = []
    serial = merged["gateway_serial"]
    steps = serial if isinstance(serial, list) else [serial]
    if not steps or not all(_serial_step_ok(s) for s in steps):
        errors.append("%sgateway_serial must be a number of gateways per batch (1 or more), a percentage "
                      "of them (\"25%%\"), or a list of these (batch sizes in turn), got %r" % (prefix, serial))
    share = _number(merged["gateway_recovery_share"])
    if share is None or not 0 <= share <= 1:
        errors.append("%sgateway_recovery_share must be a number from 0 to 1 (0.8: 80%% of the peers and "
                      "sessions a restarted daemon served must be back; 0: do not wait), got %r"
                      % (prefix, merged["gateway_recovery_share"]))
    percent = _number(merged["gateway_max_fail_percentage"])
    if percent is None or not 0 <= percent <= 100:
        errors.append("%sgateway_max_fail_percentage must be a number from 0 to 100 (the share of a batch "
                      "that may fail before the rollout stops), got %r"
                      % (prefix, merged["gateway_max_fail_percentage"]))
    timeout = _number(merged["gateway_recovery_timeout"])
    if timeout is None or timeout < 1 or timeout != int(timeout):
        errors.append("%sgateway_recovery_timeout must be a whole number of seconds (1 or more), got %r"
                      % (prefix, merged["gateway_recovery_timeout"]))
    return errors


def fleet_setting_errors(settings_by_host):
    """Every mistake in the rollout settings of all gateways of a run
    (``{host: settings}``): each host's own; when those are fine, the play-wide settings
    (serial, max fail percentage) when gateways disagree on them, since one
    play has one of each."""
    errors = []
    for host in sorted(settings_by_host):
        errors.extend(setting_errors(settings_by_host[host], host))
    if errors:
        return errors
    for key in PLAY_KEYS:
        values = {}
        for host in sorted(settings_by_host):
            value = (settings_by_host[host] or {}).get(key)
            values.setdefault(repr(DEFAULTS[key] if value is None else value), []).append(host)
        if len(values) > 1:
            errors.append("%s differs between the gateways (%s); a run has one: set it once for all "
                          "gateways (group_vars) or with -e %s=..."
                          % (key, "; ".join("%s: %s" % (v, ", ".join(h)) for v, h in sorted(values.items())), key))
    return errors


def play_settings(settings):
    """The play keywords for the change play, from one gateway's (checked)
    settings: ``{"serial": ..., "max_fail_percentage": ...}``."""
    merged = dict(DEFAULTS)
    merged.update({k: v for k, v in (settings or {}).items() if v is not None})
    return {"serial": merged["gateway_serial"],
            "max_fail_percentage": _number(merged["gateway_max_fail_percentage"])}


def needed(before, share):
    """How many peers or sessions must be back: ceil(share * before), with
    0.8 * 5 giving 4 (not 5 by a rounding error)."""
    return int(math.ceil(round(float(share) * int(before), 9)))


def _daemon(kind, name):
    return "%s@%s" % (kind, name)


def served(fastd_results, tunneldigger_results):
    """What each daemon served, from the registered loop results of
    freifunk.gateway.fastd_status and freifunk.gateway.tunneldigger_status
    over normalized instances. A daemon whose status could not be read (not
    running, not installed yet) serves no one. One dict per daemon: kind,
    instance, daemon (fastd@NAME), unit, count, what (peers/sessions), line
    (for people), and what the status modules need to ask again (socket;
    tunnel_id_base, max_tunnels, mesh)."""
    result = []
    for kind, results in (("fastd", fastd_results), ("tunneldigger", tunneldigger_results)):
        for res in results or []:
            item = res.get("item") or {}
            name = item.get("name")
            if res.get("skipped"):
                continue
            count, reason = _now(kind, res)
            note = None if reason is None else "not answering (%s)" % (reason or "no status")
            what = "peers connected" if kind == "fastd" else "sessions up"
            result.append({
                "kind": kind,
                "instance": name,
                "daemon": _daemon(kind, name),
                "unit": item.get("unit") or "%s@%s.service" % (kind, name),
                "count": count,
                "what": what,
                "line": "%s: %s" % (_daemon(kind, name), note if note else "%d %s" % (count, what)),
                # what the status modules need to ask again
                "socket": item.get("status_socket"),
                "tunnel_id_base": item.get("tunnel_id_base"),
                "max_tunnels": item.get("max_tunnels"),
                "mesh": item.get("mesh"),
            })
    return result


def unit_states(text):
    """``systemctl show --property=Id,MainPID,ActiveState,ActiveEnterTimestampMonotonic
    UNIT...`` output (blocks of key=value lines, one per unit, separated by
    blank lines) as ``{unit: {"pid": int, "since": int, "active": str}}``."""
    states = {}
    for block in re.split(r"\n\s*\n", text or ""):
        props = {}
        for line in block.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                props[key.strip()] = value.strip()
        if props.get("Id"):
            states[props["Id"]] = {
                "pid": int(props.get("MainPID") or 0),
                "since": int(props.get("ActiveEnterTimestampMonotonic") or 0),
                "active": props.get("ActiveState") or "unknown",
            }
    return states


def restarted(before, after):
    """Whether a unit is another process now than before (or no longer runs)."""
    if after is None or after["active"] != "active":
        return True
    if before is None:
        return True
    return (before["pid"], before["since"]) != (after["pid"], after["since"])


def waits(daemons, states_before, states_after, share=None, timeout=None):
    """The daemons to wait for after a batch's change: restarted (another
    process now, or down) and serving someone before. Each: the daemon's
    dict from ``served`` plus ``before``, ``need``, ``share`` and ``timeout``
    (None: the defaults). ``states_*``: the ``systemctl show`` outputs
    (text) or ``unit_states`` results."""
    share = DEFAULTS["gateway_recovery_share"] if share is None else _number(share)
    timeout = int(DEFAULTS["gateway_recovery_timeout"] if timeout is None else _number(timeout))
    if isinstance(states_before, str):
        states_before = unit_states(states_before)
    if isinstance(states_after, str):
        states_after = unit_states(states_after)
    result = []
    for daemon in daemons or []:
        if daemon["count"] <= 0:
            continue
        need = needed(daemon["count"], share)
        if need <= 0:
            continue
        unit = daemon["unit"]
        if not restarted(states_before.get(unit), states_after.get(unit)):
            continue
        result.append(dict(daemon, before=daemon["count"], need=need, share=share, timeout=timeout))
    return result


def _now(kind, res):
    """(count, None) from a status result (registered with failed_when:
    false), or (0, why) when it has no status."""
    item = res.get("item") or {}
    if kind == "fastd":
        if "connected" in res:
            return int(res["connected"] or 0), None
    elif "sessions" in res:
        return count_ready(res, item.get("mesh")), None
    return 0, res.get("msg") or ""


def report(wait_results, host):
    """One line per daemon waited for, from the registered loop results of
    the waiting tasks (each item one of ``waits``' dicts): ``{"ok": bool,
    "line": str}``; a daemon without enough peers or sessions back gets the
    message that stops the rollout."""
    lines = []
    for res in wait_results or []:
        if res.get("skipped"):
            continue
        wait = res.get("item") or {}
        now, reason = _now(wait.get("kind"), res)
        what = "peers" if wait.get("kind") == "fastd" else "sessions"
        if now >= wait["need"]:
            lines.append({"ok": True, "line": "%s %s: %d of %d %s back" % (
                host, wait["daemon"], now, wait["before"], what)})
            continue
        line = ("%s %s: %d of %d %s back after %s s (%d needed: gateway_recovery_share %s)"
                % (host, wait["daemon"], now, wait["before"], what, wait["timeout"], wait["need"], wait["share"]))
        if reason and not now:
            line += "; %s" % reason
        lines.append({"ok": False, "line": line + "; the rollout stops after this batch, gateways of later "
                                                  "batches were not changed"})
    return lines
