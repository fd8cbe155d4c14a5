"""`make bench` (login part): what the login shell adds to `ssh host true`, for an unrecorded and for a
recorded user, against the directory's plain shell and against tlog-rec-session as SSSD's recording shell,
all measured in this run; keystroke echo latency and `ssh host cat` throughput, recorded or not."""

from __future__ import annotations

import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time

from ptyprocess import PtyProcess

LOGINS = 21


def ssh_true(lab, user: str, n: int = LOGINS) -> float:
    argv = lab.ssh_argv(user, "true")
    for _ in range(3):
        subprocess.run(argv, capture_output=True, timeout=60)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, timeout=60)
        times.append(time.perf_counter() - start)
        assert done.returncode == 0, done.stderr
    return statistics.median(times) * 1000


def echo_latency(lab, user: str, rounds: int = 300) -> tuple[float, float]:
    child = PtyProcess.spawn(lab.ssh_argv(user, "stty raw -echo; cat", tty=True), dimensions=(24, 80))
    time.sleep(2)
    while select.select([child.fd], [], [], 0.3)[0]:
        os.read(child.fd, 65536)
    samples = []
    for n in range(rounds):
        key = bytes([97 + n % 26])
        start = time.perf_counter()
        child.write(key)
        got = b""
        while key not in got:
            got += os.read(child.fd, 1024)
        samples.append((time.perf_counter() - start) * 1000)
    child.terminate(force=True)
    q = statistics.quantiles(samples, n=100)
    return q[49], q[98]


def cat_throughput(lab, user: str, path: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(lab.ssh_argv(user, f"cat {path}"), stdout=subprocess.DEVNULL, timeout=600)
    assert done.returncode == 0
    return time.perf_counter() - start


def measure_anchor() -> dict:
    from tests.lab.lab import Lab

    with Lab(lazy_audit=True, login_shell=False, tlog_users=("alice",)) as lab:
        return {"plain": ssh_true(lab, "dave"), "tlog": ssh_true(lab, "alice")}


def measure_ours() -> dict:
    from tests.lab import story
    from tests.lab.lab import Lab

    with Lab(lazy_audit=True) as lab:
        added = story.add_rules(lab)
        story.host_decisions(lab)
        result = {"unrecorded": ssh_true(lab, "dave"), "recorded": ssh_true(lab, "alice")}
        result["echo_plain"], result["echo_recorded"] = echo_latency(lab, "dave"), echo_latency(lab, "alice")
        with tempfile.NamedTemporaryFile(dir="/tmp", delete=False) as f:
            f.write(os.urandom(1 << 20) * 50)
        os.chmod(f.name, 0o644)
        try:
            result["cat_plain"] = cat_throughput(lab, "dave", f.name)
            result["cat_recorded"] = cat_throughput(lab, "alice", f.name)
        finally:
            os.unlink(f.name)
        story.remove_rules(lab, added)
    return result


def in_own_lab(part: str) -> dict:
    """Each lab needs a process (and a mount namespace) of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.login", part], capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmarks.login {part} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("anchor", "ours"):
        print(json.dumps(measure_anchor() if argv[0] == "anchor" else measure_ours()))
        return 0
    r = in_own_lab("anchor") | in_own_lab("ours")
    plain, tlog, unrecorded, recorded = r["plain"], r["tlog"], r["unrecorded"], r["recorded"]
    echo_plain, echo_recorded, cat_plain, cat_recorded = (
        r["echo_plain"],
        r["echo_recorded"],
        r["cat_plain"],
        r["cat_recorded"],
    )
    print(f"ssh host true, median of {LOGINS} logins (ms)")
    print(f"  directory's plain shell            {plain:7.1f}")
    print(f"  tlog-rec-session (SSSD recording)  {tlog:7.1f}  {tlog / plain:.3f}x plain")
    ratio = unrecorded / plain
    print(f"  sessrec-shell, not recorded        {unrecorded:7.1f}  {ratio:.3f}x plain (target <= 1.05x)")
    print(
        f"  sessrec-shell, recorded            {recorded:7.1f}  {recorded / plain:.3f}x plain, "
        f"{recorded / tlog:.3f}x tlog-rec-session (target <= 1.00x)"
    )
    print("keystroke echo through ssh -t (ms)")
    print(f"  not recorded  p50 {echo_plain[0]:.3f}  p99 {echo_plain[1]:.3f}")
    print(
        f"  recorded      p50 {echo_recorded[0]:.3f}  p99 {echo_recorded[1]:.3f}  "
        f"added p99 {echo_recorded[1] - echo_plain[1]:.3f} (target <= 1 ms)"
    )
    print("ssh host cat of 50 MB (s)")
    print(f"  not recorded {cat_plain:.2f}  recorded {cat_recorded:.2f}  ({cat_recorded / cat_plain:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
