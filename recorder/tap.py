"""The I/O loop: run a command under a PTY (terminal on stdin) or pipes, copying and recording its I/O.

Data is recorded before it is delivered, so a failing writer stops the session before anything unrecorded
reaches the terminal (fail closed).
"""

from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import time
from collections.abc import Sequence

from .sink import Sink
from .tlogformat import is_text
from .writers import WriterError

CHUNK = 1 << 16
BURST_AFTER = 1024  # a PTY read this big suggests a flood: read on without waiting (see _record_burst)
EXIT_WRITER_FAILED = 74  # EX_IOERR
FORWARDED = (signal.SIGTERM, signal.SIGHUP)


class RecordingFailed(Exception):
    """The log could not be written; the command was terminated."""


def _write_all(fd: int, data: bytes) -> bool:
    """Blocking write of everything; False if the reader is gone."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except InterruptedError:
            continue
        except BlockingIOError:
            select.select([], [fd], [])
        except OSError:
            return False
    return True


def exit_status(status: int | None, signalled: int | None = None) -> int:
    """A shell-like exit status: the code, or 128 + signal."""
    if signalled:
        return 128 + signalled
    if status is None:
        return 1
    return 128 - status if status < 0 else status


class _Signals:
    """Signals delivered through a self-pipe, so the poll loop sees them as I/O."""

    def __init__(self, signums: Sequence[int]) -> None:
        self.rfd, self.wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.old_wakeup = signal.set_wakeup_fd(self.wfd, warn_on_full_buffer=False)
        self.old = {s: signal.signal(s, lambda *_: None) for s in signums}

    def read(self) -> list[int]:
        try:
            return list(os.read(self.rfd, 512))
        except BlockingIOError:
            return []

    def restore(self) -> None:
        for s, handler in self.old.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(self.old_wakeup)
        os.close(self.rfd)
        os.close(self.wfd)


class _Loop:
    """What both modes share: the sink, the latency timer, input buffering and the fail-closed exit."""

    def __init__(self, sink: Sink, log_input: bool) -> None:
        self.sink = sink
        self.log_input = log_input
        self.pending = b""  # input not yet accepted by the child
        self.stdin_open = True
        self.failed: str | None = None

    def timeout_ms(self) -> int:
        t = self.sink.timeout(time.monotonic())
        return -1 if t is None else int(t * 1000) + 1

    def record_output(self, data: bytes) -> None:
        self.sink.output(time.monotonic(), data)

    def record_input(self, data: bytes) -> None:
        if self.log_input:
            self.sink.input(time.monotonic(), data)

    def feed_child(self, fd: int) -> bool:
        """Write pending input without blocking; False if the child will never read it."""
        try:
            written = os.write(fd, self.pending)
        except BlockingIOError:
            return True
        except OSError:
            self.pending = b""
            return False
        self.pending = self.pending[written:]
        return True


def _stdin_usable() -> bool:
    try:
        os.fstat(0)
    except OSError:
        return False
    return True


def run_pipes(argv: Sequence[str], sink: Sink, log_input: bool = False, env: dict | None = None) -> int:
    """Run `argv` with pipes: stdout and stderr are recorded as output but delivered apart; EOF on our
    stdin closes the child's stdin (a closed or /dev/null stdin never hangs)."""
    loop = _Loop(sink, log_input)
    have_stdin = _stdin_usable()
    try:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if have_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            bufsize=0,
        )
    except OSError as exc:
        raise RecordingStartError(f"cannot run {argv[0]}: {exc.strerror}") from None
    sigs = _Signals((*FORWARDED, signal.SIGCHLD))
    child_in = child.stdin.fileno() if child.stdin else -1
    if child_in >= 0:
        os.set_blocking(child_in, False)
    outputs = {child.stdout.fileno(): 1, child.stderr.fileno(): 2}
    poller = select.poll()
    poller.register(sigs.rfd, select.POLLIN)
    for fd in outputs:
        poller.register(fd, select.POLLIN)
    stdin_open = have_stdin
    if stdin_open:
        poller.register(0, select.POLLIN)

    def close_child_stdin() -> None:
        nonlocal child_in
        if child_in >= 0:
            child.stdin.close()
            child_in = -1
            loop.pending = b""

    try:
        while outputs:
            for fd, _ev in poller.poll(loop.timeout_ms()):
                if fd == sigs.rfd:
                    for signum in sigs.read():
                        if signum in FORWARDED:
                            sink.flush()
                            _kill(child.pid, signum)
                elif fd in outputs:
                    data = _read(fd)
                    if data:
                        loop.record_output(data)
                        _write_all(outputs[fd], data)
                    else:
                        poller.unregister(fd)
                        os.close(fd)
                        del outputs[fd]
                elif fd == 0:
                    data = _read(0)
                    if not data:
                        poller.unregister(0)
                        stdin_open = False
                        close_child_stdin()
                        continue
                    loop.record_input(data)
                    if child_in < 0:
                        continue
                    loop.pending += data
                    if not loop.feed_child(child_in):
                        close_child_stdin()
                    elif loop.pending:  # the child is slow: stop reading until it catches up
                        poller.unregister(0)
                        poller.register(child_in, select.POLLOUT)
                elif fd == child_in:
                    ok = loop.feed_child(child_in)
                    if ok and loop.pending:
                        continue
                    poller.unregister(child_in)
                    if not ok:
                        close_child_stdin()
                    if stdin_open:
                        poller.register(0, select.POLLIN)
            sink.tick(time.monotonic())
        status = child.wait()
        sink.close()
    except WriterError as exc:
        _terminate(child.pid, child.wait, lambda: child.poll() is not None)
        raise RecordingFailed(str(exc)) from None
    finally:
        sigs.restore()
    return exit_status(status)


class RecordingStartError(Exception):
    """The command could not be started."""


def _read(fd: int) -> bytes:
    while True:
        try:
            return os.read(fd, CHUNK)
        except InterruptedError:
            continue
        except OSError as exc:
            if exc.errno == errno.EIO:  # PTY master after the last slave closed
                return b""
            raise


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _terminate(pid: int, wait, exited) -> None:
    """HUP and TERM, then KILL after a second: the session must not go on unrecorded."""
    for signum in (signal.SIGHUP, signal.SIGTERM):
        _kill(pid, signum)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if exited():
            break
        time.sleep(0.01)
    else:
        _kill(pid, signal.SIGKILL)
    wait()


def _winsize(fd: int) -> tuple[int, int]:
    """(columns, rows) of a terminal."""
    size = os.get_terminal_size(fd)
    return size.columns, size.lines


def run_pty(argv: Sequence[str], sink: Sink, log_input: bool = False, env: dict | None = None) -> int:
    """Run `argv` on a new PTY with our terminal in raw mode; SIGWINCH resizes the PTY and is recorded."""
    import termios
    import tty

    from ptyprocess import PtyProcess

    cols, rows = _winsize(0)
    try:
        child = PtyProcess.spawn(list(argv), dimensions=(rows, cols), env=env)
    except OSError as exc:
        raise RecordingStartError(f"cannot run {argv[0]}: {exc.strerror}") from None
    except FileNotFoundError as exc:
        raise RecordingStartError(f"cannot run {argv[0]}: {exc}") from None
    child.delayafterclose = 0  # its close() would sleep 0.1 s at exit; we reap the child ourselves
    master = child.fd
    os.set_blocking(master, False)
    loop = _Loop(sink, log_input)
    saved = termios.tcgetattr(0)
    sigs = _Signals((*FORWARDED, signal.SIGWINCH, signal.SIGCHLD))
    poller = select.poll()
    poller.register(sigs.rfd, select.POLLIN)
    poller.register(master, select.POLLIN)
    poller.register(0, select.POLLIN)
    exited = False
    try:
        tty.setraw(0, termios.TCSANOW)
        sink.window(time.monotonic(), cols, rows)
        while True:
            events = poller.poll(loop.timeout_ms())
            done = False
            for fd, ev in events:
                if fd == sigs.rfd:
                    for signum in sigs.read():
                        if signum == signal.SIGWINCH:
                            cols, rows = _winsize(0)
                            child.setwinsize(rows, cols)
                            sink.window(time.monotonic(), cols, rows)
                        elif signum == signal.SIGCHLD:
                            exited = not child.isalive()
                        else:
                            sink.flush()
                            _kill(child.pid, signum)
                elif fd == master:
                    if ev & select.POLLOUT:
                        if not loop.feed_child(master) or not loop.pending:
                            poller.modify(master, select.POLLIN)
                            if loop.stdin_open:
                                poller.register(0, select.POLLIN)
                    if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        data = _read_nb(master)
                        if data and len(data) >= BURST_AFTER:
                            _write_all(1, _record_burst(master, data, sink))
                        elif data:
                            loop.record_output(data)
                            _write_all(1, data)
                        elif data is not None:
                            done = True
                elif fd == 0:
                    data = _read(0)
                    if not data:
                        poller.unregister(0)
                        loop.stdin_open = False
                        continue
                    loop.record_input(data)
                    loop.pending += data
                    loop.feed_child(master)
                    if loop.pending:
                        poller.unregister(0)
                        poller.modify(master, select.POLLIN | select.POLLOUT)
            sink.tick(time.monotonic())
            if done:
                break
            if exited:
                # The shell is gone; take what is left without waiting for background holders of the PTY.
                while (data := _read_nb(master)) is not None and data:
                    loop.record_output(data)
                    _write_all(1, data)
                break
        status = _wait_pty(child)
        sink.close()
    except WriterError as exc:
        _terminate(child.pid, lambda: _wait_pty(child), lambda: not child.isalive())
        raise RecordingFailed(str(exc)) from None
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)
        sigs.restore()
    return status


def _read_nb(fd: int) -> bytes | None:
    """Non-blocking read: data, b"" at EOF, None if nothing is there yet."""
    try:
        return _read(fd)
    except BlockingIOError:
        return None


def _record_burst(fd: int, data: bytes, sink: Sink) -> bytes:
    """Record `data` and whatever more is already waiting on non-blocking `fd`, up to CHUNK, and return it
    all for delivery. A PTY hands out at most 4 KiB a read and the kernel refills it only after the read
    (in a worker thread), so a read right after a read waits for that; encoding each piece of text
    before the next read does the two at once. A burst that starts with binary data is recorded in one
    piece at the end (the encoder's checks for binary data cost per chunk), and the log is written once,
    at the end: a write per read would cost more than the waiting."""
    t = time.monotonic()
    piecewise = is_text(data)
    parts = [data]
    size = len(data)
    while True:
        if piecewise:
            sink.output(t, data, write=False)
        if size >= CHUNK:
            break
        try:
            data = os.read(fd, CHUNK - size)
        except OSError:  # nothing yet (EAGAIN), or EOF/EIO, which the next read reports again
            break
        if not data:
            break
        parts.append(data)
        size += len(data)
    whole = b"".join(parts) if len(parts) > 1 else parts[0]
    if not piecewise:
        sink.output(t, whole, write=False)
    sink.write_finished()
    return whole


def _wait_pty(child) -> int:
    try:
        _, status = os.waitpid(child.pid, 0)
    except ChildProcessError:  # ptyprocess already reaped it
        return exit_status(child.exitstatus, child.signalstatus)
    child.terminated = True
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
