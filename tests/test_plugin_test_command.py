"""`ipa sessionrecording-test`'s logic, on the plugin module under ipalib stand-ins (tests/ipa/stubs.py).

The decision itself is the policy package's `decide()`, which the hosts run (tests/test_policy_rules.py).
These tests check what the command adds around it: which rules it evaluates (hbactest's `--rules`,
`--enabled`, `--disabled`), that it hands the user and host to `decide()` the way a host does, and what
it reports: summary, deciding rules and priority, the rules that applied but lost, the ones that did not
apply, the effective options, each under a field its result object declares (the CLI and the web UI
label the fields from those declarations). `make test-ipa` runs the command on FreeIPA's real code with
users, groups, hosts and hostgroups made by FreeIPA's own commands.
"""

from __future__ import annotations

import types
from typing import Any

import pytest

from ipa_plugin.policy import layout, options
from ipa_plugin.policy.rules import Rule, RuleSet
from tests.ipa import stubs

WEB1 = ("web1.ipa.test", {"webservers", "production"})
CLIENT1 = ("client1.ipa.test", {"clients"})


@pytest.fixture(scope="module")
def plugin() -> tuple[types.ModuleType, stubs.Registered]:
    with pytest.MonkeyPatch.context() as mp:
        return stubs.load_plugin(mp)


@pytest.fixture(scope="module")
def module(plugin: tuple[types.ModuleType, stubs.Registered]) -> types.ModuleType:
    return plugin[0]


def param(setting_name: str) -> str:
    return options.BY_NAME[setting_name].attribute.lower()


RULES = (
    Rule.of("everyone", all_users=True, all_hosts=True),
    Rule.of("backup", kind=layout.KIND_EXEMPT, priority=100, users=frozenset({"backup"}), all_hosts=True),
    Rule.of("auditors-input", groups=frozenset({"auditors"}), all_hosts=True, log_input=True),
    Rule.of("web", all_users=True, hostgroups=frozenset({"webservers"}), latency=3, watch_paths=()),
    Rule.of("off", all_users=True, all_hosts=True, enabled=False, priority=500, kind=layout.KIND_EXEMPT),
)


def run(module: types.ModuleType, user: str, groups: set[str], host: tuple[str, set[str]], **kw: Any) -> dict:
    tested, unresolved = module.select_rules(RULES, kw.pop("rules", []), **kw)
    assert unresolved == []
    return module.simulate(tested, user, groups, host[0], host[1])


def test_by_default_every_enabled_rule_is_tested(module: types.ModuleType) -> None:
    tested, unresolved = module.select_rules(RULES, [])
    assert [r.name for r in tested] == ["everyone", "backup", "auditors-input", "web"]
    assert unresolved == []


def test_named_rules_are_tested_alone_and_as_if_enabled(module: types.ModuleType) -> None:
    tested, unresolved = module.select_rules(RULES, ["OFF", "web"])  # names compare case-insensitively
    assert [(r.name, r.enabled) for r in tested] == [("web", True), ("off", True)]
    tested, _ = module.select_rules(RULES, ["off"], enabled=True)  # --enabled adds every enabled rule
    assert [r.name for r in tested] == ["everyone", "backup", "auditors-input", "web", "off"]


def test_disabled_adds_every_disabled_rule_as_if_enabled(module: types.ModuleType) -> None:
    tested, _ = module.select_rules(RULES, [], disabled=True)
    assert [(r.name, r.enabled) for r in tested] == [("off", True)]
    tested, _ = module.select_rules(RULES, [], enabled=True, disabled=True)
    assert len(tested) == len(RULES) and all(r.enabled for r in tested)


def test_names_that_are_no_rule_are_reported(module: types.ModuleType) -> None:
    tested, unresolved = module.select_rules(RULES, ["web", "nosuch", "Another"])
    assert [r.name for r in tested] == ["web"] and unresolved == ["Another", "nosuch"]


def test_recorded_with_deciding_rules_options_and_the_rules_that_did_not_apply(
    module: types.ModuleType,
) -> None:
    out = run(module, "alice", {"developers", "staff"}, WEB1)
    assert out["value"] is True and out["summary"] == "alice is recorded on web1.ipa.test"
    result = out["result"]
    assert result["recorded"] is True
    assert result["deciding"] == ["everyone", "web"] and result["priority"] == 0
    assert result["reason"] == "recorded by everyone, web (priority 0)"
    assert result["notmatched"] == ["auditors-input", "backup"] and "overridden" not in result
    assert result["user"] == "alice" and result["host"] == "web1.ipa.test"
    assert result["usergroups"] == ["developers", "staff"] and result["hostgroups"] == [
        "production",
        "webservers",
    ]
    # The effective options: web sets latency; the rest are the defaults.
    assert result[param("latency")] == 3 and result[param("payload")] == options.BY_NAME["payload"].default
    assert result[param("log_output")] is True and result[param("log_input")] is False
    assert param("notice") not in result and param("watch_paths") not in result  # unset text, no paths


def test_exempted_by_a_higher_priority_with_the_overridden_rule(module: types.ModuleType) -> None:
    out = run(module, "backup", set(), CLIENT1)
    assert out["value"] is False and out["summary"] == "backup is not recorded on client1.ipa.test"
    result = out["result"]
    assert result["deciding"] == ["backup"] and result["priority"] == 100
    assert result["overridden"] == ["everyone"] and result["reason"] == "exempted by backup (priority 100)"
    assert not {o.attribute.lower() for o in options.OPTIONS} & set(result), "no options when not recorded"


def test_an_exemption_at_equal_priority_matches_but_loses(module: types.ModuleType) -> None:
    tie = Rule.of("tie", kind=layout.KIND_EXEMPT, users=frozenset({"carol"}), all_hosts=True)
    out = module.simulate([*RULES[:3], tie], "carol", {"auditors"}, *CLIENT1)
    result = out["result"]
    assert out["value"] is True and result["overridden"] == ["tie"]
    assert result["deciding"] == ["auditors-input", "everyone"] and result[param("log_input")] is True


def test_no_rule_applies(module: types.ModuleType) -> None:
    out = module.simulate([RULES[2]], "dave", {"dave"}, *CLIENT1)
    assert out["value"] is False and out["result"]["reason"] == "no rule applies"
    assert out["result"]["notmatched"] == ["auditors-input"]
    assert "priority" not in out["result"] and "deciding" not in out["result"]


@pytest.mark.parametrize(
    "user,groups",
    [("alice", {"developers", "staff"}), ("backup", set()), ("carol", {"auditors"}), ("dave", set())],
)
@pytest.mark.parametrize("host", [WEB1, CLIENT1])
def test_the_command_decides_as_the_host_does(
    module: types.ModuleType, user: str, groups: set[str], host: tuple[str, set[str]]
) -> None:
    """The host's RuleSet over the same rules, user and groups gives the same decision and options."""
    out = run(module, user, groups, host)
    decision = RuleSet(rules=RULES, host=host[0], hostgroups=frozenset(host[1])).decide(user, groups)
    assert out["value"] == decision.record
    assert tuple(out["result"].get("deciding", ())) == decision.rules
    assert tuple(out["result"].get("overridden", ())) == decision.overridden
    if decision.record:
        for name, value in options.as_dict(decision.options).items():
            assert out["result"].get(param(name), value if value in ("", []) else None) == value, name


def test_every_result_field_is_a_labelled_param_of_the_result_object(
    module: types.ModuleType, plugin: tuple[types.ModuleType, stubs.Registered]
) -> None:
    declared = {p.name: p for p in plugin[1].classes["sessionrecordingtest"].takes_params}
    assert all(p.kw.get("label") for p in declared.values())
    tie = Rule.of("w", all_users=True, all_hosts=True, notice="hello", watch_paths=())
    seen: set[str] = set()
    for rules_, user in (([*RULES, tie], "alice"), (RULES, "backup")):
        seen |= set(module.simulate(list(rules_), user, {"staff"}, *WEB1)["result"])
    seen |= set(module.simulate([RULES[0]], "x", set(), *WEB1)["result"])
    assert seen <= set(declared), seen - set(declared)
    for option in options.OPTIONS:  # each option shows with the option table's label
        assert declared[option.attribute.lower()].kw["label"] == option.label
        assert declared[option.attribute.lower()].multivalue == option.multi_valued
    for name in ("user", "host", "recorded", "reason", "deciding", "priority", "overridden", "notmatched"):
        assert name in seen, name
