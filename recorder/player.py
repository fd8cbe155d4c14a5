"""Playback: validated packets written to a terminal in recorded time, with tlog-play's keys."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterable, Iterator, Sequence

from .export import printable
from .terminal import KeyDecoder, Sanitizer
from .tlogformat import EVENT, OUTPUT, FormatError, Packet, Reader

MIN_SPEED, MAX_SPEED = 1 / 16, 16.0
END = -1


class PlaybackError(Exception):
    """A recording that does not validate: '<where>: <reason>'."""


LONG_MAX = (1 << 63) - 1
_C_SPACE = " \t\n\v\f\r"


class TimeParser:
    """tlog's timestamp grammar (`tlog-play --goto` and the digits typed before `G`), fed one character at
    a time: up to three `:`-separated components (hours, minutes, seconds from the right; any may be
    empty), then optionally `.` and up to nine fraction digits; a component may not exceed LONG_MAX."""

    def __init__(self) -> None:
        self.parts: list[int] = []
        self.point = False
        self.frac_len = 0
        self.frac = 0

    def feed(self, char: str) -> bool:
        """Take one character; False if it does not fit the grammar (the parser is then unchanged)."""
        if "0" <= char <= "9":
            digit = ord(char) - 48
            if self.point:
                if self.frac_len >= 9:
                    return False
                self.frac_len += 1
                self.frac = self.frac * 10 + digit
                return True
            if not self.parts:
                self.parts.append(0)
            if self.parts[-1] > (LONG_MAX - digit) // 10:
                return False
            self.parts[-1] = self.parts[-1] * 10 + digit
            return True
        if char == ":":
            if self.point or len(self.parts) >= 3:
                return False
            self.parts.append(0)
            return True
        if char == ".":
            if self.point:
                return False
            self.point = True
            return True
        return False

    def nanoseconds(self) -> int | None:
        """The time given, or None if its seconds do not fit in a C long."""
        seconds = 0
        for part, unit in zip(reversed(self.parts), (1, 60, 3600), strict=False):
            if part > LONG_MAX // unit or part * unit > LONG_MAX - seconds:
                return None
            seconds += part * unit
        return seconds * 1_000_000_000 + self.frac * 10 ** (9 - self.frac_len)


def parse_goto(text: str) -> int:
    """`--goto` as tlog-play takes it: `start` or `end` (any case), else a time in the TimeParser grammar
    between optional blanks; returns milliseconds (rounded up), or END. ValueError if tlog-play would
    refuse it."""
    if text.lower() == "start":
        return 0
    if text.lower() == "end":
        return END
    parser = TimeParser()
    body = text.lstrip(_C_SPACE)
    at = 0
    while at < len(body) and parser.feed(body[at]):
        at += 1
    ns = parser.nanoseconds()
    if body[at:].strip(_C_SPACE) or ns is None:
        raise ValueError(text)
    return -(-ns // 1_000_000)


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
    space/p pause, `.` step or skip a wait, `{`/`}` halve/double speed, backspace 1x, [time]G goto, q quit,
    and `n`: go to the next mark. Output goes through a `Sanitizer` unless `raw`; keys through a
    `KeyDecoder`, so what the terminal sends by itself (replies, reports) is never a key. Notes go to
    `note_fd`: data dropped by the rate limit, and `marks` ((ms, text), oldest first: the audited
    commands and file accesses) each at its moment, except those passed over by a goto; marks after the
    last output are noted at the end."""

    def __init__(
        self,
        out_fd: int = 1,
        keys_fd: int | None = None,
        speed: float = 1.0,
        paused: bool = False,
        raw: bool = False,
        note_fd: int | None = 2,
        marks: Sequence[tuple[int, str]] = (),
    ):
        self.out_fd = out_fd
        self.keys_fd = keys_fd
        self.note_fd = note_fd
        self.speed = min(max(speed, 1e-6), 1e6)
        self.paused = paused
        self.goto: int | None = None  # ms to fast-forward to, END for the end
        self.typing: TimeParser | None = None  # digits and colons typed before a G
        self.quit = False
        self.step = False
        self.pos = 0  # recording ms reached
        self._anchor = (time.monotonic(), 0)  # (real time, recording ms) at the last speed/pause change
        self.sanitizer = None if raw else Sanitizer()
        self.keys = KeyDecoder()
        self.drops: list[dict] = []
        self.marks = marks
        self.next_mark = 0  # index of the first mark not yet reached
        self._noted = False  # the last thing written was a note

    def run(self, stream: Iterable[Packet], goto: int | None = None) -> None:
        self.goto = goto if goto else None
        try:
            for pkt in stream:
                if pkt.kind == EVENT:
                    if pkt.event["event"] == "drop":
                        self._note_drop(pkt.event)
                    continue
                if pkt.kind != OUTPUT:
                    continue
                if not self._wait(pkt.ms):
                    return
                data = self.sanitizer.feed(pkt.data) if self.sanitizer else pkt.data
                _write_all(self.out_fd, data)
                self._noted = self._noted and not data
                self.pos = max(self.pos, pkt.ms)
            if not self.quit:
                for _, text in self.marks[self.next_mark :]:
                    self._note(text)
                self.next_mark = len(self.marks)
        finally:
            if self.sanitizer:
                _write_all(self.out_fd, self.sanitizer.finish())

    def _note_drop(self, event: dict) -> None:
        self.drops.append(event)
        self._note(f"sessrec play: {describe_drop(event)}")

    def _note(self, text: str) -> None:
        """A line of its own between the recorded output (which may have left the cursor mid-line)."""
        if self.note_fd is None:
            return
        line = ("" if self._noted else "\r\n") + printable(text) + "\r\n"
        _write_all(self.note_fd, line.encode(errors="backslashreplace"))
        self._noted = True

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
        """Sleep until packet time `ms`, noting the marks on the way (handling keys); False to stop."""
        while self.next_mark < len(self.marks) and self.marks[self.next_mark][0] <= ms:
            at, text = self.marks[self.next_mark]
            if not self._reached_goto(at):
                if not self._wait_until(at):
                    return False
                self._reached_goto(at)  # `n` pressed while waiting for this very mark
            self.next_mark += 1
            self.pos = max(self.pos, at)
            if self.goto is None:
                self._note(text)
        return self._wait_until(ms)

    def _reached_goto(self, at: int) -> bool:
        """A goto to a mark's own time (`n`, or a time from `sessrec audit`) arrives with its note."""
        if self.goto is None or self.goto == END or at < self.goto:
            return False
        self._anchor = (time.monotonic(), max(at, self.pos))
        self.goto = None
        return True

    def _wait_until(self, ms: int) -> bool:
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
            data = os.read(self.keys_fd, 256)
        except OSError:
            data = b""
        if not data:
            self.keys_fd = None
            return
        keys = self.keys.feed(data)
        if self.keys.waiting and not select.select([self.keys_fd], [], [], ESC_WAIT)[0]:
            self.keys.timeout()  # a lone ESC key: nothing follows it
        for key in keys:
            self._key(key)

    def _key(self, key: str) -> None:
        now = time.monotonic()
        here = self._position(now)
        if key.isdigit() or key == ":":
            if self.typing is None:
                self.typing = TimeParser()
            if not self.typing.feed(key):
                self.typing = None
            return
        typing, self.typing = self.typing, None
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
        elif key == "G":
            if typing is None:
                self.goto = END
            else:
                ns = typing.nanoseconds()
                target = None if ns is None else -(-ns // 1_000_000)
                # tlog-play goes only forward, and not at all to a time too large for it.
                self.goto = target if target is not None and target > self.pos else None
        elif key == "n":
            if self.next_mark < len(self.marks):
                self.goto = self.marks[self.next_mark][0]
        elif key == "q":
            self.quit = True

    def _position(self, now: float) -> int:
        real, base = self._anchor
        if self.paused:
            return base
        return max(self.pos, base + int((now - real) * 1000 * self.speed))


def wholeness(reader: Reader) -> str | None:
    """What is wrong with the ends of the recording read (None if nothing): a sessrec recording starts
    with a start record and ends with an end record; a recording without an end record was cut short
    (the recorder was killed, or the log lost its last messages), or is still going on."""
    if reader.first is None:
        return None
    if not reader.started:
        return "no start record: not made by sessrec, or its beginning is missing"
    if reader.end is None:
        return "cut short: no end record (the recorder was killed, or is still recording)"
    if reader.after_end:
        return f"{reader.after_end} messages after the end record"
    return None


ESC_WAIT = 0.05  # seconds a lone ESC waits for the rest of a sequence from the terminal


def clock(ms: int) -> str:
    seconds, ms = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}.{ms:03d}"


def describe_drop(event: dict) -> str:
    """One line for a drop record."""
    messages, size = event.get("messages", 0), event.get("bytes", 0)
    start, end = event.get("from"), event.get("to")
    span = "" if start is None else f" at {clock(start)}" + ("" if end in (None, start) else f"-{clock(end)}")
    return f"{messages} messages ({size} bytes) dropped by the rate limit{span}"
