"""`sessrec play` keys end to end, under a PTY: skip, goto, quit, pause, speed, and --follow."""

from __future__ import annotations

import os
import select
import sys
import termios
import time
from pathlib import Path

import pytest
from ptyprocess import PtyProcess

from recorder.tlogformat import Encoder, Framer, Meta
from tests.recorder_helpers import ROOT, sessrec

META = Meta("host.example", "keys-1", "user", "xterm", 1)


def _log(events: list[tuple[float, bytes]], flush_each: bool = False) -> list[bytes]:
    """Message lines for output events at (seconds, data); `flush_each` ends a message after each one."""
    enc, framer = Encoder(), Framer(META, 1_700_000_000_000)
    for t, data in events:
        enc.output(t, data)
        if flush_each:
            enc.flush()
    enc.finish()
    return [framer.frame(body)[1] for body in enc.take()]


class Player:
    """`sessrec play ARGS` on a PTY, with its output collected."""

    def __init__(self, *args: str) -> None:
        argv = [sys.executable, "-m", "recorder", "play", *args]
        self.child = PtyProcess.spawn(argv, cwd=str(ROOT), env={**os.environ, "TERM": "xterm"})
        self.out = b""
        self.eof = False

    def cbreak(self, timeout: float = 10) -> None:
        """Wait until the player has put the terminal in cbreak mode, so a key is seen alone."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.child.fd)[3] & termios.ICANON:
            assert time.monotonic() < deadline, "the player never set cbreak mode"
            time.sleep(0.02)

    def read_until(self, want: bytes, timeout: float) -> float:
        """Seconds until `want` was in the output; fails after `timeout`."""
        start = time.monotonic()
        while want not in self.out:
            left = start + timeout - time.monotonic()
            assert left > 0 and not self.eof, f"{want!r} not seen within {timeout}s: {self.out!r}"
            self._read(left)
        return time.monotonic() - start

    def quiet(self, seconds: float) -> bytes:
        """Output that arrives within `seconds`."""
        before = len(self.out)
        deadline = time.monotonic() + seconds
        while not self.eof and (left := deadline - time.monotonic()) > 0:
            self._read(left)
        return self.out[before:]

    def _read(self, timeout: float) -> None:
        if select.select([self.child.fd], [], [], timeout)[0]:
            try:
                self.out += os.read(self.child.fd, 4096)
            except OSError:
                self.eof = True

    def send(self, keys: bytes) -> None:
        self.child.write(keys)

    def exit_status(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.child.isalive():
            assert time.monotonic() < deadline, f"still running after {timeout}s: {self.out!r}"
            self._read(0.05)
        return self.child.exitstatus

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


@pytest.fixture
def gap_log(tmp_path: Path) -> Path:
    """ "A", a 30 s pause, "B", another 30 s, "C"."""
    path = tmp_path / "gap.log"
    path.write_bytes(b"".join(_log([(0, b"A"), (30, b"B"), (60, b"C")])))
    return path


@pytest.fixture
def play():
    players: list[Player] = []

    def start(*args: str) -> Player:
        players.append(Player(*args))
        return players[-1]

    yield start
    for p in players:
        p.close()


@pytest.mark.parametrize("key", [b".", b"G"])
def test_skip_and_goto_end_cut_the_pause(play, gap_log: Path, key: bytes) -> None:
    p = play("-i", str(gap_log))
    p.cbreak()
    p.read_until(b"A", 10)
    assert p.quiet(0.3) == b""
    p.send(key)
    assert p.read_until(b"B", 3) < 2
    if key == b"G":  # to the end
        p.read_until(b"C", 2)
        assert p.exit_status(3) == 0
    else:  # one step: C is still 30 s away
        p.quiet(0.5)
        assert b"C" not in p.out


def test_goto_a_typed_time(play, gap_log: Path) -> None:
    p = play("-i", str(gap_log))
    p.cbreak()
    p.read_until(b"A", 10)
    p.send(b"45G")
    assert p.read_until(b"B", 3) < 2
    p.quiet(0.8)
    assert b"C" not in p.out  # 15 s away
    p.send(b"q")
    assert p.exit_status(3) == 0


def test_quit_is_immediate(play, gap_log: Path) -> None:
    p = play("-i", str(gap_log))
    p.cbreak()
    p.read_until(b"A", 10)
    p.send(b"q")
    start = time.monotonic()
    assert p.exit_status(3) == 0
    assert time.monotonic() - start < 2
    assert b"B" not in p.out


def test_paused_start_and_space_resumes(play, tmp_path: Path) -> None:
    path = tmp_path / "short.log"
    path.write_bytes(b"".join(_log([(0, b"A"), (0.3, b"B")])))
    p = play("-i", str(path), "--paused")
    p.cbreak()
    assert b"A" not in p.quiet(1.0)
    p.send(b" ")
    assert p.read_until(b"B", 3) < 2
    assert p.exit_status(3) == 0


def test_speed_keys(play, tmp_path: Path) -> None:
    path = tmp_path / "speed.log"
    path.write_bytes(b"".join(_log([(0, b"A"), (4, b"B"), (5, b"C")])))
    p = play("-i", str(path))
    p.cbreak()
    p.read_until(b"A", 10)
    p.send(b"}}}")  # 8x: the 4 s pause takes 0.5 s
    assert 0.2 < p.read_until(b"B", 3) < 2.5
    p.send(b"{{{{{{")  # 1/8x: the next second takes 8
    assert b"C" not in p.quiet(1.5)
    p.send(b"\x7f")  # back to 1x: C is due within a second
    assert p.read_until(b"C", 3) < 1.5
    assert p.exit_status(3) == 0


def test_follow_a_growing_file_and_quit_while_waiting(play, tmp_path: Path) -> None:
    first, second = _log([(0, b"A"), (0.5, b"B")], flush_each=True)
    path = tmp_path / "grow.log"
    path.write_bytes(first)
    p = play("-i", str(path), "--follow")
    p.cbreak()
    p.read_until(b"A", 10)
    assert p.quiet(0.5) == b""
    with open(path, "ab") as f:
        f.write(second)
    assert p.read_until(b"B", 3) < 2
    p.send(b"q")  # no more data comes: the key must still be read
    assert p.exit_status(3) == 0


def test_follow_the_journal_and_quit_while_waiting(play, lab) -> None:
    script = (
        f"cd {ROOT}; {sys.executable} -c 'import sys; from recorder.identity import rec_id; "
        "print(rec_id(int(sys.argv[1])))' $PPID; echo journal-followed"
    )
    result = sessrec("record", "--writer", "journal", "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    rec = result.stdout.split(b"\n")[0].decode()
    p = play("--journal", "--rec", rec, "--follow", "-g", "end")
    p.cbreak()
    p.read_until(b"journal-followed", 10)
    p.send(b"q")
    assert p.exit_status(3) == 0


def test_goto_option_plays_the_rest_in_real_time(tmp_path: Path) -> None:
    path = tmp_path / "goto.log"
    path.write_bytes(b"".join(_log([(0, b"A"), (3, b"B"), (6, b"C")])))
    start = time.monotonic()
    result = sessrec("play", "-i", str(path), "--goto", "00:00:05")
    assert result.returncode == 0 and result.stdout == b"ABC"
    assert 0.8 < time.monotonic() - start < 2.8  # C is one second after the goto point


def _audited(tmp_path: Path, start: float, events: list[tuple[float, list[str]]]) -> Path:
    """An audit log of session 1 (the recordings' here) with a command at each (seconds, argv)."""
    from tests.lab.audit import login_record, syscall_event

    lines = [login_record(start - 1, 100, 10001, 1)]
    for n, (t, argv) in enumerate(events):
        lines += syscall_event(start + t, 101 + n, 1, "sessrec-exec-r", argv=argv, uid=10001)
    path = tmp_path / "audit.log"
    path.write_text("".join(line + "\n" for line in lines))
    return path


T_LOG = 1_700_000_000.0  # _log's recordings start then


def test_audit_notes_each_command_at_its_moment_and_never_replays_its_escapes(play, tmp_path: Path) -> None:
    path = tmp_path / "short.log"
    path.write_bytes(b"".join(_log([(0, b"A"), (0.6, b"B"), (1.2, b"C")])))
    sneaky = "\x1b]52;c;ZXZpbA==\x07"  # an argv that would set the auditor's clipboard
    log = _audited(tmp_path, T_LOG, [(0.3, ["cat", "/etc/hosts"]), (0.9, ["printf", sneaky]), (9, ["sleep"])])
    p = play("-i", str(path), "--audit", "--audit-log", str(log))
    assert p.exit_status(10) == 0, p.out
    out = p.out.decode()
    assert "3 audited commands and file accesses in audit session 1 (n: go to the next)" in out
    cat = out.index("audit 00:00:00.300 alice execve ok in /home/alice: cat /etc/hosts")
    printf = out.index("audit 00:00:00.900 alice execve ok in /home/alice: printf ")
    after = out.index("audit 00:00:09.000 alice execve ok in /home/alice: sleep")
    assert out.index("A") < cat < out.index("B") < printf < out.index("C") < after
    assert "\x1b]52" not in out and "\\x1b]52;c;ZXZpbA==\\x07" in out


def test_n_goes_to_the_next_command_and_a_goto_to_its_time_shows_it(
    play, gap_log: Path, tmp_path: Path
) -> None:
    log = _audited(tmp_path, T_LOG, [(20, ["cat", "/etc/hosts"]), (45, ["id"])])
    p = play("-i", str(gap_log), "--audit", "--audit-log", str(log))
    p.cbreak()
    p.read_until(b"A", 10)
    p.send(b"n")
    assert p.read_until(b"cat /etc/hosts", 3) < 2
    assert b"B" not in p.quiet(0.5)  # 10 s after the command
    p.send(b"n")
    assert p.read_until(b": id", 3) < 2 and b"B" in p.out
    assert b"C" not in p.quiet(0.5)  # 15 s away
    p.send(b"q")
    assert p.exit_status(3) == 0
    # The time `sessrec audit` prints for a command, given to --goto, arrives with its note; the one
    # passed over is not shown.
    result = sessrec("play", "-i", str(gap_log), "--audit", "--audit-log", str(log), "--goto", "00:00:59.5")
    assert result.returncode == 0 and result.stdout == b"ABC"
    assert b"cat /etc/hosts" not in result.stderr and b": id" not in result.stderr
    p = play("-i", str(gap_log), "--audit", "--audit-log", str(log), "--goto", "00:00:45.000")
    p.read_until(b": id", 5)
    assert b"cat" not in p.out.split(b"audit session")[1] and b"C" not in p.quiet(0.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "-", "--audit"], "--audit reads the recording twice: give a file or --journal, not stdin"),
        (["--follow", "--audit"], "--audit shows the events logged before playing: not with --follow"),
        (["--audit-log", "x"], "--audit-log goes with --audit"),
        (["--audit", "--audit-log", "/nonexistent/audit.log"], "/nonexistent/audit.log"),
    ],
)
def test_audit_input_errors_are_one_line(gap_log: Path, args: list[str], message: str) -> None:
    source = [] if "-i" in args else ["-i", str(gap_log)]
    result = sessrec("play", *source, *args)
    err = result.stderr.decode()
    assert result.returncode in (1, 2) and message in err and len(err.splitlines()) == 1, err
