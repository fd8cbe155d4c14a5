"""`python -m benchmarks.audit` (`make bench`): what the agent's audit rules cost, on the real kernel with the
lab's auditd writing the events, and how long `sessrec audit` takes over a 1,000,000-event audit log.

Syscall cost: a loop of `/bin/true` executions and a loop of small reads and writes (`dd bs=1`), run in a
fresh audit session (as pam_loginuid makes one) by a recorded and by an unrecorded user, with the rules
loaded and with none; ratios against none. For 1, 100 and 1,000 recorded users:

- `user` scope: static rules for each recorded user, as a host that locks its rules at boot loads them;
- `session` scope, every recorded user with a live session: consecutive session ids (one range), and
  the worst case, every recorded session between two unrecorded live ones (a range each).

Every exit rule is looked at on every system call of every process: the machine is slow while the large
rule sets are loaded, so the loops are short (`--execs`, `--syscalls` make them longer; the issue's
example is 100,000 executions).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sssd_helper import audit_rules as ar

RECORDED, UNRECORDED = 10001, 10004
HOLDER = r"""
import os, sys
uid = int(sys.argv[1])
with open("/proc/self/loginuid", "w") as f:  # a new audit session, as pam_loginuid makes one at login
    f.write(str(uid))
print(open("/proc/self/sessionid").read().strip(), flush=True)
sys.stdin.readline()
os.setgid(uid)
os.setuid(uid)
os.execvp(sys.argv[2], sys.argv[2:])
"""


class Holder:
    """A process in a new audit session of `uid` that runs `argv` when told to, timed from then."""

    def __init__(self, uid: int, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", HOLDER, str(uid), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd="/",
            text=True,
        )
        assert self.proc.stdout is not None
        self.sessionid = int(self.proc.stdout.readline())

    def run(self) -> float:
        assert self.proc.stdin is not None
        start = time.perf_counter()
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        self.proc.wait()
        return time.perf_counter() - start


def auditctl(*args: str) -> str:
    return subprocess.run(["auditctl", *args], capture_output=True, text=True, check=True).stdout


def status() -> dict[str, str]:
    return dict(line.split(" ", 1) for line in auditctl("-s").splitlines() if " " in line)


class Rules:
    """Benchmark rules under one key of ours; loaded in one go, deleted by that key."""

    def __init__(self) -> None:
        self.name = f"bench-{uuid.uuid4().hex[:6]}"
        self.key = ar.key(ar.EXEC, self.name)

    def load(self, audited: list[ar.Audited]) -> int:
        self.clear()
        lines = [r.line for r in ar.kernel_rules(audited)]
        if lines:
            with tempfile.NamedTemporaryFile("w", suffix=".rules", delete=False) as f:
                f.write("\n".join(lines) + "\n")
            os.chmod(f.name, 0o600)
            try:
                auditctl("-R", f.name)
            finally:
                os.unlink(f.name)
        return len(lines)

    def clear(self) -> None:
        subprocess.run(["auditctl", "-D", "-k", self.key], capture_output=True)


def workloads(execs: int, syscalls: int) -> dict[str, list[str]]:
    return {
        "execve": ["sh", "-c", f"i=0; while [ $i -lt {execs} ]; do /bin/true; i=$((i+1)); done"],
        "syscalls": ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={syscalls // 2}"],
    }


def timed(uid: int, argv: list[str], setup, repeat: int = 3) -> tuple[float, int]:
    """Best-of time of `argv` in a new session of `uid`, with the rules `setup(sessionid)` loads."""
    times, count = [], 0
    for _ in range(repeat):
        for _attempt in range(3):
            holder = Holder(uid, argv)
            count = setup(holder.sessionid, uid)
            before = status()
            if before.get("enabled") != "1":
                auditctl("-e", "1")  # someone switched auditing off; our auditd holds the slot
            took = holder.run()
            if status().get("enabled") == "1":
                break
        times.append(took)
        if took > 5:
            break  # slow enough to be sure, and slowing the whole machine
    return min(times), count


def scenarios(n: int) -> dict[str, object]:
    """Rule set builders by scope: (sessionid of the measured process, its uid) -> rules loaded."""
    tag = Rules()

    def none(_sid: int, _uid: int) -> int:
        return tag.load([])

    def user(_sid: int, _uid: int) -> int:
        uids = [RECORDED] + [30000 + i for i in range(n - 1)]
        return tag.load([ar.Audited(ar.Scope("user", u), commands=tag.name) for u in uids])

    def session_best(sid: int, uid: int) -> int:
        # n recorded sessions in a row ending with the measured one (if recorded)
        wanted = [sid - i for i in range(n)] if uid == RECORDED else [sid - 1 - i for i in range(n)]
        return tag.load(_sessions(tag.name, wanted, others=[sid] if uid != RECORDED else []))

    def session_worst(sid: int, uid: int) -> int:
        top = sid if uid == RECORDED else sid - 2
        wanted = [top - 2 * i for i in range(n)]
        return tag.load(_sessions(tag.name, wanted, others=[w - 1 for w in wanted] + [sid]))

    return {"tag": tag, "none": none, "user": user, "session": session_best, "session-worst": session_worst}


def _sessions(rule: str, wanted: list[int], others: list[int]) -> list[ar.Audited]:
    return [
        ar.Audited(ar.Scope("sessions", first=a, last=b), commands=rule) for a, b in ar.ranges(wanted, others)
    ]


def syscall_costs(execs: int, syscalls: int, counts: tuple[int, ...]) -> list[dict]:
    rows = []
    base: dict[tuple[str, int], float] = {}
    for name, argv in workloads(execs, syscalls).items():
        for uid in (RECORDED, UNRECORDED):
            base[(name, uid)], _ = timed(uid, argv, scenarios(1)["none"])
    for n in counts:
        builders = scenarios(n)
        try:
            for scope in ("user", "session", "session-worst"):
                row = {"users": n, "scope": scope}
                for name, argv in workloads(execs, syscalls).items():
                    for uid, who in ((RECORDED, "recorded"), (UNRECORDED, "unrecorded")):
                        took, count = timed(uid, argv, builders[scope])
                        row[f"{name}_{who}"] = round(took / base[(name, uid)], 2)
                        row["rules"] = count
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            builders["tag"].clear()
    rows.insert(0, {"baseline_seconds": {f"{k[0]}_{k[1]}": round(v, 3) for k, v in base.items()}})
    return rows


def login_cost(lab, repeat: int = 20) -> float:
    """What a recorded login waits for its session's rules: `session_started` on the real kernel, each
    login after the previous one's follow-up (deleting what it no longer needs) is done; the first
    (importing and compiling the template, raising the backlog: once per agent) is not counted."""
    import asyncio

    from ipa_plugin.policy import options
    from sssd_helper.audit import AuditRules

    cfg = argparse.Namespace(socket=str(Path(tempfile.mkdtemp()) / "s"), sssd_timeout=3.0, host=lab.this_host)
    manager = AuditRules(cfg, None, rules_file=Path(tempfile.mkdtemp()) / "75.rules")
    decision = {
        "record": True,
        "options": options.as_dict(options.Options(audit_commands=True)),
        "rules": ["b"],
    }
    holders = [Holder(RECORDED, ["true"]) for _ in range(repeat + 1)]
    times = []

    async def go() -> None:
        for h in holders:
            start = time.perf_counter()
            await manager.session_started(RECORDED, h.sessionid, decision)
            times.append((time.perf_counter() - start) * 1000)
            await manager.sweep()

    try:
        asyncio.run(go())
        assert manager.last_error is None, manager.last_error
    finally:
        for h in holders:
            h.run()
        asyncio.run(manager.sweep())
    return statistics.median(times[1:])


def audit_log_time(events: int = 1_000_000) -> dict:
    """`sessrec audit --json` over a synthetic log of `events` syscall events (1,000 of the recording)."""
    from tests.lab.audit import login_record, syscall_event

    work = Path(tempfile.mkdtemp(prefix="sessrec-audit-bench-"))
    log, rec = work / "audit.log", work / "rec.json"
    t0 = 1_790_000_000.0
    try:
        with open(log, "w") as f:
            f.write(login_record(t0 - 1, 1, 10001, 23) + "\n")
            for i in range(events):
                ses = 23 if i % 1000 == 0 else 24 + i % 50
                argv = ["cat", f"/srv/data/file-{i}"]
                f.write(
                    "\n".join(syscall_event(t0 + i / 1000, 10 + i, ses, "sessrec-exec-bench", argv=argv))
                    + "\n"
                )
        base = {
            "ver": "2.3",
            "host": "bench",
            "rec": "b-1-1",
            "user": "alice",
            "term": "xterm",
            "session": 23,
        }
        body = {"timing": "", "in_txt": "", "in_bin": [], "out_txt": "", "out_bin": []}
        rec.write_text(json.dumps({**base, **body, "id": 1, "pos": 0, "time": t0}) + "\n")
        size = log.stat().st_size
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "recorder", "audit", "-i", str(rec), "--audit-log", str(log), "--json"],
            capture_output=True,
            text=True,
        )
        took = time.perf_counter() - start
        assert done.returncode == 0, done.stderr
        found = len(done.stdout.splitlines())
        assert found == events // 1000, found
        return {"events": events, "log_mb": round(size / 1e6), "seconds": round(took, 1), "found": found}
    finally:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()


def take_audit_slot(lab, wait: float = 900) -> None:
    """Start the lab's auditd; the kernel has one audit daemon slot, so wait while another lab holds it."""
    from tests.lab.process import ComponentError

    deadline = time.monotonic() + wait
    while True:
        try:
            lab.audit  # noqa: B018 - starts it
            return
        except ComponentError as exc:
            if "another audit daemon" not in str(exc) or time.monotonic() > deadline:
                raise
            print("benchmarks.audit: waiting for another lab's auditd to end", file=sys.stderr, flush=True)
            time.sleep(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--execs", type=int, default=2000)
    parser.add_argument("--syscalls", type=int, default=200_000)
    parser.add_argument("--users", default="1,100,1000", help="numbers of recorded users")
    parser.add_argument("--log-events", type=int, default=1_000_000)
    parser.add_argument("--skip-kernel", action="store_true", help="only the audit log part (no lab)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("benchmarks.audit: run as root (the lab, auditd)", file=sys.stderr)
        return 1
    results: dict[str, object] = {}
    if not args.skip_kernel:
        from tests.lab.lab import Lab

        with Lab(lazy_audit=True) as lab:
            take_audit_slot(lab)  # auditd writes the recorded user's events
            auditctl("-b", "8192")  # as the agent does; the lab puts the kernel's value back
            counts = tuple(int(n) for n in args.users.split(","))
            results["syscalls"] = syscall_costs(args.execs, args.syscalls, counts)
            results["login_ms"] = round(login_cost(lab), 1)
            print(json.dumps({"login_ms": results["login_ms"]}), flush=True)
    results["sessrec_audit"] = audit_log_time(args.log_events)
    print(json.dumps({"sessrec_audit": results["sessrec_audit"]}), flush=True)
    print(table(results))
    return 0


def table(results: dict) -> str:
    out = []
    rows = results.get("syscalls") or []
    if rows:
        base = rows[0]["baseline_seconds"]
        out.append("baseline (no rules): " + ", ".join(f"{k} {v:.2f} s" for k, v in base.items()))
        out.append(
            "| recorded users | scope | kernel rules | execve recorded | execve unrecorded "
            "| syscalls recorded | syscalls unrecorded |"
        )
        out.append("|---|---|---|---|---|---|---|")
        for r in rows[1:]:
            out.append(
                f"| {r['users']} | {r['scope']} | {r['rules']} | {r['execve_recorded']}× | "
                f"{r['execve_unrecorded']}× | {r['syscalls_recorded']}× | {r['syscalls_unrecorded']}× |"
            )
    if "login_ms" in results:
        out.append(f"a recorded login's session rules loaded in {results['login_ms']} ms (median)")
    a = results["sessrec_audit"]
    out.append(
        f"sessrec audit over {a['events']:,} events ({a['log_mb']} MB): {a['seconds']} s, "
        f"{a['found']} events of the recording found"
    )
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
