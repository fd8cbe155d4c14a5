"""The recorder against the user it records: her code in the recorder (Python's doors, the dynamic
loader's), her files in place of the log, her name server in the way of every login."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.identity import fqdn
from tests.recorder_helpers import ROOT, sessrec, sessrec_argv

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory everyone may write (pytest's tmp_path is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="sessrec-test-"))
    os.chmod(path, 0o1777)
    yield path
    shutil.rmtree(path)


def _records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_bytes().splitlines()]


# -- the file writer ----------------------------------------------------------------------------------


def test_log_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep\n")
    (tmp_path / "r.log").symlink_to(target)
    result = sessrec("record", "-o", str(tmp_path / "r.log"), "--", "echo", "ran")
    assert result.returncode == 1 and b"ran" not in result.stdout
    refusal = f"sessrec record: log file {tmp_path}/r.log is a symbolic link; refusing it; not starting"
    assert result.stderr.startswith(refusal.encode()) and result.stderr.count(b"\n") == 1
    assert target.read_bytes() == b"keep\n"


def test_log_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "r.log")
    result = sessrec("record", "-o", str(tmp_path / "r.log"), "--", "echo", "ran", timeout=10)
    assert (
        result.returncode == 1 and b"is not a regular file" in result.stderr and b"ran" not in result.stdout
    )


@pytest.mark.parametrize(
    ("setup", "problem"),
    [
        (lambda p: p.chmod(0o644), b"has mode 0644, not 0600"),
        (lambda p: os.chown(p, 65534, 65534), b"belongs to uid 65534"),
        (lambda p: os.link(p, p.with_name("other")), b"has 2 links"),
    ],
)
def test_log_mode_owner_and_links_are_checked_on_every_open(tmp_path: Path, setup, problem: bytes) -> None:
    log = tmp_path / "r.log"
    assert sessrec("record", "-o", str(log), "--", "true").returncode == 0
    assert log.stat().st_mode & 0o777 == 0o600
    setup(log)
    result = sessrec("record", "-o", str(log), "--", "echo", "ran")
    assert result.returncode == 1 and problem in result.stderr and b"ran" not in result.stdout


# -- host name ----------------------------------------------------------------------------------------


def test_fqdn_sources(tmp_path: Path) -> None:
    assert fqdn("host.example.test", str(tmp_path)) == "host.example.test"
    assert fqdn("short", str(tmp_path)) == "short"  # nothing says more
    (tmp_path / "hosts").write_text(
        "127.0.0.1 localhost\n# 10.0.0.1 short.wrong\n10.0.0.2 short.example.test short\n"
    )
    assert fqdn("short", str(tmp_path)) == "short.example.test"
    (tmp_path / "hostname").write_text("short.from-hostname.test\n")
    assert fqdn("short", str(tmp_path)) == "short.from-hostname.test"
    assert fqdn("other", str(tmp_path)) == "other"


NAMESERVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    data, _ = s.recvfrom(4096)
    with open(sys.argv[1], "ab") as f:
        f.write(data[12:] + b"\\n")
"""


def test_host_name_taken_without_asking_dns(tmp_path: Path) -> None:
    """In namespaces of its own (UTS, network, mount): the host is `shorthost`, /etc/hosts does not name it,
    and the only name server is ours, on the loopback. getaddrinfo asks it; the recorder does not."""
    queries, log = tmp_path / "queries", tmp_path / "r.log"
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")
    (tmp_path / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files dns\n")
    (tmp_path / "ns.py").write_text(NAMESERVER)
    record = " ".join(sessrec_argv("record", "-o", str(log), "--", "true"))
    lookup = "import socket; socket.getaddrinfo('shorthost', None, flags=socket.AI_CANONNAME)"
    script = f"""
        set -e
        hostname shorthost
        ip link set lo up
        for f in resolv.conf hosts nsswitch.conf; do mount --bind {tmp_path}/$f /etc/$f; done
        python3 {tmp_path}/ns.py {queries} > {tmp_path}/ns.out 2>&1 & ns=$!
        while ! grep -q ready {tmp_path}/ns.out 2>/dev/null; do sleep 0.02; done
        cd {ROOT}; {record}
        test ! -e {queries} && echo no-query
        python3 -c "{lookup}" 2>/dev/null || true
        test -e {queries} && echo asked
        kill $ns
    """
    result = subprocess.run(
        ["unshare", "-u", "-n", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        timeout=60,
    )
    assert result.stdout.split() == [b"no-query", b"asked"], result.stderr
    assert _records(log)[0]["host"] == "shorthost"


# -- code of the user's in the recorder -----------------------------------------------------------------

MARKER_PY = "open({marker!r}, 'a').write('ran\\n')\n"


def _nobody(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*AS_NOBODY, *argv],
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **env},
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        cwd="/",
    )


@pytest.mark.parametrize("door", ["usercustomize", "PYTHONPATH"])
def test_python_doors_are_closed(installed: types.ModuleType, open_dir: Path, door: str) -> None:
    """Each door opens on the installed interpreter without -I (the control), not on sessrec."""
    marker, log = open_dir / "marker", open_dir / "r.log"
    if door == "usercustomize":  # the user site is on: the venv includes the system site-packages
        site = open_dir / "home/.local/lib/python3.11/site-packages"
        site.mkdir(parents=True)
        (site / "usercustomize.py").write_text(MARKER_PY.format(marker=str(marker)))
        env = {"HOME": str(open_dir / "home")}
    else:
        (open_dir / "sitecustomize.py").write_text(MARKER_PY.format(marker=str(marker)))
        env = {"PYTHONPATH": str(open_dir)}
    subprocess.run(["chmod", "-R", "a+rwX", str(open_dir)], check=True)
    control = _nobody([str(installed.PYTHON), "-c", "pass"], env)
    assert marker.exists(), control.stderr  # the door is real
    marker.unlink()
    result = _nobody([str(installed.SESSREC), "record", "-o", str(log), "--", "echo", "recorded"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"recorded\n" and not marker.exists()


def test_pythoninspect_gives_no_prompt_after_the_session(installed: types.ModuleType, open_dir: Path) -> None:
    """PYTHONINSPECT=1 leaves the interpreter at a `>>>` prompt on the terminal after its program (the
    control); sessrec ignores it and ends with the session."""
    from ptyprocess import PtyProcess

    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONINSPECT": "1", "TERM": "xterm"}

    def run(argv: list[str]) -> tuple[bytes, bool]:
        child = PtyProcess.spawn([*AS_NOBODY, *argv], env=env, cwd="/")
        out, deadline = b"", time.monotonic() + 20
        while b">>> " not in out and time.monotonic() < deadline:
            try:
                out += child.read(1024)
            except EOFError:
                break
        prompt = b">>> " in out
        child.terminate(force=True)
        return out, prompt

    assert run([str(installed.PYTHON), "-c", "print('program done')"])[1]
    log = open_dir / "r.log"
    out, prompt = run(
        [str(installed.SESSREC), "record", "-o", str(log), "--notice", "", "--", "echo", "session done"]
    )
    assert not prompt and b"session done" in out


EVIL_C = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void) {
    const char *mark = getenv("EVIL_MARK");
    int fd = mark ? open(mark, O_CREAT | O_WRONLY | O_APPEND, 0666) : -1;
    if (fd >= 0) { write(fd, "ran\n", 4); close(fd); }
    if (getenv("EVIL_HIDE")) unsetenv("LD_PRELOAD");
}
unsigned int la_version(unsigned int version) { return version; }
"""


@pytest.fixture
def evil_so(open_dir: Path) -> Path:
    """A shared object of the user's: a constructor that leaves a mark (and can remove its LD_PRELOAD),
    and an audit interface (la_version) for LD_AUDIT."""
    source = open_dir / "evil.c"
    source.write_text(EVIL_C)
    library = open_dir / "lib" / "evil.so"
    library.parent.mkdir()
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    subprocess.run(["chown", "-R", "nobody:nogroup", str(library.parent)], check=True)
    return library


@pytest.mark.parametrize(
    "variables",
    [
        {"LD_PRELOAD": "{lib}"},
        {"LD_PRELOAD": "{lib}", "EVIL_HIDE": "1"},  # the library removes its variable: its mapping shows
        {"LD_AUDIT": "{lib}"},
        {"LD_LIBRARY_PATH": "{dir}"},
    ],
    ids=["LD_PRELOAD", "LD_PRELOAD-hidden", "LD_AUDIT", "LD_LIBRARY_PATH"],
)
def test_loader_injection_refuses_the_session(
    installed: types.ModuleType, open_dir: Path, evil_so: Path, variables: dict
) -> None:
    env = {k: v.format(lib=evil_so, dir=evil_so.parent) for k, v in variables.items()}
    # Given to sessrec alone (`env` sets them for what it runs), as a login's environment would.
    argv = ["env", *(f"{k}={v}" for k, v in env.items()), str(installed.SESSREC), "record"]
    argv += ["-o", str(open_dir / "r.log"), "--", "touch", str(open_dir / "ran")]
    result = _nobody(argv, {"EVIL_MARK": str(open_dir / "mark")})
    assert result.returncode == 1, result.stderr
    err = result.stderr.decode()
    assert (
        err.startswith("sessrec record: the dynamic loader was given code to run (") and err.count("\n") == 1
    )
    assert "not starting an unrecorded session" in err
    if "EVIL_HIDE" in env:
        assert f"{evil_so} is mapped but is not the system's" in err and "LD_PRELOAD is set" not in err
    assert not (open_dir / "ran").exists() and not (open_dir / "r.log").exists()
    if "LD_LIBRARY_PATH" not in env:
        assert (open_dir / "mark").read_text() == "ran\n"  # its code did run in sessrec, before Python


@pytest.fixture
def recorder_conf(tmp_path: Path):
    """Runs argv with /etc/sessrec replaced (in a mount namespace of its own) by a directory holding
    recorder.conf with the given text."""
    if not Path("/etc/sessrec").is_dir():
        pytest.fail("/etc/sessrec is missing: run `make install`")

    def run(text: str, argv: list[str], mode: int = 0o644, **kwargs) -> subprocess.CompletedProcess:
        etc = tmp_path / "etc-sessrec"
        etc.mkdir(exist_ok=True)
        os.chmod(tmp_path, 0o755)
        os.chmod(etc, 0o755)
        conf = etc / "recorder.conf"
        conf.write_text(text)
        conf.chmod(mode)
        script = f'mount --bind {etc} /etc/sessrec && exec "$@"'
        return subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *argv],
            capture_output=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )

    return run


@pytest.mark.parametrize("session", ["scrub", "keep"])
def test_warn_setting_records_with_a_warning(
    installed: types.ModuleType, open_dir: Path, recorder_conf, session: str
) -> None:
    conf = f"[recorder]\nloader_environment = warn\nloader_environment_session = {session}\n"
    log = open_dir / "r.log"
    libz = "/usr/lib/x86_64-linux-gnu/libz.so.1"
    argv = [*AS_NOBODY, "env", f"LD_PRELOAD={libz}", str(installed.SESSREC), "record", "-o", str(log)]
    result = recorder_conf(conf, [*argv, "--", "sh", "-c", "echo preload=${LD_PRELOAD:-none}"])
    assert result.returncode == 0, result.stderr
    expected = libz if session == "keep" else "none"
    assert result.stdout == f"preload={expected}\n".encode()
    removed = " (removed from the session)" if session == "scrub" else ""
    assert result.stderr == f"sessrec record: warning: LD_PRELOAD is set{removed}\n".encode()
    assert _records(log)[0]["sessrec"]["warnings"] == f"LD_PRELOAD is set{removed}"


@pytest.mark.parametrize(
    ("text", "mode", "problem"),
    [
        ("[recorder]\nloader_environment = warn\n", 0o666, b"not a regular file that only root can change"),
        ("[recorder]\nloader_environment = maybe\n", 0o644, b"loader_environment must be refuse or warn"),
        ("[recorder]\nlouder = warn\n", 0o644, b"unknown setting louder"),
    ],
)
def test_a_setting_that_cannot_be_trusted_or_read_refuses(
    recorder_conf, text: str, mode: int, problem: bytes
) -> None:
    argv = sessrec_argv("record", "-o", "/tmp/never-written.log", "--", "echo", "ran")
    result = recorder_conf(text, argv, mode=mode, cwd=ROOT)
    assert result.returncode == 1 and problem in result.stderr and b"ran" not in result.stdout
    assert result.stderr.count(b"\n") == 1
