"""The reviewer's terminal during playback: what may be written to it, and what is read from it as keys.

A recording is written by the recorded user, so playing it raw lets her act on the reviewer's terminal and
machine: set the clipboard (OSC 52), make the terminal answer queries (device status, device attributes,
title and colour reports, DECRQSS) so that the answers arrive as typed input, switch on mouse or focus
reports, change the keyboard protocol, resize or retitle the window, or pass sequences through DCS to an
outer terminal. `Sanitizer` lets through only sequences that draw (text attributes, cursor movement,
erasing, scrolling, character sets, the alternate screen and a few display modes) and drops every other
control sequence, every string sequence (OSC, DCS, SOS, PM, APC), ENQ (answerback) and every C1 control.
`KeyDecoder` reads keys and drops whatever the terminal sends as a sequence (replies, mouse and focus
reports, function keys), so a reply is never taken for playback keys.
"""

from __future__ import annotations

import codecs
import re
import time

# C1 controls come as U+0080-U+009F (UTF-8 C2 80-9F) or, in no valid UTF-8, as single bytes 0x80-0x9F
# (U+DC80-U+DC9F once decoded with surrogateescape): both are treated as controls.
_CONTROLS = re.compile(
    r"(?P<csi>\x1b\[(?P<params>[0-?]*)(?P<inter>[ -/]*)(?P<final>[@-~]))"
    r"|(?P<c1csi>[\x9b\udc9b][0-?]*[ -/]*[@-~])"
    r"|(?P<string>(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f\udc90\udc98\udc9d-\udc9f])"
    r"[^\x07\x1b\x9c\udc9c]*(?P<end>\x07|\x1b\\|[\x9c\udc9c])?)"
    r"|(?P<esc>\x1b(?P<esc_inter>[ -/]*)(?P<esc_final>[0-~]))"
    r"|[\x05\x1b\x80-\x9f\udc80-\udc9f]"
)
# A sequence the next packet may complete, at the end of this one.
_PARTIAL = re.compile(r"(?:\x1b(?:\[[0-?]*[ -/]*|[ -/]*)?|[\x9b\udc9b][0-?]*[ -/]*)\Z")
_STRING_END = re.compile(r"[\x07\x9c\udc9c]|\x1b\\?")
HOLD_MAX = 256  # a longer unfinished sequence is not waited for

# DEC private modes that only change what is shown: cursor keys mode, reverse video, origin mode,
# autowrap, cursor blink and visibility, reverse wrap, the alternate screen, left/right margins and
# synchronized output. Not: mouse and focus reports, bracketed paste, column mode (resizes the window),
# keyboard modes.
DEC_MODES = frozenset({1, 5, 6, 7, 12, 25, 45, 47, 69, 1047, 1048, 1049, 2026})
ANSI_MODES = frozenset({4, 20})  # insert, newline
# CSI finals without a private marker that draw: insert/delete, cursor movement, erase, scroll, tab clear,
# repeat, text attributes (SGR), scrolling region, save cursor.
_DRAWING = frozenset("@ABCDEFGHIJKLMPSXZ`abdefgmrs")
_ESC_FINALS = frozenset("78=>DEHMNOcno|}~")  # cursor save/restore, keypad, index, reset, shifts
_CHARSETS = frozenset("()*+-./")


def _modes(params: str, allowed: frozenset[int]) -> list[str]:
    return [p for p in params.split(";") if p.isdigit() and int(p) in allowed]


def _csi(params: str, inter: str, final: str) -> str | None:
    """The sequence to write for CSI params inter final, or None to drop it."""
    if inter:
        if (inter == " " and final in "q@A") or (inter == "!" and final == "p"):  # cursor style, soft reset
            return f"\x1b[{params}{inter}{final}"
        return None
    if params[:1] == "?":
        if final in "JK":  # selective erase
            return f"\x1b[{params}{final}"
        if final in "hl":
            kept = _modes(params[1:], DEC_MODES)
            return f"\x1b[?{';'.join(kept)}{final}" if kept else None
        return None
    if params[:1] in ("<", "=", ">") or not set(params) <= set("0123456789;:"):
        return None
    if final in _DRAWING or (final == "u" and not params) or (final == "T" and ";" not in params):
        return f"\x1b[{params}{final}"
    if final in "hl":
        kept = _modes(params, ANSI_MODES)
        return f"\x1b[{';'.join(kept)}{final}" if kept else None
    return None


class Sanitizer:
    """Output on its way to the reviewer's terminal, packet by packet: sequences that only draw pass,
    all others are dropped and counted in `dropped`. Sequences and characters split across packets are
    joined first."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._held = ""
        self._in_string = False  # inside an OSC/DCS/... string whose end has not come yet
        self.dropped = 0

    def feed(self, data: bytes) -> bytes:
        return self._clean(self._held + self._decoder.decode(data))

    def finish(self) -> bytes:
        return self._clean(self._held + self._decoder.decode(b"", True), final=True)

    def _clean(self, text: str, final: bool = False) -> bytes:
        self._held = ""
        if self._in_string:
            end = _STRING_END.search(text)
            if end is None:
                return b""
            if end.group() == "\x1b" and end.end() == len(text) and not final:
                self._held = "\x1b"  # perhaps the start of ST
                return b""
            self._in_string = False
            text = text[end.start() :] if end.group() == "\x1b" else text[end.end() :]  # ESC ends it too
        if not final:
            partial = _PARTIAL.search(text)
            if partial and partial.end() - partial.start() <= HOLD_MAX:
                self._held = partial.group()
                text = text[: partial.start()]
        if not ("\x1b" in text or "\x05" in text or not text.isascii()):
            return text.encode()
        return _CONTROLS.sub(self._replace, text).encode("utf-8", "surrogateescape")

    def _replace(self, match: re.Match) -> str:
        if match.group("csi"):
            kept = _csi(match.group("params"), match.group("inter"), match.group("final"))
        elif match.group("esc"):
            inter, final = match.group("esc_inter"), match.group("esc_final")
            ok = (not inter and final in _ESC_FINALS) or (len(inter) == 1 and inter in _CHARSETS)
            ok = ok or (inter == "#" and final in "34568")
            kept = match.group() if ok else None
        else:
            if match.group("string") and match.group("end") is None and match.end() == len(match.string):
                self._in_string = True
            kept = None
        if kept is None:
            self.dropped += 1
            return ""
        return kept


class KeyDecoder:
    """Bytes from the reviewer's terminal to playback keys. Everything the terminal sends as a sequence
    (ESC or C1 introduced: replies, mouse and focus reports, function keys, Alt+key) is dropped, across
    reads; a sequence unfinished for a second is given up. `waiting` is true after a lone ESC, which may
    still begin one: the caller gives the terminal a moment, then calls `timeout()`."""

    BASE, ESC, CSI, SS3, STRING, STRING_ESC, MOUSE = range(7)

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.state = self.BASE
        self.since = 0.0
        self.mouse_left = 0
        self.utf8_left = 0  # continuation bytes of a typed character still to come

    @property
    def waiting(self) -> bool:
        return self.state == self.ESC

    def timeout(self) -> None:
        self.state = self.BASE

    def feed(self, data: bytes) -> str:
        if self.state != self.BASE and self.clock() - self.since > 1.0:
            self.state = self.BASE
        keys = []
        for byte in data:
            state = self.state
            if state == self.BASE:
                if self.utf8_left and 0x80 <= byte < 0xC0:
                    self.utf8_left -= 1
                    continue
                self.utf8_left = 0
                if byte == 0x1B:
                    self._begin(self.ESC)
                elif byte == 0x9B:
                    self._begin(self.CSI)
                elif byte == 0x8F:
                    self._begin(self.SS3)
                elif byte in (0x90, 0x98, 0x9D, 0x9E, 0x9F):
                    self._begin(self.STRING)
                elif byte >= 0xC0:
                    self.utf8_left = 1 if byte < 0xE0 else 2 if byte < 0xF0 else 3
                elif byte < 0x80:
                    keys.append(chr(byte))
            elif state == self.ESC:
                if byte == 0x5B:
                    self.state = self.CSI
                elif byte == 0x4F:
                    self.state = self.SS3
                elif byte in (0x5D, 0x50, 0x58, 0x5E, 0x5F):
                    self.state = self.STRING
                elif byte != 0x1B:
                    self.state = self.BASE  # ESC x: Alt+x, or a two-character sequence
            elif state == self.CSI:
                if byte == 0x4D and self.mouse_left == 0 and self._csi_empty:
                    self.state, self.mouse_left = self.MOUSE, 3  # X10 mouse report: three raw bytes
                elif 0x40 <= byte <= 0x7E:
                    self.state = self.BASE
                self._csi_empty = False
            elif state == self.SS3:
                self.state = self.BASE
            elif state == self.MOUSE:
                self.mouse_left -= 1
                if self.mouse_left == 0:
                    self.state = self.BASE
            elif state == self.STRING:
                if byte in (0x07, 0x9C):
                    self.state = self.BASE
                elif byte == 0x1B:
                    self.state = self.STRING_ESC
            elif state == self.STRING_ESC:
                self.state = self.BASE if byte == 0x5C else self.STRING
        return "".join(keys)

    _csi_empty = True

    def _begin(self, state: int) -> None:
        self.state = state
        self.since = self.clock()
        self._csi_empty = True
        self.mouse_left = 0
