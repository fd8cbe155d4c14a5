"""Audit of recorded sessions on the real kernel audit subsystem and auditd: the lab's agent loads rules when
a recorded ssh login starts (through sessrec-shell), and `sessrec audit` joins the recording to its events."""

from __future__ import annotations

import json
import re
import subprocess
import time
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ldap
import ldap.modlist
import pytest

from ipa_plugin.policy import dn as dns
from ipa_plugin.policy import layout, options
from sssd_helper import protocol
from tests.lab import audit as lab_audit
from tests.lab.lab import Lab
from tests.lab.process import ComponentError

RULES_FILE = Path("/etc/audit/rules.d/75-sessrec.rules")
OURS = re.compile(r" -F key=sessrec-(exec|file|skip)-")


@pytest.fixture(scope="module")
def audit(lab: Lab) -> Iterator[lab_audit.Audit]:
    """The lab's auditd. The kernel has one audit daemon slot: wait while another lab holds it."""
    deadline = time.monotonic() + 900
    while True:
        try:
            running = lab.audit
            break
        except ComponentError as exc:
            if "another audit daemon" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(5)
    yield running


@pytest.fixture(autouse=True)
def audit_on(audit: lab_audit.Audit) -> None:
    """Our auditd holds the kernel's slot and auditing is on (other programs on this machine may have
    switched it off: `auditd -s enable` switches it off again when it ends)."""
    state = lab_audit.status()
    assert state.get("pid") == str(audit.service.pid), f"the lab's auditd lost the kernel's slot: {state}"
    if state.get("enabled") != "1":
        subprocess.run(["auditctl", "-e", "1"], check=True, capture_output=True)


def rule_entry(name: str, suffix: str, **kw: object) -> dict[str, list[str]]:
    """A rule as the plugin writes it: users, groups or all users, on all hosts, with audit options."""
    entry = {
        "objectClass": list(layout.RULE_OBJECTCLASSES),
        layout.ATTR_NAME: [name],
        layout.ATTR_UNIQUE_ID: [str(uuid.uuid4())],
        layout.ATTR_ENABLED: [layout.LDAP_TRUE],
        layout.ATTR_KIND: [str(kw.get("kind", layout.KIND_RECORD))],
        layout.ATTR_PRIORITY: [str(kw.get("priority", 0))],
        layout.ATTR_HOST_CATEGORY: [layout.CATEGORY_ALL],
    }
    if kw.get("commands"):
        entry[options.ATTRIBUTE["audit_commands"]] = [layout.LDAP_TRUE]
    if kw.get("watch"):
        entry[options.ATTRIBUTE["watch_paths"]] = list(kw["watch"])  # type: ignore[arg-type]
    members = [dns.user_dn(u, suffix) for u in kw.get("users", ())]  # type: ignore[attr-defined]
    members += [dns.group_dn(g, suffix) for g in kw.get("groups", ())]  # type: ignore[attr-defined]
    if members:
        entry[layout.ATTR_MEMBER_USER] = members
    if kw.get("all_users"):
        entry[layout.ATTR_USER_CATEGORY] = [layout.CATEGORY_ALL]
    return entry


class Rules:
    """Rules written into the lab's directory for one test, and the agent told at once (`sync`)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.dns: list[str] = []

    def add(self, name: str, **kw: object) -> str:
        dn = dns.rule_dn(name, self.lab.data.suffix)
        attrs = {
            k: [v.encode() for v in vs] for k, vs in rule_entry(name, self.lab.data.suffix, **kw).items()
        }
        self.lab.ldap().add_s(dn, ldap.modlist.addModlist(attrs))
        self.dns.append(dn)
        return dn

    def enable(self, dn: str, on: bool) -> None:
        flag = (layout.LDAP_TRUE if on else layout.LDAP_FALSE).encode()
        self.lab.ldap().modify_s(dn, [(ldap.MOD_REPLACE, layout.ATTR_ENABLED, [flag])])

    def delete(self, dn: str) -> None:
        self.lab.ldap().delete_s(dn)
        self.dns.remove(dn)

    def sync(self) -> dict:
        return protocol.ask("sync", socket_path=self.lab.agent.socket)["audit"]


@pytest.fixture
def rules(lab: Lab, audit: lab_audit.Audit) -> Iterator[Rules]:
    made = Rules(lab)
    yield made
    for dn in list(made.dns):
        made.delete(dn)
    made.sync()


def marker() -> str:
    return f"m{uuid.uuid4().hex[:10]}"


@contextmanager
def session(lab: Lab, user: str, script: str, tty: bool = False) -> Iterator[tuple[subprocess.Popen, int]]:
    """A login of `user` running `script` in the background; yields it with its audit session id, and
    waits for the script to end (killing ssh would leave the remote script running in its session)."""
    proc = subprocess.Popen(
        lab.ssh_argv(user, f"cat /proc/self/sessionid; echo; {script}", tty=tty),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if "ATTENTION" in line or not line.strip():  # the recording notice comes first on a terminal
            line = proc.stdout.readline().decode()
        yield proc, int(line.strip())
    finally:
        proc.communicate(timeout=60)


def login(lab: Lab, user: str, script: str) -> tuple[int, bytes]:
    """A whole login of `user` running `script`: its audit session id and output."""
    done = lab.run_ssh(user, f"cat /proc/self/sessionid; echo; {script}", timeout=60)
    assert done.returncode == 0, done.stderr
    first, _, rest = done.stdout.partition(b"\n")
    return int(first), rest


def our_rules(audit: lab_audit.Audit) -> list[str]:
    return [line for line in audit.rules() if OURS.search(line)]


def covers(line: str, sid: int) -> bool:
    one = re.search(r"-F sessionid=(\d+) ", line)
    if one:
        return int(one.group(1)) == sid
    low, high = re.search(r"-F sessionid>=(\d+) -F sessionid<=(\d+) ", line).groups()  # type: ignore[union-attr]
    return int(low) <= sid <= int(high)


def syscall_lines(text: str, key: str, sid: int) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if line.startswith("type=SYSCALL") and f" ses={sid} " in line and f'key="{key}"' in line
    ]


def sessrec_audit(installed: types.ModuleType, *args: str) -> tuple[int, list[dict], str]:
    done = subprocess.run(
        [str(installed.SESSREC), "audit", *args, "--json"], capture_output=True, text=True, timeout=120
    )
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def recording_of(lab: Lab, user: str, sid: int) -> str:
    """The recording of `user` whose audit session is `sid`."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for entry in reversed(lab.journal_entries(TLOG_USER=user)):
            if entry.get("TLOG_SESSION") == str(sid):
                return entry["TLOG_REC"]
        time.sleep(0.2)
    raise AssertionError(f"no recording of {user} in audit session {sid}")


# -- the tests --------------------------------------------------------------------------------------------
def test_a_recorded_ssh_command_leaves_execve_events_with_our_key_and_its_session(
    lab: Lab, rules: Rules, audit: lab_audit.Audit, installed: types.ModuleType
) -> None:
    rules.add("audit-alice", users=("alice",), commands=True)
    state = rules.sync()
    assert state["rules"] == ["audit-alice"] and state["file_scope"] == "session" and not state["last_error"]
    mark = marker()
    sid, out = login(lab, "alice", f"cd /tmp && /bin/echo {mark}")
    assert mark.encode() in out
    text = audit.wait_for(lambda t: mark in t)
    (event,) = [
        line for line in syscall_lines(text, "sessrec-exec-audit-alice", sid) if 'comm="echo"' in line
    ]
    assert "auid=10001" in event and "uid=10001" in event and "syscall=59" in event
    rec = recording_of(lab, "alice", sid)
    code, events, err = sessrec_audit(installed, rec)
    assert code == 0, err
    (echo,) = [e for e in events if e["argv"] == ["/bin/echo", mark]]
    assert echo["session"] == sid and echo["rec"] == rec and echo["key"] == "sessrec-exec-audit-alice"
    assert echo["rule"] == "audit-alice" and echo["user"] == "alice" and echo["cwd"] == "/tmp"
    assert echo["success"] is True and echo["exe"] == "/usr/bin/echo" and echo["kind"] == "exec"
    assert -1 < echo["offset"] < 30
    assert all(e["session"] == sid for e in events)


def test_a_watched_path_written_during_a_session_shows_with_its_time_and_command(
    lab: Lab, rules: Rules, audit: lab_audit.Audit, installed: types.ModuleType
) -> None:
    watched = f"/home/alice/sessrec-watched-{uuid.uuid4().hex[:8]}"  # the lab's private /home
    rules.add("watch-alice", users=("alice",), commands=True, watch=(f"wa:{watched}",))
    rules.sync()
    sid, _ = login(lab, "alice", f"sleep 1.2; cp /etc/hostname {watched}; cat {watched} >/dev/null")
    audit.wait_for(lambda t: watched in t and "sessrec-file-watch-alice" in t)
    rec = recording_of(lab, "alice", sid)
    code, events, err = sessrec_audit(installed, rec)
    assert code == 0, err
    (cp,) = [e for e in events if e["argv"][:1] == ["cp"]]
    writes = [e for e in events if e["kind"] == "file" and e["path"] == watched]
    assert writes and all(w["rule"] == "watch-alice" and w["success"] for w in writes)
    assert any(w["pid"] == cp["pid"] and w["comm"] == "cp" for w in writes)  # written by that cp
    assert 1.2 <= writes[0]["offset"] < 20 and writes[0]["during"]
    assert not any(e["kind"] == "file" and e["comm"] == "cat" for e in events)  # reads are not watched
    table = subprocess.run([str(installed.SESSREC), "audit", rec], capture_output=True, text=True, timeout=60)
    assert re.search(rf"^ 00:00:0\d\.\d{{3}}  alice  openat  ok .* {watched} \(cp\)$", table.stdout, re.M)
    played = subprocess.run(
        [str(installed.SESSREC), "play", "--journal", "--rec", rec, "--audit", "--speed", "16"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert played.returncode == 0, played.stderr
    noted = rf"^audit 00:00:0\d\.\d{{3}} alice openat ok in .*: {watched} \(cp\)$"
    assert re.search(noted, played.stderr, re.M)


def test_an_unrecorded_user_leaves_no_events_from_our_rules(
    lab: Lab, rules: Rules, audit: lab_audit.Audit
) -> None:
    rules.add("audit-alice", users=("alice",), commands=True)
    rules.add("carol-recorded", users=("carol",))  # recorded, audits nothing
    rules.sync()
    mark = marker()
    # alice, then dave, then alice again: the rules for alice's two sessions must not cover dave's
    with session(lab, "alice", "sleep 8") as (_, first):
        with session(lab, "dave", f"sleep 2; /bin/echo {mark}-dave; sleep 4") as (_, dave):
            with session(lab, "alice", f"sleep 2; /bin/echo {mark}-alice; sleep 2") as (_, second):
                assert first < dave < second
                loaded = our_rules(audit)
                assert any(covers(line, first) for line in loaded)
                assert any(covers(line, second) for line in loaded)
                assert not any(covers(line, dave) for line in loaded)
                carol, _ = login(lab, "carol", f"/bin/echo {mark}-carol")
                text = audit.wait_for(lambda t: f"{mark}-alice" in t and f"{mark}-dave" in t)
    text = audit.wait_for(lambda t: False, timeout=1.5)  # let auditd write what is left
    assert syscall_lines(text, "sessrec-exec-audit-alice", second)
    for sid in (dave, carol):
        assert not [line for line in text.splitlines() if f" ses={sid} " in line and 'key="sessrec-' in line]


def test_group_and_nested_group_rules_audit_their_members(
    lab: Lab, rules: Rules, audit: lab_audit.Audit
) -> None:
    rules.add("audit-staff", groups=("staff",), commands=True)  # bob directly, alice through developers
    rules.sync()
    mark = marker()
    sids = {u: login(lab, u, f"/bin/echo {mark}")[0] for u in ("alice", "bob", "carol")}
    text = audit.wait_for(lambda t: t.count(f'"{mark}"') >= 2)
    assert syscall_lines(text, "sessrec-exec-audit-staff", sids["alice"])
    assert syscall_lines(text, "sessrec-exec-audit-staff", sids["bob"])
    assert not syscall_lines(text, "sessrec-exec-audit-staff", sids["carol"])


def test_rules_follow_the_directory_disabled_deleted_or_back(
    lab: Lab, rules: Rules, audit: lab_audit.Audit
) -> None:
    dn = rules.add("audit-alice", users=("alice",), commands=True, watch=("w:/tmp/sessrec-followed",))
    assert rules.sync()["file"] == str(RULES_FILE) and RULES_FILE.exists()
    with session(lab, "alice", "sleep 10") as (_, sid):
        assert [line for line in our_rules(audit) if covers(line, sid)]
        rules.enable(dn, False)
        state = rules.sync()
        assert not [line for line in our_rules(audit) if covers(line, sid)]
        assert state["file"] is None and not RULES_FILE.exists()  # no rule audits anything here
        rules.enable(dn, True)
        state = rules.sync()  # the live session is decided again: audited from now on
        assert len([line for line in our_rules(audit) if covers(line, sid)]) == 4
        assert sid in [s["sessionid"] for s in state["sessions"]] and RULES_FILE.exists()
        rules.delete(dn)
        rules.sync()
        assert not [line for line in our_rules(audit) if covers(line, sid)] and not RULES_FILE.exists()
    assert not our_rules(audit)


def test_rules_go_when_the_sessions_last_process_is_gone(
    lab: Lab, rules: Rules, audit: lab_audit.Audit
) -> None:
    rules.add("audit-alice", users=("alice",), commands=True)
    rules.sync()
    # A background process outlives the login: the session's rules stay until it is gone too.
    sid, _ = login(lab, "alice", "setsid sleep 4 </dev/null >/dev/null 2>&1 &")
    assert rules.sync()["sessions"] and any(covers(line, sid) for line in our_rules(audit))
    deadline = time.monotonic() + 30
    while any(covers(line, sid) for line in our_rules(audit)):
        assert time.monotonic() < deadline, "the ended session's rules stayed"
        time.sleep(0.5)
        rules.sync()
    assert sid not in [s["sessionid"] for s in rules.sync()["sessions"]]


def test_a_sessions_rules_go_soon_after_its_login_ends_without_waiting_for_the_sweep(
    lab: Lab, rules: Rules, audit: lab_audit.Audit
) -> None:
    rules.add("audit-alice", users=("alice",), commands=True)
    rules.sync()
    sid, _ = login(lab, "alice", "true")
    deadline = time.monotonic() + 3  # the sweep comes every 15 s; the recorder's end checks at once
    while any(covers(line, sid) for line in our_rules(audit)):
        assert time.monotonic() < deadline, "the ended login's rules stayed"
        time.sleep(0.1)


def test_the_machines_own_rules_are_never_touched(lab: Lab, rules: Rules, audit: lab_audit.Audit) -> None:
    tag = uuid.uuid4().hex[:6]
    own = ["-a", "always,exit", "-F", "arch=b64", "-S", "chmod", "-F", "auid=10001"]
    audit.add_rule(own, f"sessrec-lab-machine-{tag}")
    audit.add_rule(own[:-1] + ["auid=10002"], f"sessrec-exec-foreign-{tag}")  # our prefix, not loaded by us
    try:
        before = [line for line in audit.rules() if not OURS.search(line) or tag in line]
        dn = rules.add("audit-alice", users=("alice",), commands=True)
        rules.sync()
        with session(lab, "alice", "sleep 3"):
            assert our_rules(audit)
            rules.enable(dn, False)
            rules.sync()
        after = [line for line in audit.rules() if not OURS.search(line) or tag in line]
        assert after == before and sum(tag in line for line in after) == 2
    finally:
        audit.remove_rules(f"sessrec-lab-machine-{tag}")
        audit.remove_rules(f"sessrec-exec-foreign-{tag}")


def test_a_host_that_locks_its_rules_at_boot_gets_static_rules_for_the_next_boot(
    lab: Lab, rules: Rules, audit: lab_audit.Audit
) -> None:
    finalize = RULES_FILE.parent / "99-finalize.rules"  # the lab's private /etc/audit
    finalize.write_text("## lock the rules until reboot\n-e 2\n")
    try:
        rules.add("audit-staff", groups=("staff",), commands=True, watch=("wa:/etc/shadow",))
        state = rules.sync()
        assert state["locked_at_boot"] is True and state["file_scope"] == "user" and not state["immutable"]
        text = RULES_FILE.read_text()
        static = [line for line in text.splitlines() if line.startswith("-a ")]
        assert state["file_rules"] == len(static) == 16  # alice and bob, by auid and uid, 2 arches, 2 kinds
        for uid in (10001, 10002):  # bob directly, alice through the nested group developers
            assert (
                f"-a always,exit -F arch=b64 -S execve,execveat -F auid={uid} -F key=sessrec-exec-audit-staff"
                in static
            )
            assert f"-F auid=-1 -F uid={uid} -F path=/etc/shadow -F perm=wa" in text
        assert "10003" not in text and not [line for line in text.splitlines() if line.startswith("-e")]
        # What augenrules would load at boot: the kernel takes every line, and they audit alice.
        mark = marker()
        for line in static:
            subprocess.run(["auditctl", *line.split()], check=True, capture_output=True)
        try:
            subprocess.run(["/bin/echo", mark], user=10001, group=10001, check=True, capture_output=True)
            found = audit.wait_for(lambda t: mark in t)
            assert [
                line
                for line in found.splitlines()
                if 'key="sessrec-exec-audit-staff"' in line
                and " ses=4294967295 " in line
                and " uid=10001 " in line
            ]
        finally:
            for line in static:
                subprocess.run(["auditctl", "-d", *line.split()[1:]], capture_output=True)
    finally:
        finalize.unlink()
    assert rules.sync()["file_scope"] == "session"


def test_a_load_failure_is_logged_and_shown_by_policy_show(
    lab: Lab, rules: Rules, audit: lab_audit.Audit, installed: types.ModuleType
) -> None:
    rules.add("bad-watch", users=("alice",), commands=True, watch=("w:/proc/sessrec-cannot-watch",))
    rules.sync()
    with session(lab, "alice", "sleep 3") as (_, sid):
        shown = subprocess.run(
            [str(installed.SESSREC), "policy", "show", "--json"], capture_output=True, text=True, timeout=60
        )
        state = json.loads(shown.stdout)["audit"]
        assert "audit rule changes failed" in state["last_error"]
        assert "-F path=/proc/sessrec-cannot-watch" in state["last_error"]
        assert "Error sending add rule data request" in state["last_error"]  # the kernel's refusal
        assert len([line for line in our_rules(audit) if covers(line, sid)]) == 2  # the commands still are
        text = subprocess.run(
            [str(installed.SESSREC), "policy", "show"], capture_output=True, text=True, timeout=60
        ).stdout
        assert re.search(r"^audit: +\d+ kernel rules for \d+ audited sessions?; rules bad-watch;", text, re.M)
        assert re.search(r"^audit error: .*audit rule changes failed.*/proc/sessrec-cannot-watch", text, re.M)
        assert f"audit file:  {RULES_FILE} (backlog only: rules load per session)" in text
        assert "watch_paths=w:/proc/sessrec-cannot-watch" in text
        assert f"  session {sid} alice: commands (bad-watch), w:/proc/sessrec-cannot-watch (bad-watch)" in (
            text.splitlines()
        )
    logged = lab.journal_entries(SYSLOG_IDENTIFIER="sessrecd", SESSREC_AUDIT_ERROR="1")
    assert any("/proc/sessrec-cannot-watch" in e["MESSAGE"] for e in logged)


def test_malformed_records_in_a_real_log_are_skipped_and_counted(
    lab: Lab, rules: Rules, audit: lab_audit.Audit, installed: types.ModuleType, tmp_path: Path
) -> None:
    rules.add("audit-alice", users=("alice",), commands=True)
    rules.sync()
    mark = marker()
    sid, _ = login(lab, "alice", f"/bin/echo {mark}")
    text = audit.wait_for(lambda t: mark in t)
    lines = text.split("\n")[:-1]  # whole lines only: auditd may be writing the last one
    stamp = re.search(r"msg=audit\(([\d.]+):(\d+)\)", next(x for x in lines if mark in x)).groups()  # type: ignore[union-attr]
    event = [x for x in lines if f"msg=audit({stamp[0]}:{stamp[1]})" in x]
    # The same event again under another serial, its EXECVE record cut after the first argument (as a
    # full disk leaves a record), and a line that is no record at all.
    again = [x.replace(f":{stamp[1]})", f":{stamp[1]}999)") for x in event]
    again = [x.split(" a1=")[0] if x.startswith("type=EXECVE") else x for x in again]
    copy = tmp_path / "audit.log"
    copy.write_text("\n".join([*lines, *again, "garbage, not a record", ""]))
    rec = recording_of(lab, "alice", sid)
    done = subprocess.run(
        [str(installed.SESSREC), "audit", rec, "--audit-log", str(copy), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == (
        "sessrec audit: skipped 1 audit event of the session that does not parse and 1 line that is not "
        "an audit record\n"
    )
    assert any(json.loads(line)["argv"] == ["/bin/echo", mark] for line in done.stdout.splitlines())


def test_the_demo_shows_a_recording_next_to_its_commands_and_files(lab: Lab, audit: lab_audit.Audit) -> None:
    from tests.lab import story

    rec, listed, played = story.audited_login(lab)
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert rows[0].startswith("alice on ") and f": recording {rec}, audit session " in rows[0]
    uname = [r for r in rows if r.endswith("  uname -sr")]
    write = [r for r in rows if r.endswith(f"  {story.NOTES} (bash)")]
    assert uname and uname[0].split()[1:] == ["alice", "execve", "ok", "/tmp", "uname", "-sr"]
    assert write and write[0].split()[1:] == ["alice", "openat", "ok", "/tmp", story.NOTES, "(bash)"]
    assert rows.index(uname[0]) < rows.index(write[0])
    assert played.returncode == 0, played.stdout
    out = played.stdout
    assert "audited commands and file accesses in audit session" in out
    # The output and the notes in the order they happened: uname's output after uname ran, the file
    # written before wc counted it.
    order = [": uname -sr", "Linux", f": {story.NOTES} (bash)", f": wc -c {story.NOTES}", f"14 {story.NOTES}"]
    assert [out.index(text) for text in order] == sorted(out.index(text) for text in order), out
