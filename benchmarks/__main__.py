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


def measure(
    argv: list[str], log: Path | None, on_pty: bool = False, tty_stdin: bool = True
) -> dict[str, float]:
    """Run `argv` with stdin a closed pipe and output to /dev/null, or (`on_pty`) with output (and stdin,
    with `tty_stdin`) on a 100x30 PTY whose output we drain, as in an interactive session."""
    if log is not None and log.exists():
        log.unlink()
    start = time.monotonic()
    if on_pty:
        proc = _spawn_on_pty(argv, tty_stdin)
    else:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
        )
        proc.stdin.close()
    _, proc.returncode, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss / 1024,
        "log": (log.stat().st_size / 1e6) if log is not None and log.exists() else 0.0,
    }


def _spawn_on_pty(argv: list[str], tty_stdin: bool) -> subprocess.Popen:
    """Start `argv` on a new PTY and drain its output in a thread until every holder of the slave is gone."""
    import pty
    import termios
    import threading

    master, slave = pty.openpty()
    termios.tcsetwinsize(slave, (30, 100))
    stdin = slave if tty_stdin else subprocess.PIPE
    proc = subprocess.Popen(argv, stdin=stdin, stdout=slave, stderr=slave, cwd=ROOT, start_new_session=True)
    os.close(slave)
    if proc.stdin:
        proc.stdin.close()

    def drain() -> None:
        try:
            while os.read(master, 1 << 16):
                pass
        except OSError:  # EIO: the slave side is closed
            pass
        finally:
            os.close(master)

    threading.Thread(target=drain, daemon=True).start()
    return proc


def row(name: str, m: dict[str, float]) -> str:
    return (
        f"  {name:<10} wall {m['wall']:6.2f} s  cpu {m['cpu']:6.2f} s  "
        f"log {m['log']:7.1f} MB  rss {m['rss']:5.1f} MB"
    )


def throughput(inputs: dict[str, Path], tmp: Path, only: list[str]) -> None:
    small = ["awk", 'BEGIN { for (i = 0; i < 1000000; i++) { printf "x\\n"; fflush() } }']
    text, binary = ["cat", str(inputs["text"])], ["cat", str(inputs["binary"])]
    workloads = [
        ("50 MB text through cat", text, False),
        ("20 MB random binary", binary, False),
        ("1 million small writes", small, False),
        ("PTY mode: 50 MB text through cat", text, True),
        ("PTY mode: 20 MB random binary", binary, True),
    ]
    log = tmp / "bench.log"
    for title, cmd, on_pty in workloads:
        if only and not any(word.lower() in title.lower() for word in only):
            continue
        ours = measure([*OURS, "-o", str(log), "--", *cmd], log, on_pty)
        # tlog-rec fails adding a utmp record with a terminal on stdin (here); on stdout it still uses a PTY.
        tlog = measure(["tlog-rec", "-w", "file", "-o", str(log), *cmd], log, on_pty, tty_stdin=False)
        script = measure(["script", "-q", "-e", "-c", " ".join(map(_quote, cmd)), "/dev/null"], None, on_pty)
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


def main(argv: list[str]) -> int:
    """Arguments, if any, pick the workloads whose titles contain one of them ("pty", "binary"); "echo"
    picks the echo latency test. With none, everything runs."""
    only = [arg for arg in argv if arg != "echo"]
    missing = [tool for tool in ("tlog-rec", "script", "awk") if not shutil.which(tool)]
    if missing:
        print(f"benchmarks: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="sessrec-bench-") as name:
        tmp = Path(name)
        if only or not argv:
            throughput(make_inputs(tmp), tmp, only)
        if not argv or "echo" in argv:
            echo_latency(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
