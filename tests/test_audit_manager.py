"""The agent's audit rule manager (sssd_helper/audit.py) against a kernel simulated at auditctl's level:
the states the lab's kernel must never be put in (locked with `-e 2`), restarts, and other programs' rules.
The real kernel and auditd are exercised by tests/test_audit.py."""

from __future__ import annotations

import asyncio
import os
import types
from pathlib import Path

import pytest

from ipa_plugin.policy import options
from ipa_plugin.policy.rules import Rule, RuleSet
from ipa_plugin.policy.values import WatchPath
from sssd_helper import audit

HOST = "client1.ipa.test"


class Kernel:
    """Rules and settings as auditctl reports and changes them."""

    def __init__(self, enabled: str = "1", backlog: int = 64, rules: list[str] | None = None) -> None:
        self.enabled, self.backlog = enabled, backlog
        self.rules = list(rules or [])
        self.calls: list[tuple[str, ...]] = []

    async def auditctl(self, *args: str) -> str:
        self.calls.append(args)
        if args == ("-s",):
            return f"enabled {self.enabled}\nfailure 1\npid 42\nbacklog_limit {self.backlog}\n"
        if args == ("-l",):
            return "\n".join(self.rules) + "\n" if self.rules else "No rules\n"
        if self.enabled == "2":
            raise audit.AuditError("auditctl: Error sending add rule data request (Operation not permitted)")
        if args[0] == "-R":  # one line after the other, stopping at the first refused one
            for line in Path(args[1]).read_text().splitlines():
                await self.auditctl(*line.split())
        elif args[0] == "-b":
            self.backlog = int(args[1])
        elif args[0] == "-a":
            line = " ".join(args)
            if line in self.rules:
                raise audit.AuditError("auditctl: Error sending add rule data request (Rule exists)")
            self.rules.append(line)
        elif args[0] == "-d":
            line = " ".join(("-a", *args[1:]))
            if line not in self.rules:
                raise audit.AuditError("auditctl: Error sending delete rule data request (No such file)")
            self.rules.remove(line)
        return ""

    def ours(self) -> list[str]:
        return [r for r in self.rules if " -F key=sessrec-exec-" in r or " -F key=sessrec-file-" in r]


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Kernel:
    k = Kernel()
    monkeypatch.setattr(audit, "auditctl", k.auditctl)
    return k


def proc_with(root: Path, sessions: dict[int, tuple[int, int]]) -> Path:
    """A /proc of processes {pid: (audit session, uid)}."""
    for pid, (sid, uid) in sessions.items():
        d = root / str(pid)
        d.mkdir(parents=True, exist_ok=True)
        (d / "sessionid").write_text(str(sid))
        os.chown(d, uid, uid)
    return root


def manager(tmp_path: Path, proc: Path, rules_d: Path | None = None) -> audit.AuditRules:
    rules_d = rules_d or tmp_path / "rules.d"
    rules_d.mkdir(exist_ok=True)
    cfg = types.SimpleNamespace(socket=str(tmp_path / "run" / "agent.sock"), sssd_timeout=1.0, host=HOST)
    return audit.AuditRules(cfg, infopipe=None, rules_file=rules_d / "75-sessrec.rules", proc=proc)


def decision(user: str, uid: int, rules: tuple[str, ...], **opts: object) -> dict:
    return {"user": user, "uid": uid, "record": True, "refuse": False, "rules": list(rules),
            "options": options.as_dict(options.Options(**opts))}  # fmt: skip


RULESET = RuleSet(
    (Rule.of("audit-all", all_users=True, all_hosts=True, audit_commands=True),), HOST, frozenset()
)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_sessions_get_rules_before_their_shell_and_lose_them_with_their_last_process(
    tmp_path: Path, kernel: Kernel
) -> None:
    proc = proc_with(tmp_path / "proc", {100: (5, 10001), 101: (6, 10002), 102: (7, 10003)})
    m = manager(tmp_path, proc)

    async def steps() -> None:
        m.ruleset = RULESET
        await m.session_started(10001, 5, decision("alice", 10001, ("audit-all",), audit_commands=True))
        assert kernel.ours() == [
            "-a always,exit -F arch=b64 -S execve,execveat -F sessionid=5 -F key=sessrec-exec-audit-all",
            "-a always,exit -F arch=b32 -S execve,execveat -F sessionid=5 -F key=sessrec-exec-audit-all",
        ]
        assert kernel.backlog == 8192  # raised from the kernel's 64 with the first rules
        kernel.calls.clear()
        await m.session_started(10003, 7, decision("carol", 10003, ("audit-all",), audit_commands=True))
        # 6 is live and not audited: a range of its own for 7; nothing deleted
        assert [c[0] for c in kernel.calls if c[0] in ("-a", "-d")] == ["-a", "-a"]
        (proc / "100" / "sessionid").write_text("6")  # session 5's last process is gone
        kernel.calls.clear()
        await m.sweep()
        assert [r.split(" -F key=")[0].split("-S execve,execveat ")[1] for r in kernel.ours()] == [
            "-F sessionid=7"
        ] * 2
        actions = [c[0] for c in kernel.calls if c[0] in ("-a", "-d")]
        assert actions == ["-d", "-d"] and m.status()["sessions"][0]["sessionid"] == 7

    run(steps())
    assert m.status()["kernel_rules"] == 2 and m.last_error is None


def test_a_session_whose_recorder_ended_loses_its_rules_when_its_last_process_goes_soon_after(
    tmp_path: Path, kernel: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "ENDED_RECHECKS", (0.05, 0.1, 0.2))
    proc = proc_with(tmp_path / "proc", {100: (5, 10001), 101: (6, 10002)})
    m = manager(tmp_path, proc)

    async def steps() -> None:
        m.ruleset = RULESET
        await m.session_started(10001, 5, decision("alice", 10001, ("audit-all",), audit_commands=True))
        assert len(kernel.ours()) == 2
        ended = asyncio.ensure_future(m.session_ended(10001, 5))
        await asyncio.sleep(0.01)
        assert len(kernel.ours()) == 2  # its login shell still runs: the rules stay
        (proc / "100" / "sessionid").write_text("6")  # then it is gone
        await asyncio.wait_for(ended, 5)
        assert kernel.ours() == [] and m.status()["sessions"] == []
        # A session with a process left in the background keeps its rules after the rechecks.
        await m.session_started(10002, 6, decision("bob", 10002, ("audit-all",), audit_commands=True))
        await asyncio.wait_for(m.session_ended(10002, 6), 5)
        assert len(kernel.ours()) == 2 and m.status()["sessions"][0]["sessionid"] == 6

    run(steps())


def test_a_range_grows_make_before_break(tmp_path: Path, kernel: Kernel) -> None:
    proc = proc_with(tmp_path / "proc", {100: (5, 10001), 101: (6, 10002)})
    m = manager(tmp_path, proc)

    async def steps() -> None:
        for uid, sid in ((10001, 5), (10002, 6)):
            await m.session_started(uid, sid, decision("u", uid, ("audit-all",), audit_commands=True))
        await m.sweep()

    run(steps())
    assert [c[0] for c in kernel.calls if c[0] in ("-a", "-d")] == ["-a", "-a", "-a", "-a", "-d", "-d"]
    assert all("-F sessionid>=5 -F sessionid<=6 " in r for r in kernel.ours())


def test_a_locked_kernel_is_reported_and_never_changed(tmp_path: Path, kernel: Kernel) -> None:
    kernel.enabled = "2"
    proc = proc_with(tmp_path / "proc", {100: (5, 10001)})
    m = manager(tmp_path, proc)
    run(m.session_started(10001, 5, decision("alice", 10001, ("audit-all",), audit_commands=True)))
    assert m.status()["immutable"] is True and "locked (enabled 2) until reboot" in m.last_error
    assert not [c for c in kernel.calls if c[0] in ("-a", "-d", "-b", "-e", "-D")]


def test_a_host_locked_at_boot_writes_static_rules_and_counts_on_them(tmp_path: Path, kernel: Kernel) -> None:
    rules_d = tmp_path / "rules.d"
    rules_d.mkdir()
    (rules_d / "99-finalize.rules").write_text("-e 2\n")
    (rules_d / "10-base.rules").write_text("-D\n-b 32768\n")

    class Ifp:
        async def user_uid(self, name: str) -> int:
            return {"bob": 10002}[name]

        async def group_member_uids(self, name: str) -> frozenset[int]:
            return frozenset({10001, 10002})

    ruleset = RuleSet(
        (
            Rule.of("audit-staff", groups=frozenset({"staff"}), all_hosts=True, audit_commands=True),
            Rule.of("bob-exempt", kind="exempt", priority=9, users=frozenset({"bob"}), all_hosts=True),
        ),
        HOST,
    )
    m = manager(tmp_path, proc_with(tmp_path / "proc", {100: (5, 10001)}), rules_d)
    m.infopipe = Ifp()
    run(m.apply(ruleset))
    text = (rules_d / "75-sessrec.rules").read_text()
    assert m.status()["locked_at_boot"] and m.status()["file_scope"] == "user" and "-b 32768\n" in text
    assert "-F auid=10001 -F key=sessrec-exec-audit-staff" in text and "auid=10002" not in text
    kernel.enabled = "2"  # rebooted: the file's rules were loaded and locked
    run(m.session_started(10001, 5, decision("alice", 10001, ("audit-staff",), audit_commands=True)))
    assert m.last_error is None  # the static rules audit the session; nothing to add


def test_after_a_restart_only_the_rules_it_loaded_are_deleted(tmp_path: Path, kernel: Kernel) -> None:
    foreign = "-a always,exit -F arch=b64 -S execve,execveat -F sessionid=5 -F key=sessrec-exec-someone-else"
    machine = "-a always,exit -F arch=b64 -S chmod -F key=perm_mod"
    kernel.rules = [machine, foreign]
    proc = proc_with(tmp_path / "proc", {100: (5, 10001)})
    first = manager(tmp_path, proc)
    run(first.session_started(10001, 5, decision("alice", 10001, ("audit-all",), audit_commands=True)))
    again = manager(tmp_path, proc)  # a new agent process: what the first loaded comes from its state
    (proc / "100" / "sessionid").write_text("9")
    run(again.sweep())
    assert kernel.rules == [machine, foreign]


def test_rules_deleted_by_someone_else_are_put_back(tmp_path: Path, kernel: Kernel) -> None:
    proc = proc_with(tmp_path / "proc", {100: (5, 10001)})
    m = manager(tmp_path, proc)
    run(m.session_started(10001, 5, decision("alice", 10001, ("audit-all",), audit_commands=True)))
    kernel.rules.clear()  # augenrules --load starts with -D
    run(m.sweep())
    assert len(kernel.ours()) == 2 and any("deleted by someone else" in w for w in m.warnings)


def test_the_backlog_is_never_lowered(tmp_path: Path, kernel: Kernel) -> None:
    kernel.backlog = 65536
    m = manager(tmp_path, proc_with(tmp_path / "proc", {100: (5, 10001)}))
    run(m.session_started(10001, 5, decision("alice", 10001, ("audit-all",), audit_commands=True)))
    assert kernel.backlog == 65536 and not [c for c in kernel.calls if c[0] == "-b"]


def test_no_rule_that_audits_removes_the_file_and_touches_no_kernel(tmp_path: Path, kernel: Kernel) -> None:
    m = manager(tmp_path, proc_with(tmp_path / "proc", {}))
    watch = RuleSet(
        (Rule.of("w", all_users=True, all_hosts=True, watch_paths=(WatchPath("/etc", "w"),)),), HOST
    )
    run(m.apply(watch))
    assert m.rules_file.exists() and m.status()["file_scope"] == "session"
    kernel.calls.clear()
    run(m.apply(RuleSet((Rule.of("plain", all_users=True, all_hosts=True),), HOST)))
    assert not m.rules_file.exists() and m.status()["file"] is None and kernel.calls == []


def test_sessions_that_audit_nothing_cost_the_login_nothing(tmp_path: Path, kernel: Kernel) -> None:
    m = manager(tmp_path, proc_with(tmp_path / "proc", {100: (5, 10001)}))
    run(m.session_started(10001, 5, decision("alice", 10001, ("plain",))))
    run(m.session_started(10001, 5, {"record": False, "refuse": False, "options": None}))
    assert kernel.calls == [] and not m.state_file.exists()
