"""The recorder command line a decision produces is one sessrec accepts, with the rule's options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ipa_plugin.policy.options import Options
from recorder.tlogformat import INPUT, OUTPUT, Reader
from sssd_helper.session import recorder_argv

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_map_onto_sessrec_options() -> None:
    argv = recorder_argv(Options())
    assert argv[:4] == ["sessrec", "record", "--writer", "journal"]
    assert "--no-log-input" in argv and "--notice" not in argv and argv[-1] == "--"
    assert argv[argv.index("--payload") + 1] == "2048"


def test_rule_options_reach_the_recording(tmp_path: Path) -> None:
    options = Options(log_input=True, payload=256, latency=2, notice="Recorded by rule prod")
    argv = recorder_argv(options, sessrec="sessrec", writer="file")
    log = tmp_path / "r.log"
    argv = [sys.executable, "-m", "recorder", *argv[1:-1], "-o", str(log), "--", "sh", "-c", "seq 1 400"]
    result = subprocess.run(argv, capture_output=True, input=b"typed\n", cwd=ROOT, timeout=30)
    assert result.returncode == 0, result.stderr
    expected = "".join(f"{n}\n" for n in range(1, 401)).encode()
    assert result.stdout == expected
    lines = log.read_bytes().splitlines()
    assert len(lines) > 1 and all(len(line) < 256 + 400 for line in lines)  # payload 256: small messages
    reader = Reader()
    packets = [p for line in lines for p in reader.feed(line)]
    assert b"".join(p.data for p in packets if p.kind == INPUT) == b"typed\n"  # input logged
    assert b"".join(p.data for p in packets if p.kind == OUTPUT) == expected


def test_rules_that_turn_output_off_are_honoured(tmp_path: Path) -> None:
    argv = recorder_argv(Options(log_output=False, log_window=False), writer="file")
    log = tmp_path / "r.log"
    argv = [sys.executable, "-m", "recorder", *argv[1:-1], "-o", str(log), "--", "sh", "-c", "echo secret"]
    result = subprocess.run(argv, capture_output=True, cwd=ROOT, timeout=30)
    assert result.returncode == 0 and result.stdout == b"secret\n", result.stderr
    assert b"secret" not in log.read_bytes()
