"""The journald writer against the lab's real journald, and `sessrec play --journal --verify`."""

from __future__ import annotations

import json
import sys

from tests.recorder_helpers import ROOT, sessrec

# The shell's $PPID is the recorder; its recording id derives from its pid.
PRINT_REC = (
    f"{sys.executable} -c 'import sys; from recorder.identity import rec_id; "
    "print(rec_id(int(sys.argv[1])))' $PPID"
)
FORGE = (
    f"{sys.executable} -c 'import sys; from recorder.identity import rec_id, user_name; "
    "from recorder.writers import JournalWriter; from recorder.tlogformat import Meta; "
    'w = JournalWriter(Meta("h", rec_id(int(sys.argv[1])), user_name(), "", 1)); '
    'w.write([(99, b"{}\\n")])\' $PPID'
)


def _record(lab, script: str, *options: str) -> tuple[str, bytes]:
    result = sessrec("record", "--writer", "journal", *options, "--", "sh", "-c", f"cd {ROOT}; {script}")
    assert result.returncode == 0, result.stderr
    rec, _, output = result.stdout.partition(b"\n")
    return rec.decode(), output


def test_journal_entries_carry_tlog_fields(lab) -> None:
    rec, output = _record(lab, f"{PRINT_REC}; printf 'journal \\303\\251\\377 test'")
    entries = lab.journal_entries(TLOG_REC=rec)
    assert entries
    assert [int(e["TLOG_ID"]) for e in entries] == list(range(1, len(entries) + 1))
    for entry in entries:
        assert entry["TLOG_USER"] == "root"
        assert entry["PRIORITY"] == "6"
        assert entry["SYSLOG_IDENTIFIER"] == "sessrec"
        assert entry["_COMM"] == "tlog-rec-sessio"
        message = json.loads(
            entry["MESSAGE"] if isinstance(entry["MESSAGE"], str) else bytes(entry["MESSAGE"])
        )
        assert message["rec"] == rec and str(message["session"]) == entry["TLOG_SESSION"]
    played = sessrec("play", "--journal", "--rec", rec, "--goto", "end", "--verify")
    assert played.returncode == 0, played.stderr
    assert played.stdout == rec.encode() + b"\n" + output


def test_large_messages_go_through_a_memfd(lab) -> None:
    script = f"{PRINT_REC}; head -c 600000 /dev/zero | tr '\\0' x"
    rec, output = _record(lab, script, "--payload", "1000000")
    entries = lab.journal_entries(TLOG_REC=rec)
    assert len(entries) == 3  # the start record, one message with all the output, the end record
    assert len(entries[1]["MESSAGE"]) > 600000
    played = sessrec("play", "--journal", "--rec", rec, "-g", "end")
    assert played.stdout.endswith(b"x" * 600000)


def test_verify_reports_an_entry_forged_by_another_process(lab) -> None:
    rec, _ = _record(lab, f"{PRINT_REC}; echo before; {FORGE}; echo after", "--latency", "0.001")
    entries = lab.journal_entries(TLOG_REC=rec)
    assert len({e["_PID"] for e in entries}) == 2
    result = sessrec("play", "--journal", "--rec", rec, "-g", "end", "--verify")
    assert result.returncode == 1
    assert b"forged" in result.stderr and result.stderr.count(b"\n") == 1
    assert b"Traceback" not in result.stderr
