"""A standalone systemd-journald (no PID-1 systemd needed once /run/systemd/journal exists)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .process import Service

JOURNALD = "/lib/systemd/systemd-journald"
SOCKET = Path("/run/systemd/journal/socket")
SYSLOG_SOCKET = Path("/run/systemd/journal/dev-log")
CONF = """\
[Journal]
Storage=volatile
ReadKMsg=no
ForwardToSyslog=no
ForwardToWall=no
ForwardToConsole=no
RateLimitBurst=0
"""


def start(log: Path, conf: Path) -> Service:
    Path("/run/systemd/journal").mkdir(parents=True, exist_ok=True)
    conf.write_text(CONF)
    service = Service("systemd-journald", [JOURNALD], log)
    service.start(lambda: SOCKET.is_socket() and SYSLOG_SOCKET.is_socket(), timeout=20)
    return service


def entries(**match: str) -> list[dict[str, str]]:
    """Entries of the lab journal with field=value matches, as journalctl -o json prints them."""
    argv = ["journalctl", "--no-pager", "-o", "json", "--all"] + [f"{k}={v}" for k, v in match.items()]
    out = subprocess.run(argv, capture_output=True, check=True, timeout=30).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]
