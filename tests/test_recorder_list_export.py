"""`sessrec list` and `sessrec export`: files with interleaved recordings, the journal, asciicast and text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from recorder.tlogformat import Encoder, Framer, Meta
from recorder.writers import JournalWriter
from tests.recorder_helpers import ROOT, encode_bodies, run_on_pty, sessrec

START_MS = 1_700_000_000_000


def _log(meta: Meta, events: list[tuple[float, str, object]], payload: int = 64) -> list[bytes]:
    """Lines of a recording of (seconds, 'o'|'i'|'w', data) events."""
    framer = Framer(meta, START_MS)
    return [framer.frame(body)[1] for body in encode_bodies(Encoder(payload), events)]


def _cast(output: bytes) -> tuple[dict, list[list]]:
    lines = output.decode().splitlines()
    header, events = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert header["version"] == 2
    times = [e[0] for e in events]
    assert times == sorted(times)
    assert all(isinstance(e[0], int | float) and e[1] in "oir" and isinstance(e[2], str) for e in events)
    return header, events


def _list(*args: str, status: int = 0) -> list[dict]:
    result = sessrec("list", "--json", *args)
    assert result.returncode == status, result.stderr
    assert result.stderr.count(b"\n") == status  # one line about invalid messages
    return [json.loads(line) for line in result.stdout.splitlines()]


# -- list ---------------------------------------------------------------------------------------------


def test_list_groups_interleaved_recordings(tmp_path: Path) -> None:
    one = _log(
        Meta("h1.example", "rec-a", "alice", "xterm", 5), [(0, "o", b"a" * 100), (2.5, "o", b"b" * 100)]
    )
    two = _log(Meta("h2.example", "rec-b", "bob", "vt100", 6), [(0, "o", b"c" * 100), (1, "o", b"d" * 50)])
    assert len(one) >= 4 and len(two) >= 3
    mixed = [line for pair in zip(one, two, strict=False) for line in pair] + one[len(two) :]
    path = tmp_path / "mixed.log"
    path.write_bytes(b"".join(mixed))
    rows = _list("-i", str(path))
    assert [r["rec"] for r in rows] == ["rec-a", "rec-b"]
    a, b = rows
    assert (a["user"], a["host"], b["user"], b["host"]) == ("alice", "h1.example", "bob", "h2.example")
    assert a["messages"] == len(one) and b["messages"] == len(two)
    assert a["size"] == sum(map(len, one)) and b["size"] == sum(map(len, two))
    assert a["duration"] == 2.5 and b["duration"] == 1.0
    assert datetime.fromisoformat(a["start"]).timestamp() == START_MS / 1000
    table = sessrec("list", "-i", str(path)).stdout.decode().splitlines()
    header = ["REC", "USER", "HOST", "START", "DURATION", "SIZE", "MESSAGES", "STATE", "EXIT", "DROPPED"]
    assert table[0].split() == header
    assert table[1].split()[:2] == ["rec-a", "alice"] and table[1].split()[4:] == [
        "0:00:02.500",
        str(a["size"]),
        str(len(one)),
        "-",  # no start record (as tlog writes them)
        "-",
        "-",
    ]
    # The file's recordings play and export one at a time.
    played = sessrec("play", "-i", str(path), "--rec", "rec-b", "-g", "end")
    assert played.returncode == 0 and played.stdout == b"c" * 100 + b"d" * 50 and not played.stderr
    first = sessrec("export", "--format", "text", "-i", str(path))
    assert first.returncode == 0 and first.stdout == b"a" * 100 + b"b" * 100
    assert f"skipped {len(two)} messages of other recordings".encode() in first.stderr


def test_list_skips_and_counts_invalid_lines(tmp_path: Path) -> None:
    good = _log(Meta("h", "rec-ok", "u", "", 1), [(0, "o", b"fine")])
    path = tmp_path / "damaged.log"
    path.write_bytes(b"".join(good) + b'{"ver":"2.3","truncated\n' + b"".join(good))
    result = sessrec("list", "-i", str(path))
    assert result.returncode == 1
    prefix = f"sessrec list: 1 invalid message skipped; the first: {path} line 2: incomplete message object"
    assert result.stderr.startswith(prefix.encode()) and result.stderr.count(b"\n") == 1
    assert result.stdout.splitlines()[1].split()[0] == b"rec-ok"
    assert [r["messages"] for r in _list("-i", str(path), status=1)] == [2]


def test_list_two_recorders_appending_to_one_file(tmp_path: Path) -> None:
    log = tmp_path / "shared.log"
    argv = [sys.executable, "-m", "recorder", "record", "-o", str(log), "--latency", "0.001", "--"]
    script = "for i in 1 2 3 4 5 6; do echo {0}$i; sleep 0.05; done"
    procs = [
        subprocess.Popen([*argv, "sh", "-c", script.format(n)], stdout=subprocess.DEVNULL, cwd=ROOT)
        for n in ("x", "y")
    ]
    assert [p.wait(timeout=30) for p in procs] == [0, 0]
    recs = [json.loads(line)["rec"] for line in log.read_bytes().splitlines()]
    rows = _list("-i", str(log))
    assert sorted(r["rec"] for r in rows) == sorted(set(recs)) and len(rows) == 2
    assert sorted(r["messages"] for r in rows) == sorted(recs.count(r) for r in set(recs))
    for row in rows:
        played = sessrec("play", "-i", str(log), "--rec", row["rec"], "-g", "end")
        assert played.returncode == 0, played.stderr
        assert played.stdout.decode().split() in (
            ["x1", "x2", "x3", "x4", "x5", "x6"],
            [f"y{i}" for i in range(1, 7)],
        )


def test_list_journal_uses_tlog_rec(lab) -> None:
    print_rec = (
        f"{sys.executable} -c 'import sys; from recorder.identity import rec_id; "
        "print(rec_id(int(sys.argv[1])))' $PPID"
    )
    recs = []
    for text in ("first", "second"):
        script = f"cd {ROOT}; {print_rec}; echo {text}; sleep 0.2; echo done"
        result = sessrec("record", "--writer", "journal", "--latency", "0.05", "--", "sh", "-c", script)
        assert result.returncode == 0, result.stderr
        recs.append(result.stdout.split(b"\n")[0].decode())
    corrupt = f"corrupt-{os.getpid()}"
    JournalWriter(Meta("h", corrupt, "root", "", 1)).write([(1, b"{}\n")])
    rows = {r["rec"]: r for r in _list("--journal", status=1)}
    assert rows[corrupt]["invalid"] == 1 and rows[corrupt]["messages"] == 0
    for rec in recs:
        entries = lab.journal_entries(TLOG_REC=rec)
        messages = [bytes(m) if isinstance(m, list) else m.encode() for m in (e["MESSAGE"] for e in entries)]
        row = rows[rec]
        assert row["user"] == "root" and row["messages"] == len(entries) >= 2 and row["invalid"] == 0
        assert row["size"] == sum(map(len, messages))
        assert 0.15 <= row["duration"] < 5
    assert list(rows).index(recs[0]) < list(rows).index(recs[1])  # sorted by start
    exported = sessrec("export", "--journal", "--rec", recs[1], "--format", "text", "--verify")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == f"{recs[1]}\nsecond\ndone\n".encode()


# -- export -------------------------------------------------------------------------------------------


def _check_against_play(log: Path) -> tuple[dict, list[list]]:
    result = sessrec("export", "-i", str(log))
    assert result.returncode == 0, result.stderr
    header, events = _cast(result.stdout)
    played = sessrec("play", "-i", str(log), "--raw", "--goto", "end")
    assert played.returncode == 0, played.stderr
    assert "".join(e[2] for e in events if e[1] == "o") == played.stdout.decode("utf-8", "replace")
    return header, events


def test_export_sessrec_pty_recording(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    script = "printf 'one \\033[1mbold\\033[0m é\\n'; sleep 0.4; printf 'two \\377 𝄞\\n'"
    argv = [sys.executable, "-m", "recorder", "record", "-o", str(log), "--notice", "", "--payload", "40"]
    run_on_pty([*argv, "--", "sh", "-c", script])
    assert len(log.read_bytes().splitlines()) >= 3
    header, events = _check_against_play(log)
    assert (header["width"], header["height"]) == (100, 30)
    first = json.loads(log.read_bytes().splitlines()[0])
    assert header["timestamp"] == int(first["time"]) and first["rec"] in header["title"]
    output = "".join(e[2] for e in events if e[1] == "o")
    assert "one \x1b[1mbold\x1b[0m é\r\n" in output and "two \ufffd 𝄞\r\n" in output
    assert events[-1][0] >= 0.35


def test_export_tlog_rec_recording(tmp_path: Path) -> None:
    log = tmp_path / "tlog.log"
    script = "printf 'tlog \\033[31mred\\033[0m ü\\n'; sleep 0.3; printf 'end\\n'"
    run_on_pty(["tlog-rec", "-w", "file", "-o", str(log), "--payload=40", "sh", "-c", script], False)
    header, events = _check_against_play(log)
    assert (header["width"], header["height"]) == (100, 30)
    assert "".join(e[2] for e in events if e[1] == "o").endswith("end\r\n")
    assert events[-1][0] >= 0.25
    text = sessrec("export", "-i", str(log), "--format", "text", "--strip")
    assert text.returncode == 0 and text.stdout.decode().endswith("tlog red ü\nend\n")


def test_export_input_and_resize_events(tmp_path: Path) -> None:
    events = [(0, "w", (80, 24)), (0.1, "o", b"$ "), (0.5, "i", b"ls\r"), (0.6, "w", (120, 40))]
    events += [(1.25, "o", "é".encode()[:1]), (1.25, "o", "é".encode()[1:] + b"\r\n")]
    path = tmp_path / "r.log"
    path.write_bytes(b"".join(_log(Meta("h", "r", "u", "", 1), events, payload=32)))
    header, cast = _check_against_play(path)
    assert (header["width"], header["height"]) == (80, 24)
    assert "env" not in header and header["timestamp"] == START_MS // 1000
    assert cast == [[0.1, "o", "$ "], [0.5, "i", "ls\r"], [0.6, "r", "120x40"], [1.25, "o", "é\r\n"]]


def test_export_without_window_and_to_a_file(tmp_path: Path) -> None:
    path = tmp_path / "pipe.log"
    result = sessrec("record", "-o", str(path), "--", "sh", "-c", "echo piped")
    assert result.returncode == 0
    out = tmp_path / "out.cast"
    assert sessrec("export", "-i", str(path), "-o", str(out)).returncode == 0
    header, events = _cast(out.read_bytes())
    assert (header["width"], header["height"]) == (80, 24) and [e[1:] for e in events] == [["o", "piped\n"]]


def test_export_text_strip(tmp_path: Path) -> None:
    chunks = [
        b"\x1b]0;title\x07pro",
        b"mpt\x1b[1",
        b";32m$\x1b[0m ls\r",
        b"\n10%\r20%\r\nfile\x1b",
        b"(B\x07\x08\r\n",
    ]
    path = tmp_path / "r.log"
    path.write_bytes(b"".join(_log(Meta("h", "r", "u", "", 1), [(n, "o", c) for n, c in enumerate(chunks)])))
    raw = sessrec("export", "-i", str(path), "--format", "text")
    assert raw.stdout == b"".join(chunks)
    stripped = sessrec("export", "-i", str(path), "--format", "text", "--strip")
    assert stripped.returncode == 0, stripped.stderr
    assert stripped.stdout == b"prompt$ ls\n10%\n20%\nfile\n"


@pytest.mark.parametrize(
    ("args", "content", "message"),
    [
        (["export", "-i", "{path}", "--strip"], b"", b"--strip goes with --format text"),
        (["export", "-i", "{path}", "--verify"], b"", b"--verify needs --journal"),
        (["export", "-i", "{path}"], b"", b"no recording found"),
        (["export", "-i", "{path}"], b'{"ver":"2.3"}\n', b'line 1: message has no "session" field'),
        (["export", "-i", "{path}", "-o", "/nonexistent/x.cast"], b"", b"cannot open /nonexistent/x.cast"),
        (["export", "-i", "/nonexistent.log"], b"", b"cannot open /nonexistent.log"),
        (["export", "--format", "video", "-i", "{path}"], b"", b"argument --format: invalid choice"),
        (["list", "-i", "{path}"], b"[1]\n", b"line 1: message is not a JSON object"),
        (["list", "-i", "{path}"], b"\xff\n", b"line 1: incomplete message object line"),
        (["list", "-i", "/nonexistent.log"], b"", b"cannot open /nonexistent.log"),
        (["list"], b"", b"arguments -i/--input --journal is required"),
    ],
)
def test_bad_input_is_a_one_line_error(
    tmp_path: Path, args: list[str], content: bytes, message: bytes
) -> None:
    path = tmp_path / "bad.log"
    path.write_bytes(content)
    result = sessrec(*(a.format(path=path) for a in args))
    assert result.returncode != 0
    assert message in result.stderr
    assert b"Traceback" not in result.stderr
    if "--format" not in args and len(args) > 1:  # argparse's errors come after a usage line
        assert result.stderr.count(b"\n") == 1


def test_lone_surrogates_in_header_fields(tmp_path: Path) -> None:
    """`"user":"\\ud800"` is valid JSON for a string no UTF-8 can hold: list shows it escaped, --json and
    export keep it as a \\u escape, and all output is valid UTF-8."""
    lines = _log(Meta("h", "rec-s", "u", "", 1), [(0, "o", b"hi")])
    forged = lines[0].replace(b'"user":"u"', b'"user":"\\ud800"').replace(b'"host":"h"', b'"host":"\\udfffx"')
    path = tmp_path / "s.log"
    path.write_bytes(forged + b"".join(lines[1:]))
    table = sessrec("list", "-i", str(path))
    assert table.returncode == 0, table.stderr
    assert "\\ud800" in table.stdout.decode("utf-8") and "\\udfffx" in table.stdout.decode("utf-8")
    (row,) = _list("-i", str(path))
    assert row["user"] == "\ud800" and row["host"] == "\udfffx"
    cast = sessrec("export", "-i", str(path))
    assert cast.returncode == 0, cast.stderr
    header = json.loads(cast.stdout.decode("utf-8").splitlines()[0])
    assert header["title"].startswith("\ud800@\udfffx")
