"""tlog log format 2.3: encode terminal I/O into JSON messages, and decode and validate them back.

Byte-compatible with tlog 12.1+ (`tlog-play`, Cockpit); see docs in the `Encoder` and `Reader` classes.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field
from typing import NamedTuple

VERSION = "2.3"
MIN_PAYLOAD = 32
DELAY_MAX_MS = 2147483647 * 1000 + 999
WINDOW_MAX = 65535

_json_str = json.JSONEncoder(ensure_ascii=False).encode
_utf8_decode = codecs.utf_8_decode
_BIN_RUN = re.compile("[\udc80-\udcff]+")
_FFFD = "\ufffd".encode()


def escape(text: str) -> str:
    """tlog's JSON string escaping: json's short escapes, `\\u00xx` (lowercase) below 0x20 and for 0x7f."""
    esc = _json_str(text)[1:-1]
    return esc.replace("\x7f", "\\u007f") if "\x7f" in esc else esc


def quote(text: str) -> str:
    return f'"{escape(text)}"'


_SPECIAL = bytes([*range(0x20), 0x22, 0x5C, 0x7F])
_NOT_SPECIAL = bytes(sorted(set(range(256)).difference(_SPECIAL)))
_SHORT = {0x22: b'\\"', 0x08: b"\\b", 0x0C: b"\\f", 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t"}
_ESCAPES = {byte: (bytes((byte,)), _SHORT.get(byte, b"\\u%04x" % byte)) for byte in _SPECIAL if byte != 0x5C}


def escape_utf8(raw: bytes) -> bytes:
    """`escape` on valid UTF-8: the bytes of escape(raw.decode()).encode(), with one C-level pass per
    kind of special byte present instead of per character."""
    present = raw.translate(None, _NOT_SPECIAL)
    if not present:
        return raw
    if 0x5C in present:  # first: the other escapes add backslashes
        raw = raw.replace(b"\\", b"\\\\")
    for byte in set(present):
        if byte != 0x5C:
            raw = raw.replace(*_ESCAPES[byte])
    return raw


@dataclass(frozen=True)
class Meta:
    """The per-recording header fields."""

    host: str
    rec: str
    user: str
    term: str
    session: int


class Body(NamedTuple):
    """A finished message without its header: `pos` (ms from the recording start) and the payload fields."""

    pos: int
    payload: bytes


class Framer:
    """Adds the header (`ver` … `time`) to message bodies and numbers them: ids are given at write time,
    so a message dropped by the rate limiter never leaves an id gap."""

    def __init__(self, meta: Meta, start_real_ms: int = 0) -> None:
        self.start_real_ms = start_real_ms
        self.next_id = 1
        self._prefix = (
            f'{{"ver":"{VERSION}","host":{quote(meta.host)},"rec":{quote(meta.rec)},'
            f'"user":{quote(meta.user)},"term":{quote(meta.term)},"session":{meta.session},'
        ).encode()

    def size(self, body: Body) -> int:
        """The length of the line `frame` would make of `body` next (the time field taken at its widest)."""
        real = self.start_real_ms + body.pos
        return (
            len(self._prefix)
            + 22
            + len(str(self.next_id))
            + len(str(body.pos))
            + len(str(real))
            + len(body.payload)
        )

    def frame(self, body: Body) -> tuple[int, bytes]:
        msg_id = self.next_id
        self.next_id += 1
        real = self.start_real_ms + body.pos
        head = f'"id":{msg_id},"pos":{body.pos},"time":{real // 1000}.{real % 1000:03d},'.encode()
        return msg_id, b"".join((self._prefix, head, body.payload))


_DIGITS = tuple(str(i).encode() for i in range(256))
_HUNDREDS = bytes(48 + i // 100 if i >= 100 else 0 for i in range(256))
_TENS = bytes(48 + i // 10 % 10 if i >= 10 else 0 for i in range(256))
_ONES = bytes(48 + i % 10 for i in range(256))


def _bin_digits(data: bytes) -> bytes:
    """The JSON array items for `data` ("7,42,255")."""
    if len(data) < 64:
        return b",".join(map(_DIGITS.__getitem__, data))
    return _digit_list(data)[:-1]


def _digit_list(data: bytes) -> bytes:
    """Every byte in decimal followed by a comma ("7,42,255,"): three digit lanes padded with NULs, then the
    padding dropped; about 5 times faster than joining per-byte strings."""
    lanes = bytearray(b"\0\0\0,") * len(data)
    lanes[0::4] = data.translate(_HUNDREDS)
    lanes[1::4] = data.translate(_TENS)
    lanes[2::4] = data.translate(_ONES)
    return bytes(lanes.translate(None, b"\0"))


def _solo_payload(output: bool, timing: str, txt: bytes, digits: bytes) -> bytes:
    """The payload of a message whose records are all of one direction (what `Encoder.flush` would make)."""
    if output:
        return b"".join(
            (b'"timing":"', timing.encode(), b'","in_txt":"","in_bin":[],"out_txt":"', txt, b'","out_bin":[')
            + (digits, b"]}\n")
        )
    return b"".join(
        (b'"timing":"', timing.encode(), b'","in_txt":"', txt, b'","in_bin":[', digits)
        + (b'],"out_txt":"","out_bin":[]}\n',)
    )


class _Stream:
    """One direction (input or output) of a message: escaped text and byte-array pieces."""

    __slots__ = ("txt", "bin", "bin_empty")

    def __init__(self) -> None:
        self.txt: list[bytes] = []
        self.bin: list[bytes] = []
        self.bin_empty = True


class Encoder:
    """Turns timestamped I/O into message bodies of at most `payload` encoded bytes.

    Unlike tlog, records are written in arrival order (input/output interleaving within one millisecond
    survives), and delays come from quantised absolute times, so they never drift. Incomplete UTF-8 at
    the end of a chunk waits for the next chunk of the same direction; `finish()` cuts it to binary.
    """

    def __init__(self, payload: int = 2048, fast: bool = True) -> None:
        if payload < MIN_PAYLOAD:
            raise ValueError(f"payload must be at least {MIN_PAYLOAD} bytes")
        self.payload = payload
        self.fast = fast  # False: every message through the general bookkeeping (the reference for tests)
        self.bodies: list[Body] = []
        self.t0: float | None = None  # monotonic time of the recording's first packet
        self.first_time: float | None = None  # monotonic time of the current message's first packet
        self._window: tuple[int, int] | None = None
        self._tails = {False: b"", True: b""}  # incomplete UTF-8 held per direction
        self._tail_at = {False: (0.0, 0), True: (0.0, 0)}  # (t, ms) of a tail's last byte
        self._last_ms = 0
        self._mixed_cost = 20
        self._reset()

    def _reset(self) -> None:
        self._pos: int | None = None
        self._timing: list[str] = []
        self._open = ("", 0, 0)  # the last record, still mergeable: (kind, count, bytes)
        self._open_len = 0
        self._size = 0
        self._fresh = False
        self._streams = {False: _Stream(), True: _Stream()}
        self.first_time = None

    # -- public API -------------------------------------------------------------------------------

    def output(self, t: float, data: bytes) -> None:
        self._io(t, True, data)

    def input(self, t: float, data: bytes) -> None:
        self._io(t, False, data)

    def window(self, t: float, width: int, height: int) -> None:
        size = (min(width, WINDOW_MAX), min(height, WINDOW_MAX))
        if size == self._window:
            return
        self._window = size
        ms = self._ms(t)
        rec = f"={size[0]}x{size[1]}"
        if self._pos is not None and self._size + len(self._delay(ms)) + len(rec) > self.payload:
            self.flush()
        if self._pos is None:
            self._start(t, ms, repeat_window=False)
        else:
            self._add_delay(ms)
        self._close_open()
        self._timing.append(rec)
        self._size += len(rec)

    def flush(self) -> None:
        """End the current message (if it has anything) and queue its body."""
        if self._pos is None:
            return
        self._close_open()
        i, o = self._streams[False], self._streams[True]
        payload = b"".join(
            (
                b'"timing":"',
                "".join(self._timing).encode(),
                b'","in_txt":"',
                *i.txt,
                b'","in_bin":[',
                b",".join(i.bin),
                b'],"out_txt":"',
                *o.txt,
                b'","out_bin":[',
                b",".join(o.bin),
                b"]}\n",
            )
        )
        self.bodies.append(Body(self._pos, payload))
        self._reset()

    def cut(self) -> None:
        """Write pending incomplete UTF-8 as binary (tlog's cut), input first."""
        for output in (False, True):
            self._cut_tail(output)

    def finish(self) -> None:
        """Cut pending incomplete UTF-8 to binary and end the message."""
        self.cut()
        self.flush()

    def ms_at(self, t: float) -> int:
        """Recording time at monotonic `t`, never before the last record."""
        if self.t0 is None:
            return 0
        return max(self._last_ms, int((t - self.t0) * 1000))

    def take(self) -> list[Body]:
        bodies, self.bodies = self.bodies, []
        return bodies

    # -- timing -----------------------------------------------------------------------------------

    def _ms(self, t: float) -> int:
        if self.t0 is None:
            self.t0 = t
        ms = int((t - self.t0) * 1000)
        self._last_time = t
        if ms < self._last_ms:  # clocks never go back in the log
            ms = self._last_ms
        return ms

    def _delay(self, ms: int) -> str:
        return f"+{ms - self._last_ms}" if ms > self._last_ms else ""

    def _start(self, t: float, ms: int, repeat_window: bool = True) -> None:
        self._pos = ms
        self._last_ms = ms
        self.first_time = t
        if repeat_window and self._window is not None:
            rec = f"={self._window[0]}x{self._window[1]}"
            self._timing.append(rec)
            self._size += len(rec)

    def _add_delay(self, ms: int) -> None:
        if ms > self._last_ms:
            self._close_open()
            rec = f"+{ms - self._last_ms}"
            self._timing.append(rec)
            self._size += len(rec)
            self._last_ms = ms

    def _close_open(self) -> None:
        kind, count, nbytes = self._open
        if kind:
            self._timing.append(f"{kind}{count}/{nbytes}" if kind in "[]" else f"{kind}{count}")
            self._open = ("", 0, 0)
            self._open_len = 0

    def _grow(self, kind: str, count: int, nbytes: int, merge: bool) -> tuple[tuple[str, int, int], int]:
        """The open record after adding (count, nbytes) of `kind`, and how much longer the timing gets."""
        okind, ocount, obytes = self._open
        base = 0
        if merge and okind == kind:
            count, nbytes = count + ocount, nbytes + obytes
            base = self._open_len
        length = len(kind) + len(str(count)) + (len(str(nbytes)) + 1 if kind in "[]" else 0)
        return (kind, count, nbytes), length - base

    def _commit(self, ms: int, new: tuple[str, int, int], growth: int, nbytes: int) -> None:
        if ms > self._last_ms:
            self._add_delay(ms)
        if new[0] != self._open[0]:
            self._close_open()
        self._open = new
        self._open_len += growth
        self._size += growth + nbytes
        self._fresh = False

    def _begin(self, t: float, ms: int) -> tuple[int, bool]:
        """Start a message if needed; return the room left after the delay record, and whether the next
        record may merge into the open one."""
        if self._pos is None:
            self._start(t, ms)
            self._fresh = True
        delay = self._delay(ms)
        return self.payload - self._size - len(delay), not delay

    # -- I/O --------------------------------------------------------------------------------------

    def _cut_tail(self, output: bool) -> None:
        """Write the incomplete character held in one direction as binary, at the time of its last byte
        (tlog's cut)."""
        tail = self._tails[output]
        if tail:
            self._tails[output] = b""
            t, ms = self._tail_at[output]
            if ms < self._last_ms:  # a window came since: time never goes back in the log
                t, ms = self._last_time, self._last_ms
            self._add_bin(t, ms, output, tail)

    def _io(self, t: float, output: bool, data: bytes) -> None:
        if self._tails[not output]:
            # I/O the other way ends the wait for the rest of a character held in this one: cut it now,
            # so it keeps its time and its place before what comes now (tlog's `[1/2>1+298[1/1`).
            self._cut_tail(not output)
        ms = self._ms(t)
        tail = self._tails[output]
        if tail:
            data = tail + data
        if data.isascii():
            self._tails[output] = b""
            if data:
                self._add_text(t, ms, output, data, len(data))
            return
        self._tail_at[output] = (t, ms)  # the time of a tail this leaves
        try:
            text, used = _utf8_decode(data, "strict", False)
        except UnicodeDecodeError as exc:
            bad = exc.start
        else:
            self._tails[output] = data[used:] if used < len(data) else b""
            if text:
                self._add_text(t, ms, output, data[:used] if used < len(data) else data, len(text))
            return
        if _is_flood(data, bad):
            used = len(data) - _incomplete_tail(data)
            self._tails[output] = data[used:]
            self._add_flood(t, ms, output, data[:used] if used < len(data) else data)
            return
        text, used = _utf8_decode(data, "surrogateescape", False)
        self._tails[output] = data[used:] if used < len(data) else b""
        runs = _BIN_RUN.findall(text)
        if len(text) >= 512 and len(runs) * 32 > len(text):
            self._add_mixed(t, ms, output, text.encode("utf-8", "surrogateescape"))
            return
        pos = 0
        for match in _BIN_RUN.finditer(text):
            if match.start() > pos:
                self._add_str(t, ms, output, text[pos : match.start()])
            self._add_bin(t, ms, output, match.group().encode("utf-8", "surrogateescape"))
            pos = match.end()
        if pos < len(text):
            self._add_str(t, ms, output, text[pos:])

    def _add_str(self, t: float, ms: int, output: bool, text: str) -> None:
        self._add_text(t, ms, output, text.encode(), len(text))

    def _window_record(self) -> str:
        return "" if self._window is None else f"={self._window[0]}x{self._window[1]}"

    def _add_text(self, t: float, ms: int, output: bool, raw: bytes, chars: int) -> None:
        """Escape valid UTF-8 of `chars` characters once, then cut the escaped bytes into messages."""
        kind = ">" if output else "<"
        enc = escape_utf8(raw)
        ascii_only = chars == len(raw)
        plain = enc is raw  # nothing escaped
        backslashes = not plain and b"\\" in raw
        at, end = 0, len(enc)
        left_chars = chars  # in enc[at:]: the last piece's count comes free
        while at < end:
            if self._pos is None and self.fast:
                at, left_chars = self._text_messages(
                    ms, output, enc, at, left_chars, ascii_only, plain, backslashes
                )
            room, merge = self._begin(t, ms)
            left = end - at
            _, growth = self._grow(kind, left_chars, 0, merge)
            if left + growth <= room:
                cut, count = end, left_chars
            else:
                okind, ocount, _ = self._open
                base, base_len = (ocount, self._open_len) if merge and okind == kind else (0, 0)
                flags = (ascii_only, plain, backslashes)
                cut, count, _ = _fit_text(enc, at, room, left_chars, base, base_len, flags)
                if cut == at:
                    if not self._fresh:
                        self.flush()
                        continue
                    cut, count = at + _char_len(enc, at), 1
            seg = enc[at:cut] if at or cut < end else enc
            left_chars -= count
            new, growth = self._grow(kind, count, 0, merge)
            self._commit(ms, new, growth, len(seg))
            self._streams[output].txt.append(seg)
            at = cut
            if at < end:
                self.flush()

    def _text_messages(
        self,
        ms: int,
        output: bool,
        enc: bytes,
        at: int,
        chars: int,
        ascii_only: bool,
        plain: bool,
        backslashes: bool,
    ) -> tuple[int, int]:
        """From a fresh message on, the bodies the loop in `_add_text` would make for all but the last piece
        of `enc[at:]` (of `chars` characters), without its per-message bookkeeping; returns where that last
        piece starts and its characters."""
        kind = ">" if output else "<"
        window = self._window_record()
        room = self.payload - len(window)
        end = len(enc)
        self._last_ms = ms
        flags = (ascii_only, plain, backslashes)
        room_width = len(str(room))
        low = 10 ** (room_width - 1)
        while True:
            if chars < room:
                if end - at + 1 + len(str(chars)) <= room:
                    return at, chars
                cut, count, seg = _fit_text(enc, at, room, chars, 0, 0, flags)
            else:
                # What _fit_text does, its first try inline: a counter as wide as the room's size.
                cut = _cut(enc, at, at + room - 1 - room_width)
                seg = enc[at:cut]
                count = _code_points(seg, ascii_only, plain, backslashes) if cut > at else 0
                if count < low:
                    cut, count, seg = _fit_text(enc, at, room, chars, 0, 0, flags)
            if cut == at:
                cut, count = at + _char_len(enc, at), 1
                seg = enc[at:cut]
            chars -= count
            timing = f"{window}{kind}{count}"
            self.bodies.append(Body(ms, _solo_payload(output, timing, seg, b"")))
            at = cut

    def _add_flood(self, t: float, ms: int, output: bool, raw: bytes) -> None:
        """Mostly non-text data as `]1/B` records: one U+FFFD in out_txt (what Cockpit shows: the text of
        random bytes is noise) and every byte in out_bin. tlog's reader skips the U+FFFD, so players stay
        byte-exact, and this costs neither a record per invalid sequence nor a text copy of the data."""
        kind = "]" if output else "["
        digits = _digit_list(raw)  # "d,d,...,d,": a number ends at every comma
        at, end = 0, len(digits)
        while at < end:
            if self._pos is None and self.fast:
                at = self._flood_messages(ms, output, digits, at)
            room, merge = self._begin(t, ms)
            stream = self._streams[output]
            sep = 0 if stream.bin_empty else 1
            _, growth = self._grow(
                kind, 1, (end - at) // 2, merge
            )  # an upper bound: a number and a comma >= 2
            limit = room - sep - len(_FFFD) - growth
            cut = end - 1 if end - 1 - at <= limit else digits.rfind(b",", at, at + limit + 1)
            if cut < at:
                if not self._fresh:
                    self.flush()
                    continue
                cut = digits.index(b",", at)
            new, growth = self._grow(kind, 1, digits.count(b",", at, cut) + 1, merge)
            self._commit(ms, new, growth, len(_FFFD) + cut - at + sep)
            stream.txt.append(_FFFD)
            stream.bin.append(digits[at:cut])
            stream.bin_empty = False
            at = cut + 1
            if at < end:
                self.flush()

    def _flood_messages(self, ms: int, output: bool, digits: bytes, at: int) -> int:
        """`_text_messages` for `_add_flood`."""
        kind = "]" if output else "["
        window = self._window_record()
        room = self.payload - len(window) - len(_FFFD)
        end = len(digits)
        self._last_ms = ms
        while True:
            limit = room - 3 - len(str((end - at) // 2))
            if end - 1 - at <= limit:
                return at
            cut = digits.rfind(b",", at, at + limit + 1)
            timing = f"{window}{kind}1/{digits.count(b',', at, cut) + 1}"
            self.bodies.append(Body(ms, _solo_payload(output, timing, _FFFD, digits[at:cut])))
            at = cut + 1

    def _add_mixed(self, t: float, ms: int, output: bool, raw: bytes) -> None:
        """Binary-heavy data as whole `]T/B` runs: out_txt gets the text with U+FFFD (what Cockpit shows),
        out_bin every byte. tlog's reader skips any T characters, so players stay byte-exact, and this
        avoids one record per invalid byte."""
        kind = "]" if output else "["
        while raw:
            room, merge = self._begin(t, ms)
            stream = self._streams[output]
            sep = 0 if stream.bin_empty else 1
            n = max(1, min(len(raw), (room - sep) * 10 // self._mixed_cost))
            while True:
                part = raw[:n] if n < len(raw) else raw
                txt = part.decode("utf-8", "replace")
                enc, digits, count = escape(txt).encode(), _bin_digits(part), len(txt)
                new, growth = self._grow(kind, count, n, merge)
                cost = len(enc) + len(digits) + sep + growth
                self._mixed_cost = max(20, cost * 10 // n)  # tenths of a byte per input byte
                if cost <= room or n == 1:
                    break
                n = max(1, min(n - 1, n * (room - sep - growth) // cost))
            if cost > room and not self._fresh:
                self.flush()
                continue
            self._commit(ms, new, growth, len(enc) + len(digits) + sep)
            stream.txt.append(enc)
            stream.bin.append(digits)
            stream.bin_empty = False
            raw = raw[n:]
            if raw:
                self.flush()

    def _add_bin(self, t: float, ms: int, output: bool, raw: bytes) -> None:
        """Invalid UTF-8 as `]T/B` (`[T/B`): a U+FFFD per maximal invalid sequence, every byte in the array;
        a message takes as many whole sequences as fit, as tlog's reservation per sequence gives."""
        kind = "]" if output else "["
        while raw:
            room, merge = self._begin(t, ms)
            stream = self._streams[output]
            sep = 0 if stream.bin_empty else 1
            count = 1 if len(raw) == 1 else len(raw.decode("utf-8", "replace"))
            digits = _bin_digits(raw)
            new, growth = self._grow(kind, count, len(raw), merge)
            if 3 * count + len(digits) + sep + growth <= room:
                self._commit_bin(ms, stream, new, growth, count, digits)
                return
            n, count = self._fit_bin(raw, room - sep, kind, merge)
            if n == 0:
                if not self._fresh:
                    self.flush()
                    continue
                n, count = _invalid_len(raw), 1
            new, growth = self._grow(kind, count, n, merge)
            self._commit_bin(ms, stream, new, growth, count, _bin_digits(raw[:n]))
            self.flush()
            raw = raw[n:]

    def _fit_bin(self, raw: bytes, room: int, kind: str, merge: bool) -> tuple[int, int]:
        """(bytes, sequences): the most whole invalid sequences from the start of `raw` that fit in `room`
        with their U+FFFDs, digits, commas and the growth of the run record."""
        n = count = cost = 0
        while n < len(raw):
            size = _invalid_len(raw[n : n + 4])
            more = 3 + sum(len(_DIGITS[b]) + 1 for b in raw[n : n + size]) - (1 if n == 0 else 0)
            _, growth = self._grow(kind, count + 1, n + size, merge)
            if cost + more + growth > room:
                break
            n, count, cost = n + size, count + 1, cost + more
        return n, count

    def _commit_bin(
        self, ms: int, stream: _Stream, new: tuple[str, int, int], growth: int, count: int, digits: bytes
    ) -> None:
        sep = 0 if stream.bin_empty else 1
        self._commit(ms, new, growth, 3 * count + len(digits) + sep)
        stream.txt.append(_FFFD * count)
        stream.bin.append(digits)
        stream.bin_empty = False


def _fit_text(
    enc: bytes, at: int, room: int, chars: int, base: int, base_len: int, flags: tuple[bool, bool, bool]
) -> tuple[int, int, bytes]:
    """(cut, count, piece): the most whole characters of escaped `enc[at:]` (holding `chars`; `flags` are
    `_code_points`'s) whose bytes and the growth of their run record fit in `room` bytes, as tlog's
    reservation per character gives: the record is `>N`, or an open one of `base` characters written in
    `base_len` bytes that they join. Tries the counter's digit widths from the widest possible down; a
    cut that crosses a power of ten keeps the largest count of the narrower width."""
    width = len(str(base + (chars if chars < room else room)))
    above = (at, 0)  # the cut at the next wider width, which fits at this one too
    while True:
        cut = _cut(enc, at, at + room - (1 + width - base_len))
        seg = enc[at:cut]
        count = _code_points(seg, *flags) if cut > at else 0
        got = len(str(base + count))
        if got == width:
            return cut, count, seg
        if got > width:
            cap = 10**width - 1 - base
            pos, have = above
            for _ in range(cap - have):
                pos += _char_len(enc, pos)
            return pos, cap, enc[at:pos]
        above = (cut, count)
        width -= 1


def _invalid_len(raw: bytes) -> int:
    """The length of the maximal invalid UTF-8 sequence `raw` starts with (Unicode Table 3-7, as tlog and
    Python's decoder take it); 1 if `raw` starts with something else."""
    try:
        _utf8_decode(raw[:4], "strict", True)
    except UnicodeDecodeError as exc:
        return max(1, exc.end) if exc.start == 0 else 1
    return 1


def _cut(enc: bytes, at: int, limit: int) -> int:
    """The last offset <= limit in escaped UTF-8 that splits neither a character nor an escape."""
    pos = max(at, min(limit, len(enc)))
    while pos > at and pos < len(enc) and 0x80 <= enc[pos] < 0xC0:
        pos -= 1
    j = enc.rfind(b"\\", max(at, pos - 6), pos)
    if j >= 0:
        k = j
        while k > at and enc[k - 1] == 0x5C:
            k -= 1
        if (j - k) % 2 == 0 and j + (6 if enc[j + 1] == 0x75 else 2) > pos:  # odd run: j starts an escape
            pos = j
    return pos


_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\n\r"
_FLOOD_SAMPLE = 4096


def _is_flood(data: bytes, bad: int) -> bool:
    """Binary rather than text with some invalid UTF-8: mostly not printable ASCII (a Latin-1 text is
    not a flood), with invalid sequences at least every 32 characters in a sample from the first one
    (`bad`) on."""
    if len(data) < 512 or len(data.translate(None, _PRINTABLE)) * 2 <= len(data):
        return False
    start = min(bad, max(0, len(data) - _FLOOD_SAMPLE))
    sample = data[start : start + _FLOOD_SAMPLE].decode("utf-8", "surrogateescape")
    return len(_BIN_RUN.findall(sample)) * 32 > len(sample)


def is_text(data: bytes) -> bool:
    """Valid UTF-8 but for an incomplete last character, or mostly printable ASCII: data for the text path,
    whose cost per byte hardly depends on the size of the chunks the data comes in (unlike the checks for
    binary data, which sample every chunk)."""
    try:
        _utf8_decode(data, "strict", False)
    except UnicodeDecodeError:
        return len(data.translate(None, _PRINTABLE)) * 2 <= len(data)
    return True


def _incomplete_tail(data: bytes) -> int:
    """How many bytes at the end start a UTF-8 sequence that the next chunk may complete."""
    end = data[-3:]
    return len(end) - _utf8_decode(end, "surrogateescape", False)[1]


def _char_len(enc: bytes, at: int) -> int:
    first = enc[at]
    if first == 0x5C:
        return 6 if enc[at + 1] == 0x75 else 2
    return 1 if first < 0x80 else 2 if first < 0xE0 else 3 if first < 0xF0 else 4


_NOT_CONT = bytes(b for b in range(256) if not 0x80 <= b < 0xC0)  # all but UTF-8 continuation bytes
_NOT_CONT_OR_BACKSLASH = _NOT_CONT.replace(b"\\", b"")


def _code_points(seg: bytes, ascii_only: bool, plain: bool = False, backslashes: bool = True) -> int:
    """Characters in a piece of escaped UTF-8 (`plain`: without escapes), counting each escape as one;
    `backslashes`: the text may have had backslashes (their escapes make counting backslashes ambiguous).
    A character is a byte that is no continuation byte, an escape a backslash and one byte more
    (`\\u00xx`: five more)."""
    if plain:
        return len(seg) if ascii_only else len(seg.decode())
    if backslashes and b"\\\\" in seg:
        return len(json.loads(b'"' + seg + b'"'))
    # One C pass keeps the continuation bytes and backslashes, which are the bytes not counted.
    return len(seg) - len(seg.translate(None, _NOT_CONT_OR_BACKSLASH)) - 4 * seg.count(b"\\u")


# -- decoding -----------------------------------------------------------------------------------------

OUTPUT, INPUT, WINDOW, EVENT = "o", "i", "w", "e"
# Recorder events ride in ordinary messages with an empty timing, in a field tlog and Cockpit ignore:
# {"event": "start", ...}, {"event": "end", "status": N[, "signal": "SIGHUP"]},
# {"event": "drop", "messages": N, "bytes": N, "from": ms, "to": ms}.
EVENT_FIELD = "sessrec"
EVENTS = ("start", "end", "drop")


class FormatError(ValueError):
    """A recording that tlog's reader would reject; the text is one line."""


@dataclass
class Packet:
    """One replayable event: `ms` from the recording start; bytes for I/O, (width, height) for windows."""

    ms: int
    kind: str
    data: bytes = b""
    size: tuple[int, int] = (0, 0)
    event: dict | None = None  # kind EVENT: a recorder event (start, end, drop)


@dataclass
class Message:
    ver: str
    host: str
    rec: str | None
    user: str
    term: str
    session: int
    id: int
    pos: int
    time: float | None
    timing: str
    in_txt: str
    in_bin: list[int]
    out_txt: str
    out_bin: list[int]
    extra: dict = field(default_factory=dict)
    event: dict | None = None


_TIMING = re.compile(r"[ \t\n\r\f\v]*(?:([][])(\d+)/(\d+)|([<>+])(\d+)|=(\d+)x(\d+))")
_VER = re.compile(r"(\d+)(?:\.(\d+))?")


def _field(obj: dict, name: str, types: tuple[type, ...], required: bool = True):
    if name not in obj:
        if required:
            raise FormatError(f'message has no "{name}" field')
        return None
    value = obj[name]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise FormatError(f'message field "{name}" has invalid type')
    return value


def _bin_field(obj: dict, name: str) -> list[int]:
    value = _field(obj, name, (list,))
    for item in value:
        if type(item) is not int or not 0 <= item <= 255:
            raise FormatError(f'message has invalid "{name}" field value')
    return value


_DECODER = json.JSONDecoder()
WHITESPACE = " \t\n\r\f\v"  # what tlog's file reader skips before an object


def load_object(line: str | bytes):
    """The first JSON value of a line, as tlog reads a line: leading whitespace skipped, whatever follows
    the value ignored (tlog-play plays `{...}{...}` and `{...} junk`); an object cut off by the line's end
    is "incomplete". Bytes that are not UTF-8 become lone surrogates (U+DC80-U+DCFF)."""
    if isinstance(line, bytes | bytearray):
        line = bytes(line).decode("utf-8", "surrogateescape")
    at = len(line) - len(line.lstrip(WHITESPACE))
    try:
        value, _ = _DECODER.raw_decode(line, at)
    except json.JSONDecodeError as exc:
        if line[at : at + 1] != "{" or exc.pos >= len(line.rstrip(WHITESPACE)):
            raise FormatError("incomplete message object line encountered") from None
        raise FormatError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # too many digits, too deep
        raise FormatError(f"invalid JSON: {str(exc).splitlines()[0][:80]}") from None
    return value


def parse_message(line: str | bytes) -> Message:
    """Parse and type-check the message on one line (tlog's json_msg rules)."""
    obj = load_object(line)
    if not isinstance(obj, dict):
        raise FormatError("message is not a JSON object")
    ver = _field(obj, "ver", (str, int))
    match = _VER.fullmatch(str(ver))
    if not match or int(match.group(1)) > 2:
        raise FormatError(f'unsupported "ver" field value {str(ver)[:20]!r}')
    session = _field(obj, "session", (int,))
    if not 1 <= session <= 0xFFFFFFFF:
        raise FormatError('message has invalid "session" field value')
    msg_id = _field(obj, "id", (int,))
    pos = _field(obj, "pos", (int,))
    if msg_id < 0:
        raise FormatError('message has invalid "id" field value')
    if not 0 <= pos <= DELAY_MAX_MS:
        raise FormatError('message has invalid "pos" field value')
    time = _field(obj, "time", (float,), required=False)
    if time is not None and not 0 <= time < 1e300:
        raise FormatError('message has invalid "time" field value')
    return Message(
        ver=str(ver),
        host=_field(obj, "host", (str,)),
        rec=_field(obj, "rec", (str,), required=False),
        user=_field(obj, "user", (str,)),
        term=_field(obj, "term", (str,)),
        session=session,
        id=msg_id,
        pos=pos,
        time=time,
        timing=_field(obj, "timing", (str,)),
        in_txt=_field(obj, "in_txt", (str,), required=False) or "",
        in_bin=_bin_field(obj, "in_bin"),
        out_txt=_field(obj, "out_txt", (str,), required=False) or "",
        out_bin=_bin_field(obj, "out_bin"),
        event=_event(obj),
    )


def _event(obj: dict) -> dict | None:
    """The recorder event a message carries, if any; counts that are not non-negative integers are left
    out, so readers can trust the types of what is there."""
    value = obj.get(EVENT_FIELD)
    if not isinstance(value, dict) or value.get("event") not in EVENTS:
        return None
    event = {"event": value["event"]}
    for key, item in value.items():
        if key != "event" and (type(item) is int and 0 <= item < 1 << 63 or isinstance(item, str)):
            event[key] = item
    return event


def event_body(pos: int, event: dict) -> Body:
    """A message body with no I/O that carries a recorder event (tlog-play and Cockpit play nothing)."""
    data = json.dumps(event, ensure_ascii=True, separators=(",", ":")).encode()
    payload = b'"timing":"","in_txt":"","in_bin":[],"out_txt":"","out_bin":[],"%s":%s}\n' % (
        EVENT_FIELD.encode(),
        data,
    )
    return Body(pos, payload)


def _take_text(txt: str, at: int, count: int) -> tuple[bytes, int]:
    end = at + count
    if end > len(txt):
        raise FormatError('message has invalid "in_txt" or "out_txt" field value')
    try:
        return txt[at:end].encode(), end
    except UnicodeEncodeError:  # lone surrogates from \ud800-style escapes
        raise FormatError('message has invalid "in_txt" or "out_txt" field value') from None


def message_packets(msg: Message) -> list[Packet]:
    """The packets a message's timing string describes, with times in ms from the recording start."""
    timing, ms = msg.timing, msg.pos
    packets: list[Packet] = []
    txt_at = {INPUT: 0, OUTPUT: 0}
    bin_at = {INPUT: 0, OUTPUT: 0}
    end = len(timing.rstrip(" \t\n\r\f\v"))
    at = 0
    while at < end:
        match = _TIMING.match(timing, at)
        if not match:
            raise FormatError('message has invalid "timing" field value')
        at = match.end()
        binkind, bcount, bbytes, kind, num, width, height = match.groups()
        if kind == "+":
            delay = int(num)
            if delay > DELAY_MAX_MS:
                raise FormatError('message has invalid "timing" field value')
            ms += delay
        elif kind:
            direction = OUTPUT if kind == ">" else INPUT
            txt = msg.out_txt if kind == ">" else msg.in_txt
            data, txt_at[direction] = _take_text(txt, txt_at[direction], int(num))
            if data:
                packets.append(Packet(ms, direction, data))
        elif binkind:
            direction = OUTPUT if binkind == "]" else INPUT
            txt = msg.out_txt if binkind == "]" else msg.in_txt
            _, txt_at[direction] = _take_text(txt, txt_at[direction], int(bcount))
            arr = msg.out_bin if binkind == "]" else msg.in_bin
            start, count = bin_at[direction], int(bbytes)
            if start + count > len(arr):
                raise FormatError('message has invalid "in_bin" or "out_bin" field value')
            bin_at[direction] = start + count
            if count:
                packets.append(Packet(ms, direction, bytes(arr[start : start + count])))
        else:
            w, h = int(width), int(height)
            if w > WINDOW_MAX or h > WINDOW_MAX:
                raise FormatError('message has invalid "timing" field value')
            packets.append(Packet(ms, WINDOW, size=(w, h)))
    return packets


class Reader:
    """Validates a stream of messages the way tlog's json_source does and yields their packets.

    `rec`, if given, skips messages of other recordings (like `tlog-play -m`).
    """

    def __init__(self, lax: bool = False, rec: str | None = None) -> None:
        self.lax = lax
        self.rec = rec
        self.last_id: int | None = None
        self.last_ms = 0
        self.window: tuple[int, int] | None = None
        self.first: Message | None = None
        self.last: Message | None = None
        self.started = False  # the first message is a start record
        self.end: dict | None = None  # the end record's event
        self.after_end = 0  # messages after the end record

    def feed(self, line: str | bytes) -> list[Packet]:
        if isinstance(line, bytes | bytearray):
            line = bytes(line).decode("utf-8", "surrogateescape")
        if not line.strip(WHITESPACE):
            return []
        msg = parse_message(line)
        if self.rec is not None and msg.rec != self.rec:
            return []
        if self.last_id is not None:
            bad = msg.id <= self.last_id if self.lax else msg.id != self.last_id + 1
            if bad:
                raise FormatError(f"message ID is out of order (id {msg.id} after {self.last_id})")
        self.last_id = msg.id
        packets = []
        for pkt in message_packets(msg):
            if pkt.ms < self.last_ms:
                raise FormatError("packet timestamp is out of order")
            self.last_ms = pkt.ms
            if pkt.kind == WINDOW:
                if pkt.size == self.window:
                    continue
                self.window = pkt.size
            packets.append(pkt)
        if self.end is not None:
            self.after_end += 1
        if msg.event is not None:
            kind = msg.event["event"]
            if kind == "start" and self.first is None:
                self.started = True
            elif kind == "end" and self.end is None:
                self.end = msg.event
            packets.append(Packet(msg.pos, EVENT, event=msg.event))
        if self.first is None:
            self.first = msg
        self.last = msg
        return packets
