"""The rule model and decide() of the policy package (ipa_plugin.policy.rules): pure, no directory."""

from __future__ import annotations

import ldap.filter
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipa_plugin.policy import dn as dns
from ipa_plugin.policy import layout, options, rules, values
from ipa_plugin.policy.rules import Rule, RuleSet

SUFFIX = "dc=ipa,dc=test"
HOST = "client1.ipa.test"


def ruleset(*rs: Rule, host: str = HOST, hostgroups: tuple[str, ...] = ("clients",)) -> RuleSet:
    return RuleSet(rules=rs, host=host, hostgroups=frozenset(hostgroups))


def everyone(name: str, **kw: object) -> Rule:
    return Rule.of(name, all_users=True, all_hosts=True, **kw)


def test_no_rule_means_no_recording() -> None:
    decision = ruleset().decide("alice", ["developers"])
    assert not decision.record and decision.options is None
    assert decision.reason == "no rule applies"


def test_user_group_host_and_hostgroup_matching() -> None:
    by_user = Rule.of(name="u", users=frozenset({"alice"}), all_hosts=True)
    by_group = Rule.of(name="g", groups=frozenset({"staff"}), hosts=frozenset({HOST}))
    by_hostgroup = Rule.of(name="hg", users=frozenset({"carol"}), hostgroups=frozenset({"clients"}))
    other_host = Rule.of(name="other", all_users=True, hosts=frozenset({"db1.ipa.test"}))
    rs = ruleset(by_user, by_group, by_hostgroup, other_host)
    assert rs.decide("alice", []).rules == ("u",)
    assert rs.decide("bob", ["staff"]).rules == ("g",)
    assert rs.decide("carol", ["auditors"]).rules == ("hg",)
    assert not rs.decide("dave", ["dave"]).record
    # Nested groups: SSSD reports alice in staff through developers; the rule naming staff applies.
    assert rs.decide("alice", ["developers", "staff"]).rules == ("g", "u")


def test_nested_hostgroups_come_from_the_hosts_memberof() -> None:
    rule = Rule.of(name="prod", all_users=True, hostgroups=frozenset({"production"}))
    web1 = ruleset(rule, host="web1.ipa.test", hostgroups=("webservers", "production"))
    assert web1.decide("alice", []).record
    assert not ruleset(rule).decide("alice", []).record


def test_rule_without_users_or_category_applies_to_nobody() -> None:
    assert not ruleset(Rule.of(name="empty", all_hosts=True)).decide("alice", ["staff"]).record
    assert not ruleset(Rule.of(name="nohost", all_users=True)).decide("alice", []).record


def test_disabled_rules_do_not_count() -> None:
    rs = ruleset(everyone("off", enabled=False), everyone("x", kind=layout.KIND_EXEMPT, enabled=False))
    assert rs.decide("alice", []).reason == "no rule applies"


def test_higher_priority_exempt_beats_record() -> None:
    rs = ruleset(
        everyone("all"),
        Rule.of(name="backup", kind="exempt", priority=10, users=frozenset({"bob"}), all_hosts=True),
    )
    bob = rs.decide("bob", [])
    assert not bob.record and bob.rules == ("backup",) and "exempted by backup" in bob.reason
    assert rs.decide("alice", []).record


def test_record_beats_exempt_at_equal_priority() -> None:
    rs = ruleset(everyone("all", priority=5), everyone("skip", kind="exempt", priority=5))
    decision = rs.decide("alice", [])
    assert decision.record and decision.rules == ("all",)


def test_higher_priority_record_overrides_lower_exempt_and_its_options() -> None:
    rs = ruleset(
        everyone("exempt-all", kind="exempt", priority=1),
        everyone("low", priority=0, log_input=True),
        Rule.of(name="audit", priority=2, groups=frozenset({"auditors"}), all_hosts=True, latency=3),
    )
    carol = rs.decide("carol", ["auditors"])
    assert carol.record and carol.rules == ("audit",)
    assert carol.options is not None and carol.options.latency == 3 and not carol.options.log_input
    assert not rs.decide("alice", []).record


def test_options_default_when_unset() -> None:
    options = ruleset(everyone("a")).decide("alice", []).options
    assert options == rules.Options()
    assert (options.log_input, options.log_output, options.log_window) == (False, True, True)
    assert options.limit_action == "pass" and options.latency == 10


def test_options_of_a_band_combine_union_and_first_by_name() -> None:
    a = everyone(
        "a", log_output=False, latency=5, notice="first", watch_paths=(values.WatchPath("/etc/shadow", "w"),)
    )
    b = everyone(
        "b",
        log_input=True,
        log_output=False,
        latency=1,
        payload=64,
        audit_commands=True,
        limit_action="drop",
        watch_paths=(values.WatchPath("/etc/shadow", "ra"), values.WatchPath("/etc/sudoers", "w")),
    )
    c = everyone("c", log_window=False, log_output=False)
    options = ruleset(c, b, a).decide("alice", []).options
    assert options is not None
    assert options.log_input and options.audit_commands
    assert not options.log_output  # every rule of the band turned output off
    assert options.log_window  # a and b leave it at its default, on
    assert (options.notice, options.latency, options.payload) == ("first", 5, 64)
    assert options.limit_action == "drop"
    assert [str(w) for w in options.watch_paths] == ["rwa:/etc/shadow", "w:/etc/sudoers"]


@given(st.permutations(range(6)))
def test_decision_does_not_depend_on_rule_order(order: list[int]) -> None:
    base = [
        everyone("r1", priority=3, latency=7, log_input=True),
        everyone("r2", priority=3, latency=9, notice="n2"),
        everyone("x1", priority=3, kind="exempt"),
        everyone("low", priority=1, audit_commands=True),
        Rule.of(name="g", priority=3, groups=frozenset({"staff"}), all_hosts=True, payload=100),
        Rule.of(name="off", priority=9, all_users=True, all_hosts=True, enabled=False),
    ]
    expected = ruleset(*base).decide("alice", ["staff"])
    assert ruleset(*[base[i] for i in order]).decide("alice", ["staff"]) == expected
    assert expected.rules == ("g", "r1", "r2")
    assert expected.options is not None and expected.options.latency == 7 and expected.options.payload == 100


def test_names_compare_case_insensitively_like_their_dns() -> None:
    rs = ruleset(
        Rule(
            name="u",
            users=frozenset({"Alice"}),
            groups=frozenset({"Staff"}),
            hosts=frozenset({"CLIENT1.ipa.test"}),
        )
    )
    assert rs.decide("alice", []).record
    assert rs.decide("bob", ["STAFF"]).record


def entry(**attrs: list[str]) -> dict[str, list[bytes]]:
    return {k: [v.encode() for v in vs] for k, vs in attrs.items()}


def test_rule_from_entry_uses_layout_names_and_drops_what_it_cannot_use() -> None:
    attrs = entry(
        cn=["prod"],
        ipaEnabledFlag=["TRUE"],
        memberUser=[
            dns.user_dn("alice", SUFFIX),
            dns.group_dn("staff", SUFFIX),
            "uid=mallory,cn=users,dc=elsewhere",
        ],
        memberHost=[dns.host_dn(HOST, SUFFIX), dns.hostgroup_dn("production", SUFFIX)],
        **{
            layout.ATTR_KIND: ["EXEMPT"],
            layout.ATTR_PRIORITY: ["7"],
            options.ATTRIBUTE["log_input"]: ["TRUE"],
            options.ATTRIBUTE["log_output"]: ["FALSE"],
            options.ATTRIBUTE["latency"]: ["0"],  # below the range: dropped, the default applies
            options.ATTRIBUTE["payload"]: ["2048"],
            options.ATTRIBUTE["limit_action"]: ["Delay"],
            options.ATTRIBUTE["notice"]: ["You are recorded"],
            options.ATTRIBUTE["watch_paths"]: ["wa:/etc/shadow", "bogus", "r:/etc/../etc/passwd"],
        },
    )
    rule = Rule.from_entry(dns.rule_dn("prod", SUFFIX), attrs, SUFFIX)
    assert rule.name == "prod" and rule.enabled and rule.kind == "exempt" and rule.priority == 7
    assert rule.users == {"alice"} and rule.groups == {"staff"}
    assert rule.hosts == {HOST} and rule.hostgroups == {"production"}
    assert [rule.option(o) for o in ("log_input", "log_output", "log_window")] == [True, False, None]
    assert [rule.option(o) for o in ("latency", "payload", "limit_action")] == [None, 2048, "delay"]
    assert [str(w) for w in rule.option("watch_paths")] == ["wa:/etc/shadow"]


def test_rule_from_entry_lower_case_attribute_names_and_categories() -> None:
    attrs = entry(cn=["all"], ipaenabledflag=["FALSE"], usercategory=["all"], hostcategory=["ALL"])
    rule = Rule.from_entry("cn=all,cn=sessionrecording," + SUFFIX, attrs, SUFFIX)
    assert rule.all_users and rule.all_hosts and not rule.enabled and rule.kind == "record"


def test_unknown_kind_records() -> None:
    rule = Rule.from_entry("cn=k", entry(cn=["k"], **{layout.ATTR_KIND: ["maybe"]}), SUFFIX)
    assert rule.kind == layout.KIND_RECORD


def test_host_filter_shape_and_escaping() -> None:
    host = dns.host_dn(HOST, SUFFIX)
    groups = [dns.hostgroup_dn("production", SUFFIX), dns.hostgroup_dn("clients", SUFFIX)]
    assert rules.host_filter(host, groups) == (
        "(&(objectClass=ipaSessionRecordingRule)(ipaEnabledFlag=TRUE)(|(hostCategory=all)"
        f"(memberHost={host})(memberHost={groups[1]})(memberHost={groups[0]})))"
    )
    evil = dns.host_dn("x*)(memberHost=*", SUFFIX)
    flt = rules.host_filter(evil)
    assert "*)(" not in flt and ldap.filter.escape_filter_chars(evil) in flt
    assert r"x\2a\29\28memberHost\5c=\2a" in flt  # DN escapes =, the filter escapes the backslash


def test_dns_escape_special_characters() -> None:
    dn = dns.host_dn("a,b=c+d", SUFFIX)
    assert dn == r"fqdn=a\,b\=c\+d,cn=computers,cn=accounts,dc=ipa,dc=test"
    assert dns.name_under(dn, "fqdn", layout.HOSTS_RDN, SUFFIX) == "a,b=c+d"
    assert dns.name_under(dn, "cn", layout.HOSTS_RDN, SUFFIX) is None
    assert dns.name_under("not a dn", "cn", layout.HOSTS_RDN, SUFFIX) is None


def test_hostgroups_of_keeps_only_hostgroups() -> None:
    memberof = [
        dns.hostgroup_dn("clients", SUFFIX).upper().encode(),
        dns.rule_dn("prod", SUFFIX).encode(),
        dns.group_dn("staff", SUFFIX),
        "cn=ipaservers,cn=hostgroups,cn=accounts,dc=other",
    ]
    assert set(rules.hostgroups_of(memberof, SUFFIX)) == {"CLIENTS"}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("r:/etc/passwd", True),
        ("rwxa:/", True),
        ("awr:/var/log/a b", True),
        ("w:etc/passwd", False),
        ("q:/etc", False),
        ("rr:/etc", False),
        (":/etc", False),
        ("r:/etc/", False),
        ("r:/etc//x", False),
        ("r:/etc/./x", False),
        ("r:/etc/../x", False),
        ("r:/etc/\nx", False),
        ("/etc/passwd", False),
    ],
)
def test_watch_path_format(value: str, ok: bool) -> None:
    assert (values.watch_path_error(value) is None) is ok
    if ok:
        parsed = values.parse_watch_path(value)
        assert set(parsed.permissions) == set(value.split(":", 1)[0])
        assert parsed.permissions == values.canonical_permissions(parsed.permissions)
    else:
        with pytest.raises(ValueError):
            values.parse_watch_path(value)
