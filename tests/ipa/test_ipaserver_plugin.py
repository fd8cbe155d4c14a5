"""Every sessionrecording command on FreeIPA's real server framework (baseldap, ldap2) and 389-ds with
FreeIPA's schema. Runs under `make test-ipa IPA_SOURCE=<FreeIPA 4.9.x source tree>`; skips elsewhere."""

from __future__ import annotations

import uuid
from typing import Any

import ldap
import pytest

from ipa_plugin.policy import dn as dns
from ipa_plugin.policy import layout, options, rules
from sssd_helper import directory
from tests.ipa import COMMAND_SUFFIXES
from tests.ipa.conftest import MODULES, IpaDirectory, skip_reason

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

COMMANDS = COMMAND_SUFFIXES


@pytest.fixture
def errors(ipa_api: Any) -> Any:
    from ipalib import errors

    return errors


@pytest.fixture
def cmd(ipa_api: Any) -> Any:
    return ipa_api.Command


@pytest.fixture
def rule(cmd: Any) -> Any:
    """A fresh rule name; the rule is deleted afterwards if a test left it."""
    name = f"r{uuid.uuid4().hex[:8]}"
    yield name
    try:
        cmd.sessionrecording_del(name)
    except Exception:  # noqa: BLE001 - already gone is fine
        pass


def raw(ipa_directory: IpaDirectory, name: str) -> dict[str, list[str]]:
    found = ipa_directory.ldap().search_s(dns.rule_dn(name, ipa_directory.suffix), ldap.SCOPE_BASE)
    return {k.lower(): [v.decode() for v in vs] for k, vs in found[0][1].items()}


def test_plugin_loads_into_freeipas_api(ipa_api: Any) -> None:
    assert "sessionrecording" in ipa_api.Object
    for c in COMMANDS:
        assert f"sessionrecording_{c}" in ipa_api.Command, c
    obj = ipa_api.Object.sessionrecording
    assert obj.primary_key.name == "cn"
    assert str(obj.container_dn) == "cn=sessionrecording"
    assert all(p.label for p in obj.params())
    assert set(MODULES) >= {"sessionrecording"}


def test_add_show_find_and_defaults(cmd: Any, rule: str, ipa_directory: IpaDirectory) -> None:
    out = cmd.sessionrecording_add(
        rule, description="test rule", ipasessionrecordingnotice="You are recorded"
    )
    assert out["value"] == rule and out["summary"] == f'Added session recording rule "{rule}"'
    result = out["result"]
    assert result["ipaenabledflag"] == (True,) or result["ipaenabledflag"] == [True]
    entry = raw(ipa_directory, rule)
    assert {c.lower() for c in entry["objectclass"]} >= {"ipaassociation", layout.RULE_OBJECTCLASS.lower()}
    assert entry["ipaenabledflag"] == ["TRUE"]
    assert entry[layout.ATTR_KIND.lower()] == ["record"]
    assert entry[layout.ATTR_PRIORITY.lower()] == ["0"]
    assert entry[options.ATTRIBUTE["log_input"].lower()] == ["FALSE"]
    assert entry[options.ATTRIBUTE["log_output"].lower()] == ["TRUE"]
    assert entry[options.ATTRIBUTE["log_window"].lower()] == ["TRUE"]
    assert entry[options.ATTRIBUTE["audit_commands"].lower()] == ["FALSE"]
    assert entry[options.ATTRIBUTE["notice"].lower()] == ["You are recorded"]
    shown = cmd.sessionrecording_show(rule)["result"]
    assert list(shown["cn"]) == [rule] and list(shown["description"]) == ["test rule"]
    found = cmd.sessionrecording_find(rule)
    assert found["count"] == 1 and found["summary"] == "1 session recording rule matched"
    assert cmd.sessionrecording_find(ipasessionrecordingkind="exempt", cn=rule)["count"] == 0


def test_duplicate_rule_is_rejected(cmd: Any, rule: str, errors: Any) -> None:
    cmd.sessionrecording_add(rule)
    with pytest.raises(errors.DuplicateEntry):
        cmd.sessionrecording_add(rule)


def test_all_options_are_stored_and_read_back(cmd: Any, rule: str, ipa_directory: IpaDirectory) -> None:
    cmd.sessionrecording_add(
        rule,
        ipasessionrecordingkind="exempt",
        ipasessionrecordingpriority=42,
        ipasessionrecordingloginput=True,
        ipasessionrecordinglogoutput=False,
        ipasessionrecordinglogwindow=False,
        ipasessionrecordinglatency=3,
        ipasessionrecordingpayload=512,
        ipasessionrecordingratelimit=2048,
        ipasessionrecordingburst=8192,
        ipasessionrecordinglimitaction="drop",
        ipasessionrecordingauditcommands=True,
        ipasessionrecordingwatchpath=["wa:/etc/shadow", "x:/usr/bin/sudo"],
    )
    parsed = rules.Rule.from_entry(
        dns.rule_dn(rule, ipa_directory.suffix), raw(ipa_directory, rule), ipa_directory.suffix
    )
    assert parsed.kind == "exempt" and parsed.priority == 42
    flags = ("log_input", "log_output", "log_window", "audit_commands")
    assert [parsed.option(o) for o in flags] == [True, False, False, True]
    limits = ("latency", "payload", "rate", "burst", "limit_action")
    assert [parsed.option(o) for o in limits] == [3, 512, 2048, 8192, "drop"]
    assert [str(w) for w in parsed.option("watch_paths")] == ["wa:/etc/shadow", "x:/usr/bin/sudo"]
    cmd.sessionrecording_mod(
        rule, ipasessionrecordingpriority=7, ipasessionrecordingwatchpath=["r:/etc/passwd"]
    )
    entry = raw(ipa_directory, rule)
    assert entry[layout.ATTR_PRIORITY.lower()] == ["7"]
    assert entry[options.ATTRIBUTE["watch_paths"].lower()] == ["r:/etc/passwd"]
    assert cmd.sessionrecording_find(ipasessionrecordingkind="exempt", cn=rule)["count"] == 1


def test_members_resolve_to_dns_and_unknown_ones_fail_softly(
    cmd: Any, rule: str, ipa_directory: IpaDirectory
) -> None:
    s = ipa_directory.suffix
    cmd.sessionrecording_add(rule)
    out = cmd.sessionrecording_add_user(rule, user=["alice", "nosuchuser"], group=["staff", "nosuchgroup"])
    assert out["completed"] == 2
    failed = out["failed"]["memberuser"]
    assert [f[0] for f in failed["user"]] == ["nosuchuser"] and [f[0] for f in failed["group"]] == [
        "nosuchgroup"
    ]
    out = cmd.sessionrecording_add_host(
        rule, host=["client1.ipa.test", "nosuch.ipa.test"], hostgroup=["production"]
    )
    assert out["completed"] == 2
    assert [f[0] for f in out["failed"]["memberhost"]["host"]] == ["nosuch.ipa.test"]
    entry = raw(ipa_directory, rule)
    assert {dns.norm(d) for d in entry["memberuser"]} == {
        dns.norm(dns.user_dn("alice", s)),
        dns.norm(dns.group_dn("staff", s)),
    }
    assert {dns.norm(d) for d in entry["memberhost"]} == {
        dns.norm(dns.host_dn("client1.ipa.test", s)),
        dns.norm(dns.hostgroup_dn("production", s)),
    }
    shown = cmd.sessionrecording_show(rule)["result"]
    assert list(shown["memberuser_user"]) == ["alice"] and list(shown["memberhost_hostgroup"]) == [
        "production"
    ]
    again = cmd.sessionrecording_add_user(rule, user=["alice"])
    assert (
        again["completed"] == 0 and again["failed"]["memberuser"]["user"][0][0] == "alice"
    )  # already a member
    out = cmd.sessionrecording_remove_user(rule, user=["alice"], group=["staff"])
    assert out["completed"] == 2 and "memberuser" not in raw(ipa_directory, rule)
    out = cmd.sessionrecording_remove_host(rule, host=["client1.ipa.test"], hostgroup=["production"])
    assert out["completed"] == 2 and "memberhost" not in raw(ipa_directory, rule)


def test_member_names_with_ldap_special_characters_fail_softly(
    cmd: Any, rule: str, ipa_directory: IpaDirectory
) -> None:
    cmd.sessionrecording_add(rule)
    evil = ["a*", "x)(uid=*", "b,cn=users", "c\\d", "e=f+g"]
    out = cmd.sessionrecording_add_user(rule, user=evil, group=["*"])
    assert out["completed"] == 0
    assert sorted(f[0] for f in out["failed"]["memberuser"]["user"]) == sorted(evil)
    out = cmd.sessionrecording_add_host(rule, host=["*.ipa.test"], hostgroup=["production)(cn=*"])
    assert out["completed"] == 0
    assert "memberuser" not in raw(ipa_directory, rule) and "memberhost" not in raw(ipa_directory, rule)


def test_categories_exclude_members(cmd: Any, rule: str, errors: Any) -> None:
    cmd.sessionrecording_add(rule)
    cmd.sessionrecording_add_user(rule, user=["alice"])
    with pytest.raises(errors.MutuallyExclusiveError, match="user category"):
        cmd.sessionrecording_mod(rule, usercategory="all")
    cmd.sessionrecording_remove_user(rule, user=["alice"])
    cmd.sessionrecording_mod(rule, usercategory="all")
    with pytest.raises(errors.MutuallyExclusiveError, match="users cannot be added"):
        cmd.sessionrecording_add_user(rule, group=["staff"])
    cmd.sessionrecording_add_host(rule, hostgroup=["clients"])
    with pytest.raises(errors.MutuallyExclusiveError, match="host category"):
        cmd.sessionrecording_mod(rule, hostcategory="all")
    cmd.sessionrecording_remove_host(rule, hostgroup=["clients"])
    cmd.sessionrecording_mod(rule, hostcategory="all")
    with pytest.raises(errors.MutuallyExclusiveError, match="hosts cannot be added"):
        cmd.sessionrecording_add_host(rule, host=["db1.ipa.test"])
    cmd.sessionrecording_mod(rule, usercategory=None)  # clearing the category allows members again
    assert cmd.sessionrecording_add_user(rule, user=["bob"])["completed"] == 1


def test_category_and_members_at_creation_via_addattr(
    cmd: Any, rule: str, errors: Any, ipa_directory: IpaDirectory
) -> None:
    alice = dns.user_dn("alice", ipa_directory.suffix)
    with pytest.raises(errors.MutuallyExclusiveError):
        cmd.sessionrecording_add(rule, usercategory="all", addattr=[f"memberuser={alice}"])


def test_enable_disable_set_the_flag(cmd: Any, rule: str, ipa_directory: IpaDirectory) -> None:
    cmd.sessionrecording_add(rule)
    out = cmd.sessionrecording_disable(rule)
    assert out["result"] is True and out["summary"] == f'Disabled session recording rule "{rule}"'
    assert raw(ipa_directory, rule)["ipaenabledflag"] == ["FALSE"]
    assert list(cmd.sessionrecording_show(rule)["result"]["ipaenabledflag"]) == [False]
    cmd.sessionrecording_disable(rule)  # idempotent
    cmd.sessionrecording_enable(rule)
    assert raw(ipa_directory, rule)["ipaenabledflag"] == ["TRUE"]


def test_rename_and_delete(cmd: Any, rule: str, errors: Any) -> None:
    cmd.sessionrecording_add(rule)
    cmd.sessionrecording_mod(rule, rename=rule + "-new")
    assert cmd.sessionrecording_show(rule + "-new")["value"] == rule + "-new"
    with pytest.raises(errors.NotFound):
        cmd.sessionrecording_show(rule)
    cmd.sessionrecording_del(rule + "-new")
    with pytest.raises(errors.NotFound):
        cmd.sessionrecording_del(rule + "-new")
    for c in ("show", "enable", "disable", "mod"):
        with pytest.raises(errors.NotFound):
            getattr(cmd, f"sessionrecording_{c}")(rule, **({"description": "x"} if c == "mod" else {}))
    with pytest.raises(errors.NotFound):
        cmd.sessionrecording_add_user(rule, user=["alice"])


@pytest.mark.parametrize(
    "name", ["a*", "x)(cn=*", "a,b", "a=b", "a+b", "a\\b", 'a"b', "a b", "-x", "a;b", "a<b>", "x" * 300]
)
def test_rule_names_with_special_characters_are_rejected(cmd: Any, errors: Any, name: str) -> None:
    with pytest.raises(errors.ValidationError):
        cmd.sessionrecording_add(name)


@pytest.mark.parametrize(
    "option",
    [
        {"ipasessionrecordinglatency": 0},
        {"ipasessionrecordinglatency": 3601},
        {"ipasessionrecordingpayload": 31},
        {"ipasessionrecordingratelimit": -1},
        {"ipasessionrecordingburst": -1},
        {"ipasessionrecordingpriority": -1},
        {"ipasessionrecordingpriority": 1001},
        {"ipasessionrecordinglimitaction": "bogus"},
        {"ipasessionrecordingkind": "maybe"},
        {"ipasessionrecordingwatchpath": ["z:/etc/passwd"]},
        {"ipasessionrecordingwatchpath": ["r:etc/passwd"]},
        {"ipasessionrecordingwatchpath": ["r:/etc/../passwd"]},
        {"usercategory": "some"},
    ],
)
def test_out_of_range_and_malformed_options_are_rejected(
    cmd: Any, errors: Any, rule: str, option: dict
) -> None:
    with pytest.raises(errors.ValidationError):
        cmd.sessionrecording_add(rule, **option)
    cmd.sessionrecording_add(rule)
    with pytest.raises(errors.ValidationError):
        cmd.sessionrecording_mod(rule, **option)


def test_host_fetches_what_the_plugin_wrote(cmd: Any, ipa_directory: IpaDirectory) -> None:
    """End to end: rules made by the commands are found by the host-side search, bound as the host."""
    tag = uuid.uuid4().hex[:6]
    names = {k: f"e2e{tag}-{k}" for k in ("prod", "exempt", "other")}
    try:
        cmd.sessionrecording_add(names["prod"], ipasessionrecordingloginput=True)
        cmd.sessionrecording_add_host(names["prod"], hostgroup=["production"])
        cmd.sessionrecording_add_user(names["prod"], group=["staff"])
        cmd.sessionrecording_add(
            names["exempt"], ipasessionrecordingkind="exempt", ipasessionrecordingpriority=10
        )
        cmd.sessionrecording_add_host(names["exempt"], host=["web1.ipa.test"])
        cmd.sessionrecording_add_user(names["exempt"], user=["bob"])
        cmd.sessionrecording_add(names["other"], hostcategory="all")
        cmd.sessionrecording_add_user(names["other"], user=["carol"])
        cmd.sessionrecording_disable(names["other"])
        from tests.lab.data import Directory

        data = Directory()
        conn = ipa_directory.ldap(dns.host_dn("web1.ipa.test", data.suffix), data.password("web1.ipa.test"))
        fetched = directory.fetch(conn, data.suffix, "web1.ipa.test")
        assert {r.name for r in fetched.rules} == {names["prod"], names["exempt"]}
        alice = fetched.decide("alice", data.groups_of("alice"))
        assert alice.record and alice.rules == (names["prod"],) and alice.options and alice.options.log_input
        assert not fetched.decide("bob", data.groups_of("bob")).record  # exempt wins by priority
        assert not fetched.decide("carol", data.groups_of("carol")).record  # her rule is disabled
    finally:
        for name in names.values():
            try:
                cmd.sessionrecording_del(name)
            except Exception:  # noqa: BLE001
                pass


def test_managed_permissions_are_created_by_freeipas_updater(
    ipa_api: Any, ipa_directory: IpaDirectory
) -> None:
    """FreeIPA's own update_managed_permissions (what ipa-server-upgrade runs) creates our permissions,
    puts them in the privilege from our update file, and writes their ACIs on the rules container."""
    from ipaserver.install.plugins.update_managed_permissions import update_managed_permissions

    from ipa_plugin import access

    updater = update_managed_permissions(ipa_api)
    obj = ipa_api.Object.sessionrecording
    for name, template in sorted(obj.managed_permissions.items()):
        updater.update_permission(ipa_api.Backend.ldap2, obj, name, dict(template), None)
    s = ipa_directory.suffix
    conn = ipa_directory.ldap()
    privilege = f"cn={access.PRIVILEGE},cn=privileges,cn=pbac,{s}"
    for name in obj.managed_permissions:
        dn = f"cn={name},cn=permissions,cn=pbac,{s}"
        entry = conn.search_s(dn, ldap.SCOPE_BASE, attrlist=["member", "ipapermlocation", "ipapermright"])[0][
            1
        ]
        assert [dns.norm(m.decode()) for m in entry["member"]] == [dns.norm(privilege)], name
        assert dns.norm(entry["ipapermlocation"][0].decode()) == dns.norm(layout.container_dn(s))
    acis = conn.search_s(layout.container_dn(s), ldap.SCOPE_BASE, attrlist=["aci"])[0][1]["aci"]
    names = {a.decode().split('acl "', 1)[1].split('"', 1)[0] for a in acis}
    assert {f"permission:{n}" for n in obj.managed_permissions} <= names
    assert {access.ACI_NAMED_HOSTS, access.ACI_ALL_HOSTS} <= names  # the update file's ACIs stay
    read = ipa_api.Command.permission_show("System: Read Session Recording Rules")["result"]
    assert {a.lower() for a in layout.RULE_ATTRIBUTES} <= set(read["attrs"])


# -- sessionrecording-test and member filters, on entries made by FreeIPA's own commands -------------------
@pytest.fixture(scope="module")
def world(ipa_api: Any) -> Any:
    """Users, nested groups, hosts and nested hostgroups made with FreeIPA's user_add, group_add_member,
    host_add and hostgroup_add_member (user private groups by 389-ds's Managed Entries plugin), and rules
    made with our commands. Names start with srt- so they cannot meet the lab's own entries."""
    c = ipa_api.Command
    c.user_add("srt-alice", givenname="Alice", sn="Test", uidnumber=41001)
    c.user_add("srt-bob", givenname="Bob", sn="Test", uidnumber=41002)
    c.group_add("srt-legacy", gidnumber=42001)  # a primary group that is not a private group
    c.user_add("srt-carol", givenname="Carol", sn="Test", uidnumber=41003, gidnumber=42001, noprivate=True)
    c.group_add("srt-devs", nonposix=True)
    c.group_add("srt-staff", nonposix=True)
    c.group_add_member("srt-devs", user=["srt-alice"])
    c.group_add_member("srt-staff", group=["srt-devs"], user=["srt-bob"])  # alice: staff through devs
    for host in ("srt-web.ipa.test", "srt-db.ipa.test"):
        c.host_add(host, force=True)
    c.hostgroup_add("srt-webservers")
    c.hostgroup_add("srt-production")
    c.hostgroup_add_member("srt-webservers", host=["srt-web.ipa.test"])
    c.hostgroup_add_member("srt-production", hostgroup=["srt-webservers"], host=["srt-db.ipa.test"])

    c.sessionrecording_add("srt-staff-prod", ipasessionrecordinglatency=5)
    c.sessionrecording_add_user("srt-staff-prod", group=["srt-staff"])
    c.sessionrecording_add_host("srt-staff-prod", hostgroup=["srt-production"])
    c.sessionrecording_add(
        "srt-all", usercategory="all", hostcategory="all", ipasessionrecordingloginput=True
    )
    c.sessionrecording_add(
        "srt-bob-exempt", ipasessionrecordingkind="exempt", ipasessionrecordingpriority=10, hostcategory="all"
    )
    c.sessionrecording_add_user("srt-bob-exempt", user=["srt-bob"])
    c.sessionrecording_add(
        "srt-trial", ipasessionrecordingpriority=50, hostcategory="all", ipasessionrecordingpayload=512
    )
    c.sessionrecording_add_user("srt-trial", user=["srt-alice"])
    c.sessionrecording_disable("srt-trial")
    c.sessionrecording_add(
        "srt-legacy",
        ipasessionrecordingpriority=20,
        hostcategory="all",
        ipasessionrecordingwatchpath=["w:/etc"],
    )
    c.sessionrecording_add_user("srt-legacy", group=["srt-legacy"])
    return c


def test_sessionrecording_test_is_registered_with_its_result_object(ipa_api: Any) -> None:
    cmd = ipa_api.Command.sessionrecording_test
    assert cmd.obj.name == "sessionrecordingtest" and cmd.attr_name == "run"
    assert {"user", "host", "rules", "enabled", "disabled"} <= set(cmd.options)
    assert cmd.options["user"].required and cmd.options["host"].required and cmd.options["rules"].multivalue
    assert list(cmd.output) == ["summary", "result", "value"]
    labels = {p.name: str(p.label) for p in cmd.output_params()}  # what the CLI labels the result with
    assert labels["deciding"] == "Deciding rules" and labels["ipasessionrecordingloginput"] == "Record input"


def test_nested_groups_and_hostgroups_decide_with_the_options_combined(world: Any) -> None:
    out = world.sessionrecording_test(user="srt-alice", host="srt-web.ipa.test")
    assert out["value"] is True and out["summary"] == "srt-alice is recorded on srt-web.ipa.test"
    r = out["result"]
    assert {"srt-devs", "srt-staff", "srt-alice", "ipausers"} <= set(r["usergroups"])  # nested; private
    assert {"srt-webservers", "srt-production"} <= set(r["hostgroups"])  # nested hostgroup
    assert r["deciding"] == ["srt-all", "srt-staff-prod"] and r["priority"] == 0
    assert "srt-trial" not in r.get("notmatched", []) + r["deciding"]  # disabled: not tested by default
    assert {"srt-bob-exempt", "srt-legacy"} <= set(r["notmatched"])
    assert r["ipasessionrecordinglatency"] == 5 and r["ipasessionrecordingloginput"] is True
    assert r["ipasessionrecordingpayload"] == options.BY_NAME["payload"].default
    # On srt-db (in srt-production directly) the same; on a host outside it only srt-all applies.
    assert world.sessionrecording_test(user="srt-alice", host="srt-db.ipa.test")["result"]["deciding"] == [
        "srt-all",
        "srt-staff-prod",
    ]
    assert world.sessionrecording_test(user="srt-alice", host="web1.ipa.test")["result"]["deciding"] == [
        "srt-all"
    ]


def test_exemption_and_overridden_rules(world: Any) -> None:
    out = world.sessionrecording_test(user="srt-bob", host="srt-web")  # a short host name, as hbactest
    r = out["result"]
    assert out["value"] is False and r["host"] == "srt-web.ipa.test"
    assert r["deciding"] == ["srt-bob-exempt"] and r["priority"] == 10
    assert r["overridden"] == ["srt-all", "srt-staff-prod"]
    assert r["reason"] == "exempted by srt-bob-exempt (priority 10)"
    assert "ipasessionrecordingloginput" not in r


def test_the_primary_group_counts_as_sssd_reports_it(world: Any) -> None:
    r = world.sessionrecording_test(user="srt-carol", host="srt-db.ipa.test")["result"]
    assert "srt-legacy" in r["usergroups"]  # her gidNumber's group, though not a member of it
    assert r["deciding"] == ["srt-legacy"] and r["ipasessionrecordingwatchpath"] == ["w:/etc"]


def test_rules_enabled_and_disabled_choose_the_rules_as_hbactest(world: Any) -> None:
    only = world.sessionrecording_test(user="srt-alice", host="srt-web.ipa.test", rules=["srt-trial"])[
        "result"
    ]
    assert only["deciding"] == ["srt-trial"] and "overridden" not in only and "notmatched" not in only
    assert only["ipasessionrecordingpayload"] == 512  # a disabled rule named with --rules counts
    both = world.sessionrecording_test(user="srt-alice", host="srt-web.ipa.test", enabled=True, disabled=True)
    assert both["result"]["deciding"] == ["srt-trial"] and both["result"]["priority"] == 50
    assert both["result"]["overridden"] == ["srt-all", "srt-staff-prod"]
    off = world.sessionrecording_test(user="srt-alice", host="srt-web.ipa.test", disabled=True)["result"]
    assert off["deciding"] == ["srt-trial"] and "srt-all" not in off.get("notmatched", [])
    bad = world.sessionrecording_test(user="srt-alice", host="srt-web.ipa.test", rules=["srt-all", "nosuch"])
    assert bad["summary"] == "Unresolved rules in --rules" and bad["result"] == {"error": ["nosuch"]}
    assert bad["value"] is False


def test_unknown_user_or_host_is_freeipas_not_found(world: Any, errors: Any) -> None:
    with pytest.raises(errors.NotFound, match="nosuch: user not found"):
        world.sessionrecording_test(user="nosuch", host="srt-web.ipa.test")
    with pytest.raises(errors.NotFound, match="nosuch.ipa.test: host not found"):
        world.sessionrecording_test(user="srt-alice", host="nosuch.ipa.test")


def test_cli_output_is_a_summary_and_a_labelled_line_per_field(ipa_api: Any, world: Any) -> None:
    import contextlib
    import io

    from ipalib import cli

    kw = dict(user="srt-bob", host="srt-web.ipa.test")
    out = world.sessionrecording_test(**kw)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = ipa_api.Command.sessionrecording_test.output_for_cli(cli.textui(ipa_api), out, **kw)
    lines = buf.getvalue().splitlines()
    assert lines[1] == "srt-bob is not recorded on srt-web.ipa.test" and set(lines[0]) == {"-"}
    assert "  Deciding rules: srt-bob-exempt" in lines and "  Deciding priority: 10" in lines
    assert "  Matched but overridden rules: srt-all, srt-staff-prod" in lines
    assert rc == 0


def test_find_filters_on_direct_members(world: Any) -> None:
    def found(**kw: Any) -> set[str]:
        return {
            r["cn"][0] for r in world.sessionrecording_find(**kw)["result"] if r["cn"][0].startswith("srt-")
        }

    assert found(user=["srt-bob"]) == {"srt-bob-exempt"}
    assert found(user=["srt-alice"]) == {"srt-trial"}  # direct members only: staff-prod names a group
    assert found(group=["srt-staff"]) == {"srt-staff-prod"}
    assert found(hostgroup=["srt-production"]) == {"srt-staff-prod"}
    assert found(host=["srt-web.ipa.test"]) == set()
    assert found(no_user=["srt-bob"], no_group=["srt-staff", "srt-legacy"]) == {"srt-all", "srt-trial"}
    assert found(group=["srt-staff"], no_hostgroup=["srt-production"]) == set()
    options_ = world.sessionrecording_find.options
    for name in ("user", "group", "host", "hostgroup"):
        assert options_[name].cli_name == name + "s" and options_["no_" + name].cli_name == f"no_{name}s"


@pytest.mark.parametrize("kind,create_ok", [(layout.KIND_RECORD, False), (layout.KIND_EXEMPT, True)])
def test_a_record_rule_must_record_input_or_output(
    cmd: Any, errors: Any, rule: str, kind: str, create_ok: bool
) -> None:
    silent = dict(ipasessionrecordingloginput=False, ipasessionrecordinglogoutput=False)
    if not create_ok:
        with pytest.raises(errors.ValidationError, match="must record input or output"):
            cmd.sessionrecording_add(rule, ipasessionrecordingkind=kind, **silent)
        cmd.sessionrecording_add(rule, ipasessionrecordingloginput=True, ipasessionrecordinglogoutput=False)
        with pytest.raises(errors.ValidationError, match="must record input or output"):
            cmd.sessionrecording_mod(rule, ipasessionrecordingloginput=False)
        cmd.sessionrecording_mod(rule, ipasessionrecordinglogoutput=None)  # unset: the default, TRUE
        cmd.sessionrecording_mod(rule, ipasessionrecordingloginput=False)
        return
    cmd.sessionrecording_add(rule, ipasessionrecordingkind=kind, **silent)
    with pytest.raises(errors.ValidationError, match="must record input or output"):
        cmd.sessionrecording_mod(rule, ipasessionrecordingkind=layout.KIND_RECORD)
    cmd.sessionrecording_mod(rule, description="exempt rules record nothing anyway")


def test_ui_texts_and_metadata_come_from_the_server(ipa_api: Any) -> None:
    texts = ipa_api.Command.i18n_messages()["texts"]["objects"]
    assert texts["sessionrecording"]["recording"] == "What is recorded"
    assert texts["sessionrecordingtest"]["label"] == "Session Recording Test"
    meta = ipa_api.Command.json_metadata(objname="sessionrecording")["objects"]["sessionrecording"]
    assert meta["record_only_params"] == [
        s.attribute.lower() for s in options.SETTINGS if not s.applies_to_exempt
    ]
    kinds = next(p for p in meta["takes_params"] if p["name"] == layout.ATTR_KIND.lower())
    assert list(kinds["values"]) == list(layout.KINDS)
    test = ipa_api.Command.json_metadata(objname="sessionrecordingtest")["objects"]["sessionrecordingtest"]
    assert {"deciding", "overridden", "notmatched"} <= {p["name"] for p in test["takes_params"]}
    assert test["methods"] == ["run"]


def test_web_ui_module_under_the_real_servers_metadata_and_texts(ipa_api: Any) -> None:
    """The UI module (under the node harness) with the metadata and i18n messages FreeIPA's own
    json_metadata and i18n_messages serve: every text key it uses, ours and FreeIPA's, resolves."""
    from tests.test_plugin_ui import run_harness

    meta = ipa_api.Command.json_metadata
    objects = {}
    for name in ("sessionrecording", "sessionrecordingtest", "user", "host"):
        objects.update(meta(objname=name)["objects"])
    commands = meta(command="sessionrecording_test")["commands"]
    texts = ipa_api.Command.i18n_messages()["texts"]
    seen = run_harness({"metadata": {"objects": objects, "commands": commands}, "messages": texts})
    assert seen["keys"] and all(seen["keys"].values()), [k for k, ok in seen["keys"].items() if not ok]
    details = next(f for f in seen["entities"][0]["spec"]["facets"] if f.get("$type") == "details")
    kind = next(f for f in details["fields"] if f["name"] == layout.ATTR_KIND.lower())
    assert [o["label"] for o in kind["options"]] == [
        "Record the sessions",
        "Do not record the sessions (exempt)",
    ]
    assert set(seen["policies"][0]["exempt"]["disabled"]) == {o.attribute.lower() for o in options.OPTIONS}
    fields = {f["name"]: f["value"] for f in seen["test_page"]["fields"]}
    assert fields["recorded"] == "True"  # FreeIPA's own text for true
