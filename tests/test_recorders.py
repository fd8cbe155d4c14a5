"""How the agent starts recorders: forked by the warm recorder while it runs, spawned when it is gone (and
started again later), and a fork the warm recorder took but never answered refused, never doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from sssd_helper import recorders
from sssd_helper.config import AgentConfig
from tests.recorder_helpers import ROOT


@pytest.fixture
def cfg(tmp_path: Path) -> AgentConfig:
    wrapper = tmp_path / "sessrec"
    wrapper.write_text(f'#!/bin/sh\ncd {ROOT} && exec {sys.executable} -m recorder "$@"\n')
    wrapper.chmod(0o755)
    return AgentConfig(sessrec=str(wrapper))


def failing_relay() -> tuple[list[str], dict[str, list[int]], list[int]]:
    """Arguments the relay refuses at once (no --session), with descriptors of the right shape."""
    pipes = [os.pipe() for _ in range(5)]
    flat = [fd for pair in pipes for fd in pair]
    fds = {"conn": flat[:1], "real": flat[1:4], "ours": flat[4:7], "theirs": flat[7:10]}
    return ["--user", "alice", "--answer", "{}"], fds, flat


def identity() -> tuple[int, int]:
    return os.getuid(), os.getgid()


def test_forked_while_the_warm_recorder_runs_spawned_when_it_is_gone(
    cfg: AgentConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def steps() -> None:
        r = recorders.Recorders(cfg, identity)
        assert await r.start_server()
        args, fds, flat = failing_relay()
        try:
            first = await r.start(args, fds)
            assert isinstance(first, recorders.Forked) and await first.wait() == 2
            assert r.server is not None
            os.kill(r.server.pid, signal.SIGKILL)
            await asyncio.wait_for(r.server.wait(), 10)
            await asyncio.sleep(0.1)  # its socket's end is seen
            second = await r.start(args, fds)
            assert isinstance(second, recorders.Spawned) and await second.wait() == 2
            assert r.sock is None  # not started again before RETRY
            monkeypatch.setattr(recorders, "RETRY", 0.0)
            third = await r.start(args, fds)
            assert isinstance(third, recorders.Forked) and await third.wait() == 2
        finally:
            r.close()
            for fd in flat:
                os.close(fd)

    asyncio.run(steps())


def test_a_fork_taken_but_not_answered_refuses_the_session(
    cfg: AgentConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.setattr(recorders, "ANSWER_TIMEOUT", 0.3)
    spawned: list[object] = []

    async def steps() -> None:
        r = recorders.Recorders(cfg, identity)
        ours, silent = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # takes, never answers
        ours.setblocking(False)
        r.sock, r.last_try = ours, float("inf")

        async def spawn(*a: object) -> None:
            spawned.append(a)

        r._spawn = spawn  # type: ignore[method-assign]
        args, fds, flat = failing_relay()
        try:
            with pytest.raises(OSError, match="the warm recorder did not answer"):
                await r.start(args, fds)
        finally:
            silent.close()
            for fd in flat:
                os.close(fd)
        assert r.sock is None and not spawned

    asyncio.run(steps())


def test_a_warm_recorder_that_cannot_start_leaves_spawning(cfg: AgentConfig, tmp_path: Path) -> None:
    async def steps() -> None:
        r = recorders.Recorders(AgentConfig(sessrec=str(tmp_path / "missing")), identity)
        assert not await r.start_server() and r.sock is None

    asyncio.run(steps())


@pytest.mark.parametrize(
    ("answer", "spawns"),
    [({"v": 1, "pid": 123}, False), ({"v": 1, "error": "cannot fork: no memory"}, True)],
    ids=["forked-without-pidfd", "nothing-forked"],
)
def test_only_an_answer_that_nothing_was_forked_lets_the_agent_spawn(
    cfg: AgentConfig, answer: dict, spawns: bool
) -> None:
    import json
    import socket

    spawned: list[object] = []

    async def steps() -> None:
        r = recorders.Recorders(cfg, identity)
        ours, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        r.sock, r.last_try = ours, float("inf")
        loop = asyncio.get_running_loop()
        loop.add_reader(ours.fileno(), r._readable)

        def reply() -> None:
            _, got, _, _ = socket.recv_fds(peer, 1 << 16, 16)
            for fd in got:
                os.close(fd)
            peer.send(json.dumps(answer).encode())

        loop.add_reader(peer.fileno(), reply)

        async def spawn(*a: object) -> str:
            spawned.append(a)
            return "spawned"

        r._spawn = spawn  # type: ignore[method-assign]
        args, fds, flat = failing_relay()
        try:
            if spawns:
                assert await r.start(args, fds) == "spawned"
            else:
                with pytest.raises(OSError, match="forked without a pidfd"):
                    await r.start(args, fds)
        finally:
            loop.remove_reader(peer.fileno())
            r.close()
            peer.close()
            for fd in flat:
                os.close(fd)
        assert bool(spawned) == spawns

    asyncio.run(steps())
