"""The warm recorder (`sessrec relay-server`): requests checked, relays forked clean into sessions of their
own with only the session's descriptors, their end known from a pidfd and their status reported; it ends
when the agent closes its socket."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.forkserver import BadRequest, relay_argv
from tests.recorder_helpers import ROOT

FDS = {"conn": 0, "real": [1, 2, 3], "ours": [4, 5, 6], "theirs": [7, 8, 9]}


def test_relay_arguments_name_the_received_descriptors() -> None:
    received = [30, 31, 32, 33, 34, 35, 36, 37, 38, 39]
    argv = relay_argv({"argv": ["--user", "alice", "--pipes"], "fds": FDS}, received)
    assert argv == [
        "relay",
        "--user",
        "alice",
        "--pipes",
        "--conn",
        "30",
        "--real",
        "31,32,33",
        "--ours",
        "34,35,36",
        "--theirs",
        "37,38,39",
    ]


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        ({"argv": "--user alice", "fds": FDS}, "argv must be a list of strings"),
        ({"argv": ["--conn", "3"], "fds": FDS}, "descriptors are given in fds"),
        ({"argv": [], "fds": {**FDS, "extra": [1]}}, "fds must name conn, real, ours, theirs"),
        ({"argv": [], "fds": {**FDS, "conn": 10}}, "fds.conn: indexes"),
        ({"argv": [], "fds": {**FDS, "conn": True}}, "fds.conn: indexes"),
        ({"argv": [], "fds": {**FDS, "conn": 1}}, "every attached descriptor is used once"),
    ],
)
def test_requests_that_are_not_the_agents_are_refused(request_: dict, error: str) -> None:
    with pytest.raises(BadRequest, match=error):
        relay_argv(request_, list(range(20, 30)))


class Server:
    """`sessrec relay-server` on a socketpair, as the agent starts it."""

    def __init__(self) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "recorder", "relay-server", "--control", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()

    def ask(self, request: dict, fds: list[int]) -> tuple[dict, list[int]]:
        socket.send_fds(self.sock, [json.dumps(request).encode()], fds)
        return self.receive()

    def receive(self, timeout: float = 20) -> tuple[dict, list[int]]:
        assert select.select([self.sock], [], [], timeout)[0], "the warm recorder did not answer"
        data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
        return json.loads(data), fds

    def open_fds(self) -> int:
        """Its open descriptors, once it serves (a first answer)."""
        assert "error" in self.ask({"v": 0}, [])[0]
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.sock.close()
    try:
        s.proc.wait(timeout=10)
    finally:
        if s.proc.poll() is None:
            s.proc.kill()


def session(tmp_path: Path) -> tuple[dict, list[int], dict[str, list[int]]]:
    """A pipes session as the agent sets it up: the request and its descriptors, and the test's ends."""
    shell, conn = socket.socketpair()
    real = [os.pipe() for _ in range(3)]
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    fds = [conn.detach(), real[0][0], real[1][1], real[2][1], stdin_w, out_r, err_r, stdin_r, out_w, err_w]
    args = ["-o", str(tmp_path / "rec.log"), "--user", "alice", "--session", "7", "--command", "true"]
    args += ["--answer", json.dumps({"user": "alice"}), "--pipes"]
    mine = {"shell": [shell.detach()], "real": [real[0][1], real[1][0], real[2][0]]}
    return {"v": 1, "argv": args, "fds": FDS}, fds, mine


def test_a_relay_forked_clean_and_its_end_known(server: Server, tmp_path: Path) -> None:
    before = server.open_fds()
    request, fds, mine = session(tmp_path)
    answer, (pidfd,) = server.ask(request, fds)
    for fd in fds:
        os.close(fd)
    pid = answer["pid"]
    shell = socket.socket(fileno=mine["shell"][0])
    data, theirs, _, _ = socket.recv_fds(shell, 4096, 8)  # the relay answers the login shell itself
    assert json.loads(data)["ok"] is True and len(theirs) == 3
    assert os.getsid(pid) == pid and os.getppid() != pid  # a session of its own
    control = {
        os.readlink(f"/proc/{server.proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{server.proc.pid}/fd")
    }
    held = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    sockets = {link for link in control if link.startswith("socket:")}
    assert sockets and not sockets & held  # not the warm recorder's socket to the agent
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "tlog-rec-sessio"
    assert server.open_fds() == before  # it kept none of the session's descriptors
    for fd in theirs:
        os.close(fd)
    shell.sendall(json.dumps({"op": "exit", "status": 3}).encode() + b"\n")
    assert select.select([pidfd], [], [], 20)[0], "the relay did not end"
    ended, _ = server.receive()
    assert ended == {"v": 1, "ended": pid, "status": 0}
    os.close(pidfd)
    lines = [json.loads(line) for line in (tmp_path / "rec.log").read_text().splitlines()]
    assert lines[0]["user"] == "alice" and lines[0]["session"] == 7
    assert '"event":"end"' in (tmp_path / "rec.log").read_text().replace(" ", "")
    shell.close()
    for fd in mine["real"]:
        os.close(fd)


def test_a_bad_request_is_answered_and_it_keeps_serving(server: Server, tmp_path: Path) -> None:
    before = server.open_fds()
    r, w = os.pipe()
    answer, got = server.ask({"v": 1, "argv": ["--conn", "1"], "fds": FDS}, [r, w])
    assert answer == {"v": 1, "error": "bad request: descriptors are given in fds, not in argv"} and not got
    answer, _ = server.ask({"v": 2}, [])
    assert answer["error"] == "bad request: a version 1 JSON object is expected"
    socket.send_fds(server.sock, [b"not json"], [r])
    assert server.receive()[0]["error"].startswith("bad request:")
    assert server.open_fds() == before  # what came with them was closed
    # A relay that fails at once still gives its pid and its status.
    request, fds, _ = session(tmp_path)
    request["argv"] = ["--user", "alice"]  # no --session: the relay's arguments are refused
    answer, (pidfd,) = server.ask(request, fds)
    assert select.select([pidfd], [], [], 20)[0]
    assert server.receive()[0] == {"v": 1, "ended": answer["pid"], "status": 2}
    os.close(r)
    os.close(w)


def test_it_ends_when_the_agent_closes_its_socket(server: Server) -> None:
    server.sock.close()
    assert server.proc.wait(timeout=10) == 0


def test_a_control_that_is_not_a_socket_is_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "recorder", "relay-server", "--control", "0"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert (
        done.returncode == 2
        and done.stderr.strip() == "sessrec relay-server: --control 0 is not an open socket"
    )
