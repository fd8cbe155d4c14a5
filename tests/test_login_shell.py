"""sessrec-shell, SSSD's override_shell for the IPA domain, over the lab's real sshd + PAM + SSSD: every
login path of a covered user is recorded by a recorder the user cannot reach; others run their own shell."""

from __future__ import annotations

import json
import os
import pwd
import select
import signal
import subprocess
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from ptyprocess import PtyProcess

from tests.lab import story
from tests.lab.lab import Lab
from tests.test_infopipe import _ppid

ALICE = 10001


@pytest.fixture(scope="module")
def rules(lab: Lab) -> Iterator[None]:
    """alice recorded (developers on clients, input too), bob exempt, dave uncovered."""
    added = story.add_rules(lab)
    story.host_decisions(lab)  # the agent syncs
    yield
    story.remove_rules(lab, added)
    story.host_decisions(lab)


def recordings(lab: Lab, user: str) -> set[str]:
    return {e["TLOG_REC"] for e in lab.journal_entries(TLOG_USER=user)}


def new_recording(lab: Lab, user: str, before: set[str]) -> str:
    deadline = time.monotonic() + 15
    while not (new := recordings(lab, user) - before):
        assert time.monotonic() < deadline, f"no new recording of {user}"
        time.sleep(0.1)
    assert len(new) == 1, new
    return new.pop()


def played(rec: str) -> bytes:
    result = story.play_verified(rec)
    assert result.returncode == 0, result.stderr
    return result.stdout


def recorder_uid() -> str:
    return str(pwd.getpwnam("sessrec").pw_uid)


def test_ssh_command_keeps_stdout_stderr_and_exit_status_and_is_recorded(lab: Lab, rules: None) -> None:
    before = recordings(lab, "alice")
    result = lab.run_ssh("alice", "echo to-stdout; echo to-stderr >&2; exit 7")
    assert (result.returncode, result.stdout, result.stderr) == (7, b"to-stdout\n", b"to-stderr\n")
    rec = new_recording(lab, "alice", before)
    entries = lab.journal_entries(TLOG_REC=rec)
    assert {e["_UID"] for e in entries} == {recorder_uid()}
    log = b"".join(
        bytes(e["MESSAGE"], "utf-8") if isinstance(e["MESSAGE"], str) else bytes(e["MESSAGE"])
        for e in entries
    )
    assert b"to-stdout" in log and b"to-stderr" in log


def test_uncovered_and_exempt_users_run_their_own_shell_unrecorded(lab: Lab, rules: None) -> None:
    for user, shell in (("bob", "/bin/sh"), ("dave", "/bin/bash")):
        before = recordings(lab, user)
        result = lab.run_ssh(user, 'echo "$0"; exit 5')
        assert result.returncode == 5 and result.stdout == shell.rsplit("/", 1)[1].encode() + b"\n"
        time.sleep(0.2)
        assert recordings(lab, user) == before


def test_ssh_n_never_hangs(lab: Lab, rules: None) -> None:
    argv = lab.ssh_argv("alice", "cat; echo after-eof")
    result = subprocess.run([argv[0], "-n", *argv[1:]], capture_output=True, timeout=20)
    assert result.returncode == 0 and result.stdout == b"after-eof\n"


def test_binary_data_both_ways_byte_exact(lab: Lab, rules: None) -> None:
    data = os.urandom(300_000) + bytes(range(256)) * 64
    up = subprocess.run(
        lab.ssh_argv("alice", "cat > blob; sha256sum blob"), input=data, capture_output=True, timeout=60
    )
    assert up.returncode == 0, up.stderr
    down = subprocess.run(lab.ssh_argv("alice", "cat blob; rm blob"), capture_output=True, timeout=60)
    assert down.returncode == 0 and down.stdout == data


def interactive(lab: Lab, user: str, *command: str) -> PtyProcess:
    return PtyProcess.spawn(lab.ssh_argv(user, *command, tty=True), dimensions=(30, 100))


def read_until(child: PtyProcess, marker: bytes, timeout: float = 20) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, f"{marker!r} not seen in {seen[-500:]!r}"
        if child.fd in select.select([child.fd], [], [], 0.2)[0]:
            try:
                seen += os.read(child.fd, 65536)
            except OSError:
                break
    return seen


def test_interactive_login_keeps_keys_typed_ahead_and_is_recorded(lab: Lab, rules: None) -> None:
    before = recordings(lab, "alice")
    child = interactive(lab, "alice")
    child.write(b"echo typed-$((6*7)); exit 3\n")  # before any prompt: tlog would discard this
    output = read_until(child, b"typed-42")
    child.wait()
    assert child.exitstatus == 3 and b"ATTENTION! Your session is being recorded!" in output
    rec = new_recording(lab, "alice", before)
    assert b"typed-42" in played(rec)


def test_the_login_shell_imports_nothing_heavy(installed: types.ModuleType) -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(installed.site_packages())!r})\n"
        "import sssd_helper.login_shell\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [str(installed.BIN.parent / "libexec" / "sessrec-shell-python"), "-IS", "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    loaded = set(out.stdout.split())
    heavy = {
        "json",
        "socket",
        "asyncio",
        "argparse",
        "ldap",
        "dbus_next",
        "jinja2",
        "re",
        "enum",
        "subprocess",
    }
    assert not loaded & heavy, loaded & heavy
    assert "ipa_plugin" not in {m.split(".")[0] for m in loaded}


def test_ld_preload_from_the_users_environment_never_runs(lab: Lab, rules: None, tmp_path: Path) -> None:
    marker = Path("/tmp") / f"sessrec-preload-ran-{os.getpid()}"
    source = tmp_path / "evil.c"
    source.write_text(
        "#include <stdio.h>\n__attribute__((constructor)) static void evil(void) "
        f'{{ FILE *f = fopen("{marker}", "w"); if (f) fclose(f); }}\n'
    )
    library = Path("/tmp") / f"sessrec-evil-{os.getpid()}.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    library.chmod(0o755)
    try:
        env = {
            "LD_PRELOAD": str(library),
            "LD_AUDIT": str(library),
            "PYTHONINSPECT": "1",
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            ["/usr/local/bin/sessrec-shell", "-c", "echo shell-ran"],
            env=env,
            user=ALICE,
            group=ALICE,
            capture_output=True,
            timeout=30,
            cwd="/",
        )
        assert result.returncode == 0 and result.stdout == b"shell-ran\n", result.stderr
        assert not marker.exists(), "the user's LD_PRELOAD library ran inside the login shell"
    finally:
        library.unlink()
        marker.unlink(missing_ok=True)


def relay_of(lab: Lab, user: str, before: set[str]) -> tuple[int, str]:
    """The pid of the recorder writing the new recording of `user` (from the journal's trusted `_PID`),
    and the real terminal it holds."""
    rec = new_recording(lab, user, before)
    pid = lab.journal_entries(TLOG_REC=rec)[0]["_PID"]
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("/dev/pts/"):
            return int(pid), target
    raise LookupError(f"the recorder of {user} holds no terminal")


def warm_recorder(lab: Lab) -> int:
    """The agent's warm recorder (sessrec relay-server), its child."""
    agent = lab.services["agent"].pid
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if _ppid(pid) == agent and b"relay-server" in argv:
            return int(pid)
    raise LookupError("no warm recorder")


def test_the_recorded_user_cannot_kill_trace_or_bypass_her_recorder(lab: Lab, rules: None) -> None:
    before = recordings(lab, "alice")
    child = interactive(lab, "alice")
    read_until(child, b"ATTENTION")
    child.write(b"echo ready-$((1+1))\n")
    read_until(child, b"ready-2")
    recorder, real_tty = relay_of(lab, "alice", before)
    assert os.stat(real_tty).st_uid == int(recorder_uid())
    warm = warm_recorder(lab)  # the process her recorder was forked from, and the next ones will be
    assert _ppid(str(recorder)) == warm and os.stat(f"/proc/{warm}").st_uid == int(recorder_uid())
    attack = (
        f"kill -9 {recorder} 2>/dev/null && echo KILLED || echo kill-refused; "
        f"kill -STOP {recorder} 2>/dev/null && echo STOPPED || echo stop-refused; "
        f"cat /proc/{recorder}/environ >/dev/null 2>&1 && echo READ || echo read-refused; "
        f"kill -9 {warm} 2>/dev/null && echo KILLED || echo warm-kill-refused; "
        f"cat /proc/{warm}/environ >/dev/null 2>&1 && echo READ || echo warm-read-refused; "
        f"(echo bypass > {real_tty}) 2>/dev/null && echo WROTE || echo tty-refused; "
        f"(bash -c 'true' < {real_tty}) 2>/dev/null && echo OPENED || echo open-refused; "
        "echo attacks-$((40+2))\n"
    )
    child.write(attack.encode())
    output = read_until(child, b"attacks-42").split(b"attacks-$((40+2))", 1)[1]  # after the typed line
    refusals = (b"kill-refused", b"stop-refused", b"read-refused", b"tty-refused", b"open-refused")
    for refused in (*refusals, b"warm-kill-refused", b"warm-read-refused"):
        assert refused in output, output
    assert b"\nKILLED" not in output and b"\nWROTE" not in output and b"\nOPENED" not in output
    child.write(b"exit 0\n")
    child.wait()
    rec = new_recording(lab, "alice", before)
    assert b"kill-refused" in played(rec)
    assert not Path(real_tty).exists() or os.stat(real_tty).st_uid != int(recorder_uid())  # given back
    assert listed(rec)["exit"] == "0"


def listed(rec: str) -> dict:
    result = subprocess.run(["/usr/local/bin/sessrec", "list", "--journal", "--json"], capture_output=True)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return next(r for r in rows if r["rec"] == rec)


def test_with_the_warm_recorder_gone_logins_are_still_recorded(lab: Lab, rules: None) -> None:
    warm = warm_recorder(lab)
    os.kill(warm, signal.SIGKILL)  # as root: the recorded user cannot (above)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{warm}").exists() and _ppid(str(warm)) == lab.services["agent"].pid:
        assert time.monotonic() < deadline, "the warm recorder did not die"
        time.sleep(0.05)
    before = recordings(lab, "alice")
    result = lab.run_ssh("alice", "echo recorded-without-it; exit 6")
    assert result.returncode == 6 and result.stdout == b"recorded-without-it\n", result.stderr
    rec = new_recording(lab, "alice", before)
    assert b"recorded-without-it" in played(rec) and listed(rec)["exit"] == "6"
    logged = lab.journal_entries(SYSLOG_IDENTIFIER="sessrecd")
    assert any("the warm recorder is gone" in e["MESSAGE"] for e in logged)


def test_killing_her_login_shell_ends_the_recording_with_an_abnormal_end(lab: Lab, rules: None) -> None:
    before = recordings(lab, "alice")
    child = interactive(lab, "alice")
    read_until(child, b"ATTENTION")
    child.write(b"echo shown-$((5*5)); kill -9 $PPID\n")  # $PPID: the login shell, hers to kill
    read_until(child, b"shown-25")
    child.wait()
    rec = new_recording(lab, "alice", before)
    assert listed(rec)["exit"] == "?"
    end = json.loads(_message(lab.journal_entries(TLOG_REC=rec)[-1]))["sessrec"]
    assert end == {"event": "end", "abnormal": "the login shell ended without an exit status"} | {
        k: end[k] for k in ("bytes_in", "bytes_out")
    }
    assert b"shown-25" in played(rec)


SHELL_CONF = Path("/etc/sessrec/shell.conf")


def test_agent_unreachable_records_with_default_options_or_refuses_as_configured(
    lab: Lab, rules: None
) -> None:
    with lab.stopped("agent"):
        before = recordings(lab, "dave")  # not covered by any rule: recorded anyway when nobody can decide
        result = lab.run_ssh("dave", "echo unsure; exit 4")
        assert result.returncode == 4 and result.stdout == b"unsure\n"
        assert b"cannot be asked" in result.stderr and b"recording with default options" in result.stderr
        rec = new_recording(lab, "dave", before)
        assert b"unsure" in b"".join(_message(e) for e in lab.journal_entries(TLOG_REC=rec))
        SHELL_CONF.write_text("agent_unreachable = refuse\n")
        try:
            refused = lab.run_ssh("dave", "echo must-not-run")
        finally:
            SHELL_CONF.unlink()
        assert refused.returncode == 77 and b"must-not-run" not in refused.stdout
        assert b"login refused" in refused.stderr
    assert lab.run_ssh("dave", "echo back").stdout == b"back\n"


def _message(entry: dict) -> bytes:
    message = entry["MESSAGE"]
    return message.encode() if isinstance(message, str) else bytes(message)


def test_a_journal_that_cannot_be_written_refuses_the_recorded_login(lab: Lab, rules: None) -> None:
    with lab.stopped("journald"):
        result = lab.run_ssh("alice", "echo must-not-run")
        assert result.returncode == 77 and b"must-not-run" not in result.stdout
        assert b"cannot record" in result.stderr and b"login refused" in result.stderr
        assert lab.run_ssh("dave", "echo unrecorded-users-still-log-in").returncode == 0
