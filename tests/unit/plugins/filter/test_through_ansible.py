"""The fastd filters as a playbook runs them: real Ansible templating of a
vars file (ansible-core tags every value from YAML, so filters get str, int,
list and dict subclasses), then the role's real template, checked by fastd.

One ansible-playbook run on localhost, running no module, serves every test
here (about 2 s)."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import INSTANCE_DEFAULTS

FASTD = shutil.which("fastd")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
TEMPLATE = os.path.join(ROOT, "roles", "fastd", "templates", "fastd.conf.j2")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
SECRET = "f8a2832608f6a63a1bf5e70e515c37e1cb1d3550048a56aa532c0050fff16760"
KEY_A = "84ddcfa9c8887a361f4ee619d79a642c50acd0d04a2b3109ab65a85e34f24f0f"
CLASS_NAME = re.compile(r"Ansible|Tagged|NoneType|\b(?:str|int|bool|unicode|bytes)\b")

VARS = textwrap.dedent("""\
    fastd_instances:
      - name: mesh0
        port: "10010"            # quoted: still the port 10010
        interface: fft-%%k
        methods: [null@l2tp, salsa2012+umac, "null"]
        offload_l2tp: true
        mtu: "1312"
        bind: [0.0.0.0, "fe80::1%%lo"]
        on_verify: true
        log_level: fatal
        hide_mac_addresses: true
        status_socket: /run/fastd-status/mesh0.sock
        secret: %(secret)s
        mesh: {backend: batman_adv, interface: bat0, hop_penalty: "60"}
        peers:
          - name: gw01
            key: %(key)s
            comment: "Gateway 1"
        peer_groups:
          - name: backbone
            peer_limit: "1"
      - name: mesh1
        port: 10011
        interface: ffb-%%k
        bogus: 1
        mtu: abc
        offload_l2tp: "yes"
        methods: [salsa2012+umac, 5]
      - name: old
        state: absent
    injected_bind: '::1%%x]:10000; on establish "touch /tmp/pwned"; #'
    """) % {"secret": SECRET, "key": KEY_A}

PLAYBOOK = textwrap.dedent("""\
    - hosts: localhost
      gather_facts: false
      vars_files: [vars.yml]
      tasks:
        - name: errors
          ansible.builtin.debug:
            msg: "{{ fastd_instances | freifunk.gateway.fastd_instance_errors }}"
        - name: normalized
          ansible.builtin.debug:
            msg: "{{ [fastd_instances[0], fastd_instances[2]] | freifunk.gateway.fastd_instances_normalized }}"
        - name: secret
          ansible.builtin.debug:
            msg: "{{ fastd_instances | freifunk.gateway.fastd_instance_secret('mesh0') }}"
        - name: config
          ansible.builtin.debug:
            msg: "{{ lookup('ansible.builtin.template', template, template_vars=template_vars) }}"
          vars:
            template: "%(template)s"
            item: "{{ ([fastd_instances[0]] | freifunk.gateway.fastd_instances_normalized)[0] }}"
            template_vars:
              ansible_managed: managed by the unit test
              on_connect_script: /usr/local/sbin/freifunk-on-connect
              item: "{{ item | combine({'secret_file': playbook_dir ~ '/secret.conf',
                                        'peers_dir': playbook_dir ~ '/peers',
                                        'config_dir': playbook_dir}) }}"
        - name: injection
          ansible.builtin.debug:
            msg: "bind {{ injected_bind | freifunk.gateway.fastd_bind(10000) }};"
          ignore_errors: true
        - name: newline in a quoted string
          ansible.builtin.debug:
            msg: "interface {{ 'fft-%%k\\n' | freifunk.gateway.fastd_quote }};"
          ignore_errors: true
    """) % {"template": TEMPLATE}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "freifunk", "gateway")):
        pytest.skip("run `make link` first: the collection is not linked into .build/collections")
    work = tmp_path_factory.mktemp("playbook")
    (work / "vars.yml").write_text(VARS)
    (work / "site.yml").write_text(PLAYBOOK)
    (work / "secret.conf").write_text('secret "%s";\n' % SECRET)
    (work / "peers").mkdir()
    (work / "groups" / "backbone").mkdir(parents=True)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_HOME=str(work / ".ansible"), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", "site.yml"], cwd=work,
                          env=env, capture_output=True, text=True, check=False, timeout=300)
    assert proc.stdout.strip(), proc.stderr
    doc = json.loads(proc.stdout)
    results = {}
    for task in doc["plays"][0]["tasks"]:
        results[task["task"]["name"]] = task["hosts"]["localhost"]
    return work, results


def test_errors_are_indexed_and_in_yaml_terms(run):
    _work, results = run
    errors = results["errors"]["msg"]
    assert errors == [
        "fastd_instances[1]: unknown keys bogus; valid keys: " + ", ".join(INSTANCE_DEFAULTS),
        "fastd_instances[1].offload_l2tp must be a boolean (true or false), got string 'yes' "
        "(write true or false without quotes)",
        "fastd_instances[1].methods[1] must be a method name (string), got 5",
        "fastd_instances[1].mtu must be an integer 576..65535, got string 'abc'",
    ]
    for error in errors:
        assert not CLASS_NAME.search(error), error


def test_normalized_has_integers_and_no_secret(run):
    _work, results = run
    mesh0, old = results["normalized"]["msg"]
    assert mesh0["port"] == 10010 and mesh0["mtu"] == 1312
    assert mesh0["peer_groups"] == [{"name": "backbone", "peer_limit": 1, "peers": []}]
    assert mesh0["mesh"]["hop_penalty"] == 60
    assert mesh0["secret_given"] is True and "secret" not in mesh0
    assert SECRET not in json.dumps(results["normalized"])
    assert (mesh0["state"], old["state"], old["secret_given"]) == ("present", "absent", False)


def test_secret_is_found_by_name(run):
    _work, results = run
    assert results["secret"]["msg"] == SECRET


@pytest.mark.skipif(FASTD is None, reason="needs the fastd binary")
def test_the_roles_template_renders_a_config_fastd_accepts(run):
    work, results = run
    assert not results["config"].get("failed"), results["config"].get("msg")
    text = results["config"]["msg"]
    (work / "fastd.conf").write_text(text)
    assert "bind 0.0.0.0:10010;" in text and 'bind [fe80::1%lo]:10010;' in text
    assert "log level fatal;" in text and "hide mac addresses yes;" in text
    assert 'status socket "/run/fastd-status/mesh0.sock";' in text
    assert "--hop-penalty 60" in text
    proc = subprocess.run([FASTD, "--verify-config", "--config", str(work / "fastd.conf")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + text


def test_the_injection_fails_the_task(run):
    _work, results = run
    result = results["injection"]
    assert result.get("failed") is True
    assert "fastd_bind: the scope 'x]:10000; on establish" in result["msg"]
    assert "is not an interface name" in result["msg"]


def test_a_newline_in_a_quoted_string_fails_the_task(run):
    _work, results = run
    result = results["newline in a quoted string"]
    assert result.get("failed") is True
    assert "fastd_quote" in result["msg"] and "newline" in result["msg"]
