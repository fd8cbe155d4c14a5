"""Start a real service as a child process, wait for it to be ready, stop exactly that PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class ComponentError(RuntimeError):
    """A lab component failed to start; the message names it and carries its log's tail."""


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def wait_until(
    ready: Callable[[], bool], timeout: float, what: str, alive: Callable[[], bool] | None = None
) -> None:
    """Poll `ready` until it returns true; fail early when `alive` says the process died."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - a failing probe only means "not ready yet"
            pass
        if alive is not None and not alive():
            raise TimeoutError(f"{what}: the process exited before it was ready")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


class Service:
    """One running program of the lab, owned by PID."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None):
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, ready: Callable[[], bool], timeout: float = 30.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise ComponentError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from None
        try:
            wait_until(ready, timeout, self.name, alive=self.alive)
        except TimeoutError as exc:
            self.stop()
            raise ComponentError(f"{exc}\n--- last lines of {self.log} ---\n{log_tail(self.log)}") from None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM our PID (and its process group), then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        _signal_group(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _die_with_parent() -> None:
    # If the lab's process is killed outright, its services get SIGTERM instead of lingering.
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(pid: int, sig: int) -> None:
    # start_new_session made the service its own group leader, so the group holds only its children.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
