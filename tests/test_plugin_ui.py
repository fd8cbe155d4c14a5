"""The Web UI plugin: valid JavaScript, and under a stand-in AMD loader it registers the entity FreeIPA
expects (search and details facets, every option field, HBAC-style membership tables, Policy menu)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ipa_plugin.policy import layout, options

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "ipa_plugin" / "ui" / "sessionrecording" / "sessionrecording.js"
HARNESS = ROOT / "tests" / "ipa" / "ui_harness.js"


def node() -> str:
    path = shutil.which("node")
    assert path, "node is needed to check the Web UI plugin (Debian: apt-get install nodejs)"
    return path


@pytest.fixture(scope="module")
def registered() -> dict[str, Any]:
    out = subprocess.run([node(), str(HARNESS), str(UI)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_javascript_syntax() -> None:
    out = subprocess.run([node(), "--check", str(UI)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_plugin_directory_name_is_what_freeipa_loads() -> None:
    # FreeIPA's loader wants plugins/<name>/<name>.js with a name of [A-Za-z][A-Za-z0-9_-]*.
    assert UI.parent.name == UI.stem == "sessionrecording"


def test_module_uses_only_freeipa_modules(registered: dict[str, Any]) -> None:
    assert registered["deps"][0] == "freeipa/ipa"
    assert all(d.startswith("freeipa/") for d in registered["deps"])
    assert {"freeipa/menu", "freeipa/phases", "freeipa/reg", "freeipa/rule"} <= set(registered["deps"])


def test_attribute_names_are_the_layouts(registered: dict[str, Any]) -> None:
    names = {a.attribute.lower() for a in layout.OPTION_ATTRIBUTES} | {layout.ATTR_ENABLED.lower()}
    assert set(registered["attr"].values()) == names


def test_entity_under_policy_menu(registered: dict[str, Any]) -> None:
    assert [e["type"] for e in registered["entities"]] == ["sessionrecording"]
    assert registered["menu"] == [
        {"item": {"entity": "sessionrecording", "label": "Session Recording"}, "parent": "policy"}
    ]
    assert {p["phase"] for p in registered["phases"]} == {"registration", "profile"}


def test_search_facet_shows_status_and_batch_enables(registered: dict[str, Any]) -> None:
    search, details = registered["entities"][0]["spec"]["facets"]
    assert search["$type"] == "search" and details["$type"] == "details"
    assert search["row_enabled_attribute"] == layout.ATTR_ENABLED.lower()
    assert {"name": "ipaenabledflag", "label": "@i18n:status.label", "formatter": "boolean_status"} in search[
        "columns"
    ]
    assert search["actions"] == ["batch_disable", "batch_enable"]


def test_details_facet_has_every_option_and_membership_tables(registered: dict[str, Any]) -> None:
    details = registered["entities"][0]["spec"]["facets"][1]
    fields = {f["name"]: f for f in details["fields"]}
    for option in layout.OPTION_ATTRIBUTES:
        assert option.attribute.lower() in fields, option.name
    for name in ("cn", "description", "usercategory", "hostcategory"):
        assert name in fields
    assert fields[options.ATTRIBUTE["watch_paths"].lower()]["$type"] == "multivalued"
    kinds = [o["value"] for o in fields[layout.ATTR_KIND.lower()]["options"]]
    assert kinds == list(layout.KINDS)
    actions = [o["value"] for o in fields[options.ATTRIBUTE["limit_action"].lower()]["options"] if o["value"]]
    assert actions == list(options.LIMIT_ACTIONS)
    tables = {}
    for section in details["widgets"]:
        for widget in section["widgets"]:
            for table in widget.get("widgets", []):
                if table.get("$type") == "rule_association_table":
                    tables[table["name"]] = (table["add_method"], table["remove_method"])
    assert tables == {
        "memberuser_user": ("add_user", "remove_user"),
        "memberuser_group": ("add_user", "remove_user"),
        "memberhost_host": ("add_host", "remove_host"),
        "memberhost_hostgroup": ("add_host", "remove_host"),
    }
    for name in tables:
        assert fields[name]["$type"] == "rule_association_table"
    # Every field is shown by a widget of the section its path names.
    sections = {s["name"]: s for s in details["widgets"]}
    for field in details["fields"]:
        section, *rest = field["widget"].split(".")
        assert section in sections, field
    assert details["actions"] == ["select", "enable", "disable", "delete"]
    assert details["state"]["evaluators"][0]["field"] == layout.ATTR_ENABLED.lower()
