"""Shared helpers for the recorder tests: encoding in memory, running tlog-play/tlog-rec and sessrec."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import termios
from pathlib import Path

from recorder.tlogformat import Body, Encoder, Framer, Meta

ROOT = Path(__file__).resolve().parent.parent
TLOG_CLEANUP = b"\x1b[0m\x1b[?25h\n\x00"
META = Meta("host.example", "rec-1", "user", "xterm", 1)


def encode_bodies(enc: Encoder, events: list[tuple[float, str, object]]) -> list[Body]:
    """Feed (seconds, 'o'|'i'|'w', data) events to `enc` and finish it; the message bodies in order."""
    bodies: list[Body] = []
    for t, kind, data in events:
        if kind == "o":
            enc.output(t, data)
        elif kind == "i":
            enc.input(t, data)
        else:
            enc.window(t, *data)
        bodies += enc.take()
    enc.finish()
    return bodies + enc.take()


def encode(events: list[tuple[str, object]], payload: int = 2048, step: float = 0.0013) -> bytes:
    """Events ('o'|'i', bytes) or ('w', (w, h)) a fixed step apart, as a complete log."""
    framer = Framer(META, 1_700_000_000_000)
    timed = [(n * step, kind, data) for n, (kind, data) in enumerate(events)]
    return b"".join(framer.frame(b)[1] for b in encode_bodies(Encoder(payload), timed))


def tlog_play(path: Path, *extra: str) -> bytes:
    """tlog-play's output for a log file; stdin is a PTY (tlog-play spins on anything else)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ["tlog-play", "-r", "file", "-i", str(path), "-g", "end", *extra],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, err
    assert out.endswith(TLOG_CLEANUP)
    return out[: -len(TLOG_CLEANUP)]


def sessrec(*args: str, stdin=subprocess.DEVNULL, input: bytes | None = None, timeout: float = 30):
    """Run `python -m recorder.cli ARGS` and return the CompletedProcess."""
    kwargs = {"input": input} if input is not None else {"stdin": stdin}
    return subprocess.run(
        [sys.executable, "-m", "recorder", *args], capture_output=True, timeout=timeout, cwd=ROOT, **kwargs
    )


def run_on_pty(argv: list[str], tty_stdin: bool = True, cwd: Path = ROOT) -> int:
    """Run argv with stdout/stderr (and stdin, else a held-open pipe) on a 100x30 PTY, draining it.

    tlog-rec gets a pipe: with a terminal stdin it records nothing here. Returns the exit status (or that
    of a kill after 20 s without the PTY's end)."""
    master, slave = pty.openpty()
    termios.tcsetwinsize(slave, (30, 100))
    stdin = slave if tty_stdin else subprocess.PIPE
    import select
    import time

    proc = subprocess.Popen(argv, stdin=stdin, stdout=slave, stderr=slave, cwd=cwd)
    os.close(slave)
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 0.2)[0]:
                continue
            try:
                if not os.read(master, 65536):
                    break
            except OSError:
                break
        else:
            # tlog-rec 12.1 now and then spins after its command ended, its log already written: end it.
            proc.kill()
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdin:
            proc.stdin.close()
        os.close(master)


def on_small_fs(directory: Path, argv: list[str], size: str = "64k", fill: bool = False) -> list[str]:
    """`argv` run with a tmpfs of `size` mounted on `directory`, in a mount namespace of its own (root);
    with `fill`, the file system is full before argv starts."""
    script = 'mount -t tmpfs -o size="$1" tmpfs "$0" || exit 99; '
    if fill:
        script += 'head -c "$1" /dev/zero > "$0/fill" 2>/dev/null; '
    script += 'shift; exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(directory), size, *argv]


def read_to_end(child, out: bytes = b"") -> bytes:
    """`out` and the rest of a PtyProcess's output, to its end; the process waited for."""
    while True:
        try:
            out += child.read(1024)
        except EOFError:
            break
    child.wait()
    return out


def sessrec_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "recorder", *args]
