"""roles/gluon_site as a playbook runs it: three gateways on localhost (local
connection), their public keys read by fastd_key in check mode from secrets
given in the inventory, a site.conf read by the gluon_site lookup. A
matching site passes; a mismatch fails the run before the next play on any
host; the rendered snippet reads back with every gateway's key."""

import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils.gluon_site import evaluate

FASTD = shutil.which("fastd")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
HOSTS = ("gw01", "gw02", "gw03")

pytestmark = pytest.mark.skipif(FASTD is None, reason="needs fastd (make deps installs it)")

PLAYBOOK = textwrap.dedent("""\
    - name: Check
      hosts: all
      gather_facts: false
      any_errors_fatal: true
      roles:
        - freifunk.gateway.gluon_site
    - name: After the check
      hosts: all
      gather_facts: false
      tasks:
        - name: Say the play went on
          ansible.builtin.debug:
            msg: went on
    """)

RENDER = textwrap.dedent("""\
    - name: Render
      hosts: all
      gather_facts: false
      tasks:
        - name: Render the site's peers
          ansible.builtin.include_role:
            name: freifunk.gateway.gluon_site
            tasks_from: render
    """)


def _keys():
    keys = {}
    for host in HOSTS:
        out = subprocess.run([FASTD, "--generate-key"], capture_output=True, text=True, check=True).stdout
        keys[host] = dict(re.findall(r"^(Secret|Public): ([0-9a-f]{64})$", out, re.M))
    return keys


def _site(keys, hosts, mtu=1312):
    peers = "\n".join("        %s = { key = '%s', remotes = { '\"%s.example.org\" port 10000' } }," % (
        h, keys[h]["Public"], h) for h in hosts)
    brokers = ", ".join("'%s.example.org:10042'" % h for h in hosts)
    return textwrap.dedent("""\
        -- a test site
        {
          site_code = 'fftest',
          mesh_vpn = {
            fastd = { mtu = %d, methods = { 'salsa2012+umac' }, groups = { backbone = { limit = 1, peers = {
        %s
            } } } },
            tunneldigger = { mtu = 1364, brokers = { %s } },
          },
        }
        """) % (mtu, peers, brokers)


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gluon_site")
    keys = _keys()
    lines = ["all:", "  vars:", "    ansible_connection: local",
             "    ansible_python_interpreter: %s" % sys.executable,
             "    gluon_site_file: %s" % (tmp / "site" / "site.conf"),
             "    gluon_site_remote_host: '{{ inventory_hostname }}.example.org'",
             "    gluon_site_render_path: %s" % (tmp / "out.lua"),
             "    fastd_instances:",
             "      - {name: mesh0, port: 10000, interface: 'mesh0-%k', secret: '{{ my_secret }}'}",
             "    tunneldigger_instances:",
             "      - {name: td0, address: 192.0.2.1, ports: [10042], interface: eth0, mtu: 1364}",
             "  hosts:"]
    lines += ["    %s: {my_secret: %s}" % (h, keys[h]["Secret"]) for h in HOSTS]
    (tmp / "inventory.yml").write_text("\n".join(lines) + "\n")
    (tmp / "site").mkdir()
    (tmp / "check.yml").write_text(PLAYBOOK)
    (tmp / "render.yml").write_text(RENDER)
    return tmp, keys


def _run(tmp, playbook):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
               ANSIBLE_CONFIG=os.path.join(ROOT, "tests", "bed", "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(tmp / "inventory.yml"), str(tmp / playbook)],
                          capture_output=True, text=True, env=env, cwd=str(tmp), check=False)


def test_a_matching_site_passes(bed):
    tmp, keys = bed
    (tmp / "site" / "site.conf").write_text(_site(keys, HOSTS))
    run = _run(tmp, "check.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "The site fits its 3 gateway(s)." in run.stdout
    assert run.stdout.count("msg: went on") == 3
    assert not any(keys[h]["Secret"] in run.stdout + run.stderr for h in HOSTS)


def test_mismatches_stop_the_run_on_every_host(bed):
    tmp, keys = bed
    (tmp / "site" / "site.conf").write_text(_site(keys, HOSTS[:2], mtu=1280))
    run = _run(tmp, "check.yml")
    assert run.returncode != 0
    out = " ".join((run.stdout + run.stderr).split())  # the result's line breaks differ by ansible-core line
    assert "site.conf: mesh_vpn.fastd.mtu is 1280, but gw03: fastd_instances[0].mtu (mesh0) is 1312" in out
    assert "no peer in mesh_vpn.fastd.groups has the key of gw03: fastd_instances[0] (mesh0)" in out
    assert keys["gw03"]["Public"] in out
    assert "went on" not in out
    assert not any(keys[h]["Secret"] in out for h in HOSTS)


def test_the_rendered_snippet_has_every_gateway(bed):
    tmp, keys = bed
    run = _run(tmp, "render.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    data = evaluate((tmp / "out.lua").read_text(), "out.lua")
    peers = data["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"]
    assert {h: p["key"] for h, p in peers.items()} == {h: keys[h]["Public"] for h in HOSTS}
    assert data["mesh_vpn"]["tunneldigger"]["brokers"] == ["%s.example.org:10042" % h for h in HOSTS]
