"""`sessrec play`: replay a recording from a file, stdin or the journal, validated like tlog-play."""

from __future__ import annotations

import argparse
import os
import sys

from recorder.cli import UsageError, add_source_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    from recorder.commands import audit

    p = subparsers.add_parser(
        "play",
        help="play a recording",
        description="Play a tlog-format recording. Keys: space/p pause, . step, { } speed, "
        "backspace 1x, [time]G go to time (G alone: end), n next audited command or file access "
        "(--audit), q quit.",
    )
    add_source_arguments(p)
    p.add_argument("--rec", metavar="ID", help="recording id (default: the journal's newest)")
    p.add_argument("-s", "--speed", type=float, default=1.0, metavar="X")
    p.add_argument("-g", "--goto", default="start", metavar="start|end|HH:MM:SS[.mmm]")
    p.add_argument("-p", "--paused", action="store_true")
    p.add_argument("-f", "--follow", action="store_true", help="wait for more data at the end")
    p.add_argument("--lax", action="store_true", help="allow gaps in message ids")
    p.add_argument(
        "--verify",
        action="store_true",
        help="journal: check trusted fields (one process, right user) and that the recording is whole "
        "(start and end records)",
    )
    p.add_argument(
        "--raw",
        action="store_true",
        help="write the recorded output as it is, escape sequences that act on your terminal included "
        "(clipboard, title, colour and status reports, DCS, answerback); default: only those that draw",
    )
    p.add_argument(
        "--audit",
        action="store_true",
        help="show each command and watched-file access of the recording's audit session at its moment "
        "(from the kernel audit log, like sessrec audit; root); the key n goes to the next one",
    )
    audit.add_audit_log_argument(p, "with --audit: ")
    p.set_defaults(func=run)


def audit_marks(args: argparse.Namespace) -> list[tuple[int, str]]:
    """The recording's audit events as player marks (ms from the recording's start, one line each)."""
    from recorder.commands import audit

    if args.input == "-":
        raise UsageError("--audit reads the recording twice: give a file or --journal, not stdin")
    if args.follow:
        raise UsageError("--audit shows the events logged before playing: not with --follow")
    joined = audit.join(args)
    if joined.skipped:
        print(f"sessrec play: skipped {joined.skipped}", file=sys.stderr)
    if args.input is None:
        args.rec = joined.rec.rec  # play the very recording the events were joined to
    marks = []
    for e in joined.events:
        offset = e.time - joined.rec.start
        marks.append((round(offset * 1000), f"audit {audit.goto(offset).strip()} {audit.note(e)}"))
    print(
        f"sessrec play: {len(marks)} audited commands and file accesses in audit session "
        f"{joined.rec.session}" + (" (n: go to the next)" if marks else ""),
        file=sys.stderr,
    )
    return marks


def run(args: argparse.Namespace) -> int:
    from recorder import player, sources
    from recorder.tlogformat import Reader

    if not 0 < args.speed < float("inf"):
        raise UsageError("--speed must be a positive number")
    try:
        goto = player.parse_goto(args.goto)
    except ValueError:
        raise UsageError(f"invalid --goto {args.goto!r}: use start, end or HH:MM:SS[.mmm]") from None
    if args.verify and args.input is not None:
        raise UsageError("--verify needs --journal (files carry no trusted fields)")
    if args.audit_log and not args.audit:
        raise UsageError("--audit-log goes with --audit")
    marks: list[tuple[int, str]] = []
    if args.audit:
        from sssd_helper import audit_log

        try:
            marks = audit_marks(args)
        except (sources.SourceError, audit_log.AuditLogError) as exc:
            print(f"sessrec play: {exc}", file=sys.stderr)
            return 1
    keys_fd, saved = None, None
    if os.isatty(0) and args.input != "-":
        import termios
        import tty

        keys_fd, saved = 0, termios.tcgetattr(0)
        tty.setcbreak(0, termios.TCSANOW)
    play = player.Player(
        out_fd=1, keys_fd=keys_fd, speed=args.speed, paused=args.paused, raw=args.raw, marks=marks
    )
    reader = Reader(lax=args.lax, rec=args.rec)
    try:
        lines = sources.open_lines(
            args.input, args.rec, args.follow, args.journal_dir, args.verify, stop=play.idle
        )
        stream = player.OneRecording(lines, reader)
        play.run(stream, goto=goto)
    except (player.PlaybackError, sources.SourceError) as exc:
        print(f"sessrec play: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, saved)
    if play.sanitizer and play.sanitizer.dropped:
        print(
            f"sessrec play: {play.sanitizer.dropped} escape sequences that act on the terminal were not "
            "replayed (--raw replays them)",
            file=sys.stderr,
        )
    whole = player.wholeness(reader)
    if whole and not play.quit and (args.verify or reader.started):  # tlog's recordings have no records
        print(f"sessrec play: {whole}", file=sys.stderr)
        if args.verify:
            return 1
    if stream.skipped and not args.rec:
        print(
            f"sessrec play: skipped {stream.skipped} messages of other recordings (choose one with --rec; "
            "see sessrec list)",
            file=sys.stderr,
        )
    return 0
