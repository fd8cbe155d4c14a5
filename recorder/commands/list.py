"""`sessrec list`: the recordings in a file or in the journal, one row each."""

from __future__ import annotations

import argparse
import sys

from recorder.cli import add_source_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "list",
        help="list recordings",
        description="List the recordings in a tlog-format file (grouped by recording id, so interleaved "
        "recordings are told apart) or in the journal (entries with a TLOG_REC field): id, user, host, "
        "start, duration, size of the messages in bytes and message count. Invalid messages are skipped "
        "and counted (exit status 1).",
    )
    add_source_arguments(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=run)


def _messages(args: argparse.Namespace):
    """(recording id or None, where, JSON line) of every message in the source."""
    from recorder import sources

    if args.input is not None:
        lines = sources.numbered(sources.file_lines(args.input), args.input)
        return ((None, where, line) for where, line in lines)
    return sources.journal_recordings(args.journal_dir)


def run(args: argparse.Namespace) -> int:
    from recorder import export, sources

    errors: list[str] = []
    try:
        summaries = export.summarize(_messages(args), errors)
    except sources.SourceError as exc:
        print(f"sessrec list: {exc}", file=sys.stderr)
        return 1
    summaries.sort(key=lambda s: (s.start is None, s.start or 0))
    try:
        if args.json:
            sys.stdout.write("".join(export.json_line(s.as_dict()) for s in summaries))
        elif summaries:
            sys.stdout.write(export.table(summaries))
        sys.stdout.flush()
    except BrokenPipeError:
        return 1
    if errors:
        many = f"{len(errors)} invalid messages" if len(errors) > 1 else "1 invalid message"
        print(f"sessrec list: {many} skipped; the first: {errors[0]}", file=sys.stderr)
        return 1
    return 0
