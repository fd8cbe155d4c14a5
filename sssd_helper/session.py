"""How a host's decision becomes the recorder's command line (`sessrec record …`)."""

from __future__ import annotations

from .rules import Options


def recorder_argv(options: Options, sessrec: str = "sessrec", writer: str = "journal") -> list[str]:
    """`sessrec record` with the effective options of a recorded session, up to the `--` before the command.

    Output and window are always recorded by sessrec; rules that turn them off are not honoured yet."""
    argv = [
        sessrec,
        "record",
        "--writer",
        writer,
        "--input" if options.log_input else "--no-input",
        "--latency",
        str(options.latency),
        "--payload",
        str(options.payload),
        "--rate",
        str(options.rate),
        "--burst",
        str(options.burst),
        "--limit-action",
        options.limit_action,
    ]
    if options.notice:
        argv += ["--notice", options.notice]
    return [*argv, "--"]
