"""The Web UI plugin: valid JavaScript, and under a stand-in AMD loader (tests/ipa/ui_harness.js) fed with
the metadata and i18n messages the server plugin declares (tests/ipa/stubs.py), it registers what FreeIPA
expects: the rules entity (search and details facets, every option field, HBAC-style membership tables, an
Add dialog), the Session Recording Test entity on FreeIPA's HBAC Test pages, both under Policy; its texts
come from the server; the options an exempt rule ignores are disabled and hidden for exempt rules.

`make test-ipa` feeds the same harness with the metadata and texts of FreeIPA's real server code
(tests/ipa/test_ipaserver_plugin.py), and tests/ipa/test_webui.py drives the pages in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ipa_plugin.policy import layout, options
from tests.ipa import stubs

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "ipa_plugin" / "ui" / "sessionrecording" / "sessionrecording.js"
HARNESS = ROOT / "tests" / "ipa" / "ui_harness.js"
OURS = ("@i18n:objects.sessionrecording.", "@i18n:objects.sessionrecordingtest.")
# FreeIPA's own texts the module uses; `make test-ipa` checks they exist in FreeIPA's i18n_messages.
FREEIPA_PREFIXES = (
    "@i18n:details.",
    "@i18n:status.",
    "@i18n:buttons.",
    "@i18n:dialogs.",
    "@i18n:widget.",
    "@i18n:objects.hbacrule.",
    "@i18n:objects.hbactest.",
    "@i18n:objects.host.",
    "@i18n:true",
    "@i18n:false",
)
SAMPLE_RESULT = {
    "user": "alice",
    "host": "web1.ipa.test",
    "recorded": True,
    "deciding": ["everyone", "prod"],
    "overridden": ["backup"],
    "notmatched": ["other"],
    "priority": 5,
    "ipasessionrecordingloginput": True,
    "ipasessionrecordingwatchpath": ["w:/etc/shadow", "r:/etc/passwd"],
}


def node() -> str:
    path = shutil.which("node")
    assert path, "node is needed to check the Web UI plugin (Debian: apt-get install nodejs)"
    return path


def run_harness(context: dict[str, Any]) -> dict[str, Any]:
    """The harness's view of the module under `context` (metadata, messages); also used by make test-ipa."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump({**context, "sample_result": SAMPLE_RESULT}, f)
        f.flush()
        out = subprocess.run(
            [node(), str(HARNESS), str(UI), f.name], capture_output=True, text=True, timeout=60
        )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def context() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        _, registered = stubs.load_plugin(mp)
    return stubs.ui_context(registered)


@pytest.fixture(scope="module")
def registered(context: dict[str, Any]) -> dict[str, Any]:
    return run_harness(context)


def entity(registered: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e["spec"] for e in registered["entities"] if e["type"] == name)


def facet(spec: dict[str, Any], name_or_type: str) -> dict[str, Any]:
    return next(f for f in spec["facets"] if name_or_type in (f.get("name"), f.get("$type")))


def test_javascript_syntax() -> None:
    out = subprocess.run([node(), "--check", str(UI)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_plugin_directory_name_is_what_freeipa_loads() -> None:
    # FreeIPA's loader wants plugins/<name>/<name>.js with a name of [A-Za-z][A-Za-z0-9_-]*.
    assert UI.parent.name == UI.stem == "sessionrecording"


def test_module_uses_only_freeipa_modules(registered: dict[str, Any]) -> None:
    assert registered["deps"][0] == "freeipa/ipa"
    assert all(d.startswith("freeipa/") for d in registered["deps"])
    needed = {
        "freeipa/menu",
        "freeipa/phases",
        "freeipa/reg",
        "freeipa/rule",
        "freeipa/metadata",
        "freeipa/text",
    }
    assert needed | {"freeipa/hbactest"} <= set(registered["deps"])  # hbactest: FreeIPA's HBAC Test pages


def test_attribute_names_are_the_layouts(registered: dict[str, Any]) -> None:
    names = {a.attribute.lower() for a in layout.OPTION_ATTRIBUTES} | {layout.ATTR_ENABLED.lower()}
    assert set(registered["attr"].values()) == names


def test_rules_and_test_pages_under_policy(registered: dict[str, Any]) -> None:
    assert [e["type"] for e in registered["entities"]] == ["sessionrecording", "sessionrecordingtest"]
    assert registered["menu"] == [
        {
            "item": {
                "name": "sessionrecording",
                "label": "@i18n:objects.sessionrecording.menu",
                "children": [{"entity": "sessionrecording"}, {"entity": "sessionrecordingtest"}],
            },
            "parent": "policy",
        }
    ]
    assert {p["phase"] for p in registered["phases"]} == {"registration", "profile"}


def test_search_facet_shows_status_and_batch_enables(registered: dict[str, Any]) -> None:
    search = facet(entity(registered, "sessionrecording"), "search")
    assert search["row_enabled_attribute"] == layout.ATTR_ENABLED.lower()
    assert {"name": "ipaenabledflag", "label": "@i18n:status.label", "formatter": "boolean_status"} in search[
        "columns"
    ]
    assert search["actions"] == ["batch_disable", "batch_enable"]


def test_details_facet_has_every_option_and_membership_tables(registered: dict[str, Any]) -> None:
    details = facet(entity(registered, "sessionrecording"), "details")
    fields = {f["name"]: f for f in details["fields"]}
    for option in layout.OPTION_ATTRIBUTES:
        assert option.attribute.lower() in fields, option.name
    for name in ("cn", "description", "usercategory", "hostcategory"):
        assert name in fields
    assert fields[options.ATTRIBUTE["watch_paths"].lower()]["$type"] == "multivalued"
    tables = {}
    for section in details["widgets"]:
        for widget in section["widgets"]:
            for table in widget.get("widgets", []):
                if table.get("$type") == "rule_association_table":
                    tables[table["name"]] = (table["add_method"], table["remove_method"])
                    assert table["add_title"].startswith(OURS[0]) and table["remove_title"].startswith(
                        OURS[0]
                    )
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


def test_choices_come_from_the_metadata_with_the_servers_labels(
    registered: dict[str, Any], context: dict[str, Any]
) -> None:
    spec = entity(registered, "sessionrecording")
    details = {f["name"]: f for f in facet(spec, "details")["fields"]}
    adder = {(f if isinstance(f, str) else f["name"]): f for f in spec["adder_dialog"]["fields"]}
    labels = context["messages"]["objects"]["sessionrecording"]["choices"]
    kind, action = layout.ATTR_KIND.lower(), options.ATTRIBUTE["limit_action"].lower()
    # The Add dialog offers the kind as the same radio choice as the details page, defaulting to record.
    for field in (details[kind], adder[kind]):
        assert field["$type"] == "radio"
        assert field["options"] == [{"value": v, "label": labels[kind][v]} for v in layout.KINDS]
    assert adder[kind]["default_value"] == layout.KIND_RECORD
    assert details[action]["$type"] == "select"
    assert details[action]["options"][0] == {"value": "", "label": "Default"}
    assert details[action]["options"][1:] == [
        {"value": v, "label": labels[action][v]} for v in options.LIMIT_ACTIONS
    ]
    assert list(adder) == ["cn", kind, layout.ATTR_PRIORITY.lower(), "description"]


def test_no_hard_coded_texts(registered: dict[str, Any], context: dict[str, Any]) -> None:
    """Labels and titles are text keys FreeIPA resolves, or texts the server sent (the choices)."""
    spec = entity(registered, "sessionrecording")
    details = facet(spec, "details")
    choices = context["messages"]["objects"]["sessionrecording"]["choices"]
    sent = {label for labels in choices.values() for label in labels.values()} | {"Default"}
    for section in details["widgets"]:
        assert section["label"].startswith("@i18n:"), section["name"]
        for widget in section["widgets"]:
            for option in widget.get("options", []):
                assert option["label"].startswith("@i18n:") or option["label"] in sent, option
    for title in (spec["adder_dialog"]["title"], spec["deleter_dialog"]["title"]):
        assert title.startswith(OURS[0])
    test = entity(registered, "sessionrecordingtest")
    assert test["label"].startswith(OURS[1])
    assert all(f["label"].startswith("@i18n:") for f in test["facets"])
    source = UI.read_text()
    for english in (
        "'Who'",
        "'Where'",
        "What is recorded",
        "Latency and limits",
        "'Anyone'",
        "Session Recording'",
    ):
        assert english not in source, english


def test_every_text_key_is_the_plugins_or_freeipas(registered: dict[str, Any]) -> None:
    used = registered["keys"]
    ours = {k for k in used if k.startswith(OURS)}
    assert {k for k in ours if not used[k]} == set(), "keys the plugin's i18n messages do not define"
    assert len(ours) >= 20
    i18n = {k for k in used if k.startswith("@i18n:")}
    assert i18n - ours <= {k for k in i18n if k.startswith(FREEIPA_PREFIXES)}, i18n - ours
    metadata = {k for k in used if not k.startswith("@i18n:")}
    assert {k for k in metadata if not used[k]} == set(), "metadata keys the plugin's metadata lacks"


def test_exempt_rules_hide_and_disable_the_options_they_ignore(registered: dict[str, Any]) -> None:
    (states,) = registered["policies"]
    ignored = {s.attribute.lower() for s in options.SETTINGS if not s.applies_to_exempt}
    assert ignored == {o.attribute.lower() for o in options.OPTIONS}
    assert set(states["exempt"]["disabled"]) == ignored
    hidden = set(states["exempt"]["hidden"])
    assert {"recording", "limits"} <= hidden  # sections holding only such options go as a whole
    assert not hidden & {"general", "user", "host"} and not any(
        h.startswith(("general.", "user.")) for h in hidden
    )
    assert states["record_1"] == {"disabled": [], "hidden": []}  # back to record: everything again
    assert states["exempt_2"] == states["exempt"]
    assert states["after_load"] == {"disabled": [], "hidden": []}


def test_test_page_is_freeipas_hbac_test_with_our_command(
    registered: dict[str, Any], context: dict[str, Any]
) -> None:
    test = entity(registered, "sessionrecordingtest")
    names = [f["name"] for f in test["facets"]]
    assert names == ["user", "host", "rules", "run_test"] and test["facet_groups"] == ["default"]
    factories = [f["$factory"] for f in test["facets"]]
    assert factories[:3] == ["IPA.hbac.test_select_facet"] * 2 + ["IPA.hbac.test_rules_facet"]
    managed = [f["managed_entity"] for f in test["facets"]]
    assert managed == ["user", "host", "sessionrecording", "sessionrecording"]
    # The pages save their choice under their name: the names are sessionrecording-test's options.
    command = context["metadata"]["commands"]["sessionrecording_test"]
    assert set(names[:3]) | {"enabled", "disabled"} <= {o["name"] for o in command["takes_options"]}
    page = registered["test_page"]
    assert page["only_user"] == {"options": {"user": "alice"}, "missing": ["host"]}
    assert page["all"] == {
        "options": {"user": "alice", "host": "web1.ipa.test", "rules": ["r1", "r2"], "enabled": True},
        "missing": [],
    }


def test_test_result_rows_and_fields(registered: dict[str, Any], context: dict[str, Any]) -> None:
    page = registered["test_page"]
    texts = context["messages"]["objects"]["sessionrecordingtest"]
    assert page["records"] == [
        {"name": "everyone", "outcome": texts["deciding"]},
        {"name": "prod", "outcome": texts["deciding"]},
        {"name": "backup", "outcome": texts["overridden"]},
        {"name": "other", "outcome": texts["notmatched"]},
    ]
    labels = {
        p["name"]: p["label"] for p in context["metadata"]["objects"]["sessionrecordingtest"]["takes_params"]
    }
    fields = {f["name"]: f for f in page["fields"]}
    assert list(fields) == [n for n in labels if n in SAMPLE_RESULT]  # in the result object's order
    assert all(f["label"] == labels[n] for n, f in fields.items())
    assert fields["deciding"]["value"] == "everyone, prod" and fields["priority"]["value"] == "5"
    assert fields["ipasessionrecordingwatchpath"]["value"] == "w:/etc/shadow, r:/etc/passwd"
    assert re.fullmatch(r"True|", fields["recorded"]["value"])  # FreeIPA's "True" text (absent in CI)
