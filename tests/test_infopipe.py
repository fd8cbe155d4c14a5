"""The agent's InfoPipe client (sssd_helper.infopipe) against the lab's real sssd on its system bus."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sssd_helper.infopipe import InfoPipe, InfoPipeError, UnknownUser
from tests.lab.lab import Lab


def lookup(**who: object) -> object:
    async def run() -> object:
        ifp = InfoPipe(timeout=3, autostart=False)
        try:
            return await ifp.user(**who)  # type: ignore[arg-type]
        finally:
            ifp.close()

    return asyncio.run(run())


def test_groups_include_nested_and_primary_and_the_real_shell(lab: Lab) -> None:
    alice = lookup(name="alice")
    assert set(alice.groups) >= lab.data.groups_of("alice") | {"alice"}  # staff via developers; private group
    assert alice.uid == 10001 and alice.shell == "/bin/bash" and alice.online is True
    assert lookup(name="bob").shell == "/bin/sh"
    assert lookup(uid=10003).name == "carol"


def test_unknown_user_is_told_apart(lab: Lab) -> None:
    with pytest.raises(UnknownUser):
        lookup(name="nosuchuser")
    with pytest.raises(UnknownUser):
        lookup(uid=4242)


def test_infopipe_refuses_non_root_callers(lab: Lab, installed: types.ModuleType) -> None:
    code = (
        "import asyncio\n"
        "from sssd_helper.infopipe import InfoPipe, InfoPipeError\n"
        "try: asyncio.run(InfoPipe(autostart=False).user(name='alice'))\n"
        "except InfoPipeError as e: print(e.name)\n"
    )
    out = subprocess.run(
        [str(installed.PYTHON), "-I", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        user=10004,
        group=10004,
        cwd="/",
    )
    assert out.stdout.strip() == "org.freedesktop.DBus.Error.AuthFailed", out.stderr


@contextmanager
def frozen_infopipe(lab: Lab) -> Iterator[int]:
    """SIGSTOP this lab's InfoPipe responder (a child of its sssd): calls to it hang, as with an
    overloaded or stuck SSSD."""
    sssd = lab.services["sssd"].pid
    pids = [p for p in os.listdir("/proc") if p.isdigit() and _comm(p) == "sssd_ifp" and _ppid(p) == sssd]
    assert pids, "the lab's sssd runs no InfoPipe responder"
    pid = int(pids[0])
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


def _ppid(pid: str) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_a_hanging_sssd_fails_within_the_timeout_not_the_bus_default(lab: Lab) -> None:
    async def run() -> float:
        ifp = InfoPipe(timeout=0.5, autostart=False)
        try:
            await ifp.user(name="alice")  # connect while it answers
            start = time.monotonic()
            with pytest.raises(InfoPipeError) as err, frozen_infopipe(lab):
                await ifp.user(name="alice")
            assert err.value.name == "timeout"
            elapsed = time.monotonic() - start
            assert (await ifp.user(name="alice")).name == "alice"  # the same connection serves again
            return elapsed
        finally:
            ifp.close()

    assert asyncio.run(run()) < 2
