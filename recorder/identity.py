"""Who and what is recorded: header fields (host, user, audit session, recording id) and process hardening."""

from __future__ import annotations

import os
import socket

# Cockpit lists recordings by `_COMM=tlog-rec-sessio` (the kernel keeps 15 characters), so the recorder
# takes tlog-rec-session's truncated name; `sessrec play --verify` relies on trusted fields, not on this.
PROCESS_NAME = "tlog-rec-sessio"
NO_SESSION = 4294967295
# The system user the agent runs login sessions' recorders as: only it (or root) writes verified recordings.
RECORDER_USER = "sessrec"
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip().replace("-", "")
    except OSError:
        return "0" * 32


def rec_id(pid: int | None = None) -> str:
    """tlog's recording id: `<boot id>-<pid hex>-<process start time hex>`, unique per recording."""
    pid = os.getpid() if pid is None else pid
    try:
        with open(f"/proc/{pid}/stat") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        start = 0
    return f"{boot_id()}-{pid:x}-{start:x}"


def audit_session() -> int:
    """The audit session id (`/proc/self/sessionid`); 4294967295 when unset, as tlog writes it."""
    try:
        with open("/proc/self/sessionid") as f:
            value = int(f.read().strip() or NO_SESSION)
    except (OSError, ValueError):
        return NO_SESSION
    return value if 1 <= value <= NO_SESSION else NO_SESSION


def fqdn(hostname: str | None = None, etc: str = "/etc") -> str:
    """The host's fully qualified name, without asking DNS (a slow resolver would stall every login): the
    kernel's host name (/proc/sys/kernel/hostname) if it has a dot; else /etc/hostname if it holds a dotted
    name for the same host; else the canonical (first) name of the first /etc/hosts line that names the
    host, where getaddrinfo's "files" source finds it; else the short name. tlog asks getaddrinfo with
    AI_CANONNAME, which goes on to DNS."""
    name = socket.gethostname() if hostname is None else hostname
    if "." in name:
        return name
    try:
        with open(os.path.join(etc, "hostname"), encoding="utf-8", errors="replace") as f:
            written = f.readline().strip()
        if "." in written and written.split(".", 1)[0] == name:
            return written
    except OSError:
        pass
    try:
        with open(os.path.join(etc, "hosts"), encoding="utf-8", errors="replace") as f:
            for line in f:
                names = line.split("#", 1)[0].split()[1:]
                if name in names and "." in names[0]:
                    return names[0]
    except OSError:
        pass
    return name


def user_name(uid: int | None = None) -> str:
    import pwd

    uid = os.getuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def harden(name: str = PROCESS_NAME) -> None:
    """Make this process non-dumpable (no ptrace, no core dumps of buffered I/O) and set its name."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
