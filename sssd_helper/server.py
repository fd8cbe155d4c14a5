"""The agent's Unix socket: one request per connection, file descriptors passed with SCM_RIGHTS.

Non-blocking throughout, so a silent or slow client never holds up another one; who is asking comes from
the kernel (SO_PEERCRED), never from the request.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import protocol
from .journal import log

READ_TIMEOUT = 5.0
MAX_FDS = 3


@dataclass
class Request:
    """One request as received: its fields, the caller, and any descriptors that came with it."""

    conn: socket.socket
    fields: dict[str, Any]
    uid: int
    pid: int
    fds: list[int] = field(default_factory=list)

    def close_fds(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


Handler = Callable[[Request], Awaitable[dict[str, Any] | None]]


def peer(sock: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the connecting process, from the kernel."""
    pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return pid, uid


def parse_request(line: bytes) -> dict[str, Any]:
    if len(line) > protocol.MAX_REQUEST:
        raise protocol.AgentRefused(f"request larger than {protocol.MAX_REQUEST} bytes")
    try:
        request = json.loads(line)
    except ValueError:
        raise protocol.AgentRefused("request is not JSON") from None
    if not isinstance(request, dict):
        raise protocol.AgentRefused("request must be a JSON object")
    if request.get("v") != protocol.VERSION:
        raise protocol.AgentRefused(
            f"unsupported protocol version {request.get('v')!r}; this is {protocol.VERSION}"
        )
    if request.get("op") not in protocol.OPS:
        raise protocol.AgentRefused(f"unknown op {request.get('op')!r}; ops: {', '.join(protocol.OPS)}")
    return request


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket, deadline: float) -> None:
    ready = loop.create_future()
    loop.add_reader(sock.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, max(0.0, deadline - time.monotonic()))
    finally:
        loop.remove_reader(sock.fileno())


async def receive(conn: socket.socket) -> tuple[bytes, list[int]]:
    """One request line and the descriptors sent with it, within READ_TIMEOUT."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + READ_TIMEOUT
    data, fds = b"", []
    while b"\n" not in data:
        try:
            await _readable(loop, conn, deadline)
        except TimeoutError:
            _close_all(fds)
            raise protocol.AgentRefused("no request within the time limit") from None
        try:
            chunk, new_fds, _flags, _addr = socket.recv_fds(conn, 8192, MAX_FDS)
        except BlockingIOError:
            continue
        fds += new_fds
        if not chunk:
            break
        data += chunk
        if len(data) > protocol.MAX_REQUEST:
            _close_all(fds)
            raise protocol.AgentRefused(f"request larger than {protocol.MAX_REQUEST} bytes")
    return data, fds


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


async def answer(conn: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = protocol.encode({"v": protocol.VERSION, **message})
    loop = asyncio.get_running_loop()
    if fds:
        socket.send_fds(conn, [data], fds)  # small, on a fresh socket: the buffer takes it
    else:
        await asyncio.wait_for(loop.sock_sendall(conn, data), READ_TIMEOUT)


async def serve_connection(conn: socket.socket, handler: Handler) -> None:
    """Read one request, let `handler` answer it (or take the connection over: it returns None)."""
    conn.setblocking(False)
    request: Request | None = None
    keep = False
    try:
        pid, uid = peer(conn)
        line, fds = await receive(conn)
        request = Request(conn, {}, uid, pid, fds)
        request.fields = parse_request(line)
        reply = await handler(request)
        if reply is None:
            keep = True  # the handler handed the connection on
            return
        await answer(conn, reply)
    except protocol.AgentRefused as exc:
        await _try_answer(conn, {"ok": False, "error": str(exc)})
    except Exception as exc:  # noqa: BLE001 - one bad request must never stop the service
        log(f"sessrecd: internal error answering a request: {exc!r}", priority=3)
        await _try_answer(conn, {"ok": False, "error": "internal error"})
    finally:
        if request is not None and not keep:
            request.close_fds()
        if not keep:
            conn.close()


async def _try_answer(conn: socket.socket, message: dict[str, Any]) -> None:
    try:
        await answer(conn, message)
    except (OSError, TimeoutError):
        pass


def listening_socket(path: str) -> socket.socket:
    """The socket systemd passed (socket activation), else a new one at `path`, mode 0666 in a 0755 dir."""
    if os.environ.get("LISTEN_PID") == str(os.getpid()) and os.environ.get("LISTEN_FDS") == "1":
        sock = socket.socket(fileno=3)
    else:
        where = Path(path)
        where.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(where.parent, 0o755)
        where.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.bind(path)
        os.chmod(path, 0o666)  # anyone may ask; each is answered only about themselves
        sock.listen(128)
    sock.setblocking(False)
    return sock


async def accept_forever(listener: socket.socket, handler: Handler) -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task] = set()
    while True:
        conn, _ = await loop.sock_accept(listener)
        task = asyncio.ensure_future(serve_connection(conn, handler))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
