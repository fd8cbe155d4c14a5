"""The rules module's pure parts (freeipa_sessrec.recording.ipasessionrecording): its option table against the
project's (ipa_plugin/policy/options.py), its documentation against its argument spec, parameter checks,
the plan of commands, the diff, the server's failures as one message. The module against FreeIPA's real
JSON-RPC API: tests/ipa/test_ansible_module_ipa.py."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ipa_plugin.policy import options, values

ROOT = Path(__file__).resolve().parents[1]
COLLECTION = ROOT / "ansible" / "ansible_collections" / "freeipa_sessrec" / "recording"
MODULE = COLLECTION / "plugins" / "modules" / "ipasessionrecording.py"
UTILS = COLLECTION / "plugins" / "module_utils" / "sessrec_ipa.py"
ANSIBLE_PYTHON = Path(os.environ.get("SESSREC_ANSIBLE_VENV", "/tmp/sessrec-ansible-venv")) / "bin" / "python"

spec = importlib.util.spec_from_file_location("sessrec_ipa", UTILS)
assert spec is not None and spec.loader is not None
ipa = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ipa)

TYPES = {
    options.Type.BOOL: "bool",
    options.Type.INT: "int",
    options.Type.TEXT: "str",
    options.Type.CHOICE: "str",
    options.Type.WATCH: "list",
}


def documentation() -> dict[str, Any]:
    tree = ast.parse(MODULE.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION":
            return yaml.safe_load(node.value.value)  # type: ignore[attr-defined]
    raise AssertionError("no DOCUMENTATION")


# -- the option table can never drift from the project's ----------
def test_every_rule_setting_of_the_option_table_is_a_module_option_with_its_type_choices_and_range() -> None:
    assert ipa.SETTING_NAMES == tuple(s.name for s in options.SETTINGS)
    for (name, param, kind, choices, bounds, aliases), setting in zip(
        ipa.SETTINGS, options.SETTINGS, strict=True
    ):
        assert param == setting.attribute.lower(), name  # the plugin's params are the attributes, lower-cased
        assert kind == TYPES[setting.type], name
        assert tuple(choices) == tuple(setting.choices), name
        assert bounds == setting.bounds, name
        assert aliases == ((setting.cli,) if setting.cli else ()), name
    assert ipa.NOTICE_MAX == options.BY_NAME["notice"].max_length
    assert ipa.RULE_NAME.pattern == values.RULE_NAME_PATTERN


def test_the_documentation_describes_exactly_the_argument_spec() -> None:
    documented = documentation()["options"]
    argspec = ipa.argument_spec()
    assert set(documented) == set(argspec)
    for name, option in argspec.items():
        doc = documented[name]
        for key in ("type", "elements", "choices", "aliases", "default", "required"):
            assert doc.get(key) == option.get(key), (name, key)
    for setting in options.SETTINGS:  # the ranges the server enforces are in the text
        if setting.bounds is not None:
            text = documented[setting.name]["description"]
            text = text if isinstance(text, str) else " ".join(text)
            assert str(setting.bounds[0]) in text, setting.name


@pytest.mark.parametrize(
    "value",
    [
        "wa:/etc/shadow",
        "rwxa:/",
        "r:/srv/data",
        "ww:/etc",
        "q:/etc",
        "r:etc",
        "r:/etc/",
        "r:/a/../b",
        "r:/a//b",
        "r:/a/./b",
        "r:/a\tb",
        "rwxa",
        "",
        ":/etc",
        "a:/" + "x" * 5000,
    ],
)
def test_watched_paths_are_checked_as_the_server_checks_them(value: str) -> None:
    assert ipa.watch_path_error(value) == values.watch_path_error(value)


# -- parameters ----------
def params(**given: Any) -> dict[str, Any]:
    out: dict[str, Any] = {k: None for k in ipa.argument_spec()}
    out.update(action="rule", state="present", ipaadmin_principal="admin", validate_certs=True)
    out.update(given)
    return out


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"name": []}, "give at least one rule name"),
        ({"name": ["-bad"]}, "is not a valid rule name"),
        ({"name": ["a", "b"]}, "exactly one name"),
        (
            {"name": ["a"], "usercategory": "all", "group": ["g"]},
            "usercategory all cannot be combined with group",
        ),
        (
            {"name": ["a"], "hostcategory": "all", "host": ["h.x"]},
            "hostcategory all cannot be combined with host",
        ),
        ({"name": ["a"], "priority": 1001}, "priority must be between 0 and 1000, not 1001"),
        ({"name": ["a"], "payload": 100}, "payload must be between 256 and 3072"),
        ({"name": ["a"], "notice": "x" * 1025}, "notice must be at most 1024 characters"),
        (
            {"name": ["a"], "watch_paths": ["rw:/etc/../x"]},
            "watch_paths: 'rw:/etc/../x' path must be normalized",
        ),
        ({"name": ["a"], "state": "enabled", "action": "member"}, "action member cannot be used with state"),
        ({"name": ["a"], "state": "disabled", "kind": "exempt"}, "state disabled takes only name, not kind"),
        ({"name": ["a"], "action": "member", "priority": 3}, "action member takes only name and members"),
        ({"name": ["a"], "action": "member"}, "action member needs user, group, host or hostgroup"),
        ({"name": ["a"], "state": "absent", "user": ["u"]}, "state absent with action rule takes only name"),
    ],
)
def test_parameters_that_cannot_go_together_are_refused_with_a_reason(given: dict, message: str) -> None:
    problem = ipa.check_params(params(**given))
    assert problem is not None and message in problem


def test_good_parameters_pass() -> None:
    assert (
        ipa.check_params(params(name=["a"], group=["g"], hostgroup=["h"], priority=5, log_input=True)) is None
    )
    assert ipa.check_params(params(name=["a", "b"], state="absent")) is None
    assert ipa.check_params(params(name=["a"], state="absent", action="member", user=["u"])) is None


# -- the rule as the server shows it, and the plan ----------
SHOWN = {  # a sessionrecording_show result as FreeIPA 4.9's JSON-RPC gives it
    "cn": ["prod"],
    "description": ["Production"],
    "ipaenabledflag": ["TRUE"],
    "ipasessionrecordingkind": ["record"],
    "ipasessionrecordingpriority": ["5"],
    "ipasessionrecordingloginput": [True],
    "ipasessionrecordinglogoutput": [True],
    "ipasessionrecordinglogwindow": [True],
    "ipasessionrecordingauditcommands": [False],
    "ipasessionrecordingwatchpath": ["wa:/etc/shadow"],
    "memberuser_group": ["Admins"],
    "memberhost_hostgroup": ["production"],
    "objectclass": ["top", "ipaassociation", "ipasessionrecordingrule"],
}


def test_a_shown_rule_becomes_the_modules_terms() -> None:
    rule = ipa.rule_from_ipa(SHOWN)
    assert rule["name"] == "prod" and rule["enabled"] is True and rule["priority"] == 5
    assert rule["log_input"] is True and rule["audit_commands"] is False and rule["latency"] is None
    assert rule["group"] == ["admins"] and rule["user"] == [] and rule["hostcategory"] == ""
    assert rule["watch_paths"] == ["wa:/etc/shadow"]
    assert ipa.rule_from_ipa(dict(SHOWN, ipaenabledflag=[False]))["enabled"] is False
    assert ipa.rule_from_ipa(None) is None


def test_a_new_rule_is_added_with_its_settings_then_its_members() -> None:
    p = params(
        name=["dev"], description="Developers", group=["Developers"], hostgroup=["clients"], log_input=True
    )
    commands = ipa.plan(p, {"dev": None})
    assert commands == [
        ["sessionrecording_add", "dev", {"description": "Developers", "ipasessionrecordingloginput": True}],
        ["sessionrecording_add_user", "dev", {"group": ["developers"]}],
        ["sessionrecording_add_host", "dev", {"hostgroup": ["clients"]}],
    ]
    after = ipa.predict(None, commands, "dev")
    assert after["group"] == ["developers"] and after["log_input"] is True and after["enabled"] is True


def test_a_rule_as_wanted_needs_no_command() -> None:
    rule = ipa.rule_from_ipa(SHOWN)
    p = params(
        name=["prod"],
        description="Production",
        priority=5,
        log_input=True,
        watch_paths=["wa:/etc/shadow"],
        group=["admins"],
        hostgroup=["production"],
        user=[],
    )
    assert ipa.plan(p, {"prod": rule}) == []


def test_only_what_differs_is_changed_and_members_become_exact() -> None:
    rule = ipa.rule_from_ipa(SHOWN)
    p = params(name=["prod"], priority=7, description="", notice="Recorded", watch_paths=[], group=["ops"])
    commands = ipa.plan(p, {"prod": rule})
    assert commands == [
        ["sessionrecording_remove_user", "prod", {"group": ["admins"]}],
        [
            "sessionrecording_mod",
            "prod",
            {
                "description": "",
                "ipasessionrecordingpriority": 7,
                "ipasessionrecordingnotice": "Recorded",
                "ipasessionrecordingwatchpath": "",
            },
        ],
        ["sessionrecording_add_user", "prod", {"group": ["ops"]}],
    ]
    after = ipa.predict(rule, commands, "prod")
    assert after["description"] == "" and after["priority"] == 7 and after["watch_paths"] is None
    assert after["group"] == ["ops"] and after["hostgroup"] == ["production"] and rule["group"] == ["admins"]


def test_members_are_removed_before_a_category_becomes_all() -> None:
    rule = ipa.rule_from_ipa(SHOWN)
    commands = ipa.plan(params(name=["prod"], usercategory="all", group=[]), {"prod": rule})
    assert [c[0] for c in commands] == ["sessionrecording_remove_user", "sessionrecording_mod"]


def test_action_member_adds_or_removes_only_what_is_needed() -> None:
    rule = ipa.rule_from_ipa(SHOWN)
    add = params(name=["prod"], action="member", group=["admins", "ops"], host=["web1.ipa.test"])
    assert ipa.plan(add, {"prod": rule}) == [
        ["sessionrecording_add_user", "prod", {"group": ["ops"]}],
        ["sessionrecording_add_host", "prod", {"host": ["web1.ipa.test"]}],
    ]
    remove = params(name=["prod"], action="member", state="absent", group=["admins", "ops"])
    assert ipa.plan(remove, {"prod": rule}) == [
        ["sessionrecording_remove_user", "prod", {"group": ["admins"]}]
    ]
    with pytest.raises(ipa.PlanError, match="no session recording rule 'prod'"):
        ipa.plan(add, {"prod": None})


def test_enable_disable_and_delete_only_when_needed() -> None:
    rule = ipa.rule_from_ipa(SHOWN)
    off = dict(rule, enabled=False)
    assert ipa.plan(params(name=["prod"], state="enabled"), {"prod": rule}) == []
    assert ipa.plan(params(name=["prod"], state="disabled"), {"prod": rule}) == [
        ["sessionrecording_disable", "prod", {}]
    ]
    assert ipa.plan(params(name=["prod"], state="enabled"), {"prod": off}) == [
        ["sessionrecording_enable", "prod", {}]
    ]
    assert ipa.predict(rule, [["sessionrecording_disable", "prod", {}]], "prod")["enabled"] is False
    both = params(name=["prod", "gone"], state="absent")
    assert ipa.plan(both, {"prod": rule, "gone": None}) == [["sessionrecording_del", "prod", {}]]
    assert ipa.predict(rule, [["sessionrecording_del", "prod", {}]], "prod") is None


# -- the server's failures, as one message ----------
class FakeClient:
    def __init__(self, answers: dict[str, Any]):
        self.answers = answers
        self.sent: list[tuple[str, list, dict]] = []

    def _request(self, method: str, args: list, params: dict) -> Any:
        self.sent.append((method, args, params))
        answer = self.answers[method]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_server_error_is_passed_on_as_one_line_naming_the_command() -> None:
    from python_freeipa import exceptions

    error = exceptions.ValidationError(
        message="invalid 'log_output': a record rule must record input or output\n(--log-input=TRUE ...)",
        code=3009,
    )
    client = FakeClient({"sessionrecording_mod": error})
    with pytest.raises(ipa.CommandError) as raised:
        ipa.execute(client, [["sessionrecording_mod", "prod", {"ipasessionrecordinglogoutput": False}]])
    assert str(raised.value) == (
        "sessionrecording_mod prod: invalid 'log_output': a record rule must record input or output "
        "(--log-input=TRUE ...)"
    )


def test_member_failures_that_freeipa_reports_without_an_error_fail_the_task() -> None:
    result = {
        "completed": 0,
        "failed": {"memberuser": {"user": [["nosuch", "no such entry"]], "group": []}},
        "result": {},
    }
    client = FakeClient({"sessionrecording_add_user": result})
    with pytest.raises(
        ipa.CommandError, match=r"^sessionrecording_add_user prod: user nosuch: no such entry$"
    ):
        ipa.execute(client, [["sessionrecording_add_user", "prod", {"user": ["nosuch"]}]])


def test_a_missing_rule_is_none_and_other_show_errors_are_one_message() -> None:
    from python_freeipa import exceptions

    missing = FakeClient(
        {"sessionrecording_show": exceptions.NotFound(message="prod: rule not found", code=4001)}
    )
    assert ipa.show(missing, "prod") is None
    denied = FakeClient({"sessionrecording_show": exceptions.Unauthorized(message="Insufficient access")})
    with pytest.raises(ipa.CommandError, match="^sessionrecording_show prod: Insufficient access$"):
        ipa.show(denied, "prod")
    shown = FakeClient({"sessionrecording_show": {"result": SHOWN}})
    assert ipa.show(shown, "prod")["priority"] == 5 and shown.sent[0][2] == {"all": True}


def test_the_ipa_server_defaults_to_the_enrolled_hosts_server(tmp_path: Path) -> None:
    conf = tmp_path / "default.conf"
    conf.write_text("[global]\nbasedn = dc=ipa,dc=test\nserver = ipa1.ipa.test\nrealm = IPA.TEST\n")
    assert ipa.default_server(str(conf)) == "ipa1.ipa.test"
    assert ipa.default_server(str(tmp_path / "missing")) is None


# -- the module itself, as Ansible runs it (argument validation) ----------
def run_module(args: dict[str, Any], tmp_path: Path, python: Path = ANSIBLE_PYTHON) -> dict[str, Any]:
    if not python.is_file():
        pytest.fail(f"{python} is missing: run `make ansible-venv`")
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT / "ansible"), "HOME": str(tmp_path)}
    result = subprocess.run(
        [str(python), str(MODULE), str(args_file)], capture_output=True, text=True, env=env, timeout=60
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"name": "r", "priority": "high"}, "argument 'priority' is of type"),
        ({"name": "r", "limit_action": "burn"}, "value of limit_action must be one of: pass, delay, drop"),
        ({"name": "r", "usercat": "some"}, "value of usercategory must be one of: all, "),
        ({"name": "r", "colour": "red"}, "Unsupported parameters"),
        ({"state": "present"}, "missing required arguments: name"),
        ({"name": "r", "payload": 9999}, "payload must be between 256 and 3072, not 9999"),
    ],
)
def test_the_module_refuses_bad_arguments_before_it_connects(
    args: dict, message: str, tmp_path: Path
) -> None:
    result = run_module({"ipa_host": "127.0.0.1:9", **args}, tmp_path)
    assert result["failed"] and message in result["msg"], result


def test_without_python_freeipa_the_module_says_what_to_install(tmp_path: Path) -> None:
    # Debian's python3 has ansible (Debian's ansible-core) but no python-freeipa
    if subprocess.run(["/usr/bin/python3", "-c", "import ansible, sys"], capture_output=True).returncode:
        pytest.fail("Debian's ansible-core is not installed: run scripts/install-deps.sh")
    if (
        subprocess.run(["/usr/bin/python3", "-c", "import python_freeipa"], capture_output=True).returncode
        == 0
    ):
        pytest.skip("this machine's python3 has python-freeipa")
    result = run_module({"name": "r", "ipa_host": "127.0.0.1:9"}, tmp_path, Path("/usr/bin/python3"))
    assert result["failed"] and "python-freeipa" in result["msg"]


def test_the_password_is_never_logged(tmp_path: Path) -> None:
    args = {
        "name": "r",
        "ipa_host": "127.0.0.1:9",
        "ipaadmin_password": "Secret-123",
        "validate_certs": False,
    }
    result = run_module(args, tmp_path)
    assert result["failed"] and "cannot log in to 127.0.0.1:9" in result["msg"]
    assert "Secret-123" not in json.dumps(result)
