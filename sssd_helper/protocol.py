"""The agent's local protocol, version 1, and its client (standard library only: the login shell uses it).

One request per connection on the Unix socket: a JSON object on one line, at most MAX_REQUEST bytes,
answered by one JSON object on one line. Every request carries `"v": 1` and an `op`:

- `decide` — the decision for the caller, identified by the kernel (SO_PEERCRED); root may add `"user"`.
- `start` — the login shell's: its stdin, stdout and stderr come along (SCM_RIGHTS); the answer says
  whether to run the real shell directly, or brings the recorded session's descriptors (docs/agent.md).
- `status` — rules' age, server, count and the last fetch error (root).
- `show` — the cached rules (root).
- `sync` — fetch the rules now (root).

Answers carry `"v": 1` and `"ok"`; errors are `{"ok": false, "error": "<one line>"}`. docs/agent.md has
the fields of each answer.
"""

from __future__ import annotations

VERSION = 1
SOCKET = "/run/sessrec/agent.sock"
MAX_REQUEST = 4096
MAX_ANSWER = 4 << 20
OPS = ("decide", "start", "status", "show", "sync")


class AgentUnavailable(Exception):
    """The agent could not be asked, or gave no usable answer; the message is one line."""


class AgentRefused(Exception):
    """The agent answered with an error; the message is its one line."""


# json, socket (and typing) are imported where used, or not at all: the login shell takes the constants
# above on every login and must not pay for them (it speaks the protocol with C modules only).


def encode(message: dict[str, object]) -> bytes:
    import json

    return json.dumps(message, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"


def ask(op: str, socket_path: str = SOCKET, timeout: float = 10.0, **fields: object) -> dict[str, object]:
    """Send one request and return the answer; AgentUnavailable or AgentRefused say why not."""
    import json
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(encode({"v": VERSION, "op": op, **fields}))
            sock.shutdown(socket.SHUT_WR)
            answer = _read_line(sock)
    except OSError as exc:
        raise AgentUnavailable(f"cannot ask the agent at {socket_path}: {exc.strerror or exc}") from None
    try:
        message = json.loads(answer)
    except ValueError:
        raise AgentUnavailable("the agent's answer is not JSON") from None
    if not isinstance(message, dict) or message.get("v") != VERSION:
        raise AgentUnavailable("the agent speaks another protocol version")
    if not message.get("ok"):
        raise AgentRefused(str(message.get("error", "refused")))
    return message


def _read_line(sock: object) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER:
            raise OSError("the agent's answer is too large")
        if chunk.endswith(b"\n"):
            break
    if not chunks:
        raise OSError("the agent closed the connection without answering")
    return b"".join(chunks)
