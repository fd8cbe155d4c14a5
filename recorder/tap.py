"""The I/O loop: run the recorded session under a PTY (a terminal on stdin) or with pipes, copying its I/O
and recording it.

What fail-closed means here, exactly:
- Each piece of I/O is handed to the sink before it is delivered. The sink writes complete messages at once
  and the rest when `latency` seconds have passed (or on a signal, or at the end), so up to `latency`
  seconds of delivered I/O are only in memory, as with tlog.
- A write that fails (WriterError) stops the session: nothing more is delivered, and every process of the
  session (its own session id: background jobs and their children too) gets SIGHUP, SIGTERM and SIGCONT,
  then SIGKILL a second later. What was buffered and not written is lost; the caller exits 74.
- The session runs in a session of its own (`setsid`): in pipe mode it has no controlling terminal, so it
  cannot reach the outer terminal past the recorder (`echo x >/dev/tty` fails); in PTY mode its
  controlling terminal is the PTY.
- Signals (see SIGNALS below and docs/recorder.md): a catchable signal is either passed on to the session
  after what is buffered is written, or ignored. SIGKILL and SIGSTOP cannot be caught: as long as the
  recorder runs as the recorded user, she can kill it and lose what is buffered; when it is gone the
  session's PTY is hung up (PTY mode) or its output pipes are broken (pipe mode), so nothing it does
  reaches the terminal any more.

The loops take their descriptors as arguments (the real terminal, or stdin/stdout/stderr), so a recorder
that holds the login's terminal for a session run elsewhere can use them.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import termios
import time
from collections.abc import Sequence

from .sink import Sink
from .tlogformat import is_text
from .writers import WriterError

CHUNK = 1 << 16
BURST_AFTER = 1024  # a PTY read this big suggests a flood: read on without waiting (see _record_burst)
EXIT_WRITER_FAILED = 74  # EX_IOERR
GRACE = 1.0  # seconds between SIGTERM and SIGKILL when a failed write stops the session

# Written to the log, then passed on to the session (in PTY mode to its foreground process group, and
# SIGHUP/SIGTERM to its leader too, as a terminal hangup does; with pipes to its process group).
PASSED_ON = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
)
# Used by the loop: SIGCHLD (the session ended), SIGWINCH (PTY mode: the window changed; ignored with pipes).
HANDLED = (signal.SIGCHLD, signal.SIGWINCH)
# Every other catchable signal is ignored (its default would end or stop the recorder and leave the session
# unrecorded): SIGPIPE, SIGTSTP/SIGTTIN/SIGTTOU (job control does not stop the recorder), SIGCONT, SIGURG,
# SIGXCPU, SIGXFSZ (a file size limit then fails the write instead: fail closed), SIGVTALRM, SIGPROF, SIGIO,
# SIGPWR, SIGSTKFLT, SIGSYS, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV (sent with kill: a real fault
# still kills, the kernel forces it) and the real-time signals.
UNCATCHABLE = (signal.SIGKILL, signal.SIGSTOP)
IGNORED = tuple(s for s in sorted(signal.valid_signals()) if s not in (*PASSED_ON, *HANDLED, *UNCATCHABLE))
_DEFAULTS = tuple(s for s in signal.valid_signals() if s not in UNCATCHABLE)


class RecordingFailed(Exception):
    """The log could not be written; the session was stopped."""


class RecordingStartError(Exception):
    """The command could not be started."""


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


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"SIG{signum}"


class _Signals:
    """Signals delivered through a self-pipe, so the poll loop sees them as I/O; the rest ignored."""

    def __init__(self) -> None:
        self.rfd, self.wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.old_mask = signal.pthread_sigmask(signal.SIG_SETMASK, [])
        self.old_wakeup = signal.set_wakeup_fd(self.wfd, warn_on_full_buffer=False)
        self.old = {s: signal.signal(s, lambda *_: None) for s in (*PASSED_ON, *HANDLED)}
        for s in IGNORED:
            self.old[s] = signal.signal(s, signal.SIG_IGN)

    def read(self) -> list[int]:
        try:
            return list(os.read(self.rfd, 512))
        except BlockingIOError:
            return []

    def restore(self) -> None:
        for s, handler in self.old.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(self.old_wakeup)
        signal.pthread_sigmask(signal.SIG_SETMASK, self.old_mask)
        os.close(self.rfd)
        os.close(self.wfd)


def _spawn(argv: Sequence[str], env: dict | None, fds: Sequence[int] = (), tty: str | None = None) -> int:
    """Start `argv` (found on PATH) as the leader of a new session, with default signal dispositions and
    no signals blocked, and `fds` as its stdin/stdout/stderr, or the terminal `tty` opened as its
    controlling terminal."""
    if tty is not None:
        actions = [(os.POSIX_SPAWN_OPEN, 0, tty, os.O_RDWR, 0), (os.POSIX_SPAWN_DUP2, 0, 1)]
        actions.append((os.POSIX_SPAWN_DUP2, 0, 2))
    else:
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(fds)]
    try:
        return os.posix_spawnp(
            argv[0],
            list(argv),
            os.environ if env is None else env,
            file_actions=actions,
            setsid=True,
            setsigdef=_DEFAULTS,
            setsigmask=(),
        )
    except OSError as exc:
        raise RecordingStartError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None


def _kill(pid: int, signum: int, group: bool = False) -> None:
    try:
        (os.killpg if group else os.kill)(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def session_pids(sid: int) -> list[int]:
    """The processes of session `sid` (from /proc)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and int(fields[3]) == sid:
            pids.append(int(name))
    return pids


class _Child:
    """The session's leader: its pid, and its exit once reaped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status: int | None = None  # shell-like
        self.signal: int | None = None

    def poll(self, block: bool = False) -> bool:
        """Reap the leader if it exited; True once it has."""
        if self.status is not None:
            return True
        try:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            self.status = 1
            return True
        if pid == 0:
            return False
        if os.WIFSIGNALED(status):
            self.signal = os.WTERMSIG(status)
            self.status = 128 + self.signal
        else:
            self.status = os.waitstatus_to_exitcode(status)
        return True

    def stop_session(self) -> None:
        """Stop every process of the session: HUP, TERM and CONT, then KILL after GRACE seconds."""
        for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGCONT):
            _kill(self.pid, signum, group=True)
            for pid in session_pids(self.pid):
                _kill(pid, signum)
        deadline = time.monotonic() + GRACE
        while time.monotonic() < deadline:
            self.poll()
            if not session_pids(self.pid):
                break
            time.sleep(0.01)
        for _ in range(100):  # what forks meanwhile is caught by the next round
            pids = session_pids(self.pid)
            if not pids:
                break
            for pid in pids:
                _kill(pid, signal.SIGKILL)
            self.poll()
            time.sleep(0.01)
        self.poll(block=True)

    def end(self, sink: Sink) -> int:
        """Write the rest of the log with the end record; the session's exit status."""
        self.poll(block=True)
        sink.close(status=self.status, signal=None if self.signal is None else signal_name(self.signal))
        return self.status


class _Loop:
    """What both modes share: the sink, the latency timer and input buffering."""

    def __init__(self, sink: Sink, log_input: bool) -> None:
        self.sink = sink
        self.log_input = log_input
        self.pending = b""  # input not yet accepted by the child
        self.stdin_open = True

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


def _usable(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def run_pipes(
    argv: Sequence[str],
    sink: Sink,
    log_input: bool = False,
    env: dict | None = None,
    fds: tuple[int, int, int] = (0, 1, 2),
) -> int:
    """Run `argv` with pipes: its stdout and stderr are recorded as output but delivered apart (to fds[1]
    and fds[2]); EOF on fds[0] closes its stdin (a closed or /dev/null stdin never hangs). Ends when the
    session's leader has exited and its outputs are closed; the leader's exit status."""
    in_fd, out_fd, err_fd = fds
    loop = _Loop(sink, log_input)
    have_stdin = _usable(in_fd)
    stdin_r, child_in = os.pipe() if have_stdin else (os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), -1)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    sigs = _Signals()
    try:
        child = _Child(_spawn(argv, env, (stdin_r, out_w, err_w)))
    except RecordingStartError:
        sigs.restore()
        for fd in (stdin_r, child_in, out_r, out_w, err_r, err_w):
            if fd >= 0:
                os.close(fd)
        raise
    for fd in (stdin_r, out_w, err_w):
        os.close(fd)
    if child_in >= 0:
        os.set_blocking(child_in, False)
    outputs = {out_r: out_fd, err_r: err_fd}
    poller = select.poll()
    poller.register(sigs.rfd, select.POLLIN)
    for fd in outputs:
        poller.register(fd, select.POLLIN)
    stdin_open = have_stdin
    if stdin_open:
        poller.register(in_fd, select.POLLIN)

    def close_child_stdin() -> None:
        nonlocal child_in
        if child_in >= 0:
            os.close(child_in)
            child_in = -1
            loop.pending = b""

    try:
        while outputs or not child.poll():
            for fd, _ev in poller.poll(loop.timeout_ms()):
                if fd == sigs.rfd:
                    for signum in sigs.read():
                        if signum in PASSED_ON:
                            sink.flush()
                            _kill(child.pid, signum, group=True)
                elif fd in outputs:
                    data = _read(fd)
                    if data:
                        loop.record_output(data)
                        _write_all(outputs[fd], data)
                    else:
                        poller.unregister(fd)
                        os.close(fd)
                        del outputs[fd]
                elif fd == in_fd:
                    data = _read(in_fd)
                    if not data:
                        poller.unregister(in_fd)
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
                        poller.unregister(in_fd)
                        poller.register(child_in, select.POLLOUT)
                elif fd == child_in:
                    ok = loop.feed_child(child_in)
                    if ok and loop.pending:
                        continue
                    poller.unregister(child_in)
                    if not ok:
                        close_child_stdin()
                    if stdin_open:
                        poller.register(in_fd, select.POLLIN)
            sink.tick(time.monotonic())
        return child.end(sink)
    except WriterError as exc:
        child.stop_session()
        raise RecordingFailed(str(exc)) from None
    finally:
        sigs.restore()
        close_child_stdin()
        for fd in outputs:
            os.close(fd)


def _read(fd: int, eof: tuple[int, ...] = (errno.EIO,)) -> bytes:
    """Up to CHUNK bytes; b"" at the end, and on the errors in `eof` (EIO: a PTY master after the last
    slave closed)."""
    while True:
        try:
            return os.read(fd, CHUNK)
        except InterruptedError:
            continue
        except OSError as exc:
            if exc.errno in eof:
                return b""
            raise


def _winsize(fd: int) -> tuple[int, int]:
    """(columns, rows) of a terminal."""
    size = os.get_terminal_size(fd)
    return size.columns, size.lines


def run_pty(
    argv: Sequence[str],
    sink: Sink,
    log_input: bool = False,
    env: dict | None = None,
    tty_in: int = 0,
    tty_out: int = 1,
) -> int:
    """Run `argv` on a new PTY, the terminal `tty_in` in raw mode (its settings and size copied to the PTY
    first); SIGWINCH resizes the PTY and is recorded. Ends when the session's leader has exited (what
    its PTY still holds is taken first; background holders of the PTY are not waited for)."""
    import tty

    cols, rows = _winsize(tty_in)
    saved = termios.tcgetattr(tty_in)
    master, slave = os.openpty()
    try:
        termios.tcsetattr(slave, termios.TCSANOW, saved)
        termios.tcsetwinsize(slave, (rows, cols))
        sigs = _Signals()
        try:
            child = _Child(_spawn(argv, env, tty=os.ttyname(slave)))
        except RecordingStartError:
            sigs.restore()
            os.close(master)
            raise
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    loop = _Loop(sink, log_input)
    poller = select.poll()
    poller.register(sigs.rfd, select.POLLIN)
    poller.register(master, select.POLLIN)
    poller.register(tty_in, select.POLLIN)
    master_open = True
    try:
        tty.setraw(tty_in, termios.TCSANOW)
        sink.window(time.monotonic(), cols, rows)
        while True:
            events = poller.poll(loop.timeout_ms())
            exited = False
            for fd, ev in events:
                if fd == sigs.rfd:
                    for signum in sigs.read():
                        if signum == signal.SIGWINCH:
                            cols, rows = _winsize(tty_in)
                            if master_open:
                                termios.tcsetwinsize(master, (rows, cols))
                            sink.window(time.monotonic(), cols, rows)
                        elif signum == signal.SIGCHLD:
                            exited = child.poll()
                        elif signum in PASSED_ON:
                            sink.flush()
                            _pass_on_pty(master if master_open else -1, child.pid, signum)
                elif fd == master:
                    if ev & select.POLLOUT:
                        if not loop.feed_child(master) or not loop.pending:
                            poller.modify(master, select.POLLIN)
                            if loop.stdin_open:
                                poller.register(tty_in, select.POLLIN)
                    if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        data = _read_nb(master)
                        if data and len(data) >= BURST_AFTER:
                            _write_all(tty_out, _record_burst(master, data, sink))
                        elif data:
                            loop.record_output(data)
                            _write_all(tty_out, data)
                        elif data is not None:  # every holder of the PTY closed it
                            poller.unregister(master)
                            master_open = False
                            if loop.stdin_open:
                                poller.unregister(tty_in)
                                loop.stdin_open = False
                elif fd == tty_in:
                    data = _read(tty_in)
                    if not data:
                        poller.unregister(tty_in)
                        loop.stdin_open = False
                        continue
                    loop.record_input(data)
                    if not master_open:
                        continue
                    loop.pending += data
                    loop.feed_child(master)
                    if loop.pending:
                        poller.unregister(tty_in)
                        poller.modify(master, select.POLLIN | select.POLLOUT)
            sink.tick(time.monotonic())
            if exited:  # SIGCHLD said so (a waitpid per pass would cost the busy loop)
                # The shell is gone; take what is left without waiting for background holders of the PTY.
                while master_open and (data := _read_nb(master)) is not None and data:
                    loop.record_output(data)
                    _write_all(tty_out, data)
                break
        return child.end(sink)
    except WriterError as exc:
        child.stop_session()
        raise RecordingFailed(str(exc)) from None
    finally:
        termios.tcsetattr(tty_in, termios.TCSADRAIN, saved)
        sigs.restore()
        os.close(master)


def _pass_on_pty(master: int, leader: int, signum: int) -> None:
    """A signal to the PTY's foreground process group, as the terminal sends it; SIGHUP and SIGTERM to the
    session's leader too."""
    group = leader
    if master >= 0:
        try:
            group = os.tcgetpgrp(master)
        except OSError:
            pass
    _kill(group, signum, group=True)
    if signum in (signal.SIGHUP, signal.SIGTERM) and group != leader:
        _kill(leader, signum)


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
