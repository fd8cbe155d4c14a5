"""Where messages go: a file, journald (native protocol) or syslog, all behind `Writer.write(frames)`."""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import Protocol

from .tlogformat import Meta

JOURNAL_SOCKET = "/run/systemd/journal/socket"
SYSLOG_SOCKET = "/dev/log"
SYSLOG_IDENTIFIER = "sessrec"
PRIORITIES = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}


class WriterError(Exception):
    """A message could not be stored: fatal for the recorded session (fail closed)."""


class Writer(Protocol):
    def write(self, frames: list[tuple[int, bytes]]) -> None:
        """Store framed messages (id, JSON line with its newline), in order."""

    def close(self) -> None: ...


class FileWriter:
    """Appends to a log file, like tlog's file writer, but only to one that is safe to append to: opened
    without following a symlink and without blocking (a FIFO is refused, not waited on), then checked on
    every open: a regular file with one link, owned by us, mode 0600 (created so)."""

    def __init__(self, path: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise WriterError(f"log file {path} is a symbolic link; refusing it") from None
            if exc.errno == errno.ENXIO:  # a FIFO nobody reads
                raise WriterError(f"log file {path} is not a regular file; refusing it") from None
            raise WriterError(f"cannot open log file {path}: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            problem = _log_file_problem(st)
            if problem:
                raise WriterError(f"log file {path} {problem}; refusing it")
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.path = path

    def write(self, frames: list[tuple[int, bytes]]) -> None:
        data = memoryview(b"".join(frame for _, frame in frames))
        while data:
            try:
                data = data[os.write(self.fd, data) :]
            except InterruptedError:
                continue
            except OSError as exc:
                raise WriterError(f"writing {self.path} failed: {exc.strerror}") from None

    def close(self) -> None:
        os.close(self.fd)


def _log_file_problem(st: os.stat_result) -> str | None:
    import stat

    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if st.st_uid != os.geteuid():
        return f"belongs to uid {st.st_uid}, not to the recorder (uid {os.geteuid()})"
    if st.st_mode & 0o7077:
        return f"has mode {stat.S_IMODE(st.st_mode):04o}, not 0600"
    if st.st_nlink != 1:
        return f"has {st.st_nlink} links"
    return None


def journal_field(name: str, value: bytes) -> bytes:
    """One field in journald's native protocol; values with a newline use the length-prefixed form."""
    key = name.encode()
    if b"\n" in value:
        return key + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
    return key + b"=" + value + b"\n"


class JournalWriter:
    """Sends each message as one journal entry over the native protocol, with tlog's TLOG_* fields;
    too-large datagrams go through a sealed memfd passed with SCM_RIGHTS, as journald requires."""

    def __init__(self, meta: Meta, priority: int = 6, path: str = JOURNAL_SOCKET) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise WriterError(f"cannot connect to journald at {path}: {exc.strerror}") from None
        self.common = b"".join(
            (
                journal_field("PRIORITY", str(priority).encode()),
                journal_field("SYSLOG_IDENTIFIER", SYSLOG_IDENTIFIER.encode()),
                journal_field("TLOG_REC", meta.rec.encode()),
                journal_field("TLOG_USER", meta.user.encode()),
                journal_field("TLOG_SESSION", str(meta.session).encode()),
            )
        )

    def write(self, frames: list[tuple[int, bytes]]) -> None:
        for msg_id, frame in frames:
            self.send(
                self.common + journal_field("TLOG_ID", str(msg_id).encode()) + journal_field("MESSAGE", frame)
            )

    def send(self, datagram: bytes) -> None:
        try:
            self.sock.send(datagram)
            return
        except OSError as exc:
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise WriterError(f"sending to journald failed: {exc.strerror}") from None
        self._send_memfd(datagram)

    def _send_memfd(self, datagram: bytes) -> None:
        import array
        import fcntl

        fd = os.memfd_create("journal-message", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.write(fd, datagram)
            seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
            self.sock.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
        except OSError as exc:
            raise WriterError(f"sending to journald failed: {exc.strerror}") from None
        finally:
            os.close(fd)

    def close(self) -> None:
        self.sock.close()


FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8,
    "cron": 9, "authpriv": 10, "ftp": 11, **{f"local{n}": 16 + n for n in range(8)},
}  # fmt: skip


class SyslogWriter:
    """Messages to the syslog socket with ident "tlog" and the format syslog(3) uses, like tlog's syslog
    writer; but written directly, because syslog(3) drops what it cannot send without telling the caller
    (a message over the socket's size limit was lost silently), and a lost message must end the session."""

    def __init__(self, facility: str = "authpriv", priority: int = 6, path: str = SYSLOG_SOCKET) -> None:
        code = FACILITIES.get(facility)
        if code is None:
            raise WriterError(f"unknown syslog facility {facility!r}")
        self.pri = code * 8 + priority
        self.path = path
        self.sock = self._connect()

    def _connect(self) -> socket.socket:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            sock = socket.socket(socket.AF_UNIX, kind | socket.SOCK_CLOEXEC)
            try:
                if kind == socket.SOCK_DGRAM:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
                sock.connect(self.path)
                return sock
            except OSError as exc:
                sock.close()
                if exc.errno != errno.EPROTOTYPE:
                    raise WriterError(f"cannot connect to syslog at {self.path}: {exc.strerror}") from None
        raise WriterError(f"cannot connect to syslog at {self.path}")

    def write(self, frames: list[tuple[int, bytes]]) -> None:
        import time

        now = time.localtime()  # syslog(3)'s "%h %e %T", month names in the C locale
        month = b"JanFebMarAprMayJunJulAugSepOctNovDec"[3 * now.tm_mon - 3 : 3 * now.tm_mon]
        stamp = b"%s %2d %02d:%02d:%02d" % (month, now.tm_mday, now.tm_hour, now.tm_min, now.tm_sec)
        for _, frame in frames:
            self._send(b"<%d>%s tlog: %s" % (self.pri, stamp, frame.rstrip(b"\n")))

    def _send(self, datagram: bytes) -> None:
        stream = self.sock.type == socket.SOCK_STREAM
        for attempt in (1, 2):
            try:
                if stream:
                    self.sock.sendall(datagram + b"\0")
                else:
                    self.sock.send(datagram)
                return
            except OSError as exc:
                if attempt == 1 and exc.errno in (errno.ECONNREFUSED, errno.ENOTCONN, errno.EPIPE):
                    self.sock.close()  # the syslog daemon restarted: reconnect once, like syslog(3)
                    self.sock = self._connect()
                    continue
                size = len(datagram)
                raise WriterError(f"sending to syslog failed ({size} bytes): {exc.strerror}") from None

    def close(self) -> None:
        self.sock.close()
