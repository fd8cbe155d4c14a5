"""`sessrec-shell`, the login shell SSSD gives every user of the IPA domain: it asks the agent, then runs
the real shell either directly or on the recorded side of the session the agent set up.

Every login of every such user passes here, so it is lean: C modules of the standard library only (no
json, socket, os, asyncio, argparse). It starts through a setgid interpreter: the dynamic loader is then in
secure mode and ignores LD_PRELOAD, LD_AUDIT and LD_LIBRARY_PATH from the user's environment, and `-I -S`
keeps PYTHON* and the user's site-packages out. The group buys nothing else and is dropped first thing.
"""

from __future__ import annotations

import _json
import _signal
import _socket
import array
import fcntl
import posix
import sys
import termios

from sssd_helper.protocol import SOCKET, VERSION

SHELL_CONF = "/etc/sessrec/shell.conf"
FALLBACK_SHELL = "/bin/bash"
SESSREC = "/opt/sessrec/bin/sessrec"
AGENT_TIMEOUT = 15.0  # the agent answers within its own timeouts (SSSD, LDAP at its start)
DONE_TIMEOUT = 30.0
EX_NOPERM = 77


def _say(text: str) -> None:
    try:
        posix.write(2, f"sessrec-shell: {text}\n".encode())
    except OSError:
        pass


# -- JSON with the C accelerator only (the json package would import re) --------------------------------
class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo: dict = {}


_scan = _json.make_scanner(_Context())


def _encode(message: dict) -> bytes:
    def value(v: object) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        return _json.encode_basestring_ascii(str(v))

    return ("{" + ",".join(f"{value(k)}:{value(v)}" for k, v in message.items()) + "}\n").encode()


def _decode(line: bytes) -> dict:
    obj, _end = _scan(line.decode(), 0)
    if not isinstance(obj, dict):
        raise ValueError("not an object")
    return obj


# -- talking to the agent ---------------------------------------------------------------------------------
def _connect() -> _socket.socket:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    sock.settimeout(AGENT_TIMEOUT)
    sock.connect(SOCKET)
    return sock


def _send_with_fds(sock: _socket.socket, data: bytes, fds: list[int]) -> None:
    ancillary = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
    sock.sendmsg([data], ancillary)


def _receive(sock: _socket.socket) -> tuple[dict, list[int]]:
    """One answer line and the descriptors that came with it."""
    data, fds = b"", array.array("i")
    while b"\n" not in data:
        chunk, ancillary, _flags, _addr = sock.recvmsg(65536, _socket.CMSG_SPACE(8 * fds.itemsize))
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        if not chunk:
            break
        data += chunk
    if not data:
        raise OSError("the agent closed the connection without answering")
    return _decode(data.split(b"\n", 1)[0]), list(fds)


# -- the real shell ---------------------------------------------------------------------------------------
def _shell_argv(shell: str, args: list[str]) -> list[str]:
    """As sshd and login run a shell: `-name` for a login, `name -c CMD` for a command."""
    name = shell.rsplit("/", 1)[-1]
    return [name, *args] if args else ["-" + name]


def _exec(shell: str, args: list[str]) -> int:
    try:
        posix.execv(shell, _shell_argv(shell, args))
    except OSError as exc:
        _say(f"cannot run {shell}: {exc.strerror}")
    return 127


def _fail_mode() -> str:
    """`agent_unreachable = record|refuse` from /etc/sessrec/shell.conf; record when unset."""
    try:
        fd = posix.open(SHELL_CONF, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return "record"
    try:
        text = posix.read(fd, 65536).decode("utf-8", "replace")
    finally:
        posix.close(fd)
    for line in text.splitlines():
        key, _, val = line.partition("=")
        if key.strip() == "agent_unreachable" and val.strip() in ("record", "refuse"):
            return val.strip()
    return "record"


def _agent_unreachable(why: str, args: list[str]) -> int:
    """The documented fail-closed default: record with the default options (by a recorder running as
    the user, the only one that can be started without the agent), or refuse the login."""
    if _fail_mode() == "refuse":
        _say(f"the session recording agent cannot be asked ({why}); login refused")
        return EX_NOPERM
    _say(f"the session recording agent cannot be asked ({why}); recording with default options")
    try:
        posix.execv(SESSREC, ["sessrec", "record", "--", FALLBACK_SHELL, *(args or ["-l"])])
    except OSError as exc:
        _say(f"cannot start the recorder ({exc.strerror}); login refused")
    return EX_NOPERM


# -- a recorded session -----------------------------------------------------------------------------------
def _run_recorded(sock: _socket.socket, shell: str, args: list[str], fds: list[int], pty: bool) -> int:
    """The shell runs as our child on the session's side; we report its exit status to the recorder and
    leave once the recorder has delivered all its output."""
    pid = posix.fork()
    if pid == 0:
        try:
            posix.setsid()
            if pty:
                fcntl.ioctl(fds[0], termios.TIOCSCTTY, 0)
            sources = fds * 3 if pty else fds
            for target, source in enumerate(sources):
                posix.dup2(source, target)
            for fd in fds:
                if fd > 2:
                    posix.close(fd)
            posix.execv(shell, _shell_argv(shell, args))
        except OSError as exc:
            _say(f"cannot run {shell}: {exc.strerror}")
        posix._exit(127)
    for fd in fds:
        posix.close(fd)
    null = posix.open("/dev/null", posix.O_RDWR)
    for fd in (0, 1, 2):
        posix.dup2(null, fd)
    posix.close(null)
    _parent_signals(sock, pid)
    status, signum = _wait(pid)
    report = {"op": "exit", "status": status, "signum": signum}
    try:
        sock.settimeout(DONE_TIMEOUT)
        sock.sendall(_encode(report))
        _receive(sock)  # the recorder's "done": everything the session wrote is delivered and logged
    except (OSError, ValueError):
        pass
    return status


def _parent_signals(sock: _socket.socket, child: int) -> None:
    for signum in (_signal.SIGINT, _signal.SIGQUIT, _signal.SIGTSTP, _signal.SIGTTIN, _signal.SIGTTOU):
        _signal.signal(signum, _signal.SIG_IGN)

    def forward(signum: int, _frame: object) -> None:
        try:
            posix.kill(-child, signum)
        except OSError:
            pass

    def resized(_signum: int, _frame: object) -> None:
        try:
            sock.sendall(_encode({"op": "winch"}))
        except OSError:
            pass

    for signum in (_signal.SIGHUP, _signal.SIGTERM):
        _signal.signal(signum, forward)
    _signal.signal(_signal.SIGWINCH, resized)


def _wait(pid: int) -> tuple[int, int]:
    """A shell-like exit status (128 + N for signal N) and the signal, 0 if none."""
    _, status = posix.waitpid(pid, 0)
    if posix.WIFSIGNALED(status):
        return 128 + posix.WTERMSIG(status), posix.WTERMSIG(status)
    return posix.WEXITSTATUS(status), 0


# -- main -------------------------------------------------------------------------------------------------
def _plug_closed_fds() -> None:
    """/dev/null on a closed stdin, stdout or stderr (`ssh -n`, `<&-`): there must be three to pass."""
    for fd in (0, 1, 2):
        try:
            posix.fstat(fd)
        except OSError:
            null = posix.open("/dev/null", posix.O_RDWR)
            if null != fd:
                posix.dup2(null, fd)
                posix.close(null)


def main(argv: list[str] | None = None) -> int:
    gid = posix.getgid()
    posix.setresgid(gid, gid, gid)  # the setgid interpreter's group was only for the loader's secure mode
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[1] if len(args) >= 2 and args[0] == "-c" else None
    _plug_closed_fds()
    env = posix.environ
    request = {"v": VERSION, "op": "start", "command": command, "term": env.get(b"TERM", b"").decode()}
    try:
        sock = _connect()
        _send_with_fds(sock, _encode(request), [0, 1, 2])
        answer, fds = _receive(sock)
    except (OSError, ValueError) as exc:
        return _agent_unreachable(getattr(exc, "strerror", None) or str(exc), args)
    if not answer.get("ok"):
        _say(f"{answer.get('error', 'the agent refused')}; login refused")
        return EX_NOPERM
    shell = answer.get("shell") or FALLBACK_SHELL
    if answer.get("refuse"):
        _say(f"login refused: {answer.get('reason', '')}")
        return EX_NOPERM
    if not answer.get("record"):
        sock.close()
        return _exec(shell, args)
    if len(fds) not in (1, 3):
        _say("the recorder sent no terminal; login refused")
        return EX_NOPERM
    return _run_recorded(sock, shell, args, fds, pty=len(fds) == 1)


if __name__ == "__main__":
    sys.exit(main())
