"""`sessrec record`: run a command (default: the user's shell) and record its terminal I/O in tlog format."""

from __future__ import annotations

import argparse
import os
import sys
import time

from recorder.cli import UsageError

DEFAULT_NOTICE = "\nATTENTION! Your session is being recorded!\n\n"
MESSAGE_HEADER_MAX = 512  # bytes a message has beside its payload, host and user names of usual length
WRITERS = ("file", "journal", "syslog")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "record",
        help="record a command's terminal session",
        description="Run COMMAND (default: your shell) under a PTY if stdin is a terminal, else with pipes, "
        "and log its I/O in tlog's JSON format. The process is non-dumpable and named tlog-rec-sessio so "
        "Cockpit lists its journal entries. If the log cannot be written the command is terminated.",
    )
    add_option_arguments(p)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")
    p.set_defaults(func=run)


def add_option_arguments(p: argparse.ArgumentParser) -> None:
    """Where and how to record: shared by `record` and `relay` (the option table's flags among them)."""
    p.add_argument("-o", "--output", metavar="FILE", help="append to FILE (implies --writer file)")
    p.add_argument("--writer", choices=WRITERS, help="where messages go (default: journal, or file with -o)")
    p.add_argument(
        "--input", "--log-input", action=argparse.BooleanOptionalAction, default=False, help="log input (off)"
    )
    p.add_argument(
        "--log-output", action=argparse.BooleanOptionalAction, default=True, help="log output (on)"
    )
    p.add_argument(
        "--log-window", action=argparse.BooleanOptionalAction, default=True, help="log window changes (on)"
    )
    p.add_argument("--latency", type=float, default=10.0, metavar="S", help="max seconds data is buffered")
    p.add_argument("--payload", type=int, default=2048, metavar="BYTES", help="max encoded I/O per message")
    p.add_argument("--rate", type=float, default=16384, metavar="B/S", help="rate limit, bytes/s")
    p.add_argument("--burst", type=float, default=32768, metavar="BYTES", help="burst above the rate")
    p.add_argument("--limit-action", choices=("pass", "delay", "drop"), default="pass")
    p.add_argument("--notice", metavar="TEXT", help="printed to stderr before an interactive session")
    p.add_argument("--syslog-facility", default="authpriv", metavar="NAME")


def _default_shell() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
    except KeyError:
        return os.environ.get("SHELL") or "/bin/sh"


def _check(args: argparse.Namespace) -> list[str]:
    check_options(args)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    return command or [_default_shell()]


def check_options(args: argparse.Namespace) -> None:
    from recorder.tlogformat import MIN_PAYLOAD

    if not 0.001 <= args.latency <= 86400:
        raise UsageError("--latency must be between 0.001 and 86400 seconds")
    if args.payload < MIN_PAYLOAD or args.payload > 1 << 24:
        raise UsageError(f"--payload must be between {MIN_PAYLOAD} and {1 << 24} bytes")
    if args.rate < 0 or args.burst < 0:
        raise UsageError("--rate and --burst must not be negative")
    if args.limit_action != "pass":
        largest = args.payload + MESSAGE_HEADER_MAX
        if args.rate == 0:
            raise UsageError(
                f"--rate 0 with --limit-action {args.limit_action} would stop recording for good"
            )
        if args.rate + args.burst < largest:
            raise UsageError(
                f"--rate + --burst ({args.rate + args.burst:g} bytes) must hold one message (up to "
                f"{largest} bytes with --payload {args.payload}): --limit-action {args.limit_action} would "
                "drop everything"
            )
    writer = args.writer or ("file" if args.output else "journal")
    if writer == "file" and not args.output:
        raise UsageError("--writer file needs -o FILE")
    if args.output and writer != "file":
        raise UsageError(f"-o FILE does not go with --writer {writer}")
    args.writer = writer


def _open_writer(args: argparse.Namespace, meta):
    from recorder import writers

    if args.writer == "file":
        return writers.FileWriter(args.output)
    if args.writer == "journal":
        return writers.JournalWriter(meta)
    return writers.SyslogWriter(args.syslog_facility)


def make_sink(args: argparse.Namespace, meta):
    """The sink the options describe, its writer open (WriterError when it cannot be)."""
    from recorder.sink import RateLimiter, Sink

    writer = _open_writer(args, meta)
    limiter = RateLimiter(args.rate, args.burst, args.limit_action) if args.limit_action != "pass" else None
    return Sink(
        writer,
        meta,
        payload=args.payload,
        latency=args.latency,
        limiter=limiter,
        log_output=args.log_output,
        log_window=args.log_window,
    )


def notice_text(args: argparse.Namespace) -> str:
    return DEFAULT_NOTICE if args.notice is None else args.notice


def _plug_closed_fds() -> None:
    """Put /dev/null on closed fds 0-2, so pipes created later never land there (`ssh -n`, `<&-`)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def run(args: argparse.Namespace) -> int:
    from recorder import guard

    loader = guard.loader_findings()  # first: before anything else of ours runs
    _plug_closed_fds()
    command = _check(args)
    from recorder import identity, tap
    from recorder.cli import VERSION
    from recorder.tlogformat import Meta
    from recorder.writers import WriterError

    try:
        settings = guard.load_settings()
    except guard.ConfigError as exc:
        print(f"sessrec record: {exc}; not starting an unrecorded session", file=sys.stderr)
        return 1
    if loader and settings.loader_environment == "refuse":
        print(
            f"sessrec record: the dynamic loader was given code to run ({'; '.join(loader)}); not starting "
            f"an unrecorded session (loader_environment in {guard.CONFIG})",
            file=sys.stderr,
        )
        return 1
    identity.harden()
    meta = Meta(
        host=identity.fqdn(),
        rec=identity.rec_id(),
        user=identity.user_name(),
        term=os.environ.get("TERM", ""),
        session=identity.audit_session(),
    )
    try:
        sink = make_sink(args, meta)
    except WriterError as exc:
        print(f"sessrec record: {exc}; not starting an unrecorded session", file=sys.stderr)
        return 1
    interactive = os.isatty(0)
    start = {"version": VERSION, "mode": "pty" if interactive else "pipes"}
    env = None
    if loader:
        env = guard.session_environment(settings)
        start["warnings"] = "; ".join(loader) + ("" if env is None else " (removed from the session)")
        print(f"sessrec record: warning: {start['warnings']}", file=sys.stderr)
    try:
        sink.start(time.monotonic(), **start)  # written before the session runs: a log that fails stops it
    except WriterError as exc:
        print(f"sessrec record: {exc}; not starting an unrecorded session", file=sys.stderr)
        return tap.EXIT_WRITER_FAILED
    notice = notice_text(args)
    if notice and interactive:
        os.write(2, notice.encode())
    try:
        run_io = tap.run_pty if interactive else tap.run_pipes
        return run_io(command, sink, log_input=args.input, env=env)
    except tap.RecordingStartError as exc:
        try:
            sink.close(status=127)
        except WriterError:
            pass
        print(f"sessrec record: {exc}", file=sys.stderr)
        return 127
    except tap.RecordingFailed as exc:
        newline = "\r\n" if interactive else ""  # the terminal's cursor may be anywhere
        print(f"{newline}sessrec record: recording failed, session terminated: {exc}", file=sys.stderr)
        return tap.EXIT_WRITER_FAILED
