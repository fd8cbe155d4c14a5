"""Recording summaries (`sessrec list`) and conversion to asciicast v2 or plain text (`sessrec export`)."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from .tlogformat import EVENT, INPUT, OUTPUT, WINDOW, FormatError, Message, Packet, parse_message

_DELAY = re.compile(r"\+(\d+)")
DEFAULT_SIZE = (80, 24)


# -- list ---------------------------------------------------------------------------------------------


@dataclass
class Summary:
    """One recording: identity, start (Unix seconds, None without `time` fields), length and volume, and
    what its start, end and drop records say."""

    rec: str
    user: str
    host: str
    start: float | None = None
    duration_ms: int = 0
    size: int = 0
    messages: int = 0
    invalid: int = 0
    started: bool = False  # its first message is a start record
    end: dict | None = None  # its end record's event
    dropped_messages: int = 0
    dropped_bytes: int = 0

    def add(self, msg: Message, size: int) -> None:
        if self.start is None and msg.time is not None:
            self.start = msg.time - msg.pos / 1000
        end = msg.pos + sum(int(d) for d in _DELAY.findall(msg.timing))
        self.duration_ms = max(self.duration_ms, end)
        self.size += size
        event = msg.event
        if event is not None:
            if event["event"] == "start" and self.messages == 0:
                self.started = True
            elif event["event"] == "end" and self.end is None:
                self.end = event
            elif event["event"] == "drop":
                self.dropped_messages += event.get("messages", 0)
                self.dropped_bytes += event.get("bytes", 0)
        self.messages += 1

    @property
    def state(self) -> str:
        """ "complete" (start and end records), "cut-short" (a start record but no end record: the
        recorder was killed, or is still recording), or "-" (no start record: tlog's, or its beginning is
        missing)."""
        if not self.started:
            return "-"
        return "cut-short" if self.end is None else "complete"

    @property
    def exit(self) -> str:
        """The session's exit status from the end record ("0", "130", "SIGHUP"), or "-"."""
        if self.end is None:
            return "-"
        return str(self.end.get("signal") or self.end.get("status", "?"))

    def as_dict(self) -> dict:
        return {
            "rec": self.rec,
            "user": self.user,
            "host": self.host,
            "start": iso_time(self.start),
            "duration": self.duration_ms / 1000,
            "size": self.size,
            "messages": self.messages,
            "invalid": self.invalid,
            "state": self.state,
            "exit": None if self.end is None else self.exit,
            "dropped_messages": self.dropped_messages,
            "dropped_bytes": self.dropped_bytes,
        }


def iso_time(when: float | None) -> str | None:
    if when is None:
        return None
    try:
        return datetime.fromtimestamp(when).astimezone().isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):  # a `time` no calendar holds
        return None


def summarize(messages: Iterable[tuple[str | None, str, bytes]], errors: list[str]) -> list[Summary]:
    """Group (recording id or None to use the message's, where, JSON line) by recording, in order of first
    appearance; messages without a `rec` field are grouped by host and session. A message that does not
    parse is counted in its recording's `invalid` (if the id is known) and described in `errors`, so one
    bad message does not hide every recording."""
    found: dict[str, Summary] = {}
    for rec, where, line in messages:
        if not line.strip():
            continue
        try:
            msg = parse_message(line)
        except FormatError as exc:
            errors.append(f"{where}: {exc}")
            if rec:
                found.setdefault(rec, Summary(rec, "?", "?")).invalid += 1
            continue
        key = rec or msg.rec or f"{msg.host}/{msg.session}"
        summary = found.setdefault(key, Summary(key, msg.user, msg.host))
        if summary.messages == 0:
            summary.user, summary.host = msg.user, msg.host
        summary.add(msg, len(line))
    return list(found.values())


def format_duration(ms: int) -> str:
    seconds, ms = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}.{ms:03d}"


def table(summaries: list[Summary]) -> str:
    """Aligned columns with a header line; text from the recordings is made printable."""
    rows = [("REC", "USER", "HOST", "START", "DURATION", "SIZE", "MESSAGES", "STATE", "EXIT", "DROPPED")]
    for s in summaries:
        start = iso_time(s.start) or "-"
        dropped = f"{s.dropped_bytes}B/{s.dropped_messages}" if s.dropped_messages else "-"
        rows.append(
            (
                *(printable(c) for c in (s.rec, s.user, s.host)),
                start,
                format_duration(s.duration_ms),
                str(s.size),
                str(s.messages),
                s.state,
                printable(s.exit),
                dropped,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {4, 5, 6}
    lines = []
    for row in rows:
        cells = (
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


# -- export -------------------------------------------------------------------------------------------


class _Text:
    """Incremental UTF-8 decoding with replacement, per direction (characters may span packets)."""

    def __init__(self) -> None:
        self.decoders = {
            OUTPUT: codecs.getincrementaldecoder("utf-8")("replace"),
            INPUT: codecs.getincrementaldecoder("utf-8")("replace"),
        }

    def decode(self, kind: str, data: bytes, final: bool = False) -> str:
        return self.decoders[kind].decode(data, final)


def asciicast(packets: Iterable[Packet], header: dict) -> Iterator[str]:
    """asciicast v2 lines: the header (width/height from the first window record, else 80x24), then
    `[t, "o"|"i", text]` and `[t, "r", "WxH"]` events. Events before the first window are held back."""
    text = _Text()
    held: list[list] = []
    size: tuple[int, int] | None = None
    last = {OUTPUT: 0.0, INPUT: 0.0}
    for pkt in packets:
        t = pkt.ms / 1000
        if pkt.kind == EVENT:
            if pkt.event["event"] == "drop":  # a marker: players show it, some pause there
                from .player import describe_drop

                event = [t, "m", describe_drop(pkt.event)]
                if size is None:
                    held.append(event)
                else:
                    yield _event(event)
            continue
        if pkt.kind == WINDOW:
            if size is None:
                size = pkt.size
                yield _header(header, size)
                yield from map(_event, held)
                held = []
            else:
                yield _event([t, "r", f"{pkt.size[0]}x{pkt.size[1]}"])
            continue
        data = text.decode(pkt.kind, pkt.data)
        last[pkt.kind] = t
        if not data:
            continue
        event = [t, pkt.kind, data]
        if size is None:
            held.append(event)
        else:
            yield _event(event)
    if size is None:
        yield _header(header, DEFAULT_SIZE)
        yield from map(_event, held)
    for kind in (OUTPUT, INPUT):
        rest = text.decode(kind, b"", final=True)
        if rest:
            yield _event([last[kind], kind, rest])


def _header(header: dict, size: tuple[int, int]) -> str:
    return _event({"version": 2, "width": size[0], "height": size[1], **header})


def _event(event: list | dict) -> str:
    return json_line(event)


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_line(value) -> str:
    """One line of JSON with non-ASCII text as UTF-8, but lone surrogates (from `\\ud800` escapes or
    bytes that were not UTF-8 in a recording) as `\\uXXXX` escapes: the same JSON value, and text that
    encodes as UTF-8."""
    text = json.dumps(value, ensure_ascii=False)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text + "\n"


def printable(text: str) -> str:
    """`text` for a terminal: lone surrogates and control characters as backslash escapes."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode() for c in text
    )


def cast_header(first: Message | None) -> dict:
    """Optional header fields from the recording's first message."""
    if first is None:
        return {}
    header: dict = {}
    if first.time is not None:
        header["timestamp"] = int(first.time - first.pos / 1000)
    if first.term:
        header["env"] = {"TERM": first.term}
    header["title"] = f"{first.user}@{first.host} {first.rec or ''}".rstrip()
    return header


# ESC-introduced sequences: CSI, OSC/DCS/SOS/PM/APC strings (ended by BEL or ST), charset selection, and
# two-character escapes; plus C0/C1 controls other than tab and newline.
_SEQUENCE = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[ -/]+[0-~]"
    r"|\x1b[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
_ESCAPES = re.compile(_SEQUENCE + r"|\x1b|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# What the next packet may still complete: a sequence's beginning, or a carriage return, at the end.
_UNFINISHED = re.compile(
    r"(?:\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b]*\x1b?|[ -/]*)|\x9b[0-?]*[ -/]*)?\r?\Z"
)
_NEWLINES = re.compile(r"\r+\n?")
HOLD_MAX = 4096  # an unfinished sequence longer than this is not held back


def text(packets: Iterable[Packet], strip: bool = False) -> Iterator[str]:
    """The output as text; with `strip`, without escape sequences and control characters, and with
    carriage returns made newlines (`\\r\\n` and `\\r` alike)."""
    dec = _Text()
    carry = ""
    for pkt in packets:
        if pkt.kind != OUTPUT:
            continue
        chunk = dec.decode(OUTPUT, pkt.data)
        if not strip:
            yield chunk
            continue
        chunk = carry + chunk
        cut = _UNFINISHED.search(chunk, max(0, len(chunk) - HOLD_MAX)).start()
        chunk, carry = chunk[:cut], chunk[cut:]
        yield _clean(chunk)
    rest = carry + dec.decode(OUTPUT, b"", final=True)
    if rest:
        yield _clean(rest) if strip else rest


def _clean(chunk: str) -> str:
    return _ESCAPES.sub("", _NEWLINES.sub("\n", chunk))
