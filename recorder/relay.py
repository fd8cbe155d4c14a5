"""The recorder of a login session: it holds the real terminal (or the real stdin/stdout/stderr) and relays
them to and from the session's side, recording what passes, while the user's shell runs elsewhere.

It runs as the recorder's own system user, started by the agent, so the recorded user can neither signal
nor ptrace it. The login shell reports the shell's exit status over `conn`; if the login shell vanishes
without one, the recording ends with an abnormal-end note instead. Everything relayed was recorded first.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import socket
import termios
import time
import tty
from dataclasses import dataclass

from .sink import Sink
from .tap import CHUNK, _read, _write_all, signal_name
from .writers import WriterError

# A side that is gone: a PTY without its slave, or the real side sshd closed.
SIDE_CLOSED = (errno.EIO, errno.EBADF, errno.ECONNRESET)


@dataclass
class Ends:
    """The descriptors of one relayed session."""

    real: tuple[int, int, int]  # the login's stdin, stdout, stderr
    ours: tuple[int, ...]  # PTY: (master,); pipes: (session stdin writer, stdout reader, stderr reader)

    @property
    def pty(self) -> bool:
        return len(self.ours) == 1


class Relay:
    def __init__(self, ends: Ends, conn: socket.socket, sink: Sink, log_input: bool) -> None:
        self.ends = ends
        self.conn = conn
        self.sink = sink
        self.log_input = log_input
        self.status: int | None = None
        self.signal: str | None = None
        self.bytes = {"bytes_in": 0, "bytes_out": 0}
        self.shell_gone = False  # the login shell's connection closed
        self.conn_buffer = b""
        self.poller = select.poll()
        self.reads: dict[int, int] = {}  # fd we read -> fd its data goes to
        self.pending: dict[int, bytes] = {}  # fd we write -> what it did not take yet
        self.masks: dict[int, int] = {}
        self.saved_modes: list | None = None

    # -- set-up ----------------------------------------------------------------------------------
    def start(self) -> None:
        real_in, real_out, real_err = self.ends.real
        if self.ends.pty:
            (master,) = self.ends.ours
            self._raw(real_in)
            self.reads = {real_in: master, master: real_out}
            cols, rows = _winsize(real_in)
            self.sink.window(time.monotonic(), cols, rows)
        else:
            stdin_w, stdout_r, stderr_r = self.ends.ours
            self.reads = {stdout_r: real_out, stderr_r: real_err}
            if _usable(real_in):
                self.reads[real_in] = stdin_w
            else:
                os.close(stdin_w)
        for fd in {*self.reads, *self.reads.values()}:
            os.set_blocking(fd, False)
        for fd in self.reads:
            self._want(fd, select.POLLIN, True)
        self.poller.register(self.conn.fileno(), select.POLLIN)

    def _want(self, fd: int, event: int, on: bool) -> None:
        mask = (self.masks.get(fd, 0) | event) if on else (self.masks.get(fd, 0) & ~event)
        if mask:
            self.masks[fd] = mask
            self.poller.register(fd, mask)
        elif self.masks.pop(fd, None) is not None:
            self.poller.unregister(fd)

    def _raw(self, fd: int) -> None:
        try:
            self.saved_modes = termios.tcgetattr(fd)
            # TCSANOW, not tlog's TCSAFLUSH: keys typed before the session was ready are kept.
            tty.setraw(fd, termios.TCSANOW)
        except termios.error:
            self.saved_modes = None

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> int:
        """Relay until the session's side is done; the shell's exit status (or 128+signal)."""
        while self._open():
            t = self.sink.timeout(time.monotonic())
            events = self.poller.poll(-1 if t is None else int(t * 1000) + 1)
            for fd, ev in events:
                if fd == self.conn.fileno():
                    self._conn_message()
                    continue
                if ev & select.POLLOUT and fd in self.pending:
                    self._flush_pending(fd)
                if ev & ~select.POLLOUT and fd in self.reads and self.masks.get(fd, 0) & select.POLLIN:
                    self._pass(fd)
            self.sink.tick(time.monotonic())
        self._drain()
        self._await_exit_status()
        if self.saved_modes is not None:
            try:
                termios.tcsetattr(self.ends.real[0], termios.TCSADRAIN, self.saved_modes)
            except termios.error:
                pass
        return 1 if self.status is None else self.status

    def _await_exit_status(self, timeout: float = 5.0) -> None:
        """The terminal closes as the shell exits, a moment before the login shell reports its status."""
        deadline = time.monotonic() + timeout
        while self.status is None and not self.shell_gone and time.monotonic() < deadline:
            self.poller = select.poll()
            self.poller.register(self.conn.fileno(), select.POLLIN)
            if self.poller.poll(int((deadline - time.monotonic()) * 1000) + 1):
                self._conn_message()

    def _open(self) -> bool:
        if self.ends.pty:
            # A terminal session ends with its shell (sshd does the same); its output is drained first.
            return self.ends.ours[0] in self.reads and self.status is None
        outputs = [fd for fd in self.ends.ours[1:] if fd in self.reads]
        return bool(outputs)

    def _pass(self, fd: int) -> None:
        data = _read(fd, SIDE_CLOSED)
        if not data:
            self._closed(fd)
            return
        if fd == self.ends.real[0]:
            self.bytes["bytes_in"] += len(data)
            if self.log_input:
                self.sink.input(time.monotonic(), data)
        else:
            self.bytes["bytes_out"] += len(data)
            self.sink.output(time.monotonic(), data)
        self._send(fd, self.reads[fd], data)

    def _send(self, source: int, target: int, data: bytes) -> None:
        """Write without blocking; what the target does not take waits, and its source is not read
        meanwhile (a session that does not read its input must not stop its output being relayed)."""
        try:
            written = os.write(target, data)
        except BlockingIOError:
            written = 0
        except OSError:
            if source == self.ends.real[0]:
                self._closed(source)  # the session no longer reads its input
            return
        if written < len(data):
            self.pending[target] = data[written:]
            self._want(source, select.POLLIN, False)
            self._want(target, select.POLLOUT, True)

    def _flush_pending(self, target: int) -> None:
        data = self.pending.pop(target)
        try:
            written = os.write(target, data)
        except BlockingIOError:
            written = 0
        except OSError:
            written = len(data)  # the reader is gone: nothing more can be delivered
        if written < len(data):
            self.pending[target] = data[written:]
            return
        self._want(target, select.POLLOUT, False)
        for source, to in self.reads.items():
            if to == target:
                self._want(source, select.POLLIN, True)

    def _closed(self, fd: int) -> None:
        self._want(fd, select.POLLIN, False)
        target = self.reads.pop(fd)
        if not self.ends.pty and fd == self.ends.real[0]:
            self.pending.pop(target, None)
            self._want(target, select.POLLOUT, False)
            os.close(target)  # EOF on the real stdin: the session's stdin closes too
        if self.ends.pty and fd == self.ends.real[0]:
            self.reads.pop(self.ends.ours[0], None)  # the real terminal hung up: so does the session

    def _drain(self) -> None:
        """What the session wrote before it ended, still in the terminal or the pipes; then what the
        real side had not taken yet."""
        for target, data in list(self.pending.items()):
            os.set_blocking(target, True)
            _write_all(target, data)
        self.pending.clear()
        for fd in list(self.reads):
            if fd == self.ends.real[0]:
                continue
            while True:
                try:
                    data = os.read(fd, CHUNK)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                self.bytes["bytes_out"] += len(data)
                self.sink.output(time.monotonic(), data)
                os.set_blocking(self.reads[fd], True)
                _write_all(self.reads[fd], data)

    def _conn_message(self) -> None:
        try:
            data = self.conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            self.poller.unregister(self.conn.fileno())
            self.shell_gone = True
            if self.status is None and self.ends.pty:
                self.reads.pop(self.ends.ours[0], None)  # nobody will report an exit: end with the terminal
            return
        self.conn_buffer += data
        while b"\n" in self.conn_buffer:
            line, self.conn_buffer = self.conn_buffer.split(b"\n", 1)
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("op") == "winch" and self.ends.pty:
                self._resize()
            elif message.get("op") == "exit" and isinstance(message.get("status"), int):
                self.status = message["status"]
                if isinstance(message.get("signum"), int) and message["signum"] > 0:
                    self.signal = signal_name(message["signum"])

    def _resize(self) -> None:
        real_in, (master,) = self.ends.real[0], self.ends.ours
        try:
            size = fcntl.ioctl(real_in, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(master, termios.TIOCSWINSZ, size)
        except OSError:
            return
        cols, rows = _winsize(real_in)
        self.sink.window(time.monotonic(), cols, rows)

    def finish(self, abnormal: str | None) -> None:
        """Write what is buffered and the end record (exit status, or why it is missing; byte counts);
        tell the login shell the output is delivered."""
        self.sink.close(status=self.status, signal=self.signal, abnormal=abnormal, **self.bytes)
        self.tell_done(abnormal)

    def tell_done(self, abnormal: str | None = None) -> None:
        try:
            self.conn.sendall(json.dumps({"op": "done", "abnormal": abnormal}).encode() + b"\n")
        except OSError:
            pass


def _usable(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _winsize(fd: int) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return 80, 24
    return size.columns, size.lines


__all__ = ["Ends", "Relay", "WriterError"]
