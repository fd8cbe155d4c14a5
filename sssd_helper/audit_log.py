"""The audit log's events of one audit session, read with the audit library's own parser (auparse, Debian's
python3-audit), for `sessrec audit` (docs/audit.md has the event shape).

A session id names a session only within one boot: events are attributed to the latest LOGIN record that
started the session (pam_loginuid writes one at every login), and the caller picks the login the recording
belongs to. An event whose fields do not parse as the kernel writes them (a number that is not one, an
execve whose arguments do not add up, a broken timestamp) is skipped and counted in `malformed`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .audit_rules import EXEC, FILE, UNSET, rule_of_key

AUDIT_LOG = Path("/var/log/audit/audit.log")
NUMBERS = ("pid", "ppid", "auid", "uid", "euid", "ses", "exit")


class AuditLogError(Exception):
    """The audit log cannot be read; the message is one line."""


def log_files(main: Path = AUDIT_LOG) -> list[Path]:
    """auditd's log and its rotations (audit.log.N), oldest first."""
    rotated = []
    for p in main.parent.glob(main.name + ".*"):
        suffix = p.name[len(main.name) + 1 :]
        if suffix.isdigit():
            rotated.append((int(suffix), p))
    return [p for _, p in sorted(rotated, reverse=True)] + ([main] if main.exists() else [])


@dataclass
class Event:
    """One syscall event of the session (the `--json` shape; docs/audit.md)."""

    serial: int
    time: float  # seconds since the epoch
    node: str | None
    session: int
    kind: str  # exec | file | other (a rule that is not ours, with --any-key)
    key: str | None
    rule: str | None  # the FreeIPA rule our key names
    syscall: str
    success: bool
    exit: int
    errno: str | None
    pid: int
    ppid: int
    auid: int
    uid: int
    euid: int
    user: str  # the login user (auid), by name when the log or NSS knows it
    as_user: str  # the user the process ran as (uid)
    tty: str
    comm: str
    exe: str
    cwd: str | None
    argv: list[str] = field(default_factory=list)
    path: str | None = None  # the file the call touched (made absolute with cwd)
    paths: list[dict[str, Any]] = field(default_factory=list)


class Malformed(Exception):
    pass


class SessionReader:
    """Events of audit session `session` in `files`, grouped by the login that started the session."""

    def __init__(self, files: Iterable[Path], session: int, uid: int | None = None, any_key: bool = False):
        self.files = [str(f) for f in files]
        self.session = session
        self.uid = uid  # for a session-less recording: its user's processes outside any session
        self.any_key = any_key
        self.malformed = 0  # events of the session whose fields do not parse, and events without a time
        self.not_records = 0  # lines of the log that auparse does not take as a record at all
        self.logins: list[float | None] = [None]  # when each login of this session id began (None: unseen)
        self.by_login: list[list[Event]] = [[]]

    def read(self) -> None:
        try:
            import auparse
        except ImportError:
            raise AuditLogError("python3-audit (auparse) is not installed") from None
        if not self.files:
            raise AuditLogError(f"no audit log ({AUDIT_LOG} does not exist)")
        for f in self.files:
            if not os.access(f, os.R_OK):
                raise AuditLogError(f"cannot read {f}: permission denied (audit logs are root's)")
        try:
            au = auparse.AuParser(auparse.AUSOURCE_FILE_ARRAY, self.files)
        except OSError as exc:
            raise AuditLogError(f"cannot open the audit log: {exc}") from None
        au.set_escape_mode(auparse.AUPARSE_ESC_RAW)  # arguments and paths as the program had them
        want = str(self.session)
        records = 0
        while True:
            try:
                if not au.parse_next_event():
                    break
                records += au.get_num_records()
                ts = au.get_timestamp()
                if ts is None:
                    raise Malformed  # not even a time: cannot tell whose it is
                if not au.find_field("ses") or au.get_field_str() != want:
                    continue
                self._event(au, ts)
            except (RuntimeError, ValueError, UnicodeError, Malformed):
                self.malformed += 1
            except OSError as exc:
                raise AuditLogError(f"cannot read the audit log: {exc}") from None
        self.not_records = max(0, sum(_lines(f) for f in self.files) - records)

    def _event(self, au: Any, ts: Any) -> None:
        when = ts.sec + ts.milli / 1000
        au.first_record()
        kind = au.get_type_name()
        if kind == "LOGIN":
            self.logins.append(when)
            self.by_login.append([])
            return
        if kind != "SYSCALL":
            return
        event = parse_syscall_event(au, ts.serial, when, ts.host)
        if event is None:
            return
        if event.session == UNSET and (self.uid is None or event.uid != self.uid):
            return
        if event.kind == "other" and not self.any_key:
            return
        self.by_login[-1].append(event)

    def login_for(self, start: float, slack: float = 5.0) -> tuple[float | None, list[Event]]:
        """The login of the session a recording that began at `start` belongs to, and its events: the
        latest login no later than the recording (the session id restarts with every boot)."""
        best = 0
        for i, when in enumerate(self.logins):
            if when is not None and when <= start + slack:
                best = i
        if best == 0 and not self.by_login[0] and len(self.logins) > 1:
            best = 1  # only later logins seen: the log begins after this one's LOGIN
        return self.logins[best], self.by_login[best]


def _lines(path: str) -> int:
    count = last = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1]
    return count + (1 if last not in (0, 10) else 0)


def parse_syscall_event(au: Any, serial: int, when: float, node: str | None) -> Event | None:
    """An Event from the current auparse event (positioned at its SYSCALL record); Malformed when its
    fields are not what the kernel writes."""
    raw: dict[str, str] = {}
    shown: dict[str, str] = {}
    args: dict[int, str] = {}
    pieces: dict[int, dict[int, str]] = {}
    argc: int | None = None
    cwd: str | None = None
    paths: list[dict[str, Any]] = []
    while True:
        rtype = au.get_type_name()
        if rtype == "SYSCALL":
            _fields(au, raw, shown)
        elif rtype == "EXECVE":
            argc = _execve(au, args, pieces, argc)
        elif rtype == "CWD":
            values, _ = _record(au)
            cwd = values.get("cwd")
        elif rtype == "PATH":
            values, raws = _record(au)
            paths.append(
                {
                    "item": _int(raws.get("item", "0")),
                    "name": values.get("name"),
                    "nametype": values.get("nametype"),
                    "inode": _int(raws["inode"]) if "inode" in raws else None,
                    "mode": values.get("mode"),
                }
            )
        if not au.next_record():
            break
    if "syscall" not in raw or "ses" not in raw:
        raise Malformed
    numbers = {n: _int(raw[n]) for n in NUMBERS if n in raw}
    if raw.get("success") not in ("yes", "no"):
        raise Malformed
    key = shown.get("key")
    key = None if key in (None, "(null)") else key
    ours = rule_of_key(key) if key else None
    kind = ours[0] if ours and ours[0] in (EXEC, FILE) else "other"
    argv: list[str] = []
    if argc is not None:
        for i, chunks in pieces.items():
            args[i] = "".join(chunks[k] for k in sorted(chunks))
        if sorted(args) != list(range(argc)):
            raise Malformed  # arguments missing (a cut record)
        argv = [args[i] for i in range(argc)]
    exit_code = numbers.get("exit", 0)
    failed = raw["success"] == "no"
    resolved = [dict(p, name=_absolute(p["name"], cwd)) for p in sorted(paths, key=lambda p: p["item"])]
    touched = [p["name"] for p in resolved if p["name"] and p.get("nametype") != "PARENT"]
    return Event(
        serial=serial,
        time=when,
        node=node or None,
        session=numbers["ses"],
        kind=kind,
        key=key,
        rule=ours[1] if ours else None,
        syscall=shown.get("syscall", raw["syscall"]),
        success=not failed,
        exit=exit_code,
        errno=errno.errorcode.get(-exit_code) if failed and exit_code < 0 else None,
        pid=numbers.get("pid", -1),
        ppid=numbers.get("ppid", -1),
        auid=numbers.get("auid", UNSET),
        uid=numbers.get("uid", -1),
        euid=numbers.get("euid", -1),
        user=_name(shown.get("auid"), numbers.get("auid", UNSET)),
        as_user=_name(shown.get("uid"), numbers.get("uid", -1)),
        tty=shown.get("tty", ""),
        comm=shown.get("comm", ""),
        exe=shown.get("exe", ""),
        cwd=cwd,
        argv=argv,
        path=touched[0] if touched else None,
        paths=resolved,
    )


WANTED = frozenset(
    {"syscall", "success", "exit", "ses", "auid", "uid", "euid", "pid", "ppid", "tty", "comm", "exe", "key"}
)


def _fields(au: Any, raw: dict[str, str], shown: dict[str, str]) -> None:
    au.first_field()
    while True:
        name = au.get_field_name()
        if name in WANTED:
            raw[name] = au.get_field_str()
            shown[name] = au.interpret_field()
        if not au.next_field():
            return


def _record(au: Any) -> tuple[dict[str, str], dict[str, str]]:
    values: dict[str, str] = {}
    raws: dict[str, str] = {}
    au.first_field()
    while True:
        name = au.get_field_name()
        raws[name] = au.get_field_str()
        values[name] = au.interpret_field()
        if not au.next_field():
            return values, raws


def _execve(au: Any, args: dict[int, str], pieces: dict[int, dict[int, str]], argc: int | None) -> int:
    """One EXECVE record's arguments: `aN`, or a long one cut into `aN_len` and `aN[i]` pieces (the kernel
    splits argv over several records past 7500 bytes)."""
    au.first_field()
    while True:
        name = au.get_field_name()
        if name == "argc":
            argc = _int(au.get_field_str())
        elif name.startswith("a") and name != "arch":
            index, _, rest = name[1:].partition("[")
            if not index.isdigit():
                if not index.endswith("_len") or not index[:-4].isdigit():
                    raise Malformed
            elif rest:
                if not rest.endswith("]") or not rest[:-1].isdigit():
                    raise Malformed
                pieces.setdefault(int(index), {})[int(rest[:-1])] = _arg(au)
            else:
                args[int(index)] = _arg(au)
        if not au.next_field():
            break
    if argc is None:
        raise Malformed
    return argc


def _arg(au: Any) -> str:
    """An argument as the program got it: quoted text, or hex (auparse decodes both)."""
    value = au.get_field_str()
    if not value.startswith('"'):
        try:
            bytes.fromhex(value)
        except ValueError:
            raise Malformed from None
    return au.interpret_field()


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Malformed from None


def _name(shown: str | None, number: int) -> str:
    if number == UNSET:
        return "unset"
    if not shown or shown.startswith("unknown(") or shown.isdigit():
        return str(number)
    return shown


def _absolute(name: str | None, cwd: str | None) -> str | None:
    if name is None or name in ("(null)", ""):
        return None
    if name.startswith("/") or cwd is None:
        return name
    return os.path.normpath(os.path.join(cwd, name))
