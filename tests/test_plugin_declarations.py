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
    assert sorted(plugin[1].classes) == sorted(["sessionrecording", *COMMANDS])
    for name in COMMANDS:
        cls = plugin[1].classes[name]
        assert cls.__doc__ and cls.__doc__.strip(), name


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
