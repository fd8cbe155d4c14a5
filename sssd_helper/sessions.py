"""Recorded sessions: the agent takes the login shell's terminal (or pipes), hands the recorder, running as
its own system user, the real side, and the login shell a new side that the recorder relays.

The process that holds unrecorded data is the recorder, whose uid the recorded user cannot signal, ptrace
or read; the real terminal is given to that uid for the session, so the user cannot reopen it either.
"""

from __future__ import annotations

import asyncio
import fcntl
import grp
import json
import os
import pwd
import termios
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ipa_plugin.policy import options as option_table

from . import protocol
from .config import AgentConfig
from .journal import log
from .recorders import Recorders, Started
from .server import Request
from .transfers import is_transfer


@dataclass
class TtyOwner:
    """A terminal's owner and mode before the session took it, restored when the session ends."""

    path: str
    uid: int
    gid: int
    mode: int

    def restore(self) -> None:
        try:
            os.chown(self.path, self.uid, self.gid)
            os.chmod(self.path, self.mode)
        except OSError:
            pass  # the terminal is gone with its session


class Sessions:
    """Recorded sessions: their terminal or pipes, and their recorder. `on_end(uid, sessionid)` is awaited
    when a session's recorder has ended."""

    def __init__(self, cfg: AgentConfig, on_end: Callable[[int, int], Awaitable[None]] | None = None) -> None:
        self.cfg = cfg
        self.on_end = on_end
        self.recorders = Recorders(cfg, self.recorder_identity)

    def recorder_identity(self) -> tuple[int, int]:
        try:
            entry = pwd.getpwnam(self.cfg.recorder_user)
        except KeyError:
            raise protocol.AgentRefused(
                f"cannot record: the recorder's user {self.cfg.recorder_user!r} does not exist"
            ) from None
        return entry.pw_uid, entry.pw_gid

    async def start(
        self, request: Request, decision: dict[str, Any], sessionid: int
    ) -> dict[str, Any] | None:
        """The answer to a login shell's `start` in audit session `sessionid` (the kernel's); None when the
        recorder took the connection over."""
        if len(request.fds) != 3:
            raise protocol.AgentRefused("start needs the shell's stdin, stdout and stderr")
        command = request.fields.get("command")
        if command is not None and not isinstance(command, str):
            raise protocol.AgentRefused("command must be text")
        if decision["record"] and is_transfer(command):
            decision = self._transfer(decision)
        if decision["refuse"] or not decision["record"]:
            return {"ok": True, **decision}
        uid_gid = self.recorder_identity()
        interactive = os.isatty(request.fds[0])
        owner: TtyOwner | None = None
        if interactive:
            ours, theirs = self._pty(request.fds[0], decision["uid"])
            owner = self._take_tty(request.fds[0], *uid_gid)
        else:
            ours, theirs = self._pipes()
        try:
            await self._spawn(request, decision, sessionid, ours, theirs, interactive, owner)
        except OSError as exc:
            if owner is not None:
                owner.restore()
            raise protocol.AgentRefused(f"cannot start the recorder: {exc.strerror or exc}") from None
        finally:
            for fd in (*ours, *theirs):
                os.close(fd)
            request.close_fds()
        return None

    def _transfer(self, decision: dict[str, Any]) -> dict[str, Any]:
        """A file transfer under the rules' `transfers` option: recorded, only its command and sizes, or
        refused."""
        mode = decision["options"]["transfers"]
        rules = ", ".join(decision["rules"]) or "the default options"
        if mode == "refuse":
            return {
                **decision,
                "record": False,
                "refuse": True,
                "reason": f"file transfers refused by {rules}",
            }
        if mode == "metadata":
            options = {**decision["options"], "log_input": False, "log_output": False, "log_window": False}
            return {
                **decision,
                "options": options,
                "reason": f"{decision['reason']}; transfer: metadata only",
            }
        return decision

    def _pty(self, real: int, uid: int) -> tuple[list[int], list[int]]:
        """A new terminal like the real one: same modes and size; its slave the user's, as a login's is."""
        master, slave = os.openpty()
        try:
            termios.tcsetattr(slave, termios.TCSANOW, termios.tcgetattr(real))
            fcntl.ioctl(slave, termios.TIOCSWINSZ, fcntl.ioctl(real, termios.TIOCGWINSZ, b"\0" * 8))
        except (OSError, termios.error):
            pass  # a terminal that reports no modes or size keeps the defaults
        os.fchown(slave, uid, _tty_group())
        os.fchmod(slave, 0o620)
        return [master], [slave]

    def _pipes(self) -> tuple[list[int], list[int]]:
        """stdin, stdout, stderr as pipes: the recorder's ends, the session's ends."""
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        return [in_w, out_r, err_r], [in_r, out_w, err_w]

    def _take_tty(self, fd: int, uid: int, gid: int) -> TtyOwner | None:
        """Give the real terminal to the recorder's user, mode 0600: the recorded user cannot reopen it
        to write or read around the recording."""
        try:
            path = os.ttyname(fd)
            st = os.stat(path)
            os.chown(path, uid, gid)
            os.chmod(path, 0o600)
        except OSError:
            return None
        return TtyOwner(path, st.st_uid, st.st_gid, st.st_mode & 0o7777)

    async def _spawn(
        self,
        request: Request,
        decision: dict[str, Any],
        sessionid: int,
        ours: list[int],
        theirs: list[int],
        interactive: bool,
        owner: TtyOwner | None,
    ) -> None:
        options = option_table.from_dict(decision["options"])
        args = [
            *option_table.recorder_args(options),
            "--user",
            decision["user"],
            "--session",
            str(sessionid),
            "--term",
            str(request.fields.get("term") or ""),
            "--command",
            request.fields.get("command") or "",
            "--answer",
            json.dumps({k: decision[k] for k in ("user", "shell", "rules", "reason")}),
        ]
        if not interactive:
            args.append("--pipes")
        fds = {"conn": [request.conn.fileno()], "real": request.fds, "ours": ours, "theirs": theirs}
        started = await self.recorders.start(args, fds)
        request.conn.close()  # the recorder has its own copy and answers the login shell itself
        asyncio.ensure_future(self._reap(started, decision["user"], (request.uid, sessionid), owner))

    async def _reap(
        self, started: Started, user: str, session: tuple[int, int], owner: TtyOwner | None
    ) -> None:
        status = await started.wait()
        if owner is not None:
            owner.restore()
        if status not in (0, None):
            log(f"sessrecd: the recorder of a session of {user} ended with status {status}", priority=4)
        if self.on_end is not None:
            await self.on_end(*session)


def _tty_group() -> int:
    try:
        return grp.getgrnam("tty").gr_gid
    except KeyError:
        return 5
