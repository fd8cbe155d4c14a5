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


def fqdn() -> str:
    name = socket.gethostname()
    if "." in name:
        return name
    try:
        info = socket.getaddrinfo(name, None, flags=socket.AI_CANONNAME)
    except OSError:
        return name
    return info[0][3] or name if info else name


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
