"""`sessrec export`: a recording as asciicast v2 (for asciinema players) or as plain text."""

from __future__ import annotations

import argparse
import sys

from recorder.cli import UsageError, add_source_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="convert a recording to asciicast or text",
        description="Convert one recording (validated like play) to asciicast v2 (output, input if it was "
        "recorded, and resize events) or to the plain output text.",
    )
    p.add_argument("--format", choices=("asciicast", "text"), default="asciicast")
    add_source_arguments(p)
    p.add_argument(
        "--rec", metavar="ID", help="recording id (default: the file's first, the journal's newest)"
    )
    p.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of stdout")
    p.add_argument("--strip", action="store_true", help="text: drop escape sequences and control characters")
    p.add_argument("--lax", action="store_true", help="allow gaps in message ids")
    p.add_argument(
        "--verify", action="store_true", help="journal: check trusted fields (one process, right user)"
    )
    p.set_defaults(func=run)


def _convert(args: argparse.Namespace, out) -> int:
    from recorder import export, player, sources
    from recorder.tlogformat import Reader

    lines = sources.open_lines(args.input, args.rec, directory=args.journal_dir, verify=args.verify)
    reader = Reader(lax=args.lax, rec=args.rec)
    stream = player.OneRecording(lines, reader)
    if args.format == "text":
        chunks = export.text(stream, strip=args.strip)
    else:
        packets = iter(stream)
        first = next(packets, None)  # reads the first message, for the header
        chunks = export.asciicast(_chain(first, packets), export.cast_header(reader.first))
    for chunk in chunks:
        out.write(chunk.encode())
    if reader.first is None:
        raise sources.SourceError("no recording found")
    return stream.skipped


def _chain(first, rest):
    if first is not None:
        yield first
    yield from rest


def run(args: argparse.Namespace) -> int:
    from recorder import player, sources

    if args.strip and args.format != "text":
        raise UsageError("--strip goes with --format text")
    if args.verify and args.input is not None:
        raise UsageError("--verify needs --journal (files carry no trusted fields)")
    try:
        out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    except OSError as exc:
        print(f"sessrec export: cannot open {args.output}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        skipped = _convert(args, out)
        out.flush()
    except (player.PlaybackError, sources.SourceError) as exc:
        print(f"sessrec export: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    except OSError as exc:
        print(f"sessrec export: cannot write {args.output or 'stdout'}: {exc.strerror}", file=sys.stderr)
        return 1
    finally:
        if args.output:
            out.close()
    if skipped and not args.rec:
        print(
            f"sessrec export: skipped {skipped} messages of other recordings (choose one with --rec; "
            "see sessrec list)",
            file=sys.stderr,
        )
    return 0
