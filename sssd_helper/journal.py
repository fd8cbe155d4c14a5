"""The agent's own log: one journal entry per event with SESSREC_* fields, stderr when there is no journal."""

from __future__ import annotations

import socket
import sys

from recorder.writers import JOURNAL_SOCKET, journal_field

IDENTIFIER = "sessrecd"
_sock: socket.socket | None = None


def log(message: str, priority: int = 6, **fields: str) -> None:
    """Send `message` with `fields` to journald; a journal that is not there is no reason to fail."""
    global _sock
    datagram = b"".join(
        journal_field(k, v.encode("utf-8", "replace"))
        for k, v in {
            "MESSAGE": message,
            "PRIORITY": str(priority),
            "SYSLOG_IDENTIFIER": IDENTIFIER,
            **fields,
        }.items()
    )
    try:
        if _sock is None:
            _sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        _sock.sendto(datagram, JOURNAL_SOCKET)
    except OSError:
        print(message, file=sys.stderr, flush=True)
