"""`sessrec`: one entry point, one module per subcommand under recorder/commands/."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module defines `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
# Modules keep heavy imports inside their functions: `sessrec record` runs at every login.
COMMANDS: tuple[str, ...] = ("record", "play", "list", "export", "policy", "relay", "audit")

VERSION = "0.1.0"


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """-i FILE | --journal (one of them required) and --journal-dir, shared by play, list and export."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("-i", "--input", metavar="FILE", help='recording file, "-" for stdin')
    src.add_argument("--journal", action="store_true", help="read the journal (journalctl)")
    parser.add_argument("--journal-dir", metavar="DIR", help="journal directory (journalctl -D)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sessrec", description="FreeIPA-controlled session recording")
    parser.add_argument("--version", action="version", version=f"sessrec {VERSION}")
    subparsers = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"recorder.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """`sessrec ARGV`; `parser` is one `build_parser()` made before (the warm recorder's)."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_usage(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"sessrec {args.subcommand}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
