"""How a host's decision becomes the recorder's command line (`sessrec record …`)."""

from __future__ import annotations

from typing import Any

from ipa_plugin.policy import options as option_table


def recorder_argv(options: Any, sessrec: str = "sessrec", writer: str = "journal") -> list[str]:
    """`sessrec record` with a session's effective options, up to the `--` before the command."""
    return [sessrec, "record", "--writer", writer, *option_table.recorder_args(options), "--"]
