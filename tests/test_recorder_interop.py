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
    result = sessrec("play", "-i", str(path), "--goto", "end")
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
        proc = subprocess.run(argv, capture_output=True, timeout=30, input=b"")
        assert proc.returncode == 0, proc.stderr
        return log
    run_on_pty(argv, tty_stdin=False)  # exits 129 here: it fails removing its utmp record after logging
    return log


def _printf(data: bytes) -> str:
    return "printf '" + "".join(f"\\{b:03o}" for b in data) + "'"


def test_tlog_rec_played_by_us(tmp_path: Path) -> None:
    data = b"".join(SAMPLES) * 50 + bytes(range(256))
    log = _tlog_rec(tmp_path, _printf(data), "--payload=64")
    assert len(log.read_bytes().splitlines()) > 50
    result = sessrec("play", "-i", str(log), "--goto", "end")
    assert result.returncode == 0, result.stderr
    assert result.stdout == data


def test_tlog_rec_pty_window_and_output(tmp_path: Path) -> None:
    data = "size é𝄞".encode() + b"\xff\x1b[0m"
    log = _tlog_rec(tmp_path, _printf(data), pty_out=True)
    first = json.loads(log.read_bytes().splitlines()[0])
    assert first["timing"].startswith("=100x30")
    result = sessrec("play", "-i", str(log), "-g", "end")
    assert result.returncode == 0, result.stderr
    assert result.stdout == data


def test_sessrec_record_played_by_tlog_play(tmp_path: Path) -> None:
    data = b"".join(SAMPLES) * 20
    log = tmp_path / "rec.log"
    result = sessrec("record", "-o", str(log), "--payload", "100", "--", "sh", "-c", _printf(data))
    assert result.returncode == 0, result.stderr
    assert result.stdout == data
    assert tlog_play(log) == data
