"""Byte-exact interoperability with Debian's tlog 12.1, both ways."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.recorder_helpers import encode, run_on_pty, sessrec, tlog_play

SAMPLES = [
    b"plain ascii\r\n",
    "déjà vu – 日本語 текст\r\n".encode(),
    "astral 𝄞 😀 \U0010ffff\r\n".encode(),
    b"invalid \xff \xc3 \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf end\r\n",
    b'controls \x00\x01\x07\x08\t\x0b\x0c\x1b[1;31m\x1b]0;title\x07\x7f " \\ \r\n',
]


@pytest.mark.parametrize("payload", [32, 33, 100, 2048, 65536])
def test_ours_played_by_tlog_play(tmp_path: Path, payload: int) -> None:
    events = [("w", (80, 24))]
    for n, sample in enumerate(SAMPLES * 3):
        events.append(("o", sample))
        events.append(("i", sample[: n + 1]))
        if n % 4 == 0:
            events.append(("w", (80 + n, 24 + n)))
    events.append(("o", bytes(range(256)) * 20))  # a binary flood
    log = encode(events, payload=payload)
    path = tmp_path / "ours.log"
    path.write_bytes(log)
    expected = b"".join(d for k, d in events if k == "o")
    assert len(log.splitlines()) >= (1 if payload == 65536 else 10)
    assert tlog_play(path) == expected
    result = sessrec("play", "-i", str(path), "--raw", "--goto", "end")
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_many_messages_large_output(tmp_path: Path) -> None:
    data = "line: é𝄞 \x1b[0m\r\n".encode()
    chunks = [(f"{n:06d} ".encode() + data) * 30 for n in range(200)]
    log = encode([("o", c) for c in chunks], payload=256)
    path = tmp_path / "big.log"
    path.write_bytes(log)
    assert len(log.splitlines()) > 500
    assert tlog_play(path) == b"".join(chunks)


def _tlog_rec(tmp_path: Path, script: str, *options: str, pty_out: bool = False) -> Path:
    """Record `sh -c script` with tlog-rec: stdin a held-open pipe, output a pipe or a 100x30 PTY."""
    log = tmp_path / "tlog.log"
    argv = ["tlog-rec", "-w", "file", "-o", str(log), *options, "sh", "-c", script]
    if not pty_out:
        # stdin stays open until tlog-rec is done: with it closed at once, tlog-rec 12.1 sometimes ends
        # before the command's output arrives and logs nothing.
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            rc = proc.wait(timeout=30)
            err = proc.stderr.read()
        finally:
            proc.stdin.close()
            proc.stderr.close()
        assert rc == 0, err
        return log
    run_on_pty(argv, tty_stdin=False)  # exits 129 here: it fails removing its utmp record after logging
    return log


def _printf(data: bytes) -> str:
    return "printf '" + "".join(f"\\{b:03o}" for b in data) + "'"


def test_tlog_rec_played_by_us(tmp_path: Path) -> None:
    data = b"".join(SAMPLES) * 50 + bytes(range(256))
    log = _tlog_rec(tmp_path, _printf(data), "--payload=64")
    assert len(log.read_bytes().splitlines()) > 50
    result = sessrec("play", "-i", str(log), "--raw", "--goto", "end")
    assert result.returncode == 0, result.stderr
    assert result.stdout == data


def test_tlog_rec_pty_window_and_output(tmp_path: Path) -> None:
    data = "size é𝄞".encode() + b"\xff\x1b[0m"
    log = _tlog_rec(tmp_path, _printf(data), pty_out=True)
    first = json.loads(log.read_bytes().splitlines()[0])
    assert first["timing"].startswith("=100x30")
    result = sessrec("play", "-i", str(log), "--raw", "-g", "end")
    assert result.returncode == 0, result.stderr
    assert result.stdout == data


def test_sessrec_record_played_by_tlog_play(tmp_path: Path) -> None:
    data = b"".join(SAMPLES) * 20
    log = tmp_path / "rec.log"
    result = sessrec("record", "-o", str(log), "--payload", "100", "--", "sh", "-c", _printf(data))
    assert result.returncode == 0, result.stderr
    assert result.stdout == data
    assert tlog_play(log) == data


PIECES = [
    b"x",
    b"word ",
    "é".encode(),
    "日本".encode(),
    "𝄞".encode(),
    b"\r\n",
    b"\t",
    b'"',
    b"\\",
    b"\x1b[0m",
]
PIECES += [b"\x00", b"\x7f", b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9d\x84", b"\xed\xa0\x80", b"\xc0\xaf"]


def _sample(rng, size: int) -> bytes:
    """Text with escapes, multi-byte and astral characters and invalid sequences, but not so much binary that
    our encoder takes it for a binary flood (a deliberate difference): mostly printable, an invalid
    sequence at most every 32 characters."""
    while True:
        out = bytearray()
        while len(out) < size:
            piece = rng.choice(PIECES[:10]) if rng.random() < 0.97 else rng.choice(PIECES[10:])
            out += piece * rng.choice((1, 1, 1, 3, 20)) if len(piece) == 1 else piece
        data = bytes(out[:size])
        text = data.decode("utf-8", "surrogateescape")
        invalid = sum(1 for c in text if "\udc80" <= c <= "\udcff")
        printable = len(data) - len(data.translate(None, bytes(range(0x20, 0x7F)) + b"\t\n\r"))
        if len(data) < 512 or (printable * 2 >= len(data) and invalid * 32 <= len(text)):
            return data


def _body_fields(lines: list[bytes]) -> list[tuple]:
    return [
        (m["timing"], m["in_txt"], m["in_bin"], m["out_txt"], m["out_bin"]) for m in map(json.loads, lines)
    ]


def test_message_cuts_match_tlog_rec(tmp_path: Path) -> None:
    """tlog-rec (the oracle) and our encoder cut the same output into the same messages at any payload:
    each character or invalid sequence goes in while it fits with its record's growth (`--payload 64` on
    250 `x`: `>61` four times, then `>6`)."""
    import random

    from recorder.tlogformat import Encoder, Framer
    from tests.recorder_helpers import META

    rng = random.Random(2024)
    cases = [(b"x" * 250, 64)] + [
        (_sample(rng, rng.randint(1, 3000)), rng.choice((32, 33, 47, 64, 100, 257, 1000))) for _ in range(40)
    ]
    for data, payload in cases:
        log = _tlog_rec(tmp_path, _printf(data), f"--payload={payload}")
        theirs = _body_fields(log.read_bytes().splitlines())
        enc = Encoder(payload)
        enc.output(0.0, data)
        enc.finish()
        framer = Framer(META)
        ours = _body_fields([framer.frame(b)[1] for b in enc.take()])
        assert ours == theirs, (data[:60], payload)
        log.unlink()
    assert [t[0] for t in _body_fields(encode([("o", b"x" * 250)], payload=64).splitlines())] == [
        ">61"
    ] * 4 + [">6"]


def test_reader_takes_the_first_object_of_a_line_like_tlog_play(tmp_path: Path) -> None:
    """tlog-play parses the first JSON value of a line and ignores the rest of it (a second object, junk);
    leading blanks and blank lines are skipped."""
    lines = encode([("o", b"one " * 10), ("o", b"two")], payload=32).splitlines()
    assert len(lines) == 2
    lines[0] = b" \t" + lines[0] + b'{"ver":"2.3","other":1} junk\n'
    lines[1] += b"\xff trailing"
    path = tmp_path / "extra.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert tlog_play(path) == b"one " * 10 + b"two"
    result = sessrec("play", "-i", str(path), "-g", "end")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"one " * 10 + b"two"


GOTO_FORMS = [
    *("start", "end", "START", "End", "1:", "10:", "1::", ":1", "::1", ":", ".", "", " 1 ", "\t2\n", ":::"),
    *("1.5", "1.", "1:.5", ".999999999", "1:2:3", "01:02:03.004", "9223372036854775807"),
    *("153722867280912930:7", "2562047788015215:0:0"),  # LONG_MAX seconds exactly
    *("1 2", ".1000000000", "1:2:3:4", "::::", "1.2.3", ".5:1", "-1", "+1", "1e3", "0x10", "soon"),
    *("9223372036854775808", "153722867280912931:0", "2562047788015216::", "١"),  # past LONG_MAX, Arabic 1
]


def test_goto_forms_accepted_exactly_as_tlog_play_does(tmp_path: Path) -> None:
    import os
    import pty

    path = tmp_path / "g.log"
    path.write_bytes(encode([("o", b"a"), ("o", b"b")]))
    for form in GOTO_FORMS:
        master, slave = pty.openpty()
        theirs = subprocess.run(
            ["tlog-play", "-r", "file", "-i", str(path), "-g", form],
            stdin=slave,
            capture_output=True,
            timeout=30,
        )
        os.close(master)
        os.close(slave)
        ours = sessrec("play", "-i", str(path), "-g", form)
        assert (ours.returncode == 0) == (theirs.returncode == 0), (form, ours.stderr, theirs.stderr)
        assert ours.returncode in (0, 2) and b"Traceback" not in ours.stderr


def test_goto_values() -> None:
    from recorder.player import END, parse_goto

    assert parse_goto("1:") == 60_000 and parse_goto("10:") == 600_000 and parse_goto("1::") == 3_600_000
    assert parse_goto(":1") == parse_goto("::1") == 1000 and parse_goto(":") == parse_goto(".") == 0
    assert parse_goto("") == 0 and parse_goto("1:.5") == 60_500 and parse_goto("01:02:03.004") == 3_723_004
    assert parse_goto(".0004") == 1  # rounded up: the packet at 1 ms is the first not skipped
    assert parse_goto("153722867280912930:7") == (2**63 - 1) * 1000 and parse_goto("END") == END
