"""`sessrec record` and `sessrec play` end to end: pipes, PTY, signals, fail-closed, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from ptyprocess import PtyProcess

from recorder.tlogformat import INPUT, OUTPUT, WINDOW, Reader
from tests.recorder_helpers import ROOT, encode, on_small_fs, read_to_end, sessrec, sessrec_argv


def packets(log: Path):
    reader = Reader()
    return [p for line in log.read_bytes().splitlines() for p in reader.feed(line)]


def test_pipe_mode_keeps_stdout_and_stderr_apart(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    script = "cat; echo to-stderr >&2; sleep 0.2; printf 'out\\377'; exit 3"
    result = sessrec("record", "-o", str(log), "--input", "--", "sh", "-c", script, input=b"typed\n")
    assert result.returncode == 3
    assert result.stdout == b"typed\nout\xff"
    assert result.stderr == b"to-stderr\n"
    pk = packets(log)
    assert b"".join(p.data for p in pk if p.kind == INPUT) == b"typed\n"
    assert b"".join(p.data for p in pk if p.kind == OUTPUT) == b"typed\nto-stderr\nout\xff"
    assert os.stat(log).st_mode & 0o777 == 0o600


def test_input_is_not_logged_by_default(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    result = sessrec("record", "-o", str(log), "--", "cat", input=b"secret\n")
    assert result.stdout == b"secret\n"
    assert all(json.loads(line)["in_txt"] == "" for line in log.read_bytes().splitlines())


def test_closed_stdin_never_hangs(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    cmd = f"exec {sys.executable} -m recorder record -o {log} --input -- sh -c 'cat; echo done' <&-"
    result = subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=20, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"done\n"


def test_signal_exit_status_like_a_shell(tmp_path: Path) -> None:
    result = sessrec("record", "-o", str(tmp_path / "r.log"), "--", "sh", "-c", "kill -KILL $$")
    assert result.returncode == 128 + signal.SIGKILL


def test_unknown_command_is_a_clean_error(tmp_path: Path) -> None:
    result = sessrec("record", "-o", str(tmp_path / "r.log"), "--", "/nonexistent/cmd")
    assert result.returncode == 127
    assert result.stderr.count(b"\n") == 1 and b"cannot run /nonexistent/cmd" in result.stderr


def test_write_failure_terminates_the_command(tmp_path: Path) -> None:
    fs = tmp_path / "fs"
    fs.mkdir()
    argv = sessrec_argv("record", "-o", str(fs / "r.log"), "--", "sh", "-c", "while :; do echo flood; done")
    result = subprocess.run(on_small_fs(fs, argv), capture_output=True, timeout=60, cwd=ROOT)
    assert result.returncode == 74, result.stderr
    assert b"recording failed, session terminated" in result.stderr
    assert b"Traceback" not in result.stderr


def test_unwritable_log_never_starts_the_session(tmp_path: Path) -> None:
    result = sessrec("record", "-o", str(tmp_path / "no/such/dir/r.log"), "--", "sh", "-c", "echo ran")
    assert result.returncode == 1
    assert b"ran" not in result.stdout
    assert b"not starting an unrecorded session" in result.stderr


def test_sigterm_flushes_buffered_data(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    argv = [sys.executable, "-m", "recorder", "record", "-o", str(log), "--latency", "100", "--"]
    proc = subprocess.Popen(
        [*argv, "sh", "-c", "echo started; exec sleep 30"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout.readline() == b"started\n"
    assert b"started" not in log.read_bytes()  # only the start record: the output waits (latency 100 s)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    assert b"started" in b"".join(p.data for p in packets(log))


def test_recorder_is_not_dumpable_and_named_for_cockpit(installed: types.ModuleType) -> None:
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="sessrec-test-"))  # pytest's tmp_path is 0700 root's
    os.chmod(tmp_path, 0o777)
    argv = [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        str(installed.SESSREC),
    ]
    argv += ["record", "-o", str(tmp_path / "r.log"), "--"]
    proc = subprocess.Popen(
        [*argv, "sh", "-c", "echo up; exec sleep 30"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stdout.readline() == b"up\n"
        assert Path(f"/proc/{proc.pid}/comm").read_text() == "tlog-rec-sessio\n"
        assert _dumpable(proc.pid) is False
        child = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        assert _dumpable(child) is True  # the recorded command is an ordinary process of the user
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        for f in tmp_path.iterdir():
            f.unlink()
        tmp_path.rmdir()


def _dumpable(pid: int) -> bool:
    """/proc/PID/* of a non-dumpable process belong to root; run the recorder as nobody to see it."""
    return Path(f"/proc/{pid}/environ").stat().st_uid != 0


def test_harden_clears_dumpable_flag() -> None:
    code = (
        "import ctypes; from recorder.identity import harden; harden(); "
        "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0), open('/proc/self/comm').read().strip())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=20).stdout
    assert out == b"0 tlog-rec-sessio\n"


def test_pty_mode_window_changes_input_and_exit_status(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    script = "stty size; read x; stty size; echo got $x; exit 5"
    argv = [sys.executable, "-m", "recorder", "record", "-o", str(log), "--input", "--notice", ""]
    child = PtyProcess.spawn([*argv, "--", "sh", "-c", script], dimensions=(30, 100), cwd=str(ROOT))
    out = b""
    deadline = time.monotonic() + 20
    while b"30 100" not in out and time.monotonic() < deadline:
        out += child.read(1024)
    child.setwinsize(40, 120)
    time.sleep(0.3)
    child.write(b"abc\r")
    out = read_to_end(child, out)
    assert child.exitstatus == 5
    assert b"40 120" in out and b"got abc" in out
    pk = packets(log)
    assert [p.size for p in pk if p.kind == WINDOW] == [(100, 30), (120, 40)]
    assert b"".join(p.data for p in pk if p.kind == INPUT) == b"abc\r"
    assert b"got abc" in b"".join(p.data for p in pk if p.kind == OUTPUT)


def test_play_goto_end_writes_output_immediately(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    path.write_bytes(encode([("o", b"first"), ("o", b" second")], step=5.0))
    start = time.monotonic()
    result = sessrec("play", "-i", str(path), "--goto", "end")
    assert result.returncode == 0 and result.stdout == b"first second"
    assert time.monotonic() - start < 4


def test_play_in_real_time_with_speed(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    path.write_bytes(encode([("o", b"a"), ("o", b"b")], step=0.6))
    start = time.monotonic()
    result = sessrec("play", "-i", str(path), "--speed", "2")
    elapsed = time.monotonic() - start
    assert result.stdout == b"ab"
    assert 0.3 <= elapsed < 3


def test_play_goto_time_skips_the_wait(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    path.write_bytes(encode([("o", b"a"), ("o", b"b"), ("o", b"c")], step=3.0))
    start = time.monotonic()
    result = sessrec("play", "-i", str(path), "--goto", "00:00:05.5")
    assert result.stdout == b"abc"
    assert time.monotonic() - start < 2.9


def test_play_reads_stdin_and_follows(tmp_path: Path) -> None:
    log = encode([("o", b"one "), ("o", b"two")])
    result = sessrec("play", "-i", "-", "-g", "end", input=log)
    assert result.stdout == b"one two"
    path = tmp_path / "grow.log"
    lines = log.splitlines(keepends=True)
    path.write_bytes(lines[0])
    proc = subprocess.Popen(
        [sys.executable, "-m", "recorder", "play", "-i", str(path), "--follow", "-g", "end"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        time.sleep(0.5)
        with open(path, "ab") as f:
            f.write(b"".join(lines[1:]))
        time.sleep(0.8)
    finally:
        proc.terminate()
    out, _ = proc.communicate(timeout=20)
    assert out == b"one two"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["record", "--payload", "3", "--", "true"], b"--payload"),
        (["record", "--latency", "0", "-o", "/dev/null", "--", "true"], b"--latency"),
        (["record", "--writer", "file", "--", "true"], b"-o FILE"),
        (["play", "-i", "/nonexistent.log"], b"cannot open /nonexistent.log"),
        (["play", "-i", "/dev/null", "--speed", "0"], b"--speed"),
        (["play", "-i", "/dev/null", "--goto", "soon"], b"--goto"),
        (["play", "-i", "/dev/null", "--verify"], b"--verify"),
        (["play"], b"required"),
        (["bogus"], b"invalid choice"),
    ],
)
def test_bad_cli_input_is_a_clean_error(args: list[str], message: bytes) -> None:
    result = sessrec(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"ver":"2.3"}\n', b'line 1: message has no "session" field'),
        (b"not json\n", b"line 1: incomplete message object"),
        (b"\xff\xfe\n", b"line 1:"),
        (encode([("o", b"x")]) + encode([("o", b"y")]), b"line 2: message ID is out of order"),
    ],
)
def test_play_rejects_bad_recordings_naming_the_line(tmp_path: Path, content: bytes, message: bytes) -> None:
    path = tmp_path / "bad.log"
    path.write_bytes(content)
    result = sessrec("play", "-i", str(path), "-g", "end")
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.count(b"\n") == 1


def test_bad_option_values_are_one_line_errors_naming_the_subcommand(tmp_path: Path) -> None:
    for args in (["--payload", "5"], ["--latency", "-1"]):
        result = sessrec("record", "-o", str(tmp_path / "r.log"), *args, "--", "true")
        assert result.returncode == 2
        err = result.stderr.decode()
        assert err.startswith("sessrec record: ") and err.count("\n") == 1, err
        assert not (tmp_path / "r.log").exists() or (tmp_path / "r.log").read_bytes() == b""
