"""The on-connect script's tunneldigger session records, run for real on a TAP
interface and a bridge inside a fresh user and network namespace (no root
needed, nothing of this machine's network is touched)."""

import os

from test_on_connect_mac import SCRIPT, in_netns

BROKER_ARGS = "100 100 tap0 1364 192.0.2.10 40000 20000 0123456789ab 20000"
RECORD = ("instance=td0\ninterface=tap0\ntunnel_id=100\nsession_id=100\nuuid=0123456789ab\n"
          "endpoint_ip=192.0.2.10\nendpoint_port=40000\nlocal_port=20000\nbroker_port=20000\n"
          "mtu=1364\nsince=1700000000\n")


def pre_down(state, path=""):
    """tap0 in br0 with its record in ``state``; session.pre-down; then tap0's
    master (empty when detached) and the script's stderr."""
    return in_netns(
        "ip link set tap0 master br0; %s sh %s tunneldigger session.pre-down --instance td0 "
        "--backend bridge --bridge br0 --state-dir %s -- %s 2>%s/stderr; "
        "ip -o link show dev tap0 | grep -o ' master [^ ]*' | cut -c9-; echo; cat %s/stderr"
        % (path, SCRIPT, state, BROKER_ARGS, state, state))


def test_pre_down_of_the_recorded_session_detaches(tmp_path):
    (tmp_path / "tap0").write_text(RECORD)
    out = pre_down(tmp_path)
    assert out.split("\n")[0] == "", out  # no longer in br0
    assert (tmp_path / "tap0").exists()  # pre-down keeps the record; session.down removes it


def test_pre_down_of_another_session_leaves_the_interface_alone(tmp_path):
    (tmp_path / "tap0").write_text(RECORD.replace("endpoint_port=40000", "endpoint_port=40001"))
    assert pre_down(tmp_path).split("\n")[0] == "br0"


def test_a_record_removed_while_pre_down_reads_it_is_no_other_session(tmp_path):
    # The broker runs a session's hooks side by side: its session.down may remove
    # the record between pre-down's look and its read. A sed that removes the
    # record when asked to read it makes that happen every time.
    fake = tmp_path / "bin"
    fake.mkdir()
    real_sed = "/usr/bin/sed" if os.path.exists("/usr/bin/sed") else "/bin/sed"
    (fake / "sed").write_text('#!/bin/sh\nfor last; do :; done\n[ "$last" != %s ] || rm -f "$last"\n'
                              'exec %s "$@"\n' % (tmp_path / "tap0", real_sed))
    (fake / "sed").chmod(0o755)
    (tmp_path / "tap0").write_text(RECORD)
    out = pre_down(tmp_path, path="PATH=%s:$PATH" % fake)
    master, stderr = out.split("\n")[0], out.split("\n", 1)[1]
    assert master == "", out  # detached, not "left alone" as another session's
    assert stderr.strip() == "", stderr  # and no "sed: can't read"
