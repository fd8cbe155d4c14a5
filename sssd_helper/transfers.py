"""Which login commands are file transfers: the SFTP server, scp's server side and rsync's server."""

from __future__ import annotations

import shlex


def is_transfer(command: str | None) -> bool:
    """True for what sshd runs for sftp/scp/rsync clients (`… sftp-server`, `scp -t|-f …`,
    `rsync --server …`); a command that does not even parse is not one."""
    if not command:
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    if not words:
        return False
    name = words[0].rsplit("/", 1)[-1]
    if name == "sftp-server":
        return True
    if name == "scp":
        return any(w in ("-t", "-f") for w in words[1:])
    return name == "rsync" and "--server" in words[1:]
