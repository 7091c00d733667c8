# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only filter of the fleet scenario: what went wrong in a rolling
change, judged from what each gateway saw (verify.yml collects it)."""

from __future__ import annotations


def _sessions(status):
    """{key: when the session started, in seconds of fastd's uptime} of the
    connected peers of a fastd_status result. fastd reports its uptime and
    each session's age in one document, so this stays the same for as long
    as a session lasts, whenever it is read."""
    return {p["key"]: round(status["uptime"] - p["established"], 3)
            for p in status.get("peers", []) if p.get("connected")}


def fleet_rollout_problems(report, gateways):
    """Every way the rollout of ``gateways`` (in inventory order, one per
    batch) broke its promise. ``report[gw]``: before (fastd_status before the
    rollout), batch (fastd_status when its batch began), back (the
    playbook's rollout_report lines), after (fastd_status after), unit_before
    and unit_after (MainPID and ActiveEnterTimestampMonotonic of fastd@mesh0;
    containers share the kernel's monotonic clock, so these compare across
    gateways)."""
    problems = []
    starts = []
    for gw in gateways:
        r = report[gw]
        if r["unit_after"]["MainPID"] == r["unit_before"]["MainPID"]:
            problems.append("%s: fastd@mesh0 was not restarted" % gw)
        starts.append(int(r["unit_after"]["ActiveEnterTimestampMonotonic"]))
        before = _sessions(r["before"])
        if len(before) != 2:
            problems.append("%s: %d nodes before the rollout, expected 2" % (gw, len(before)))
        # connected, without a break, from before the rollout until its own batch
        batch = _sessions(r["batch"])
        for key, start in sorted(before.items()):
            if key not in batch:
                problems.append("%s: node %s was gone when its batch began" % (gw, key[:12]))
            elif abs(batch[key] - start) > 0.5:
                problems.append("%s: node %s reconnected before its batch (session began at %ss of fastd's "
                                "uptime, then at %ss)" % (gw, key[:12], start, batch[key]))
        if [b["ok"] for b in r["back"]] != [True]:
            problems.append("%s: the gate said %s" % (gw, r["back"]))
    for i, gw in enumerate(gateways):
        r = report[gw]
        if i and starts[i] <= starts[i - 1]:
            problems.append("%s restarted before %s" % (gw, gateways[i - 1]))
        after = r["after"]
        peers = [p for p in after.get("peers", []) if p.get("connected")]
        if sorted(p["key"] for p in peers) != sorted(_sessions(r["before"])):
            problems.append("%s: other nodes after the rollout than before" % gw)
        for peer in peers:
            began = starts[i] + int((after["uptime"] - peer["established"]) * 1e6)
            if i + 1 < len(gateways) and began >= starts[i + 1]:
                problems.append("%s: node %s came back only after %s restarted"
                                % (gw, peer["key"][:12], gateways[i + 1]))
    return problems


class FilterModule:
    def filters(self):
        return {"fleet_rollout_problems": fleet_rollout_problems}
