"""Where recordings are read from: a file (or stdin), optionally followed, or the journal via journalctl."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator

POLL = 0.25


class SourceError(Exception):
    """The source cannot be read or fails verification; the text is one line."""


def file_lines(path: str, follow: bool = False, stop: Callable[[], bool] = lambda: False) -> Iterator[bytes]:
    """Lines of a file ("-" is stdin); with `follow`, wait for more at EOF until `stop()`."""
    try:
        f = open(0 if path == "-" else path, "rb", closefd=path != "-")  # noqa: SIM115
    except OSError as exc:
        raise SourceError(f"cannot open {path}: {exc.strerror}") from None
    with f:
        partial = b""
        while True:
            try:
                line = f.readline()
            except OSError as exc:
                raise SourceError(f"cannot read {path}: {exc.strerror}") from None
            if line.endswith(b"\n"):
                yield partial + line
                partial = b""
                continue
            partial += line
            if not follow:
                if partial:
                    yield partial
                return
            if stop():
                return
            time.sleep(POLL)


def journalctl(
    matches: dict[str, str] | list[tuple[str, str]],
    follow: bool = False,
    directory: str | None = None,
    stop: Callable[[], bool] = lambda: False,
    fields: tuple[str, ...] = (),
) -> Iterator[dict]:
    """Entries as `journalctl -o json` gives them, oldest first (repeated fields are ORed by journalctl);
    with `follow`, `stop()` is asked every POLL seconds while no entry comes."""
    argv = ["journalctl", "--no-pager", "-o", "json", "--all"]
    if directory:
        argv += ["-D", directory]
    if follow:
        argv += ["-f", "-n", "all"]
    if fields:
        argv += ["--output-fields", ",".join(fields)]
    pairs = matches.items() if isinstance(matches, dict) else matches
    argv += [f"{k}={v}" for k, v in pairs]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise SourceError(f"cannot run journalctl: {exc.strerror}") from None
    try:
        for line in _lines(proc.stdout, stop) if follow else proc.stdout:
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    raise SourceError("journalctl printed invalid JSON") from None
        if follow and proc.poll() is None:
            return  # stopped by the caller
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0 and err:
            raise SourceError(f"journalctl failed: {err.splitlines()[-1]}")
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()


def _lines(pipe, stop: Callable[[], bool]) -> Iterator[bytes]:
    """Lines of a pipe, asking `stop()` whenever none arrives for POLL seconds."""
    import select

    fd, buf = pipe.fileno(), b""
    while True:
        ready, _, _ = select.select([fd], [], [], POLL)
        if not ready:
            if stop():
                return
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            if buf:
                yield buf
            return
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            yield line + b"\n"


def field_bytes(entry: dict, name: str) -> bytes | None:
    """A field's value; journalctl prints binary or non-printable values as arrays of numbers."""
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b <= 255 for b in value):
        return bytes(value)
    raise SourceError(f"journal field {name} is repeated or malformed")


def _journalctl_out(args: list[str], directory: str | None) -> bytes:
    argv = ["journalctl", "--no-pager"] + (["-D", directory] if directory else []) + args
    try:
        return subprocess.run(argv, capture_output=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceError(f"cannot run journalctl: {exc}") from None


def recordings_in_journal(directory: str | None = None) -> list[str]:
    """Every TLOG_REC value in the journal."""
    out = _journalctl_out(["-F", "TLOG_REC"], directory)
    return [line for line in out.decode(errors="replace").splitlines() if line.strip()]


def latest_recording(directory: str | None = None) -> str:
    """The TLOG_REC of the recording with the newest journal entry."""
    newest, when = None, -1
    for rec in recordings_in_journal(directory):
        for line in _journalctl_out(
            ["-o", "json", "-r", "-n", "1", f"TLOG_REC={rec}"], directory
        ).splitlines():
            stamp = int(json.loads(line).get("__REALTIME_TIMESTAMP", 0))
            if stamp > when:
                newest, when = rec, stamp
    if newest is None:
        raise SourceError("no recordings in the journal")
    return newest


def trusted_uids() -> set[str]:
    """Who may write a verified recording: the recorders' own system user, and root. A recorded user's
    own processes never may: she could fabricate a whole recording, or reuse a finished recorder's pid."""
    import pwd

    from recorder.identity import RECORDER_USER

    uids = {"0"}
    try:
        uids.add(str(pwd.getpwnam(RECORDER_USER).pw_uid))
    except KeyError:
        pass
    return uids


class Verifier:
    """Checks that all journal entries of a recording come from one recorder process, running as the
    recorders' own user (or root), using the fields journald sets itself (`_PID`, `_UID`, `_BOOT_ID`),
    which a client cannot forge."""

    def __init__(self, trusted: set[str] | None = None) -> None:
        self.origin: tuple[str, str, str] | None = None
        self.trusted = trusted_uids() if trusted is None else trusted

    def check(self, entry: dict, where: str) -> None:
        origin = tuple(
            (field_bytes(entry, f) or b"").decode(errors="replace") for f in ("_PID", "_UID", "_BOOT_ID")
        )
        if not all(origin):
            raise SourceError(f"{where}: no trusted _PID/_UID/_BOOT_ID fields, cannot verify")
        pid, uid, boot = origin
        if self.origin is None:
            self.origin = origin
            rec = (field_bytes(entry, "TLOG_REC") or b"").decode(errors="replace")
            parts = rec.split("-")
            if len(parts) != 3 or parts[0] != boot or parts[1] != f"{int(pid):x}":
                raise SourceError(
                    f"{where}: forged: recording id {rec} was not made by _PID {pid} on this boot"
                )
        elif origin != self.origin:
            raise SourceError(
                f"{where}: forged: sent by _PID {pid} _UID {uid}, but the recording is from _PID "
                f"{self.origin[0]} _UID {self.origin[1]}"
            )
        if uid not in self.trusted:
            raise SourceError(
                f"{where}: not verifiable: written by _UID {uid}, not by the recorders' user "
                "(a recorded user's own process could have written it)"
            )


def journal_lines(
    rec: str,
    follow: bool = False,
    directory: str | None = None,
    verify: bool = False,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[str, bytes]]:
    """(where, JSON line) for each journal entry of recording `rec`."""
    verifier = Verifier() if verify else None
    count = 0
    entries = journalctl({"TLOG_REC": rec}, follow, directory, stop)
    for count, entry in enumerate(entries, 1):  # noqa: B007
        where = f"journal entry {count} (TLOG_ID={entry.get('TLOG_ID', '?')})"
        if verifier:
            verifier.check(entry, where)
        message = field_bytes(entry, "MESSAGE")
        if message is None:
            raise SourceError(f"{where}: no MESSAGE field")
        yield where, message
    if count == 0:
        raise SourceError(f"no journal entries with TLOG_REC={rec}")


def numbered(lines: Iterator[bytes], name: str) -> Iterator[tuple[str, bytes]]:
    for n, line in enumerate(lines, 1):
        yield f"{name} line {n}", line


def environ_directory() -> str | None:
    return os.environ.get("SESSREC_JOURNAL_DIR") or None


def open_lines(
    path: str | None,
    rec: str | None = None,
    follow: bool = False,
    directory: str | None = None,
    verify: bool = False,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[str, bytes]]:
    """(where, line) pairs of a file (`path`, "-" for stdin) or, with `path` None, of the journal
    recording `rec` (default: the newest)."""
    if path is not None:
        return numbered(file_lines(path, follow, stop), path)
    directory = directory or environ_directory()
    return journal_lines(rec or latest_recording(directory), follow, directory, verify, stop)


JOURNAL_BATCH = 100  # TLOG_REC matches per journalctl call


def journal_recordings(directory: str | None = None) -> Iterator[tuple[str, str, bytes]]:
    """(TLOG_REC, where, MESSAGE) for every journal entry that carries a TLOG_REC field."""
    directory = directory or environ_directory()
    recs = recordings_in_journal(directory)
    for at in range(0, len(recs), JOURNAL_BATCH):
        matches = [("TLOG_REC", rec) for rec in recs[at : at + JOURNAL_BATCH]]
        for entry in journalctl(matches, directory=directory, fields=("TLOG_REC", "TLOG_ID", "MESSAGE")):
            rec = (field_bytes(entry, "TLOG_REC") or b"").decode(errors="replace")
            where = f"journal entry TLOG_REC={rec} TLOG_ID={entry.get('TLOG_ID', '?')}"
            message = field_bytes(entry, "MESSAGE")
            if message is None:
                raise SourceError(f"{where}: no MESSAGE field")
            yield rec, where, message
