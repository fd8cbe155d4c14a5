"""auditd -n on the kernel audit subsystem; the lab only adds and removes rules carrying its own keys.

The host agent (sssd_helper/audit.py) loads rules of its own while the lab runs; when the lab stops, the
rules its agents left (listed in their state files) are deleted too, and the backlog they raised is put
back, so the machine's audit configuration ends as it began."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .process import ComponentError, Service

LOG = Path("/var/log/audit/audit.log")
KEY_PREFIX = "sessrec"
# Where the lab's agents keep the kernel rules they loaded (next to their sockets, on the lab's /run).
AGENT_STATES = ("/run/sessrec/audit-sessions.json", "/run/sessrec-lab/*/audit-sessions.json")

AUDITD_CONF = """\
local_events = yes
write_logs = yes
log_file = {log}
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 1
max_log_file = 64
num_logs = 2
max_log_file_action = ROTATE
space_left = 16
space_left_action = IGNORE
admin_space_left = 8
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
plugin_dir = /etc/audit/plugins.d
q_depth = 2000
overflow_action = IGNORE
end_of_event_timeout = 1
"""


def status() -> dict[str, str]:
    out = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


@dataclass
class Audit:
    """The running auditd plus the audit state to put back when the lab stops."""

    service: Service
    enabled_before: str
    backlog_before: str = ""
    keys: set[str] = field(default_factory=set)

    def add_rule(self, rule: list[str], key: str) -> None:
        if not key.startswith(KEY_PREFIX):
            raise ValueError(f"lab audit keys start with {KEY_PREFIX!r}")
        self.keys.add(key)
        subprocess.run(["auditctl", *rule, "-k", key], check=True, capture_output=True)

    def remove_rules(self, key: str) -> None:
        subprocess.run(["auditctl", "-D", "-k", key], check=True, capture_output=True)
        self.keys.discard(key)

    def events(self, key: str) -> list[str]:
        """Raw log lines of the syscall events that carry `key` (whole events, every record of each)."""
        text = LOG.read_text(errors="replace") if LOG.exists() else ""
        # Syscall events only: the CONFIG_CHANGE record of adding the rule carries the key too.
        pattern = r'type=SYSCALL msg=audit\(([\d.:]+)\):[^\n]*key="' + re.escape(key) + '"'
        serials = set(re.findall(pattern, text))
        return [line for line in text.splitlines() if any(f"msg=audit({s})" in line for s in serials)]

    def rules(self) -> list[str]:
        """The kernel's rules as `auditctl -l` lists them."""
        out = subprocess.run(["auditctl", "-l"], capture_output=True, text=True, check=True).stdout
        return [line for line in out.splitlines() if line.startswith("-")]

    def wait_for(self, found: Callable[[str], bool], timeout: float = 15.0) -> str:
        """Poll the log until `found(text)` is true (auditd writes asynchronously); returns the text."""
        deadline = time.monotonic() + timeout
        while True:
            text = LOG.read_text(errors="replace") if LOG.exists() else ""
            if found(text) or time.monotonic() > deadline:
                return text
            time.sleep(0.1)

    def stop(self) -> None:
        for key in sorted(self.keys):
            subprocess.run(["auditctl", "-D", "-k", key], capture_output=True)
        self.keys.clear()
        for line in agent_rules():
            subprocess.run(["auditctl", "-d", *line.split()[1:]], capture_output=True)
        self.service.stop()
        if self.backlog_before:
            subprocess.run(["auditctl", "-b", self.backlog_before], capture_output=True)
        subprocess.run(["auditctl", "-e", self.enabled_before], capture_output=True)


def agent_rules() -> list[str]:
    """The kernel rules the lab's agents say they loaded (never anyone else's)."""
    lines: list[str] = []
    for pattern in AGENT_STATES:
        for path in Path("/").glob(pattern.lstrip("/")):
            try:
                loaded = json.loads(path.read_text()).get("loaded", [])
            except (OSError, ValueError, AttributeError):
                continue
            lines += [line for line in loaded if isinstance(line, str) and " -F key=sessrec-" in line]
    return lines


def start(log: Path) -> Audit:
    before = status()
    if before.get("enabled") == "2":
        raise ComponentError("auditd: the kernel audit configuration is locked (enabled 2); reboot to unlock")
    if before.get("pid", "0") != "0":
        raise ComponentError(
            f"auditd: another audit daemon (pid {before['pid']}) holds the kernel audit socket"
        )
    LOG.parent.mkdir(parents=True, exist_ok=True)
    Path("/etc/audit/auditd.conf").write_text(AUDITD_CONF.format(log=LOG))
    Path("/etc/audit/auditd.conf").chmod(0o640)
    service = Service("auditd", ["auditd", "-n", "-s", "enable"], log)
    audit = Audit(service, before.get("enabled", "0"), before.get("backlog_limit", ""))
    service.start(lambda: status().get("pid") == str(service.pid) and LOG.exists(), timeout=20)
    return audit


# -- synthetic audit records, in the kernel's and auditd's text format -----------------------------------
def _quoted_or_hex(value: str) -> str:
    """How the kernel writes a value: quoted when plain printable ASCII without quotes or spaces, else hex."""
    raw = value.encode()
    if raw and all(0x21 <= b < 0x7F and b != 0x22 for b in raw):
        return f'"{value}"'
    return raw.hex().upper()


NAMES = {10001: "alice", 10002: "bob", 10003: "carol", 10004: "dave", 0: "root"}


def _enriched(syscall: str, auid: int, uid: int, names: dict[int, str]) -> str:
    def name(n: int) -> str:
        return "unset" if n == 4294967295 else names.get(n, f"unknown({n})")

    ids = " ".join(
        f'{n}="{name(uid)}"' for n in ("UID", "GID", "EUID", "SUID", "FSUID", "EGID", "SGID", "FSGID")
    )
    return f'\x1dARCH=x86_64 SYSCALL={syscall} AUID="{name(auid)}" {ids}'


def login_record(when: float, serial: int, auid: int, ses: int, pid: int = 4000) -> str:
    return (
        f"type=LOGIN msg=audit({when:.3f}:{serial}): pid={pid} uid=0 subj=unconfined old-auid=4294967295 "
        f"auid={auid} tty=(none) old-ses=4294967295 ses={ses} res=1"
    )


def syscall_event(
    when: float,
    serial: int,
    ses: int,
    key: str,
    argv: list[str] | None = None,
    path: str | None = None,
    syscall: tuple[int, str] = (59, "execve"),
    exit_code: int = 0,
    uid: int = 10001,
    auid: int | None = None,
    cwd: str = "/home/alice",
    pid: int = 4242,
    names: dict[int, str] | None = None,
) -> list[str]:
    """The records of one syscall event (SYSCALL, EXECVE, CWD, PATH, PROCTITLE) as auditd logs them in
    its ENRICHED format (`names`: uid to name, as auditd adds them after the record's fields)."""
    stamp = f"msg=audit({when:.3f}:{serial}):"
    auid = uid if auid is None else auid
    exe = path if argv is None else f"/usr/bin/{argv[0]}"
    success = "yes" if exit_code >= 0 else "no"
    ids = " ".join(f"{n}={uid}" for n in ("uid", "gid", "euid", "suid", "fsuid", "egid", "sgid", "fsgid"))
    lines = [
        f"type=SYSCALL {stamp} arch=c000003e syscall={syscall[0]} success={success} exit={exit_code} "
        f"a0=7ffd a1=7ffe a2=0 a3=0 items=1 ppid=4000 pid={pid} auid={auid} {ids} tty=pts1 ses={ses} "
        f'comm="{(argv or ["bash"])[0][:15]}" exe="{exe}" key="{key}"'
        + _enriched(syscall[1], auid, uid, NAMES if names is None else names)
    ]
    if argv is not None:
        args = " ".join(f"a{i}={_quoted_or_hex(a)}" for i, a in enumerate(argv))
        lines.append(f"type=EXECVE {stamp} argc={len(argv)} {args}")
    lines.append(f'type=CWD {stamp} cwd="{cwd}"')
    name = path if path is not None else exe
    lines.append(
        f'type=PATH {stamp} item=0 name="{name}" inode=1234 dev=fe:00 mode=0100644 ouid=0 ogid=0 '
        "rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"
    )
    title = "\0".join(argv) if argv is not None else "bash"
    lines.append(f"type=PROCTITLE {stamp} proctitle={title.encode().hex().upper()}")
    return lines
