# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the role freifunk.gateway.metrics: its checks and the
configuration of the program freifunk-gateway-metrics."""

from __future__ import annotations

from ansible_collections.freifunk.gateway.plugins.module_utils import gateway_numbers as gn


def gateway_metrics_errors(interval, directory, exporter_defaults=None):
    """The mistakes in metrics_interval and metrics_textfile_directory, each
    naming its variable; with ``exporter_defaults`` (the text of
    /etc/default/prometheus-node-exporter) also whether the node exporter
    reads that folder."""
    errors = gn.validate_interval(interval) + gn.validate_directory(directory)
    if exporter_defaults is not None and not errors:
        errors.extend(gn.exporter_errors(exporter_defaults, directory))
    return errors


def gateway_metrics_config(fastd_instances, tunneldigger_instances, hostname, directory):
    """What freifunk-gateway-metrics reads: the present instances and
    brokers (normalized by fastd_instances_normalized and
    tunneldigger_instances_normalized), the host's name and the folder to write to."""
    return gn.config(hostname, directory, fastd_instances or [], tunneldigger_instances or [])


class FilterModule:
    """Metrics filters of freifunk.gateway."""

    def filters(self):
        return {
            "gateway_metrics_config": gateway_metrics_config,
            "gateway_metrics_errors": gateway_metrics_errors,
        }
