"""Signals to the recorder, the recorded session's own session, and stopping all of it when writing fails.

The table (recorder/tap.py, docs/recorder.md): SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2 and
SIGALRM are written to the log and passed on to the session; SIGCHLD and (PTY mode) SIGWINCH are the loop's;
every other catchable signal is ignored.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
from ptyprocess import PtyProcess

from recorder import tap
from recorder.tlogformat import OUTPUT, Reader
from tests.recorder_helpers import ROOT, on_small_fs, read_to_end, sessrec_argv


def _records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_bytes().splitlines()]


def _output(log: Path) -> bytes:
    reader = Reader()
    return b"".join(
        p.data for line in log.read_bytes().splitlines() for p in reader.feed(line) if p.kind == OUTPUT
    )


def _wait_for(predicate, timeout: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_the_table_covers_every_catchable_signal() -> None:
    catchable = set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}
    assert set(tap.PASSED_ON) | set(tap.HANDLED) | set(tap.IGNORED) == catchable
    assert not set(tap.PASSED_ON) & set(tap.IGNORED)


@pytest.mark.parametrize("sig", tap.PASSED_ON, ids=lambda s: signal.Signals(s).name)
def test_passed_on_signals_flush_then_reach_the_session(tmp_path: Path, sig: int) -> None:
    """In pipe mode: what is buffered (latency 100 s) is in the log at once, the session's trap runs, the
    recorder ends with the session and writes the end record."""
    log = tmp_path / "r.log"
    name = signal.Signals(sig).name[3:]
    script = f"trap 'echo caught-{name}; exit 7' {name}; echo up; while :; do sleep 0.02; done"
    argv = sessrec_argv("record", "-o", str(log), "--latency", "100", "--", "sh", "-c", script)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout.readline() == b"up\n"
    assert b"up" not in _output(log)
    proc.send_signal(sig)
    _wait_for(lambda: b"up" in _output(log), what="the flush")
    assert proc.wait(timeout=20) == 7
    assert proc.stdout.read() == f"caught-{name}\n".encode()
    assert _output(log).startswith(b"up\n") and f"caught-{name}\n".encode() in _output(log)
    assert _records(log)[-1]["sessrec"] == {"event": "end", "status": 7}


def test_ignored_signals_neither_stop_the_recorder_nor_reach_the_session(tmp_path: Path) -> None:
    log, go = tmp_path / "r.log", tmp_path / "go"
    # The session would die of (or stop at) most of these; it sees none.
    script = f"echo up; while [ ! -e {go} ]; do sleep 0.02; done; echo done"
    argv = sessrec_argv("record", "-o", str(log), "--", "sh", "-c", script)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout.readline() == b"up\n"
    for sig in (*tap.IGNORED, signal.SIGWINCH):
        proc.send_signal(sig)
        time.sleep(0.005)
    time.sleep(0.2)
    state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert proc.poll() is None and state != "T", state
    go.touch()
    assert proc.wait(timeout=20) == 0
    assert _output(log) == b"up\ndone\n"
    assert _records(log)[-1]["sessrec"] == {"event": "end", "status": 0}


def test_signals_in_pty_mode_reach_the_foreground_group(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    script = "trap 'echo caught-INT' INT; trap 'echo caught-HUP; exit 4' HUP; echo up; "
    script += "while :; do sleep 0.02; done"
    argv = sessrec_argv("record", "-o", str(log), "--notice", "", "--", "sh", "-c", script)
    child = PtyProcess.spawn(argv, cwd=str(ROOT), dimensions=(24, 80))
    out = b""
    while b"up" not in out:
        out += child.read(1024)
    recorder = child.pid
    os.kill(recorder, signal.SIGINT)
    while b"caught-INT" not in out:
        out += child.read(1024)
    os.kill(recorder, signal.SIGHUP)
    out = read_to_end(child, out)
    assert child.exitstatus == 4 and b"caught-HUP" in out
    assert _records(log)[-1]["sessrec"] == {"event": "end", "status": 4}


def test_the_session_has_its_own_session_and_no_way_to_the_outer_terminal(tmp_path: Path) -> None:
    """Pipe mode, the recorder started from a terminal (stdin not one): the session leads a session of its
    own, without a controlling terminal, so `echo >/dev/tty` cannot bypass the recording."""
    log = tmp_path / "r.log"
    script = "cut -d' ' -f1,6,7 /proc/$$/stat; echo bypass >/dev/tty || echo no-tty"
    argv = sessrec_argv("record", "-o", str(log), "--", "sh", "-c", script)
    quoted = " ".join(map(shlex.quote, argv))
    child = PtyProcess.spawn(["sh", "-c", f"{quoted} </dev/null; echo status=$?"], cwd=str(ROOT))
    out = read_to_end(child)
    assert b"status=0" in out and b"no-tty" in out and b"bypass" not in out, out
    pid, sid, tty_nr = _output(log).split(b"\n")[0].split()
    assert sid == pid and tty_nr == b"0"  # its own session's leader, no controlling terminal


def test_a_session_that_closes_its_outputs_still_ends_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    script = "echo up; exec >&- 2>&-; trap 'exit 9' TERM; while :; do sleep 0.02; done"
    argv = sessrec_argv("record", "-o", str(log), "--", "sh", "-c", script)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout.readline() == b"up\n"
    time.sleep(0.3)  # its outputs are closed, it goes on
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 9
    assert _records(log)[-1]["sessrec"] == {"event": "end", "status": 9}


def test_a_failed_write_stops_the_whole_session(tmp_path: Path) -> None:
    """The disk fills while the session runs: the recorder exits 74, and a background process in a process
    group of its own (as job control makes them), which would outlive its parent, is stopped as well."""
    fs, pidfile = tmp_path / "fs", tmp_path / "bg.pid"
    fs.mkdir()
    background = "import os, time; os.setpgid(0, 0); time.sleep(300)"  # a process group of its own
    script = f"python3 -c '{background}' & echo $! > {pidfile}; sleep 0.2; while :; do echo flood; done"
    argv = sessrec_argv("record", "-o", str(fs / "r.log"), "--latency", "0.05", "--", "sh", "-c", script)
    result = subprocess.run(on_small_fs(fs, argv), capture_output=True, timeout=60, cwd=ROOT)
    assert result.returncode == 74, result.stderr
    assert result.stderr.count(b"\n") == 1 and b"session terminated" in result.stderr
    background = int(pidfile.read_text())
    _wait_for(lambda: not Path(f"/proc/{background}").exists(), 10, "the background job to end")


def test_a_full_disk_stops_the_session_before_it_runs(tmp_path: Path) -> None:
    fs, marker = tmp_path / "fs", tmp_path / "ran"
    fs.mkdir()
    argv = sessrec_argv("record", "-o", str(fs / "r.log"), "--", "sh", "-c", f"touch {marker}")
    result = subprocess.run(on_small_fs(fs, argv, fill=True), capture_output=True, timeout=60, cwd=ROOT)
    assert result.returncode == 74, result.stderr
    assert b"not starting an unrecorded session" in result.stderr and result.stderr.count(b"\n") == 1
    assert not marker.exists()
