"""The warm recorder: one process of the recorders' user, its modules loaded, that forks a `sessrec relay`
for each recorded session the agent asks for, so a recorded login does not wait for Python to start.

It talks only over the socket it was started with (a socketpair of the agent's; no name in the
filesystem). Each request is one SOCK_SEQPACKET message, JSON with the descriptors attached:
`{"v": 1, "argv": [relay arguments but the descriptors], "fds": {"conn": i, "real": [i, i, i], "ours":
[...], "theirs": [...]}}` (indexes into the attached descriptors). The answer is `{"v": 1, "pid": N}` with a
pidfd of the relay attached (the agent learns of its end from the pidfd, whatever becomes of this process),
or `{"v": 1, "error": "..."}` when nothing was forked; `{"v": 1, "ended": N, "status": S}` follows when a
relay ends. When the agent closes the socket this process ends; relays that run go on.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import sys
from collections.abc import Sequence

MAX_FDS = 16
MAX_MESSAGE = 1 << 16
FD_FIELDS = ("conn", "real", "ours", "theirs")
# What a relay loads when it runs, loaded once here (the point of a warm process); the command modules
# come with the parser.
PRELOAD = (
    "recorder.identity",
    "recorder.relay",
    "recorder.sink",
    "recorder.tlogformat",
    "recorder.writers",
    "ctypes",
)


class BadRequest(Exception):
    """A request that is not what the agent sends."""


def relay_argv(request: dict, fds: list[int]) -> list[str]:
    """`sessrec relay` arguments for a request, with the descriptors as this process received them."""
    argv, where = request.get("argv"), request.get("fds")
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or not isinstance(where, dict):
        raise BadRequest("argv must be a list of strings and fds an object")
    if set(where) != set(FD_FIELDS):
        raise BadRequest(f"fds must name {', '.join(FD_FIELDS)}")
    if any(a in {f"--{f}" for f in FD_FIELDS} for a in argv):
        raise BadRequest("descriptors are given in fds, not in argv")
    used: list[int] = []
    full = ["relay", *argv]
    for field in FD_FIELDS:
        indexes = where[field] if isinstance(where[field], list) else [where[field]]
        if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(fds) for i in indexes):
            raise BadRequest(f"fds.{field}: indexes of the attached descriptors")
        used += indexes
        full += [f"--{field}", ",".join(str(fds[i]) for i in indexes)]
    if sorted(used) != list(range(len(fds))):
        raise BadRequest("every attached descriptor is used once")
    return full


def _send(sock: socket.socket, message: dict, fds: Sequence[int] = ()) -> None:
    data = json.dumps({"v": 1, **message}).encode()
    try:
        socket.send_fds(sock, [data], list(fds))
    except OSError:
        pass  # the agent is gone; the next read tells


def _child(
    sock: socket.socket, wake: tuple[int, int], argv: list[str], parser: argparse.ArgumentParser
) -> None:
    """In the forked relay: nothing of the server's but the session's descriptors, then the relay."""
    from recorder import cli

    sock.close()
    signal.set_wakeup_fd(-1)
    for fd in wake:
        os.close(fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    code = 70
    try:
        os.setsid()
        code = cli.main(argv, parser)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException as exc:  # noqa: BLE001 - the relay's end is reported by its status
        print(f"sessrec relay: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _spawn(
    sock: socket.socket, wake: tuple[int, int], data: bytes, fds: list[int], parser: argparse.ArgumentParser
) -> None:
    try:
        try:
            request = json.loads(data)
            if not isinstance(request, dict) or request.get("v") != 1:
                raise BadRequest("a version 1 JSON object is expected")
            argv = relay_argv(request, fds)
        except (ValueError, BadRequest) as exc:
            _send(sock, {"error": f"bad request: {exc}"})
            return
        try:
            pid = os.fork()
        except OSError as exc:
            _send(sock, {"error": f"cannot fork: {exc.strerror or exc}"})  # nothing forked
            return
        if pid == 0:
            _child(sock, wake, argv, parser)
        try:
            pidfd = os.pidfd_open(pid)  # before this process can reap it: the pid cannot be reused yet
        except OSError:
            os.kill(pid, signal.SIGKILL)
            _send(sock, {"pid": pid})  # forked, but without a pidfd: the agent refuses the session
            return
        try:
            _send(sock, {"pid": pid}, [pidfd])
        finally:
            os.close(pidfd)
    finally:
        for fd in fds:
            os.close(fd)


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"ended": pid, "status": os.waitstatus_to_exitcode(status)})


def serve(control: int) -> int:
    """Fork relays for the agent on `control` until it closes it."""
    import importlib

    from recorder import cli, identity

    for name in PRELOAD:
        importlib.import_module(name)
    parser = cli.build_parser()  # every command's module loaded, the parser made once
    identity.harden("sessrec-relayd")
    sock = socket.socket(fileno=control)
    wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake[1])
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(wake[0], select.POLLIN)
    while True:
        try:
            events = poller.poll()
        except InterruptedError:
            continue
        for fd, _ in events:
            if fd == wake[0]:
                while True:
                    try:
                        if not os.read(wake[0], 512):
                            break
                    except BlockingIOError:
                        break
                _reap(sock)
                continue
            try:
                data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
            except InterruptedError:
                continue
            except OSError:
                return 0
            if not data and not fds:
                return 0  # the agent closed its end
            _spawn(sock, wake, data, fds, parser)
