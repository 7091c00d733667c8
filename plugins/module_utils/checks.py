# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small checks that every validator of the collection words the same way."""

from __future__ import annotations


def unknown_keys(value, valid, var):
    """One message if dict ``value`` has keys outside ``valid``, else none."""
    unknown = sorted(str(k) for k in value if k not in valid)
    if not unknown:
        return []
    return ["%s: unknown keys %s; valid keys: %s" % (var, ", ".join(unknown), ", ".join(valid))]
