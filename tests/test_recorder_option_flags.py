"""The option table's recorder flags (options.recorder_args) are ones `sessrec record` accepts and honours."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ipa_plugin.policy.options import Options, recorder_args
from recorder.tlogformat import INPUT, OUTPUT, Reader

ROOT = Path(__file__).resolve().parents[1]


def record(
    options: Options, log: Path, script: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-m", "recorder", "record", *recorder_args(options), "-o", str(log)]
    return subprocess.run(
        [*argv, "--", "sh", "-c", script], capture_output=True, input=stdin, cwd=ROOT, timeout=30
    )


def test_defaults_map_onto_sessrec_options() -> None:
    argv = recorder_args(Options())
    assert "--no-log-input" in argv and "--notice" not in argv
    assert argv[argv.index("--payload") + 1] == "2048"


def test_rule_options_reach_the_recording(tmp_path: Path) -> None:
    options = Options(log_input=True, payload=256, latency=2, notice="Recorded by rule prod")
    log = tmp_path / "r.log"
    result = record(options, log, "seq 1 400", b"typed\n")
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
    log = tmp_path / "r.log"
    result = record(Options(log_output=False, log_window=False), log, "echo secret")
    assert result.returncode == 0 and result.stdout == b"secret\n", result.stderr
    assert b"secret" not in log.read_bytes()
