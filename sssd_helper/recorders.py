"""Starting a session's recorder (`sessrec relay`, as the recorders' user): forked by the warm recorder
(`sessrec relay-server`, recorder/forkserver.py) when it runs, else spawned as a new process."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from recorder.forkserver import FD_FIELDS

from .config import AgentConfig
from .journal import log

ANSWER_TIMEOUT = 5.0  # seconds for the warm recorder to answer a fork
STATUS_WAIT = 1.0  # seconds to wait for a relay's exit status after its pidfd said it ended
RETRY = 10.0  # seconds between attempts to start the warm recorder again
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


class Started:
    """A running recorder; `wait()` gives its exit status (None when it is not known) once it ended."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    async def wait(self) -> int | None:
        raise NotImplementedError


class Spawned(Started):
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        super().__init__(proc.pid)
        self.proc = proc

    async def wait(self) -> int | None:
        return await self.proc.wait()


class Forked(Started):
    """A relay the warm recorder forked: its end from the pidfd (whatever becomes of the warm recorder),
    its status from the warm recorder's report."""

    def __init__(self, pid: int, pidfd: int, status: asyncio.Future) -> None:
        super().__init__(pid)
        self.status = status
        loop = asyncio.get_running_loop()
        self.gone = loop.create_future()

        def ended() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            if not self.gone.done():
                self.gone.set_result(None)

        loop.add_reader(pidfd, ended)

    async def wait(self) -> int | None:
        await self.gone
        try:
            return await asyncio.wait_for(asyncio.shield(self.status), STATUS_WAIT)
        except TimeoutError:
            return None


class Recorders:
    """Starts recorders as the user `identity()` names; keeps the warm recorder running."""

    def __init__(self, cfg: AgentConfig, identity: Callable[[], tuple[int, int]]) -> None:
        self.cfg = cfg
        self.identity = identity
        self.server: asyncio.subprocess.Process | None = None
        self.sock: socket.socket | None = None
        self.answer: asyncio.Future | None = None
        self.statuses: dict[int, asyncio.Future] = {}
        self.lock = asyncio.Lock()
        self.last_try = float("-inf")

    # -- the warm recorder ---------------------------------------------------------------------------
    async def start_server(self) -> bool:
        """Start the warm recorder (if it is not running); False when it cannot start."""
        if self.sock is not None:
            return True
        self.last_try = time.monotonic()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.server = await self._exec(
                ["relay-server", "--control", str(theirs.fileno())], [theirs.fileno()]
            )
        except Exception as exc:  # noqa: BLE001 - recorders are then spawned one by one
            ours.close()
            log(f"sessrecd: cannot start the warm recorder: {exc}", priority=4)
            return False
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours
        asyncio.get_running_loop().add_reader(ours.fileno(), self._readable)
        return True

    def close(self) -> None:
        """Stop the warm recorder (it ends when its socket closes); running relays go on."""
        self._lost(None)

    def _lost(self, why: str | None) -> None:
        if self.sock is None:
            return
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()
        self.sock = None
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError(why or "closed"))
        for status in self.statuses.values():
            if not status.done():
                status.set_result(None)
        self.statuses.clear()
        if why is not None:
            log(
                f"sessrecd: the warm recorder is gone ({why}); recorders are spawned until it is back",
                priority=4,
            )
            if self.server is not None and self.server.returncode is None:
                self.server.kill()  # ours, by its own process handle
        self.server = None

    def _readable(self) -> None:
        assert self.sock is not None
        while self.sock is not None:
            try:
                data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
            except BlockingIOError:
                return
            except OSError as exc:
                return self._lost(exc.strerror or str(exc))
            if not data:
                for fd in fds:
                    os.close(fd)
                return self._lost("it closed its socket")
            try:
                message = json.loads(data)
            except ValueError:
                message = {}
            if "ended" in message:
                status = self.statuses.pop(message["ended"], None)
                if status is not None and not status.done():
                    status.set_result(message.get("status"))
            elif self.answer is not None and not self.answer.done():
                self.answer.set_result((message, fds))
            else:
                for fd in fds:
                    os.close(fd)

    async def _fork(self, args: Sequence[str], fds: dict[str, Sequence[int]]) -> Forked | None:
        """The relay forked by the warm recorder; None when it took nothing (a spawn is then safe). A
        warm recorder that took the request and then did not answer may have forked it: that session
        is refused (OSError), never given a second recorder."""
        assert self.sock is not None
        flat: list[int] = []
        where: dict[str, Any] = {}
        for field in FD_FIELDS:
            where[field] = list(range(len(flat), len(flat) + len(fds[field])))
            flat += fds[field]
        where["conn"] = where["conn"][0]
        request = json.dumps({"v": 1, "argv": list(args), "fds": where}).encode()
        loop = asyncio.get_running_loop()
        self.answer = loop.create_future()
        try:
            socket.send_fds(self.sock, [request], flat)
        except OSError as exc:
            self._lost(exc.strerror or str(exc))
            return None
        try:
            message, got = await asyncio.wait_for(self.answer, ANSWER_TIMEOUT)
        except (TimeoutError, ConnectionError) as exc:
            self._lost(f"no answer to a fork: {exc or 'timeout'}")
            raise OSError("the warm recorder did not answer") from None
        if "pid" not in message:
            for fd in got:
                os.close(fd)
            log(f"sessrecd: the warm recorder refused a fork: {message.get('error')}", priority=4)
            return None  # nothing was forked
        if len(got) != 1:
            for fd in got:
                os.close(fd)
            raise OSError("the warm recorder forked without a pidfd")  # never a second recorder
        status = loop.create_future()
        self.statuses[message["pid"]] = status
        return Forked(message["pid"], got[0], status)

    # -- a recorder ----------------------------------------------------------------------------------
    async def start(self, args: Sequence[str], fds: dict[str, Sequence[int]]) -> Started:
        """A `sessrec relay ARGS` with the descriptors `fds` (conn, real, ours, theirs)."""
        async with self.lock:  # one fork request at a time: answers come in order
            if self.sock is None and time.monotonic() - self.last_try >= RETRY:
                await self.start_server()
            if self.sock is not None:
                forked = await self._fork(args, fds)
                if forked is not None:
                    return forked
        return await self._spawn(args, fds)

    async def _spawn(self, args: Sequence[str], fds: dict[str, Sequence[int]]) -> Spawned:
        named = [x for field in FD_FIELDS for x in (f"--{field}", ",".join(map(str, fds[field])))]
        passed = [fd for field in FD_FIELDS for fd in fds[field]]
        return Spawned(await self._exec(["relay", *args, *named], passed))

    async def _exec(self, argv: list[str], pass_fds: list[int]) -> asyncio.subprocess.Process:
        """`sessrec ARGV` as the recorders' user, in a session of its own, with only `pass_fds`."""
        uid, gid = self.identity()
        return await asyncio.create_subprocess_exec(
            self.cfg.sessrec,
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=None,
            pass_fds=pass_fds,
            user=uid,
            group=gid,
            extra_groups=[],
            start_new_session=True,
            env=ENV,
            cwd="/",
        )
