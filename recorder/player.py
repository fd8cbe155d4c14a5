"""Playback: validated packets written to a terminal in recorded time, with tlog-play's keys."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterable, Iterator

from .tlogformat import OUTPUT, FormatError, Packet, Reader

MIN_SPEED, MAX_SPEED = 1 / 16, 16.0
END = -1


class PlaybackError(Exception):
    """A recording that does not validate: '<where>: <reason>'."""


def parse_goto(text: str) -> int:
    """`start`, `end` or [[HH:]MM:]SS[.mmm] as milliseconds (END for `end`)."""
    if text == "start":
        return 0
    if text == "end":
        return END
    parts = text.split(":")
    if len(parts) > 3 or not all(parts):
        raise ValueError(text)
    try:
        seconds = float(parts[-1])
        minutes = int(parts[-2]) if len(parts) > 1 else 0
        hours = int(parts[-3]) if len(parts) > 2 else 0
    except ValueError:
        raise ValueError(text) from None
    if seconds < 0 or minutes < 0 or hours < 0 or seconds != seconds or seconds > 1e12:
        raise ValueError(text)
    return int(round((hours * 3600 + minutes * 60 + seconds) * 1000))


def key_goto(typed: str) -> int:
    """tlog-play's `G` prefix: `30G` seconds, `30:G` minutes, `2::G` hours, `G` alone the end."""
    if not typed:
        return END
    fields = typed.split(":")[-3:]
    total = 0
    for unit, value in zip((1, 60, 3600), reversed(fields), strict=False):
        total += unit * int(value or 0)
    return total * 1000


def packets(lines: Iterable[tuple[str, bytes]], reader: Reader) -> Iterator[Packet]:
    """Validated packets; errors name the line."""
    for where, line in lines:
        try:
            yield from reader.feed(line)
        except FormatError as exc:
            raise PlaybackError(f"{where}: {exc}") from None


class OneRecording:
    """Validated packets of one recording: `reader.rec` if set, else the first message's recording, so a
    file holding several interleaved recordings (tlog issue #331) plays its first one instead of failing
    on "message ID is out of order". `skipped` counts the messages of other recordings."""

    def __init__(self, lines: Iterable[tuple[str, bytes]], reader: Reader) -> None:
        self.lines = lines
        self.reader = reader
        self.skipped = 0

    def __iter__(self) -> Iterator[Packet]:
        reader = self.reader
        for where, line in self.lines:
            before = reader.last
            try:
                pkts = reader.feed(line)
            except FormatError as exc:
                raise PlaybackError(f"{where}: {exc}") from None
            if reader.last is before:
                self.skipped += bool(line.strip())
                continue
            if reader.rec is None and reader.first is not None:
                reader.rec = reader.first.rec
            yield from pkts


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


class Player:
    """Plays output packets to `out_fd`. `keys_fd` (a terminal in cbreak mode) takes tlog-play's keys:
    space/p pause, `.` step or skip a wait, `{`/`}` halve/double speed, backspace 1x, [time]G goto, q quit."""

    def __init__(self, out_fd: int = 1, keys_fd: int | None = None, speed: float = 1.0, paused: bool = False):
        self.out_fd = out_fd
        self.keys_fd = keys_fd
        self.speed = min(max(speed, 1e-6), 1e6)
        self.paused = paused
        self.goto: int | None = None  # ms to fast-forward to, END for the end
        self.typed = ""
        self.quit = False
        self.step = False
        self.pos = 0  # recording ms reached
        self._anchor = (time.monotonic(), 0)  # (real time, recording ms) at the last speed/pause change

    def run(self, stream: Iterable[Packet], goto: int | None = None) -> None:
        self.goto = goto if goto else None
        for pkt in stream:
            if pkt.kind != OUTPUT:
                continue
            if not self._wait(pkt.ms):
                return
            _write_all(self.out_fd, pkt.data)
            self.pos = max(self.pos, pkt.ms)

    def idle(self) -> bool:
        """Handle keys typed while no data comes (following a source); True once the user quits."""
        self._poll_keys(0)
        return self.quit

    def _fast(self, ms: int) -> bool:
        if self.goto is None:
            return False
        if self.goto == END or ms <= self.goto:
            return True
        # Arrived: the rest of the wait for this packet is played in real time.
        self._anchor = (time.monotonic(), max(self.goto, self.pos))
        self.goto = None
        return False

    def _wait(self, ms: int) -> bool:
        """Sleep until packet time `ms` (handling keys); False to stop."""
        while True:
            if self.quit:
                return False
            self._poll_keys(0)
            if self._fast(ms):
                return not self.quit
            if self.step:
                self.step = False
                self._anchor = (time.monotonic(), ms)
                return True
            if self.paused:
                self._poll_keys(None if self.keys_fd is not None else 0.1)
                continue
            real, base = self._anchor
            due = real + (ms - base) / 1000 / self.speed
            left = due - time.monotonic()
            if left <= 0:
                return True
            if self.keys_fd is None:
                time.sleep(left)
                return True
            self._poll_keys(left)

    def _poll_keys(self, timeout: float | None) -> None:
        if self.keys_fd is None:
            return
        ready, _, _ = select.select([self.keys_fd], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(self.keys_fd, 64)
        except OSError:
            data = b""
        if not data:
            self.keys_fd = None
            return
        for key in data.decode("latin-1"):
            self._key(key)

    def _key(self, key: str) -> None:
        now = time.monotonic()
        here = self._position(now)
        if key in " p":
            self.paused = not self.paused
            self._anchor = (now, here)
        elif key == ".":
            self.step = True
        elif key in "{}":
            self.speed = min(max(self.speed * (2 if key == "}" else 0.5), MIN_SPEED), MAX_SPEED)
            self._anchor = (now, here)
        elif key in "\x7f\x08":
            self.speed = 1.0
            self._anchor = (now, here)
        elif key.isdigit() or key == ":":
            self.typed += key
            return
        elif key == "G":
            self.goto = key_goto(self.typed)
            if self.goto != END and self.goto < self.pos:
                self.goto = None  # no rewinding (like tlog-play)
        elif key == "q":
            self.quit = True
        self.typed = ""

    def _position(self, now: float) -> int:
        real, base = self._anchor
        if self.paused:
            return base
        return max(self.pos, base + int((now - real) * 1000 * self.speed))
