"""The option table (ipa_plugin.policy.options): value rules, defaults and the recorder flags."""

from __future__ import annotations

import pytest

from ipa_plugin.policy import options, values
from ipa_plugin.policy.options import BY_NAME, OPTIONS, Options
from recorder.cli import build_parser


def test_defaults_follow_tlog_rec_session() -> None:
    o = Options()
    assert (o.log_input, o.log_output, o.log_window, o.audit_commands) == (False, True, True, False)
    assert (o.latency, o.payload, o.rate, o.burst, o.limit_action) == (10, 2048, 16384, 32768, "pass")
    assert o.watch_paths == () and o.notice == ""


def test_every_setting_has_its_own_attribute_number_and_cli_name() -> None:
    for key in ("attribute", "number", "cli_name", "name"):
        found = [getattr(s, key) for s in options.SETTINGS]
        assert len(found) == len(set(found)), key


def test_every_recorder_flag_is_one_sessrec_record_accepts() -> None:
    record = build_parser()._subparsers._group_actions[0].choices["record"]  # type: ignore[union-attr]
    accepted = {s for action in record._actions for s in action.option_strings}
    for o in OPTIONS:
        for arg in o.recorder_args(o.default if o.type is not options.Type.TEXT else "x"):
            if arg.startswith("--"):
                assert arg in accepted, (o.name, arg)
    args = options.recorder_args(Options(log_input=True, log_window=False, notice="n"))
    assert args[:3] == ["--log-input", "--log-output", "--no-log-window"]
    assert args[args.index("--notice") + 1] == "n" and "--notice" not in options.recorder_args(Options())


@pytest.mark.parametrize(
    ("name", "raw", "parsed"),
    [
        ("log_input", ["TRUE"], True),
        ("log_input", ["false"], False),
        ("log_input", ["yes"], None),
        ("latency", ["0"], None),
        ("latency", ["3600"], 3600),
        ("latency", ["x"], None),
        ("payload", ["100000"], None),
        ("rate", ["0"], None),
        ("limit_action", ["DROP"], "drop"),
        ("limit_action", ["lose"], None),
        ("kind", ["Exempt"], "exempt"),
        ("notice", ["x" * 1025], None),
        ("notice", [], None),
        ("watch_paths", ["w:/etc/shadow", "bad", "r:/etc/shadow"], None),
    ],
)
def test_parse_drops_what_a_host_cannot_use(name: str, raw: list[str], parsed: object) -> None:
    value = BY_NAME[name].parse(raw)
    if name == "watch_paths":
        assert [str(w) for w in value] == ["r:/etc/shadow", "w:/etc/shadow"]
    else:
        assert value == parsed


def test_error_messages_name_the_range() -> None:
    assert BY_NAME["priority"].error(1001) == "must be between 0 and 1000"
    assert BY_NAME["priority"].error(True) == "must be an integer"
    assert BY_NAME["limit_action"].error("lose") == "must be one of pass, delay, drop"
    assert BY_NAME["log_input"].error(1) == "must be a boolean"


def test_as_dict_and_from_dict_round_trip() -> None:
    o = Options(log_input=True, watch_paths=(values.WatchPath("/etc/shadow", "wa"),), latency=3)
    data = options.as_dict(o)
    assert data["watch_paths"] == ["wa:/etc/shadow"]
    assert options.from_dict(data) == o
    with pytest.raises(ValueError, match="latency must be between"):
        options.from_dict({"latency": 0})


def test_the_plugin_docs_list_every_setting_with_its_range() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "plugin.md").read_text()
    for s in options.SETTINGS:
        row = next((line for line in doc.splitlines() if f"`{s.attribute}`" in line), None)
        assert row is not None, f"docs/plugin.md has no row for {s.attribute}"
        if s.bounds is not None and s.bounds[1] < options.INT32_MAX:
            assert f"{s.bounds[0]}..{s.bounds[1]}" in row, row
        elif s.bounds is not None:
            assert f"≥ {s.bounds[0]}" in row, row
