"""`sessrec audit`: the commands and file accesses of a recording's audit session (docs/audit.md).

The join is (host, boot, audit session id): the recording's `session` field is the kernel's audit session
of the login, the audit log's events carry it as `ses`, and the LOGIN record that started the session tells
this boot's session from an earlier boot's with the same number. Times are relative to the recording's
start, in the form `sessrec play --goto` takes.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recorder.cli import UsageError

UNSET = 4294967295
# The --json object's fields, in order (docs/audit.md); a new field is added at the end, none is renamed.
FIELDS = (
    "rec",
    "host",
    "node",
    "session",
    "serial",
    "time",
    "offset",
    "during",
    "kind",
    "rule",
    "key",
    "syscall",
    "success",
    "exit",
    "errno",
    "pid",
    "ppid",
    "auid",
    "uid",
    "euid",
    "user",
    "as_user",
    "tty",
    "comm",
    "exe",
    "cwd",
    "argv",
    "path",
    "paths",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "audit",
        help="commands and file accesses of a recording's audit session",
        description="List the commands run and the watched files touched in the audit session of a "
        "recording (the journal's newest, or REC), from the kernel audit log (root): time relative to the "
        "recording, user, what, result, working directory, command line or path. Audit events that do not "
        "parse are skipped and counted (exit status 1).",
    )
    p.add_argument("rec", nargs="?", metavar="REC", help="recording id (default: the newest)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("-i", "--input", metavar="FILE", help='a recording file, "-" for stdin')
    src.add_argument("--journal", action="store_true", help="read the recording from the journal (default)")
    p.add_argument("--journal-dir", metavar="DIR", help="journal directory (journalctl -D)")
    add_audit_log_argument(p)
    p.add_argument("--json", action="store_true", help="one JSON object per event (docs/audit.md)")
    p.add_argument(
        "--any-key", action="store_true", help="also events of the session from rules that are not ours"
    )
    p.set_defaults(func=run)


def add_audit_log_argument(p: argparse.ArgumentParser, condition: str = "") -> None:
    """--audit-log, shared by `audit` and `play --audit`."""
    p.add_argument(
        "--audit-log",
        metavar="FILE",
        action="append",
        help=f"{condition}audit log to read (repeatable, oldest first; default /var/log/audit/audit.log and "
        "its rotations)",
    )


@dataclass
class Recording:
    rec: str
    host: str
    user: str
    session: int
    start: float
    duration: float  # seconds
    boot: str | None


def find_recording(args: argparse.Namespace) -> Recording:
    """The recording's identity, audit session, start and length, from a file or the journal."""
    from recorder import export, sources
    from recorder.tlogformat import FormatError, parse_message

    boot = None
    if args.input is not None:
        lines = (line for _, line in sources.numbered(sources.file_lines(args.input), args.input))
    else:
        directory = args.journal_dir or sources.environ_directory()
        rec = args.rec or sources.latest_recording(directory)
        entries = list(sources.journalctl({"TLOG_REC": rec}, directory=directory))
        if not entries:
            raise sources.SourceError(f"no journal entries with TLOG_REC={rec}")
        boot = (sources.field_bytes(entries[0], "_BOOT_ID") or b"").decode(errors="replace") or None
        lines = (sources.field_bytes(e, "MESSAGE") or b"" for e in entries)
    summary, session = None, None
    for line in lines:
        if not line.strip():
            continue
        try:
            msg = parse_message(line)
        except FormatError:
            continue
        rec = msg.rec or f"{msg.host}/{msg.session}"
        if args.rec and rec != args.rec:
            continue
        if summary is None:
            summary, session = export.Summary(rec, msg.user, msg.host), msg.session
        elif rec != summary.rec:
            continue
        summary.add(msg, len(line))
    if summary is None or session is None:
        raise sources.SourceError(f"no recording {args.rec}" if args.rec else "no recording found")
    if summary.start is None:
        raise sources.SourceError(f"recording {summary.rec} has no times (tlog format before 2.3?)")
    if boot is None and summary.rec.count("-") == 2:
        boot = summary.rec.split("-")[0]  # tlog's and our recording ids begin with the boot id
    return Recording(
        summary.rec, summary.host, summary.user, session, summary.start, summary.duration_ms / 1000, boot
    )


@dataclass
class Joined:
    """A recording, the login that began its audit session, and the session's events, oldest first."""

    rec: Recording
    login: float | None
    events: list
    skipped: str | None  # what could not be read, for a one-line warning


def join(args: argparse.Namespace) -> Joined:
    """The recording that `args` names (-i/--journal/--journal-dir, rec) joined to its audit events
    (`args.audit_log`, `args.any_key`); raises SourceError or AuditLogError with a one-line reason."""
    from sssd_helper import audit_log

    rec = find_recording(args)
    files = [Path(f) for f in args.audit_log] if args.audit_log else audit_log.log_files()
    uid = _uid(rec.user) if rec.session == UNSET else None
    reader = audit_log.SessionReader(files, rec.session, uid=uid, any_key=getattr(args, "any_key", False))
    reader.read()
    login, events = reader.login_for(rec.start)
    if rec.session == UNSET:
        # No audit session: the user's session-less processes while the recording ran.
        end = rec.start + rec.duration
        events = [e for e in events if rec.start - 1 <= e.time <= end + 1]
    events.sort(key=lambda e: (e.time, e.serial))
    skipped = _skipped(reader) if reader.malformed or reader.not_records else None
    return Joined(rec, login, events, skipped)


def run(args: argparse.Namespace) -> int:
    from recorder import sources
    from sssd_helper import audit_log

    if args.input is not None and args.journal_dir:
        raise UsageError("--journal-dir is for the journal, not -i")
    try:
        joined = join(args)
    except (sources.SourceError, audit_log.AuditLogError) as exc:
        print(f"sessrec audit: {exc}", file=sys.stderr)
        return 1
    rec, events = joined.rec, joined.events
    try:
        if args.json:
            for e in events:
                sys.stdout.write(json.dumps(as_json(e, rec), ensure_ascii=False) + "\n")
        else:
            source = f"-i {shlex.quote(args.input)}" if args.input is not None else "--journal"
            sys.stdout.write(table(rec, joined.login, events, source))
        sys.stdout.flush()
    except BrokenPipeError:
        return 1
    if joined.skipped:
        print(f"sessrec audit: skipped {joined.skipped}", file=sys.stderr)
        return 1
    return 0


def _skipped(reader: Any) -> str:
    parts = []
    if reader.malformed:
        n = reader.malformed
        parts.append(
            f"{n} audit events of the session that do not parse"
            if n > 1
            else "1 audit event of the session that does not parse"
        )
    if reader.not_records:
        n = reader.not_records
        parts.append(
            f"{n} lines that are not audit records" if n > 1 else "1 line that is not an audit record"
        )
    return " and ".join(parts)


def as_json(e: Any, rec: Recording) -> dict[str, Any]:
    """One event as a flat object with stable fields and types (an ISO time with zone for indexing)."""
    from recorder.export import iso_time

    data = asdict(e)
    data.update(
        rec=rec.rec,
        host=rec.host,
        time=iso_time(e.time),
        offset=round(e.time - rec.start, 3),
        during=rec.start <= e.time <= rec.start + rec.duration,
    )
    return {k: data[k] for k in FIELDS}


def goto(seconds: float) -> str:
    """An offset as `sessrec play --goto` takes it (HH:MM:SS.mmm), with a - before the recording."""
    sign = "-" if seconds < 0 else " "
    ms = round(abs(seconds) * 1000)
    h, rest = divmod(ms, 3600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{sign}{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _what(e: Any) -> str:
    if e.kind == "exec" or (e.argv and e.syscall.startswith("execve")):
        return shlex.join(e.argv) if e.argv else e.exe
    return f"{e.path or '?'} ({e.comm})"


def _who(e: Any) -> str:
    return e.user if e.as_user == e.user else f"{e.user}({e.as_user})"


def _result(e: Any) -> str:
    return "ok" if e.success else (e.errno or str(e.exit))


def note(e: Any) -> str:
    """One event on one line, as the player shows it at its moment."""
    return f"{_who(e)} {e.syscall} {_result(e)} in {e.cwd or '?'}: {_what(e)}"


def table(rec: Recording, login: float | None, events: list, source: str) -> str:
    from recorder.export import format_duration, iso_time, printable

    session = "none (joined by uid and time)" if rec.session == UNSET else str(rec.session)
    head = (
        f"{printable(rec.user)} on {printable(rec.host)}: recording {printable(rec.rec)}, "
        f"audit session {session}"
        + (f" (login {iso_time(login)})" if login is not None else "")
        + f", {iso_time(rec.start)} for {format_duration(round(rec.duration * 1000))}\n"
    )
    rows = [("TIME", "USER", "WHAT", "RESULT", "CWD", "COMMAND OR PATH")]
    for e in events:
        cells = (goto(e.time - rec.start), _who(e), e.syscall, _result(e), e.cwd or "?", _what(e))
        rows.append(tuple(printable(c) for c in cells))  # an argv or a path can carry escape sequences
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    body = "".join(
        "  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5] + "\n" for r in rows
    )
    after = sum(1 for e in events if e.time > rec.start + rec.duration)
    tail = f"{len(events)} events" + (f" ({after} after the recording ended)" if after else "")
    if events:
        play = f"sessrec play {source} --rec {shlex.quote(rec.rec)}"
        tail += f"; to see one: {play} --goto TIME, or all: {play} --audit (n: the next one)"
    return head + body + tail + "\n"


def _uid(user: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None
