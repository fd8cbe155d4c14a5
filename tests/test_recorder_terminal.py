"""Playback and the reviewer's terminal: recorded sequences that act on it are not replayed (unless
--raw), and what the terminal sends by itself (replies, reports) is never taken for keys."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.terminal import KeyDecoder, Sanitizer
from tests.recorder_helpers import encode
from tests.test_recorder_keys import Player

ESC = b"\x1b"
DANGEROUS = [
    ESC + b"]52;c;ZWNobyBvd25lZAo=\x07",  # OSC 52: set the clipboard
    ESC + b"]52;c;?" + ESC + b"\\",  # OSC 52 query: the clipboard read back as input
    ESC + b"]0;evil title\x07",  # title (then reported back by CSI 21 t)
    ESC + b"]4;1;?\x07",  # colour palette query
    ESC + b"]11;?" + ESC + b"\\",  # background colour query
    ESC + b"]1337;File=name=eA==:eA==\x07",  # iTerm2 file download
    ESC + b"P$qm" + ESC + b"\\",  # DCS DECRQSS: status string reply
    ESC + b"Ptmux;" + ESC + ESC + b"]52;c;eA==\x07" + ESC + b"\\",  # DCS passthrough to an outer terminal
    ESC + b"_Gf=100,t=f;L2V0Yy9wYXNzd2Q=" + ESC + b"\\",  # APC: kitty graphics from a file
    b"\x05",  # ENQ: answerback
    ESC + b"[6n",  # device status report (cursor position)
    ESC + b"[5n",
    ESC + b"[?6n",
    ESC + b"[c",  # device attributes
    ESC + b"[>c",
    ESC + b"[=c",
    ESC + b"[21t",  # title report
    ESC + b"[14t",  # window size report
    ESC + b"[8;100;300t",  # resize the window
    ESC + b"[>q",  # XTVERSION
    ESC + b"[?2026$p",  # DECRQM
    ESC + b"[?1000h",  # mouse reports
    ESC + b"[?1004h",  # focus reports
    ESC + b"[?2004h",  # bracketed paste
    ESC + b"[?3h",  # 132 columns: resizes the window
    ESC + b"[>1u",  # kitty keyboard protocol
    ESC + b"[?u",
    ESC + b"[>4;2m",  # modifyOtherKeys
    ESC + b"[2h",  # keyboard action mode: locks the keyboard
    ESC + b"[5i",  # media copy: to the printer (or xterm's printerCommand)
    ESC + b"Z",  # DECID
    ESC + b"%@",  # leave UTF-8 mode
    ESC + b" G",  # 8-bit controls in replies
    "\x9b6n".encode(),  # C1 CSI, as UTF-8
    b"\x9b6n",  # C1 CSI, as a single byte
    "\x9d52;c;eA==\x9c".encode(),  # C1 OSC
]
DRAWING = [
    ESC + b"[1;31m",
    ESC + b"[38:2::255:0:0m",
    ESC + b"[0m",
    ESC + b"[H",
    ESC + b"[2J",
    ESC + b"[10;20H",
    ESC + b"[K",
    ESC + b"[?1049h",
    ESC + b"[?25l",
    ESC + b"[?1049l",
    ESC + b"[3 q",
    ESC + b"[1;24r",
    ESC + b"(0",
    ESC + b"(B",
    ESC + b"7",
    ESC + b"8",
    ESC + b"M",
    ESC + b"#8",
    ESC + b"[!p",
    ESC + b"[4h",
    b"\x07",
    "plain é 𝄞 text\r\n".encode(),
]


def sanitize(*packets: bytes) -> tuple[bytes, int]:
    s = Sanitizer()
    out = b"".join(s.feed(p) for p in packets) + s.finish()
    return out, s.dropped


def test_dangerous_sequences_are_dropped_and_drawing_ones_kept() -> None:
    for seq in DANGEROUS:
        out, dropped = sanitize(b"<" + seq + b">")
        assert out == b"<>" and dropped >= 1, seq
    for seq in DRAWING:
        assert sanitize(b"<" + seq + b">") == (b"<" + seq + b">", 0), seq


def test_mixed_modes_keep_only_the_display_ones() -> None:
    assert sanitize(ESC + b"[?1049;1000;25h") == (ESC + b"[?1049;25h", 0)
    assert sanitize(ESC + b"[?1000;1006h")[0] == b""


def test_sequences_split_across_packets() -> None:
    data = b"a" + ESC + b"[1;31mb" + ESC + b"]52;c;eA==\x07c" + ESC + b"[6nd" + ESC + b"]0;t" + ESC + b"\\e"
    whole = sanitize(data)
    assert whole == (b"a" + ESC + b"[1;31mbcde", 3)
    for cut in range(len(data) + 1):
        assert sanitize(data[:cut], data[cut:]) == whole, cut
    assert sanitize(*(data[i : i + 1] for i in range(len(data)))) == whole


def test_an_escape_inside_a_string_ends_it_like_a_terminal_does() -> None:
    # xterm aborts an OSC at an ESC that does not start ST, and runs what follows: here a status query.
    assert sanitize(ESC + b"]0;t" + ESC + b"[6nrest") == (b"rest", 2)
    assert sanitize(ESC + b"]0;t" + ESC + b"[1mrest") == (ESC + b"[1mrest", 1)


def test_an_unterminated_string_swallows_only_itself() -> None:
    s = Sanitizer()
    assert s.feed(b"x" + ESC + b"]52;c;") == b"x"
    assert s.feed(b"more base64" * 1000) == b""
    assert s.feed(b"end\x07after") == b"after"


_SEQ = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[ -/]*[0-~]")


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*DANGEROUS, *DRAWING, ESC, b"[", b"]", b"P", b"\x07", b"\\", b"6n", b"\x9b", b"\xc2"]
        )
        | st.binary(max_size=8),
        max_size=12,
    ),
    st.integers(0, 200),
)
def test_output_only_ever_holds_drawing_sequences(pieces: list[bytes], cut: int) -> None:
    data = b"".join(pieces)
    out, _ = sanitize(data[:cut], data[cut:])
    assert sanitize(out) == (out, 0)  # nothing left to drop: the output is its own sanitized form
    assert b"\x05" not in out
    text = out.decode("utf-8", "surrogateescape")
    assert not re.search("[\x80-\x9f\udc80-\udc9f]", text)  # no C1 controls
    for match in re.finditer(rb"\x1b", out):
        seq = _SEQ.match(out, match.start())
        assert seq is not None and sanitize(seq.group()) == (seq.group(), 0)


# -- keys -------------------------------------------------------------------------------------------

REPLIES = [
    ESC + b"[12;1R",  # cursor position report
    ESC + b"[?1;2c",  # device attributes
    ESC + b"[>0;276;0c",
    ESC + b"]l q quit p pause 9999G" + ESC + b"\\",  # a title report carrying keys
    ESC + b"]11;rgb:0000/0000/0000\x07",
    ESC + b"P1$r0;1m" + ESC + b"\\",  # DECRQSS reply
    ESC + b"[I",  # focus in
    ESC + b"[M qG",  # X10 mouse report
    ESC + b"[<0;10;5M",  # SGR mouse report
    ESC + b"OA",  # cursor key
    ESC + b"[15~",  # F5
    b"\x9b12;1R",
]


def test_terminal_replies_are_not_keys() -> None:
    for reply in REPLIES:
        assert KeyDecoder().feed(b"a" + reply + b"b") == "ab", reply
    keys = KeyDecoder()
    for reply in REPLIES:  # across reads, one byte at a time
        assert "".join(keys.feed(reply[i : i + 1]) for i in range(len(reply))) == "", reply
    assert KeyDecoder().feed("é q".encode()) == " q"  # a typed character's bytes are not C1 controls


def test_a_lone_escape_then_keys() -> None:
    keys = KeyDecoder()
    assert keys.feed(ESC) == "" and keys.waiting
    keys.timeout()
    assert keys.feed(b"q") == "q"


def test_random_replies_never_yield_keys() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        reply = rng.choice(REPLIES)
        cut = rng.randrange(len(reply) + 1)
        keys = KeyDecoder()
        assert keys.feed(reply[:cut]) + keys.feed(reply[cut:]) == ""


# -- end to end ---------------------------------------------------------------------------------------


def test_play_does_not_replay_what_acts_on_the_terminal(tmp_path: Path) -> None:
    path = tmp_path / "attack.log"
    attack = b"".join(DANGEROUS)
    path.write_bytes(encode([("o", b"before "), ("o", attack), ("o", b" after")]))
    player = Player("-i", str(path), "-g", "end")
    assert player.exit_status(20) == 0
    assert b"before  after" in player.out
    assert b"]52" not in player.out and b"\x05" not in player.out and b"[6n" not in player.out
    assert b"escape sequences that act on the terminal were not replayed (--raw replays them)" in player.out
    raw = Player("-i", str(path), "-g", "end", "--raw")
    assert raw.exit_status(20) == 0
    assert ESC + b"]52;c;ZWNobyBvd25lZAo=\x07" in raw.out


def test_replies_arriving_during_playback_are_not_keys(tmp_path: Path) -> None:
    """The reviewer's terminal answers (here: a title report carrying `q`, `p` and `9999G`, a position
    report, mouse reports); playback goes on in recorded time, and a real `q` still quits."""
    path = tmp_path / "slow.log"
    path.write_bytes(encode([("o", b"first"), ("o", b"second"), ("o", b"third")], step=1.5))
    player = Player("-i", str(path))
    player.cbreak()
    player.read_until(b"first", 10)
    start = time.monotonic()
    for reply in REPLIES:
        player.send(reply)
    player.read_until(b"second", 10)
    assert time.monotonic() - start > 1.0  # neither paused, nor jumped, nor quit
    player.send(b"q")
    assert player.exit_status(10) == 0
    assert b"third" not in player.out
