# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of playbooks/gateway.yml's health-gated rolling changes; the
logic is in module_utils/rollout.py."""

from __future__ import annotations

from ansible_collections.freifunk.gateway.plugins.module_utils import rollout


def rollout_errors(settings):
    """Every mistake in the rollout settings of the run's gateways
    (``{host: {gateway_serial: ..., ...}}``)."""
    return rollout.fleet_setting_errors(settings)


def rollout_play_keywords(settings):
    """``{"serial": ..., "max_fail_percentage": ...}`` of the change play,
    from one gateway's rollout settings, defaults filled in."""
    return rollout.play_settings(settings)


def rollout_served(fastd_results, tunneldigger_results):
    """What each fastd instance and tunneldigger broker serves, from the
    registered loop results of the two status modules."""
    return rollout.served(fastd_results, tunneldigger_results)


def rollout_waits(served, units_before, units_after, share=None, timeout=None):
    """The daemons that restarted and served someone before, with how many
    peers or sessions must come back."""
    return rollout.waits(served, units_before, units_after, share, timeout)


def rollout_report(wait_results, host):
    """One line per daemon waited for, and whether enough came back."""
    return rollout.report(wait_results, host)


class FilterModule:
    def filters(self):
        return {f.__name__: f for f in (rollout_errors, rollout_play_keywords, rollout_served,
                                        rollout_waits, rollout_report)}
