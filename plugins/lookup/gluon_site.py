# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: gluon_site
author: freifunk.gateway maintainers (@freifunk-gateway)
version_added: 0.1.0
short_description: Read a Gluon site.conf (and a domain file) as data
description:
  - Reads the C(site.conf) of a Gluon firmware site on the controller and returns it as plain data
    (a dictionary), so that playbooks can check the gateways against what the nodes will do, or derive
    gateway settings from it.
  - Gluon reads a site file by evaluating it as Lua (C(return) followed by the file's text, with an empty
    environment) and turning the resulting table into JSON. This lookup does the same with a real Lua 5.4
    (the Python package lupa), so comments, long strings, escapes and even computed values read exactly as
    Gluon reads them. Tables whose keys are 1, 2, ..., n become lists, an empty table C({}) becomes an empty
    list, other tables become dictionaries with string keys (sorted); numbers without a fraction become
    integers.
  - A site file is code, so it runs in a sandbox. It sees no Lua library at all (no C(os), C(io),
    C(require), C(load), C(dofile), C(debug), no string functions, no file or network access), and it is
    stopped after O(max_instructions) Lua instructions or O(max_memory) bytes of memory. Files larger than
    O(max_size) are not read. Real site files need a few hundred instructions and well under 1 MiB.
  - With O(domain), the domain file C(domains/DOMAIN.conf) beside C(site.conf) is merged over the site the
    way Gluon nodes do it. Dictionaries are merged key by key, at every depth; lists, strings, numbers and
    booleans in the domain file replace the site's. So a site may keep C(mesh_vpn.fastd.groups.backbone.limit)
    in C(site.conf) and the C(peers) in each domain file.
  - Each term gives one dictionary. With a single term, C(lookup) returns that dictionary itself;
    C(query) (or O(ansible_collections.ansible.builtin.lookup_lookup#lookup:wantlist=true)) returns a list.
  - A site without C(mesh_vpn) (or with providers this collection does not know, such as C(wireguard)) is read
    as it is; checking what the site holds is left to the roles and checks that use the data.
requirements:
  - The Python package lupa on the controller (the collection's test requirements pin a version).
options:
  _terms:
    description:
      - Path of a C(site.conf) on the controller.
      - A relative path is looked up like the P(ansible.builtin.file#lookup) lookup does it (the role's or
        playbook's C(files/) folder, then the playbook's folder).
    type: list
    elements: path
    required: true
  domain:
    description:
      - Name of a domain of a multi-domain site; the file C(domains/DOMAIN.conf) beside C(site.conf) is merged
        over the site.
      - Unset or empty reads C(site.conf) alone.
      - A domain without a file is an error that lists the domains that exist.
    type: str
  max_instructions:
    description:
      - Lua instructions a file may run before it is stopped (an endless loop).
    type: int
    default: 1000000
  max_memory:
    description:
      - Bytes of memory the Lua runtime reading a file may use.
    type: int
    default: 67108864
  max_size:
    description:
      - Largest size of a site or domain file in bytes; larger files are refused before they are read.
    type: int
    default: 1048576
notes:
  - >-
    Errors name the file and, for Lua errors, the line (for example C(site.conf:12: unexpected symbol near '}')),
    or the key path in the data (C(domains/dom1.conf: mesh_vpn.fastd.methods[2])), where list positions count
    from 1 as in the Lua file.
  - Strings in the site are returned as they are and are not templated again.
seealso:
  - name: Gluon site configuration
    description: What site.conf and the domain files hold.
    link: https://gluon.readthedocs.io/en/latest/user/site.html
  - name: Gluon multidomain support
    description: How domain files are merged over site.conf.
    link: https://gluon.readthedocs.io/en/latest/features/multidomain.html
"""

EXAMPLES = r"""
- name: Read the site the firmware is built from
  ansible.builtin.set_fact:
    gluon_site: "{{ lookup('freifunk.gateway.gluon_site', gluon_site_file) }}"

- name: Show the methods nodes offer
  ansible.builtin.debug:
    msg: "{{ gluon_site.mesh_vpn.fastd.methods }}"

- name: Read the domain this gateway serves, merged over site.conf
  ansible.builtin.set_fact:
    gluon_site: >-
      {{ lookup('freifunk.gateway.gluon_site', gluon_site_file,
                domain=gluon_site_domain | default('')) }}

- name: Read a site that computes large tables (allow more instructions)
  ansible.builtin.set_fact:
    gluon_site: "{{ lookup('freifunk.gateway.gluon_site', 'site/site.conf', max_instructions=5000000) }}"
"""

RETURN = r"""
_raw:
  description:
    - One dictionary per term, the site's data (with the domain merged over it where O(domain) is set).
    - Lua tables with keys 1..n are lists, C({}) is an empty list, other tables are dictionaries; numbers
      without a fraction are integers.
  type: list
  elements: dict
  sample:
    - site_code: ffxx
      mesh_vpn:
        mtu: 1312
        fastd:
          methods: [salsa2012+umac]
          configurable: true
          groups:
            backbone:
              limit: 1
              peers:
                gw01:
                  key: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
                  remotes: ['"gw01.example.org" port 10000']
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.freifunk.gateway.plugins.module_utils import gluon_site


class LookupModule(LookupBase):
    """freifunk.gateway.gluon_site: a Gluon site as data; the work is in module_utils/gluon_site.py."""

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        domain = self.get_option("domain") or None
        limits = dict(max_instructions=self.get_option("max_instructions"),
                      max_memory=self.get_option("max_memory"),
                      max_size=self.get_option("max_size"))
        results = []
        for term in terms:
            path = self.find_file_in_search_path(variables or {}, "files", term, ignore_missing=True)
            if not path:
                raise AnsibleLookupError("gluon_site: cannot find the site file %s (give its path on the "
                                         "controller, or put it in a files/ folder)" % term)
            try:
                results.append(gluon_site.load_site(path, domain=domain, **limits))
            except gluon_site.SiteError as exc:
                raise AnsibleLookupError("gluon_site: %s" % exc.message) from None
        return results
