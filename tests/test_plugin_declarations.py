"""The server plugin's declarations agree with the one layout and with the schema 389-ds loaded.

The module runs here on recording stand-ins of ipalib (tests/ipa/stubs.py); `make test-ipa` runs it on
FreeIPA's own code (tests/ipa/test_ipaserver_plugin.py)."""

from __future__ import annotations

import re
import types
from pathlib import Path

import ldap
import ldap.schema
import pytest

from ipa_plugin import access
from ipa_plugin.policy import layout, options
from tests.ipa import COMMAND_SUFFIXES, stubs
from tests.lab.lab import Lab

ROOT = Path(__file__).resolve().parents[1]
UPDATE_FILE = ROOT / "ipa_plugin" / "updates" / "75-sessionrecording.update"
SYNTAX_OF_KIND = {
    "Bool": layout.SYNTAX_BOOLEAN,
    "Int": layout.SYNTAX_INTEGER,
    "Str": layout.SYNTAX_STRING,
    "StrEnum": layout.SYNTAX_STRING,
}
COMMANDS = ["sessionrecording_" + c for c in COMMAND_SUFFIXES]
MEMBER_DISPLAY = {"memberuser_user", "memberuser_group", "memberhost_host", "memberhost_hostgroup"}


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> tuple[types.ModuleType, stubs.Registered]:
    return stubs.load_plugin(monkeypatch)


@pytest.fixture(scope="module")
def schema(lab: Lab) -> ldap.schema.SubSchema:
    found = lab.ldap().search_s(
        "cn=schema", ldap.SCOPE_BASE, "(objectClass=*)", ["attributeTypes", "objectClasses"]
    )
    return ldap.schema.SubSchema(found[0][1])


def rule_class_attributes(schema: ldap.schema.SubSchema) -> dict[str, ldap.schema.AttributeType]:
    must, may = schema.attribute_types([layout.RULE_OBJECTCLASS])
    return {name.lower(): at for at in (*must.values(), *may.values()) for name in at.names}


def params(plugin: tuple[types.ModuleType, stubs.Registered]) -> dict[str, stubs.Param]:
    return {p.name: p for p in plugin[1].classes["sessionrecording"].takes_params}


def test_every_command_is_registered(plugin: tuple[types.ModuleType, stubs.Registered]) -> None:
    assert sorted(plugin[1].classes) == sorted(["sessionrecording", "sessionrecordingtest", *COMMANDS])
    for name in COMMANDS:
        cls = plugin[1].classes[name]
        assert cls.__doc__ and cls.__doc__.strip(), name


def test_find_filters_on_the_membership_attributes(plugin: tuple[types.ModuleType, stubs.Registered]) -> None:
    """FreeIPA's LDAPSearch makes --users/--no-users ... from member_attributes and attribute_members."""
    find = plugin[1].classes["sessionrecording_find"]
    obj = plugin[1].classes["sessionrecording"]
    assert find.member_attributes == [layout.ATTR_MEMBER_USER.lower(), layout.ATTR_MEMBER_HOST.lower()]
    assert [obj.attribute_members[a] for a in find.member_attributes] == [
        ["user", "group"],
        ["host", "hostgroup"],
    ]


def test_test_command_and_its_result_object(plugin: tuple[types.ModuleType, stubs.Registered]) -> None:
    cmd = plugin[1].classes["sessionrecording_test"]
    assert (cmd.obj_name, cmd.attr_name) == ("sessionrecordingtest", "run")
    opts = {p.name: p for p in cmd.takes_options}
    assert list(opts) == ["user", "host", "rules", "enabled", "disabled"]
    assert opts["user"].required and opts["host"].required and opts["rules"].multivalue
    assert opts["enabled"].kind == opts["disabled"].kind == "Flag"
    assert all(o.kw.get("label") and o.kw.get("cli_name") == o.name for o in opts.values())
    assert [o.name for o in cmd.has_output] == ["summary", "result", "value"]
    assert cmd.has_output[1].type is dict and "no_display" in cmd.has_output[2].flags
    result = {p.name: p for p in plugin[1].classes["sessionrecordingtest"].takes_params}
    assert not any(p.required for p in result.values())
    assert {o.attribute.lower() for o in options.OPTIONS} <= set(result)


def test_record_only_params_come_from_the_option_table(
    plugin: tuple[types.ModuleType, stubs.Registered],
) -> None:
    obj = plugin[1].classes["sessionrecording"]
    assert "record_only_params" in obj.json_friendly_attributes  # shipped in the web UI's metadata
    assert set(obj.json_friendly_attributes) > {"name", "takes_params", "label"}  # FreeIPA's are kept
    expected = [s.attribute.lower() for s in options.SETTINGS if not s.applies_to_exempt]
    assert obj.record_only_params == expected
    assert layout.ATTR_KIND.lower() not in expected and layout.ATTR_PRIORITY.lower() not in expected
    assert set(expected) == {o.attribute.lower() for o in options.OPTIONS}


def test_ui_messages_are_added_to_freeipas_i18n_messages(
    plugin: tuple[types.ModuleType, stubs.Registered],
) -> None:
    objects = plugin[1].i18n["objects"]
    assert {"sessionrecording", "sessionrecordingtest"} <= set(objects)
    choices = objects["sessionrecording"]["choices"]
    for setting in options.SETTINGS:
        if setting.type is options.Type.CHOICE:  # one label per value, so the UI can offer every choice
            assert set(choices[setting.attribute.lower()]) == set(setting.choices), setting.name


def test_bounds_let_one_message_through_any_rate_limit() -> None:
    """The recorder's limiter admits a message when it fits rate + burst bytes (recorder/sink.py, payload
    plus a header of about 200 bytes). With the smallest rate and burst the plugin accepts, the largest
    payload it accepts must still fit with a wide margin for long user, host and terminal names, or the
    drop action would record nothing."""
    payload, rate, burst = (options.BY_NAME[n].bounds for n in ("payload", "rate", "burst"))
    assert burst[0] >= payload[1] + 1024
    assert rate[0] >= 1024 and payload[1] <= 3072  # a journal field shows at most 4096 bytes


class FakeLdap:
    """ldap2.get_entry for the cross-field check: the stored rule, or NotFound."""

    def __init__(self, errors: types.ModuleType, stored: dict | None) -> None:
        self.errors, self.stored = errors, stored

    def get_entry(self, dn: object, attrs: list[str]) -> dict:
        if self.stored is None:
            raise self.errors.NotFound()
        return {k: v for k, v in self.stored.items() if k in attrs}


LOG_INPUT, LOG_OUTPUT = (options.ATTRIBUTE[n].lower() for n in ("log_input", "log_output"))
KIND = layout.ATTR_KIND.lower()


@pytest.mark.parametrize(
    "stored,change,ok",
    [
        (None, {KIND: "record", LOG_INPUT: False, LOG_OUTPUT: False}, False),  # sessionrecording-add
        (None, {KIND: "exempt", LOG_INPUT: False, LOG_OUTPUT: False}, True),
        (None, {KIND: "record", LOG_INPUT: True, LOG_OUTPUT: False}, True),
        ({KIND: ["exempt"], LOG_INPUT: [False], LOG_OUTPUT: [False]}, {KIND: "record"}, False),
        ({KIND: ["record"], LOG_INPUT: [True], LOG_OUTPUT: [False]}, {LOG_INPUT: False}, False),
        ({KIND: ["record"], LOG_INPUT: [False]}, {LOG_OUTPUT: False}, False),  # input unset is FALSE
        (
            {KIND: ["record"], LOG_INPUT: [False], LOG_OUTPUT: [False]},
            {LOG_OUTPUT: None},
            True,
        ),  # unset: TRUE
        ({KIND: ["record"], LOG_INPUT: ["FALSE"], LOG_OUTPUT: [b"FALSE"]}, {LOG_INPUT: "TRUE"}, True),
        (
            {KIND: ["record"], LOG_INPUT: [False], LOG_OUTPUT: [False]},
            {"description": "x"},
            True,
        ),  # untouched
    ],
)
def test_a_record_rule_must_record_input_or_output(
    plugin: tuple[types.ModuleType, stubs.Registered], stored: dict | None, change: dict, ok: bool
) -> None:
    module = plugin[0]
    ldap_ = FakeLdap(module.errors, stored)
    if ok:
        module._check_rule(ldap_, None if stored is None else "cn=r", dict(change))
        return
    with pytest.raises(module.errors.ValidationError) as raised:
        module._check_rule(ldap_, None if stored is None else "cn=r", dict(change))
    assert raised.value.kw["name"] == "log_output" and "--kind=exempt" in raised.value.kw["error"]


def test_object_classes_and_attributes_exist_in_schema(
    plugin: tuple[types.ModuleType, stubs.Registered], schema: ldap.schema.SubSchema
) -> None:
    obj = plugin[1].classes["sessionrecording"]
    for oc in obj.object_class + obj.permission_filter_objectclasses:
        assert schema.get_obj(ldap.schema.ObjectClass, oc) is not None, oc
    allowed = rule_class_attributes(schema)
    assert set(obj.default_attributes) <= set(allowed)
    assert set(obj.attribute_members) == {layout.ATTR_MEMBER_USER.lower(), layout.ATTR_MEMBER_HOST.lower()}
    assert obj.uuid_attribute == layout.ATTR_UNIQUE_ID.lower()
    assert obj.container_dn.rdns == (layout.CONTAINER_RDN,)


def test_every_param_maps_onto_a_schema_attribute_of_the_right_syntax(
    plugin: tuple[types.ModuleType, stubs.Registered], schema: ldap.schema.SubSchema
) -> None:
    allowed = rule_class_attributes(schema)
    for name, param in params(plugin).items():
        if name in MEMBER_DISPLAY:
            assert {"no_create", "no_update", "no_search"} <= param.flags
            assert name.split("_")[0] in plugin[1].classes["sessionrecording"].attribute_members
            continue
        assert name in allowed, f"param {name} has no attribute in {layout.RULE_OBJECTCLASS}"
        at = allowed[name]
        assert name == name.lower() and at.names[0].lower() == name
        if name != layout.ATTR_NAME.lower():
            assert at.syntax == SYNTAX_OF_KIND[param.kind], name
            if name in {a.attribute.lower() for a in layout.OPTION_ATTRIBUTES}:
                assert bool(at.single_value) != param.multivalue, name
            else:  # IPA's own multi-valued attributes (description, categories) are used single-valued
                assert not (at.single_value and param.multivalue), name
            assert not param.required, name


def test_every_option_attribute_has_a_param(plugin: tuple[types.ModuleType, stubs.Registered]) -> None:
    declared = params(plugin)
    for option in layout.OPTION_ATTRIBUTES:
        assert option.attribute.lower() in declared, option.name
    for attr in (
        layout.ATTR_USER_CATEGORY,
        layout.ATTR_HOST_CATEGORY,
        layout.ATTR_ENABLED,
        layout.ATTR_DESCRIPTION,
    ):
        assert attr.lower() in declared
    cli = [p.kw.get("cli_name") for p in declared.values() if "cli_name" in p.kw]
    assert len(cli) == len(set(cli))
    assert all(p.kw.get("label") for p in declared.values()), "every param needs a label for CLI and UI"


def test_value_formats_come_from_layout_and_values(plugin: tuple[types.ModuleType, stubs.Registered]) -> None:
    p = params(plugin)
    assert tuple(p[layout.ATTR_KIND.lower()].kw["values"]) == layout.KINDS
    assert tuple(p[options.ATTRIBUTE["limit_action"].lower()].kw["values"]) == options.LIMIT_ACTIONS
    assert tuple(p[layout.ATTR_USER_CATEGORY.lower()].kw["values"]) == (layout.CATEGORY_ALL,)
    assert p[layout.ATTR_USER_CATEGORY.lower()].kw["cli_name"] == "usercat"
    assert p[layout.ATTR_HOST_CATEGORY.lower()].kw["cli_name"] == "hostcat"
    for setting in options.SETTINGS:
        kw = p[setting.attribute.lower()].kw
        assert kw["cli_name"] == setting.cli_name and kw["label"] == setting.label, setting.name
        if setting.bounds is not None:
            assert (kw["minvalue"], kw["maxvalue"]) == setting.bounds, setting.name
        if setting.type in (options.Type.BOOL, options.Type.CHOICE) and "default" in kw:
            assert kw["default"] == setting.default and kw["autofill"], setting.name
    for unset_by_default in ("notice", "latency", "payload", "rate", "burst", "limit_action"):
        assert "default" not in p[options.ATTRIBUTE[unset_by_default].lower()].kw, unset_by_default
    assert p[layout.ATTR_KIND.lower()].kw["default"] == layout.KIND_RECORD
    assert p[layout.ATTR_PRIORITY.lower()].kw["default"] == 0


def test_watch_path_and_name_validation(plugin: tuple[types.ModuleType, stubs.Registered]) -> None:
    p = params(plugin)
    (rule,) = p[options.ATTRIBUTE["watch_paths"].lower()].rules
    assert rule(lambda s: s, "wa:/etc/shadow") is None
    for bad in ("z:/etc", "r:relative", "r:/a/../b", "rr:/x"):
        assert rule(lambda s: s, bad), bad
    pattern = re.compile(p["cn"].kw["pattern"])
    assert p["cn"].kw["primary_key"] and p["cn"].kw["pattern_errmsg"]
    for good in ("prod", "web-01", "a.b_c"):
        assert pattern.match(good), good
    for bad in ("", "-x", "a b", "a,b", "a=b", "a*", "(a)", "a\\b", "a+b", 'a"b', "a\nb", "x" * 256):
        assert not pattern.match(bad), bad


def test_managed_permissions(
    plugin: tuple[types.ModuleType, stubs.Registered], schema: ldap.schema.SubSchema
) -> None:
    obj = plugin[1].classes["sessionrecording"]
    perms = obj.managed_permissions
    assert set(perms) == {
        "System: Read Session Recording Rules",
        "System: Add Session Recording Rules",
        "System: Modify Session Recording Rules",
        "System: Delete Session Recording Rules",
        "System: Manage Session Recording Rule Membership",
    }
    allowed = set(rule_class_attributes(schema)) | {"objectclass"}
    for name, perm in perms.items():
        assert perm["default_privileges"] == {access.PRIVILEGE}, name
        assert perm["ipapermright"] <= {"read", "search", "compare", "add", "write", "delete"}
        assert set(perm.get("ipapermdefaultattr", ())) <= allowed, name
    membership = perms["System: Manage Session Recording Rule Membership"]["ipapermdefaultattr"]
    assert membership == {layout.ATTR_MEMBER_USER.lower(), layout.ATTR_MEMBER_HOST.lower()}
    modify = perms["System: Modify Session Recording Rules"]["ipapermdefaultattr"]
    assert {a.attribute.lower() for a in layout.OPTION_ATTRIBUTES} <= modify and not modify & membership
    read = perms["System: Read Session Recording Rules"]["ipapermdefaultattr"]
    assert {a.lower() for a in layout.RULE_ATTRIBUTES} <= read


def test_shipped_update_file_is_generated() -> None:
    assert UPDATE_FILE.read_text() == access.update_file(), "run: python3 -m ipa_plugin.access > " + str(
        UPDATE_FILE.relative_to(ROOT)
    )


def test_host_acis_cover_exactly_what_hosts_fetch() -> None:
    for aci in access.host_acis("dc=x"):
        targetattr = re.search(r'\(targetattr = "([^"]+)"\)', aci)
        assert targetattr is not None
        assert set(targetattr.group(1).split(" || ")) == {"objectClass", *layout.RULE_ATTRIBUTES}
        assert f"(objectClass={layout.RULE_OBJECTCLASS})" in aci
