"""Kernel audit rules from recording rules (sssd_helper/audit_rules.py): keys, scopes, order, the file."""

from __future__ import annotations

from ipa_plugin.policy import options
from ipa_plugin.policy.rules import Rule, RuleSet
from ipa_plugin.policy.values import WatchPath
from sssd_helper import audit_rules as ar

HOST = "client1.ipa.test"


def rule(name: str, **kw: object) -> Rule:
    kw.setdefault("all_hosts", True)
    return Rule.of(name, **kw)


def lines(audited: list[ar.Audited]) -> list[str]:
    return [r.line for r in ar.kernel_rules(audited)]


def test_keys_carry_the_rule_name_within_the_kernels_limit() -> None:
    assert ar.key(ar.EXEC, "developers") == "sessrec-exec-developers"
    assert ar.rule_of_key("sessrec-file-web.admins") == ("file", "web.admins")
    assert ar.rule_of_key("sessrec-lab-1234") is None and ar.rule_of_key("other") is None
    longest = "r" * 255  # the longest rule name the plugin accepts
    cut = ar.key(ar.EXEC, longest)
    assert len(cut.encode()) <= ar.MAX_KEY and cut.startswith("sessrec-exec-rrrr")
    assert cut != ar.key(ar.EXEC, "r" * 254 + "s")  # cut names stay apart (a hash of the whole name)


def test_ranges_cover_wanted_sessions_and_never_a_live_unwanted_one() -> None:
    assert ar.ranges([5, 6, 7], []) == [(5, 7)]
    assert ar.ranges([5, 9], live := [5, 6, 9]) == [(5, 5), (9, 9)]  # 6 is live and not recorded
    assert ar.ranges([5, 9], [5, 9]) == [(5, 9)]  # 6..8 have ended: their ids never come back
    assert ar.ranges([9, 5, 5], live) == [(5, 5), (9, 9)]
    assert ar.ranges([], [1, 2]) == []


def test_session_rules_are_one_per_arch_and_range_in_auditctls_own_form() -> None:
    watch = ar.Watch("/etc/shadow", "wa")
    sessions = [
        ar.Session(100, 10001, "alice", "audit-all", ((watch, "audit-all"),)),
        ar.Session(101, 10002, "bob", "audit-all", ((watch, "audit-all"),)),
        ar.Session(ar.UNSET, 10003, "carol", "audit-all"),
    ]
    exec_range = "-S execve,execveat -F sessionid>=100 -F sessionid<=101 -F key=sessrec-exec-audit-all"
    file_range = (
        "-S all -F sessionid>=100 -F sessionid<=101 -F path=/etc/shadow -F perm=wa "
        "-F key=sessrec-file-audit-all"
    )
    # su/runuser from a session-less parent: no session to name, only the uid
    sessionless = "-S execve,execveat -F auid=-1 -F uid=10003 -F key=sessrec-exec-audit-all"
    assert lines(ar.session_scope(sessions, live=[100, 101, 55])) == [
        f"-a always,exit -F arch={arch} {rest}"
        for rest in (exec_range, sessionless, file_range)
        for arch in ("b64", "b32")
    ]


def test_a_thousand_recorded_sessions_in_a_row_need_two_rules() -> None:
    sessions = [ar.Session(1000 + i, 20000 + i, f"u{i}", "everyone") for i in range(1000)]
    assert len(lines(ar.session_scope(sessions, live=range(1000, 2000)))) == 2
    # every other live session unrecorded: a range each
    mixed = [s for s in sessions if s.sessionid % 2 == 0]
    assert len(lines(ar.session_scope(mixed, live=range(1000, 2000)))) == 2 * 500


def test_sessions_with_different_rules_or_paths_never_share_a_range() -> None:
    a = ar.Session(10, 10001, "alice", "devs")
    b = ar.Session(11, 10002, "bob", "ops")
    c = ar.Session(12, 10003, "carol", None, ((ar.Watch("/srv", "w", True), "ops"),))
    got = lines(ar.session_scope([a, b, c], live=[10, 11, 12]))
    assert "-F sessionid=10 -F key=sessrec-exec-devs" in got[0] and len(got) == 6
    assert any("-F sessionid=12 -F dir=/srv -F perm=w -F key=sessrec-file-ops" in line for line in got)


def test_audited_for_names_the_first_deciding_rule_that_asked() -> None:
    rules = [
        rule("b-devs", audit_commands=True, watch_paths=(WatchPath("/etc/shadow", "w"),)),
        rule("a-ops", audit_commands=True),
        rule("c-web", watch_paths=(WatchPath("/srv/www", "rw"),)),
    ]
    eff = options.Options(
        audit_commands=True, watch_paths=(WatchPath("/etc/shadow", "w"), WatchPath("/srv/www", "rw"))
    )
    got = ar.audited_for(rules, eff, ar.Scope("sessions"), is_dir=lambda p: p == "/srv/www")
    assert got is not None and got.commands == "a-ops"
    assert got.watches == (
        (ar.Watch("/etc/shadow", "w"), "b-devs"),
        (ar.Watch("/srv/www", "rw", True), "c-web"),
    )
    assert ar.audited_for(rules, options.Options(), ar.Scope("sessions")) is None


def test_user_scope_names_users_and_expanded_groups_by_uid_only() -> None:
    rs = RuleSet(
        (
            rule("alice-cmds", users=frozenset({"alice"}), audit_commands=True),
            rule("staff-files", groups=frozenset({"staff"}), watch_paths=(WatchPath("/etc/shadow", "wa"),)),
            rule("plain", groups=frozenset({"auditors"})),
        ),
        HOST,
    )
    members = [
        ar.Member(10001, "alice", frozenset({"staff"})),  # staff through nested developers
        ar.Member(10002, "bob", frozenset({"staff"})),
        ar.Member(10003, None, frozenset({"auditors"})),  # recorded, audits nothing
    ]
    got = lines(ar.user_scope(rs, members, uid_min=1000))
    shadow = "-F path=/etc/shadow -F perm=wa -F key=sessrec-file-staff-files"
    assert got == [
        *(
            f"-a always,exit -F arch={arch} -S execve,execveat {who} -F key=sessrec-exec-alice-cmds"
            for who in ("-F auid=10001", "-F auid=-1 -F uid=10001")
            for arch in ("b64", "b32")
        ),
        *(
            f"-a always,exit -F arch={arch} -S all {who} {shadow}"
            for who in (
                "-F auid=10001",
                "-F auid=-1 -F uid=10001",
                "-F auid=10002",
                "-F auid=-1 -F uid=10002",
            )
            for arch in ("b64", "b32")
        ),
    ]
    ids = [w.split("=")[-1] for line in got for w in line.split() if w.startswith(("auid", "uid"))]
    assert ids and all(i.lstrip("-").isdigit() for i in ids)  # numeric ids only: no NSS at boot


def test_all_users_is_two_rules_per_arch_with_never_rules_for_the_exceptions_first() -> None:
    rs = RuleSet(
        (
            rule(
                "everyone", all_users=True, audit_commands=True, watch_paths=(WatchPath("/etc/shadow", "wa"),)
            ),
            rule("bob-exempt", kind="exempt", priority=100, users=frozenset({"bob"})),
            rule(
                "devs",
                priority=5,
                groups=frozenset({"developers"}),
                watch_paths=(WatchPath("/etc/shadow", "r"),),
            ),
        ),
        HOST,
    )
    members = [ar.Member(10001, None, frozenset({"developers"})), ar.Member(10002, "bob", frozenset())]
    got = lines(ar.user_scope(rs, members, uid_min=1000))
    never = [line for line in got if line.startswith("-a never,")]
    assert got[: len(never)] == never  # exceptions before any always rule
    assert (
        "-a never,exit -F arch=b64 -S execve,execveat -F auid=10002 -F key=sessrec-skip-bob-exempt" in never
    )
    assert (
        "-a never,exit -F arch=b64 -S all -F auid=10002 -F path=/etc/shadow -F perm=wa "
        "-F key=sessrec-skip-bob-exempt" in never
    )
    # devs decide for 10001 at priority 5: no commands, reads of /etc/shadow instead of writes
    assert "-a never,exit -F arch=b64 -S execve,execveat -F auid=10001 -F key=sessrec-skip-devs" in never
    assert (
        "-a never,exit -F arch=b64 -S all -F auid=10001 -F path=/etc/shadow -F perm=wa "
        "-F key=sessrec-skip-devs" in never
    )
    assert (
        "-a always,exit -F arch=b64 -S all -F auid=10001 -F path=/etc/shadow -F perm=r "
        "-F key=sessrec-file-devs" in got
    )
    everyone = [line for line in got if "sessrec-exec-everyone" in line]
    assert everyone == [
        f"-a always,exit -F arch={arch} -S execve,execveat {who} -F key=sessrec-exec-everyone"
        for who in ("-F auid>=1000 -F auid!=-1", "-F auid=-1 -F uid>=1000 -F uid!=65534")
        for arch in ("b64", "b32")
    ]
    assert got.index(everyone[0]) > got.index(never[-1])
    # a thousand more users the rules name but who decide like everyone: no rule more
    many = members + [ar.Member(30000 + i, None, frozenset()) for i in range(1000)]
    assert len(lines(ar.user_scope(rs, many, uid_min=1000))) == len(got)


def test_only_enabled_record_rules_that_ask_for_auditing_count() -> None:
    rs = RuleSet(
        (
            rule("on", users=frozenset({"a"}), audit_commands=True),
            rule("off", users=frozenset({"a"}), audit_commands=True, enabled=False),
            rule("exempt", kind="exempt", users=frozenset({"a"}), audit_commands=True),
            rule("plain", users=frozenset({"a"})),
            Rule.of(
                "elsewhere", users=frozenset({"a"}), hosts=frozenset({"web1.ipa.test"}), audit_commands=True
            ),
        ),
        HOST,
    )
    assert [r.name for r in ar.audit_rules(rs)] == ["on"]


def test_the_rules_file_has_the_backlog_then_exceptions_then_commands_then_paths() -> None:
    rs = RuleSet(
        (
            rule("everyone", all_users=True, audit_commands=True),
            rule("bob-exempt", kind="exempt", priority=100, users=frozenset({"bob"})),
            rule("web", users=frozenset({"bob"}), priority=100, watch_paths=(WatchPath("/srv/www", "w"),)),
        ),
        HOST,
    )
    audited = ar.user_scope(rs, [ar.Member(10002, "bob", frozenset())], uid_min=1000)
    plan = ar.Plan(ar.kernel_rules(audited), backlog=16384, scope="user", sources=("everyone", "web"))
    text = ar.render(plan, HOST)
    assert text.startswith(
        "## Written by sessrecd from the FreeIPA session recording rules of client1.ipa.test"
    )
    assert "## Scope: user; rules: everyone, web\n" in text
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert body[0] == "-b 16384"
    assert body[1].startswith("-a never,exit") and "sessrec-skip-web" in body[1]
    kinds = ["never" if " never," in b else "exec" if "execve" in b else "file" for b in body[1:]]
    assert kinds == sorted(kinds, key=["never", "exec", "file"].index)
    assert ar.rule_lines(text) == plan.lines
    assert "-e " not in text and "-D" not in text  # never locks, never deletes other rules
    empty = ar.render(ar.Plan(scope="session", sources=("everyone",)), HOST)
    assert ar.rule_lines(empty) == [] and "-b 8192" in empty
