"""The syslog writer against the lab's real journald (its /dev/log): fields, playback, fail-closed."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from ptyprocess import PtyProcess

from recorder.writers import SyslogWriter, WriterError
from tests.recorder_helpers import ROOT, sessrec

# The shell's $PPID is the recorder; its recording id derives from its pid.
PRINT_REC = (
    f"{sys.executable} -c 'import sys; from recorder.identity import rec_id; "
    "print(rec_id(int(sys.argv[1])))' $PPID"
)
RECORD = [sys.executable, "-m", "recorder", "record", "--writer", "syslog", "--notice", ""]


def _messages(lab, rec: str, **match: str) -> list[tuple[dict, bytes]]:
    """(entry, MESSAGE) of the syslog entries of recording `rec`."""
    found = []
    for entry in lab.journal_entries(SYSLOG_IDENTIFIER="tlog", **match):
        value = entry["MESSAGE"]
        message = bytes(value) if isinstance(value, list) else value.encode()
        if json.loads(message)["rec"] == rec:
            found.append((entry, message))
    return found


def _play(tmp_path: Path, messages: list[bytes]) -> bytes:
    log = tmp_path / "from-syslog.log"
    log.write_bytes(b"".join(m + b"\n" for m in messages))
    played = sessrec("play", "-i", str(log), "-g", "end")
    assert played.returncode == 0, played.stderr
    return played.stdout


def test_syslog_pipe_session(lab, tmp_path: Path) -> None:
    result = sessrec(*RECORD[3:], "--", "sh", "-c", f"cd {ROOT}; {PRINT_REC}; echo hello")
    assert result.returncode == 0, result.stderr
    rec, output = result.stdout.split(b"\n", 1)
    assert output == b"hello\n"
    found = _messages(lab, rec.decode())
    assert found
    for entry, message in found:
        assert entry["SYSLOG_FACILITY"] == "10" and entry["PRIORITY"] == "6"  # authpriv.info, like tlog
        assert entry["_COMM"] == "tlog-rec-sessio"
        assert not message.endswith(b"\n")
    assert [json.loads(m)["id"] for _, m in found] == list(range(1, len(found) + 1))
    assert _play(tmp_path, [m for _, m in found]) == result.stdout


def test_syslog_interactive_session_and_facility(lab, tmp_path: Path) -> None:
    script = f"cd {ROOT}; {PRINT_REC}; echo hello"
    child = PtyProcess.spawn(
        [*RECORD, "--syslog-facility", "local3", "--", "sh", "-c", script], cwd=str(ROOT)
    )
    out = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            out += child.read(1024)
        except EOFError:
            break
    child.wait()
    assert child.exitstatus == 0
    rec = out.split(b"\r\n")[0].decode()
    found = _messages(lab, rec, SYSLOG_FACILITY="19")
    assert found
    assert _play(tmp_path, [m for _, m in found]) == rec.encode() + b"\r\nhello\r\n"


def test_large_message_arrives_whole(lab, tmp_path: Path) -> None:
    script = f"cd {ROOT}; {PRINT_REC}; head -c 300000 /dev/zero | tr '\\0' y"
    result = sessrec(*RECORD[3:], "--payload", "1000000", "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    rec = result.stdout.split(b"\n")[0].decode()
    found = _messages(lab, rec)
    assert len(found) == 3  # the start record, one message with all the output, the end record
    assert len(found[1][1]) > 300000
    assert _play(tmp_path, [m for _, m in found]).endswith(b"y" * 300000)


def test_undeliverable_message_ends_the_session(lab) -> None:
    """syslog(3) would drop a message this big silently; the writer must fail instead."""
    writer = SyslogWriter()
    with pytest.raises(WriterError, match="sending to syslog failed"):
        writer.write([(1, b"{" + b"x" * 20_000_000 + b"}\n")])
    writer.close()
    script = "head -c 9000000 /dev/zero | tr '\\0' z; sleep 5; echo unrecorded"
    result = sessrec(
        *RECORD[3:], "--payload", "16000000", "--latency", "1", "--", "sh", "-c", script, timeout=60
    )
    assert result.returncode == 74, result.stderr
    assert b"recording failed, session terminated" in result.stderr
    assert b"unrecorded" not in result.stdout


def test_no_syslog_socket_never_starts_the_session(tmp_path: Path) -> None:
    with pytest.raises(WriterError, match="cannot connect to syslog"):
        SyslogWriter(path=str(tmp_path / "no-such-socket"))
    with pytest.raises(WriterError, match="unknown syslog facility"):
        SyslogWriter("bogus")
    result = sessrec("record", "--writer", "syslog", "--syslog-facility", "bogus", "--", "echo", "ran")
    assert result.returncode == 1 and b"ran" not in result.stdout
    assert b"not starting an unrecorded session" in result.stderr
