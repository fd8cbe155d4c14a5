"""`make bench`: wall, CPU, log size, peak RSS of `sessrec record` vs tlog-rec; script(1) as the limit."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = [sys.executable, "-m", "recorder", "record", "--notice", ""]


_MAKE_INPUTS = """
import random, sys
rng = random.Random(0)
words = ["hello", "world", "déjà", "vu", "naïve", "日本語", "текст", "x", "foo_bar", "\\x1b[1;31mred\\x1b[0m"]
block = "".join(" ".join(rng.choice(words) for _ in range(12)) + "\\n" for _ in range(20000)).encode()
with open(sys.argv[1], "wb") as f:
    for _ in range(50_000_000 // len(block) + 1):
        f.write(block)
with open(sys.argv[2], "wb") as f:
    f.write(rng.randbytes(20_000_000))
"""


def make_inputs(tmp: Path) -> dict[str, Path]:
    """Made in a child process: a forked child inherits our peak RSS, so we stay small."""
    text, binary = tmp / "text", tmp / "binary"
    subprocess.run([sys.executable, "-c", _MAKE_INPUTS, str(text), str(binary)], check=True)
    return {"text": text, "binary": binary}


def measure(argv: list[str], log: Path | None) -> dict[str, float]:
    if log is not None and log.exists():
        log.unlink()
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    wall = time.monotonic() - start
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss / 1024,
        "log": (log.stat().st_size / 1e6) if log is not None and log.exists() else 0.0,
    }


def row(name: str, m: dict[str, float]) -> str:
    return (
        f"  {name:<10} wall {m['wall']:6.2f} s  cpu {m['cpu']:6.2f} s  "
        f"log {m['log']:7.1f} MB  rss {m['rss']:5.1f} MB"
    )


def throughput(inputs: dict[str, Path], tmp: Path) -> None:
    small = ["awk", 'BEGIN { for (i = 0; i < 1000000; i++) { printf "x\\n"; fflush() } }']
    workloads = {
        "50 MB text through cat": ["cat", str(inputs["text"])],
        "20 MB random binary": ["cat", str(inputs["binary"])],
        "1 million small writes": small,
    }
    log = tmp / "bench.log"
    for title, cmd in workloads.items():
        ours = measure([*OURS, "-o", str(log), "--", *cmd], log)
        tlog = measure(["tlog-rec", "-w", "file", "-o", str(log), *cmd], log)
        script = measure(["script", "-q", "-e", "-c", " ".join(map(_quote, cmd)), "/dev/null"], None)
        print(title)
        print(row("sessrec", ours))
        print(row("tlog-rec", tlog))
        print(row("script(1)", script))
        print(
            f"  ratios: wall vs tlog-rec {ours['wall'] / tlog['wall']:.2f}x, vs script(1) "
            f"{ours['wall'] / script['wall']:.2f}x; "
            f"log vs tlog-rec {ours['log'] / max(tlog['log'], 1e-9):.2f}x"
        )


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def echo_latency(tmp: Path, rounds: int = 400) -> None:
    from ptyprocess import PtyProcess

    def run(argv: list[str]) -> list[float]:
        child = PtyProcess.spawn(argv, cwd=str(ROOT), dimensions=(24, 80))
        time.sleep(0.5)
        samples = []
        for n in range(rounds):
            key = bytes([97 + n % 26])
            t = time.perf_counter()
            child.write(key)
            got = b""
            while key not in got:
                got += os.read(child.fd, 1024)
            samples.append((time.perf_counter() - t) * 1000)
        child.terminate(force=True)
        return samples

    base = run(["cat"])
    ours = run([*OURS, "-o", str(tmp / "echo.log"), "--", "cat"])
    q = lambda s, p: statistics.quantiles(s, n=100)[p - 1]  # noqa: E731
    print("keystroke echo latency through a PTY (ms)")
    print(f"  cat alone      p50 {q(base, 50):.3f}  p99 {q(base, 99):.3f}")
    print(f"  under sessrec  p50 {q(ours, 50):.3f}  p99 {q(ours, 99):.3f}")
    print(f"  added          p50 {q(ours, 50) - q(base, 50):.3f}  p99 {q(ours, 99) - q(base, 99):.3f}")


def main() -> int:
    missing = [tool for tool in ("tlog-rec", "script", "awk") if not shutil.which(tool)]
    if missing:
        print(f"benchmarks: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="sessrec-bench-") as name:
        tmp = Path(name)
        throughput(make_inputs(tmp), tmp)
        echo_latency(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
