"""Start, end and drop records: written by the recorder, shown by list and play, checked by --verify, and
harmless to tlog-play (ordinary messages with an empty timing and a field tlog ignores)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.recorder_helpers import ROOT, read_to_end, sessrec, sessrec_argv, tlog_play


def _records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_bytes().splitlines()]


def _list(*args: str) -> list[dict]:
    result = sessrec("list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_start_and_end_records(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    result = sessrec("record", "-o", str(log), "--", "sh", "-c", "echo hello; exit 3")
    assert result.returncode == 3
    records = _records(log)
    first, last = records[0], records[-1]
    assert first["id"] == 1 and first["pos"] == 0 and first["timing"] == ""
    assert first["sessrec"] == {"event": "start", "version": "0.1.0", "mode": "pipes"}
    assert last["timing"] == "" and last["sessrec"] == {"event": "end", "status": 3}
    assert [r["id"] for r in records] == list(range(1, len(records) + 1))
    assert all(set(r) >= {"in_txt", "in_bin", "out_txt", "out_bin", "time", "rec"} for r in records)
    assert tlog_play(log) == b"hello\n"  # tlog-play plays through them
    (row,) = _list("-i", str(log))
    assert (row["state"], row["exit"]) == ("complete", "3")


def test_end_record_names_the_signal(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    result = sessrec("record", "-o", str(log), "--", "sh", "-c", "kill -KILL $$")
    assert result.returncode == 128 + signal.SIGKILL
    assert _records(log)[-1]["sessrec"] == {"event": "end", "status": 137, "signal": "SIGKILL"}
    assert _list("-i", str(log))[0]["exit"] == "SIGKILL"


def test_unknown_command_in_pty_mode(tmp_path: Path) -> None:
    from ptyprocess import PtyProcess

    log = tmp_path / "r.log"
    argv = sessrec_argv("record", "-o", str(log), "--notice", "", "--", "/nonexistent/cmd")
    child = PtyProcess.spawn(argv, cwd=str(ROOT))
    out = read_to_end(child)
    assert child.exitstatus == 127
    assert out.strip() == b"sessrec record: cannot run /nonexistent/cmd: No such file or directory", out
    assert _records(log)[-1]["sessrec"] == {"event": "end", "status": 127}


def test_a_killed_recorder_leaves_a_recording_reported_as_cut_short(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    argv = sessrec_argv("record", "-o", str(log), "--latency", "0.05", "--", "sh", "-c", "echo up; sleep 30")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout.readline() == b"up\n"
    time.sleep(0.3)
    proc.kill()  # SIGKILL: no end record can be written
    proc.wait(timeout=20)
    (row,) = _list("-i", str(log))
    assert row["state"] == "cut-short" and row["exit"] is None
    table = sessrec("list", "-i", str(log)).stdout.decode()
    assert "cut-short" in table.splitlines()[1]
    played = sessrec("play", "-i", str(log), "-g", "end")
    assert played.returncode == 0 and played.stdout == b"up\n"
    assert b"cut short: no end record" in played.stderr


def test_verify_reports_a_recording_cut_short(lab, tmp_path: Path) -> None:
    argv = sessrec_argv("record", "--latency", "0.05", "--", "sh", "-c", "echo up; sleep 30")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout.readline() == b"up\n"
    time.sleep(0.3)
    proc.kill()
    proc.wait(timeout=20)
    rec = [e for e in lab.journal_entries(_PID=str(proc.pid)) if "TLOG_REC" in e][0]["TLOG_REC"]
    result = sessrec("play", "--journal", "--rec", rec, "-g", "end", "--verify")
    assert result.returncode == 1, result.stderr
    assert result.stdout == b"up\n"
    assert (
        result.stderr
        == b"sessrec play: cut short: no end record (the recorder was killed, or is still recording)\n"
    )
    listed = sessrec("list", "--json", "--journal")  # other tests leave invalid entries: exit 1 then
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["state"] for r in rows if r["rec"] == rec] == ["cut-short"]


def test_tlog_recordings_play_without_notes(tmp_path: Path) -> None:
    """tlog-rec writes no start or end records: nothing to report on them (only --verify wants them)."""
    log = tmp_path / "t.log"
    subprocess.run(["tlog-rec", "-w", "file", "-o", str(log), "echo", "hi"], input=b"", capture_output=True)
    result = sessrec("play", "-i", str(log), "-g", "end")
    assert result.returncode == 0 and result.stdout == b"hi\n" and not result.stderr
    assert _list("-i", str(log))[0]["state"] == "-"


# -- drops --------------------------------------------------------------------------------------------


def dropping_session(log: Path, lines: int, *extra: str) -> subprocess.CompletedProcess:
    """`sessrec record` of `lines` lines of output under a rate limit that drops most of them."""
    script = (
        f"i=0; while [ $i -lt {lines} ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"
    )
    limits = ["--payload", "256", "--rate", "2000", "--burst", "1000", "--limit-action", "drop"]
    return sessrec("record", "-o", str(log), *extra, *limits, "--latency", "0.01", "--", "sh", "-c", script)


def test_drops_are_recorded_and_shown(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    result = dropping_session(log, 400)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(b"\n") == 400  # the session lost nothing; the log did
    records = _records(log)
    drops = [r["sessrec"] for r in records if r.get("sessrec", {}).get("event") == "drop"]
    assert drops
    for drop in drops:
        assert drop["messages"] >= 1 and drop["bytes"] > 0 and drop["from"] <= drop["to"]
    end = records[-1]["sessrec"]
    assert end["dropped_messages"] == sum(d["messages"] for d in drops)
    assert end["dropped_bytes"] == sum(d["bytes"] for d in drops)
    assert [r["id"] for r in records] == list(range(1, len(records) + 1))  # no id gaps: no --lax
    (row,) = _list("-i", str(log))
    assert row["dropped_messages"] == end["dropped_messages"] and row["dropped_bytes"] == end["dropped_bytes"]
    table = sessrec("list", "-i", str(log)).stdout.decode().splitlines()
    assert table[1].split()[-1] == f"{end['dropped_bytes']}B/{end['dropped_messages']}"
    played = sessrec("play", "-i", str(log), "-g", "end")
    assert played.returncode == 0
    assert played.stderr.count(b"dropped by the rate limit at 0:00:") == len(drops)
    assert tlog_play(log) == played.stdout
    cast = sessrec("export", "-i", str(log))
    markers = [json.loads(line) for line in cast.stdout.splitlines()[1:] if json.loads(line)[1] == "m"]
    assert len(markers) == len(drops) and "dropped by the rate limit" in markers[0][2]


@pytest.mark.parametrize(
    "args",
    [
        ["--rate", "100", "--burst", "100", "--limit-action", "drop"],
        ["--rate", "0", "--burst", "100000", "--limit-action", "drop"],
        ["--rate", "1000", "--burst", "1000", "--payload", "2048", "--limit-action", "delay"],
    ],
)
def test_options_that_would_drop_everything_are_refused(tmp_path: Path, args: list[str]) -> None:
    marker = tmp_path / "ran"
    result = sessrec("record", "-o", str(tmp_path / "r.log"), *args, "--", "touch", str(marker))
    assert result.returncode == 2
    assert result.stderr.startswith(b"sessrec record: --rate") and result.stderr.count(b"\n") == 1
    assert not marker.exists()


def cockpit_errors(lines: list[bytes]) -> list[str]:
    """The errors Cockpit's player would report for these messages: its parseMessage/parseMessageData rules
    (cockpit-session-recording src/player.jsx): `ver` matches ^\\d+\\.\\d+$ with major <= 2, ids increase,
    the timing matches its sticky record expression to the end, text is sliced in UTF-16 code units and
    must be used up exactly."""
    import re

    record = re.compile(r"\+(\d+)|<(\d+)|\[(\d+)/(\d+)|>(\d+)|\](\d+)/(\d+)|=(\d+)x(\d+)|$")
    errors, last_id = [], 0
    for line in lines:
        m = json.loads(line)
        ver = re.fullmatch(r"(\d+)\.(\d+)", m["ver"])
        if not ver or int(ver.group(1)) > 2:
            errors.append("ver")
        if m["id"] <= last_id:
            errors.append("id")
        last_id = m["id"]
        units = {k: m[k].encode("utf-16-le", "surrogatepass") for k in ("in_txt", "out_txt")}
        used, at = {"in_txt": 0, "out_txt": 0}, 0
        while True:
            match = record.match(m["timing"], at)
            if match is None:
                errors.append("invalid timing string")
                break
            if match.group() == "":
                break
            at = match.end()
            kind, number = match.group()[0], int(next(g for g in match.groups() if g is not None))
            field = {"<": "in_txt", "[": "in_txt", ">": "out_txt", "]": "out_txt"}.get(kind)
            if field and number:
                used[field] += number
                if 2 * used[field] > len(units[field]):
                    errors.append("timing entry out of bounds")
        for field, count in used.items():
            if 2 * count < len(units[field]):
                errors.append(f"extra {field} present")
    return errors


def test_records_do_not_break_cockpit_playback(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    assert dropping_session(log, 300, "--input").returncode == 0
    lines = log.read_bytes().splitlines()
    events = [json.loads(line).get("sessrec", {}).get("event") for line in lines]
    assert events[0] == "start" and events[-1] == "end" and "drop" in events
    assert cockpit_errors(lines) == []
    assert cockpit_errors([lines[0].replace(b'"timing":""', b'"timing":">1"')]) == [
        "timing entry out of bounds"
    ]
