"""Every login path of a recorded user through the lab's real sshd, PAM, su, runuser and login: each one
works as with a plain shell and leaves its own verified recording."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ptyprocess import PtyProcess

from tests.lab import story
from tests.lab.lab import Lab
from tests.test_login_shell import new_recording, played, read_until, recordings

HOME = Path("/home/alice")


@pytest.fixture(scope="module")
def rules(lab: Lab) -> Iterator[None]:
    added = story.add_rules(lab)
    story.host_decisions(lab)
    yield
    story.remove_rules(lab, added)
    story.host_decisions(lab)


def ssh_options(lab: Lab) -> list[str]:
    """The lab's ssh options, for scp, sftp and rsync, which take them apart from the command."""
    argv = lab.ssh_argv("alice")
    return argv[1:-1]


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=60, **kw)  # type: ignore[call-overload]


def test_ssh_t_with_a_command(lab: Lab, rules: None) -> None:
    before = recordings(lab, "alice")
    result = lab.run_ssh("alice", "tty; exit 6", tty=True)
    assert result.returncode == 6 and b"/dev/pts/" in result.stdout
    assert b"/dev/pts/" in played(new_recording(lab, "alice", before))


def test_ssh_T_with_a_script_on_stdin(lab: Lab, rules: None) -> None:
    before = recordings(lab, "alice")
    argv = lab.ssh_argv("alice")
    result = run([argv[0], "-T", *argv[1:]], input=b"echo from-stdin-$((2*21))\nexit 4\n")
    assert result.returncode == 4 and result.stdout.endswith(b"\nfrom-stdin-42\n")  # after the motd
    assert b"from-stdin-42" in played(new_recording(lab, "alice", before))


def test_ssh_rc_runs_through_the_login_shell_as_its_own_recording(lab: Lab, rules: None) -> None:
    rc = HOME / ".ssh" / "rc"
    rc.parent.mkdir(mode=0o700, exist_ok=True)
    os.chown(rc.parent, 10001, 10001)
    rc.write_text("echo rc-ran >> $HOME/rc-marker\n")
    os.chown(rc, 10001, 10001)
    before = recordings(lab, "alice")
    try:
        result = lab.run_ssh("alice", "cat rc-marker")
        assert result.returncode == 0 and result.stdout == b"rc-ran\n"
        deadline = time.monotonic() + 10
        while len(recordings(lab, "alice") - before) < 2:
            assert time.monotonic() < deadline, "rc and the command should be two recordings"
            time.sleep(0.1)
    finally:
        rc.unlink()
        (HOME / "rc-marker").unlink(missing_ok=True)


@pytest.mark.parametrize("legacy", [False, True], ids=["scp-sftp-protocol", "scp-O"])
def test_scp_both_ways(lab: Lab, rules: None, tmp_path: Path, legacy: bool) -> None:
    data = os.urandom(100_000)
    source = tmp_path / "up.bin"
    source.write_bytes(data)
    before = recordings(lab, "alice")
    scp = ["scp", *(["-O"] if legacy else []), *ssh_options(lab)]
    scp = [a.replace("-p", "-P") if a == "-p" else a for a in scp]
    assert run([*scp, str(source), "alice@127.0.0.1:up.bin"]).returncode == 0
    back = tmp_path / "down.bin"
    done = run([*scp, "alice@127.0.0.1:up.bin", str(back)])
    assert done.returncode == 0, done.stderr
    assert back.read_bytes() == data
    assert len(recordings(lab, "alice") - before) >= 2  # each transfer passed the login shell
    (HOME / "up.bin").unlink()


def test_sftp_batch(lab: Lab, rules: None, tmp_path: Path) -> None:
    (tmp_path / "batch").write_text("put /etc/hostname h\nget h got\nrm h\n")
    sftp = ["sftp", *[a.replace("-p", "-P") if a == "-p" else a for a in ssh_options(lab)]]
    before = recordings(lab, "alice")
    done = run([*sftp, "-b", str(tmp_path / "batch"), "alice@127.0.0.1"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "got").read_bytes() == Path("/etc/hostname").read_bytes()
    assert recordings(lab, "alice") - before


def test_rsync_over_ssh(lab: Lab, rules: None, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(5):
        (tree / f"f{i}").write_bytes(os.urandom(10_000))
    rsh = " ".join(lab.ssh_argv("alice")[:-1])
    done = run(["rsync", "-a", "-e", rsh, f"{tree}/", "alice@127.0.0.1:tree/"])
    assert done.returncode == 0, done.stderr
    back = tmp_path / "back"
    done = run(["rsync", "-a", "-e", rsh, "alice@127.0.0.1:tree/", f"{back}/"])
    assert done.returncode == 0, done.stderr
    assert {p.name: p.read_bytes() for p in back.iterdir()} == {
        p.name: p.read_bytes() for p in tree.iterdir()
    }
    shutil.rmtree(HOME / "tree")


def test_su_from_root_with_a_command_and_as_a_login(lab: Lab, rules: None) -> None:
    before = recordings(lab, "alice")
    result = run(["su", "alice", "-c", "echo su-$(id -un); exit 3"], cwd="/")
    assert result.returncode == 3 and result.stdout == b"su-alice\n"
    rec = new_recording(lab, "alice", before)
    assert b"su-alice" in played(rec)
    before = recordings(lab, "alice")
    child = PtyProcess.spawn(["su", "-", "alice"], dimensions=(24, 80), cwd="/")
    child.write(b"echo login-$(pwd); exit 2\n")
    assert b"login-/home/alice" in read_until(child, b"login-/home/alice")
    child.wait()
    assert child.exitstatus == 2
    assert b"login-/home/alice" in played(new_recording(lab, "alice", before))


def test_runuser_l_and_login_f(lab: Lab, rules: None) -> None:
    before = recordings(lab, "alice")
    result = run(["runuser", "-l", "alice", "-c", "echo runuser-ok"], cwd="/")
    assert result.returncode == 0 and result.stdout == b"runuser-ok\n", result.stderr
    assert b"runuser-ok" in played(new_recording(lab, "alice", before))
    before = recordings(lab, "alice")
    child = PtyProcess.spawn(["login", "-f", "alice"], dimensions=(24, 80), cwd="/")
    child.write(b"echo console-$((3*3)); exit\n")
    read_until(child, b"console-9")
    child.wait()
    assert b"console-9" in played(new_recording(lab, "alice", before))


def test_a_second_channel_of_one_multiplexed_connection_is_recorded_too(lab: Lab, rules: None) -> None:
    control = Path(tempfile.mkdtemp(prefix="sessrec-mux-")) / "c"
    base = lab.ssh_argv("alice")
    mux = [
        base[0],
        "-o",
        "ControlMaster=auto",
        "-o",
        f"ControlPath={control}",
        "-o",
        "ControlPersist=30",
        *base[1:],
    ]
    before = recordings(lab, "alice")
    try:
        assert run([*mux, "echo first"]).stdout == b"first\n"
        assert run([*mux, "echo second"]).stdout == b"second\n"
        assert len(recordings(lab, "alice") - before) == 2
    finally:
        run([base[0], "-o", f"ControlPath={control}", "-O", "exit", "x"])
        shutil.rmtree(control.parent, ignore_errors=True)


def test_a_nested_login_is_its_own_recording(lab: Lab, rules: None) -> None:
    key = HOME / "lab_key"
    shutil.copy(lab.ssh.client_key, key)
    os.chown(key, 10001, 10001)
    key.chmod(0o600)
    inner = " ".join(
        a if a != str(lab.ssh.client_key) else str(key) for a in lab.ssh_argv("alice", "echo inner-ok")
    )
    before = recordings(lab, "alice")
    try:
        result = lab.run_ssh("alice", f"{inner}; echo outer-ok")
        assert result.stdout == b"inner-ok\nouter-ok\n", result.stderr
        new = recordings(lab, "alice") - before
        assert len(new) == 2, "outer and inner login: two recordings, none silently skipped"
        assert all(b"inner-ok" in played(rec) for rec in new)  # the outer one saw the inner's output too
    finally:
        key.unlink()
