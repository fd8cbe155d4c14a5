"""Smoke tests proving each lab component is the real program, reachable the way the project uses it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import ldap
import pytest

from tests.lab import namespace, sssd
from tests.lab.lab import Lab
from tests.lab.process import ComponentError, Service


def test_directory_finds_user_as_manager_and_as_host(lab: Lab) -> None:
    alice = lab.data.user("alice")
    found = lab.ldap().search_s(lab.data.suffix, ldap.SCOPE_SUBTREE, "(uid=alice)", ["uidNumber"])
    assert [(dn, a["uidNumber"]) for dn, a in found] == [(alice.dn(), [b"10001"])]
    host = lab.data.host(lab.this_host)
    as_host = lab.ldap(host.dn(), lab.data.password(host.fqdn))
    assert as_host.whoami_s() == f"dn: {host.dn()}"
    found = as_host.search_s(
        lab.data.suffix, ldap.SCOPE_SUBTREE, "(uid=alice)", ["loginShell", "userPassword"]
    )
    assert found[0][1] == {"loginShell": [b"/bin/bash"]}  # no password hashes for hosts


def test_directory_has_ipa_schema_and_ours(lab: Lab) -> None:
    schema = lab.ldap().search_s("cn=schema", ldap.SCOPE_BASE, "(objectClass=*)", ["objectClasses"])
    classes = b"\n".join(schema[0][1]["objectClasses"]).decode()
    for name in ("ipaAssociation", "ipaHostGroup", "ipaUserGroup", "ipaHost", "ipaSessionRecordingRule"):
        assert f"NAME '{name}'" in classes


def test_memberof_follows_nested_groups_and_hostgroups(lab: Lab) -> None:
    conn = lab.ldap()
    alice = conn.search_s(lab.data.user("alice").dn(), ldap.SCOPE_BASE, attrlist=["memberOf"])[0][1]
    groups = {v.decode().split(",")[0] for v in alice["memberOf"]}
    assert groups == {"cn=developers", "cn=staff"}
    web1 = conn.search_s(lab.data.host("web1.ipa.test").dn(), ldap.SCOPE_BASE, attrlist=["memberOf"])[0][1]
    assert {v.decode().split(",")[0] for v in web1["memberOf"]} == {"cn=webservers", "cn=production"}


def test_getent_resolves_through_sssd(lab: Lab) -> None:
    assert "alice" not in Path("/etc/passwd").read_text()
    out = subprocess.run(
        ["getent", "-s", "sss", "passwd", "alice"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(":")[2:4] == ["10001", "10001"]
    assert subprocess.run(["getent", "passwd", "nosuchuser"], capture_output=True).returncode == 2


def test_journald_records_native_message_with_trusted_pid(lab: Lab) -> None:
    tag = uuid.uuid4().hex
    sender = (
        "import os, socket\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        f"s.sendto(b'MESSAGE=lab smoke\\nSESSREC_TEST={tag}\\n', '/run/systemd/journal/socket')\n"
        "print(os.getpid())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", sender], capture_output=True, text=True, timeout=30, check=True
    )
    entries = _wait_for(lambda: lab.journal_entries(SESSREC_TEST=tag))
    assert len(entries) == 1
    assert entries[0]["MESSAGE"] == "lab smoke"
    assert entries[0]["_PID"] == out.stdout.strip()
    assert entries[0]["_UID"] == "0"


def test_syslog_reaches_journald_through_dev_log(lab: Lab) -> None:
    tag = f"sessrec-lab-{uuid.uuid4().hex[:8]}"
    subprocess.run(["logger", "-t", tag, "-p", "authpriv.info", "via syslog"], check=True, timeout=30)
    entries = _wait_for(lambda: lab.journal_entries(SYSLOG_IDENTIFIER=tag))
    assert [e["MESSAGE"] for e in entries] == ["via syslog"]
    assert entries[0]["SYSLOG_FACILITY"] == "10"  # authpriv
    assert not namespace.machine_path("/dev/log").exists()


def test_terminals_work_in_the_private_dev(lab: Lab) -> None:
    as_user = subprocess.run(
        ["script", "-qec", "tty", "/dev/null"], capture_output=True, timeout=30, user=10004, group=10004
    )
    assert as_user.returncode == 0, as_user.stderr
    assert as_user.stdout.decode().startswith("/dev/pts/")
    over_ssh = lab.run_ssh("alice", "tty", tty=True)
    assert over_ssh.stdout.decode().startswith("/dev/pts/"), over_ssh.stderr
    assert Path("/dev/null").read_bytes() == b""
    assert len(Path("/dev/urandom").open("rb").read(16)) == 16


def test_auditd_logs_execve_with_our_key(lab: Lab) -> None:
    key = f"sessrec-lab-{uuid.uuid4().hex[:8]}"
    lab.audit.add_rule(
        ["-a", "always,exit", "-F", "arch=b64", "-S", "execve", "-F", f"ppid={os.getpid()}"], key
    )
    try:
        child = subprocess.run(["/usr/bin/true"], check=True)
        assert child.returncode == 0
        events = _wait_for(lambda: [e for e in lab.audit.events(key) if 'exe="/usr/bin/true"' in e])
    finally:
        lab.audit.remove_rules(key)
    assert any('exe="/usr/bin/true"' in line for line in events), events
    rules = subprocess.run(["auditctl", "-l"], capture_output=True, text=True, check=True).stdout
    assert key not in rules


def test_ssh_login_as_directory_user(lab: Lab) -> None:
    result = lab.run_ssh("alice", "id -un; id -Gn")
    assert result.returncode == 0, result.stderr
    name, groups = result.stdout.decode().splitlines()
    assert name == "alice"
    assert {"developers", "staff"} <= set(groups.split())
    assert lab.run_ssh("nosuchuser", "true").returncode == 255


def test_lab_is_isolated_from_the_machine(lab: Lab) -> None:
    assert Path("/etc/sssd/sssd.conf").exists()
    assert not namespace.machine_path("/etc/sssd/sssd.conf").exists()
    assert Path("/run/sessrec-lab").is_dir()
    assert not namespace.machine_path("/run/sessrec-lab").exists()
    assert Path("/etc/nsswitch.conf").read_text() == sssd.NSSWITCH
    assert namespace.machine_path("/etc/nsswitch.conf").read_text() != sssd.NSSWITCH
    assert Path("/etc/sssd/sssd.conf").stat().st_mode & 0o777 == 0o600
    with socket.create_connection(("127.0.0.1", lab.directory.port)) as s:
        assert s.getpeername()[0] == "127.0.0.1"


def test_failing_component_is_named_with_its_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "broken.log"
    service = Service("broken-daemon", ["sh", "-c", "echo cannot open config >&2; exit 3"], log)
    with pytest.raises(ComponentError) as err:
        service.start(lambda: False, timeout=5)
    assert "broken-daemon" in str(err.value)
    assert "cannot open config" in str(err.value)
    assert not service.alive()


def test_missing_component_program_fails_with_its_name(tmp_path: Path) -> None:
    service = Service("sssd", ["/nonexistent/sbin/sssd", "-i"], tmp_path / "sssd.log")
    with pytest.raises(ComponentError, match=r"^sssd: cannot run /nonexistent/sbin/sssd"):
        service.start(lambda: True)


def _wait_for(probe, timeout: float = 15.0):  # noqa: ANN001, ANN202 - tiny local poll helper
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)
