# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for a Gluon site: the check of a site against the gateways, the
Lua snippet rendered from the gateways, and a gateway's addresses.

The rules live in module_utils/gluon_align.py, gluon_render.py and
gluon_addressing.py; these filters only make them callable from the role.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.freifunk.gateway.plugins.module_utils import gluon_addressing, gluon_align, gluon_render


def gluon_site_errors(site, site_file, gateways, domain=None):
    """Every mismatch between the site data and the gateways serving ``domain`` (empty: they fit)."""
    return gluon_align.site_errors(site, site_file, gateways, domain)


def gluon_site_lua(gateways, domain=None, group="backbone"):
    """The Lua snippet with the peers and brokers of the gateways serving ``domain``."""
    try:
        return gluon_render.fleet_lua(gateways, domain, group)
    except gluon_render.RenderError as exc:
        raise AnsibleFilterError("gluon_site_lua: cannot render the site's peers:\n%s" % exc) from None


def gluon_gateway_addresses(site, index, domain=None, domains=None, site_file="site.conf"):
    """The gateway's IPv4 and IPv6 address and MAC in the site (or domain) for its index."""
    try:
        return gluon_addressing.gateway_addresses(site, index, domain, domains, site_file)
    except gluon_addressing.AddressError as exc:
        raise AnsibleFilterError("gluon_gateway_addresses:\n%s" % exc) from None


class FilterModule:
    """Gluon site filters of freifunk.gateway."""

    def filters(self):
        return {
            "gluon_site_errors": gluon_site_errors,
            "gluon_site_lua": gluon_site_lua,
            "gluon_gateway_addresses": gluon_gateway_addresses,
        }
