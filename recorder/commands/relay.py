"""`sessrec relay`: the recorder of a login session, started by the agent as the recorder's own user.

Not for interactive use: its descriptors (the real terminal or stdin/stdout/stderr, the session's side and
the login shell's connection) come from the agent, which also chose the options from the rules.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time


def _fds(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


def register(subparsers: argparse._SubParsersAction) -> None:
    from recorder.commands.record import add_option_arguments

    p = subparsers.add_parser("relay", help=argparse.SUPPRESS, description=__doc__)
    add_option_arguments(p)
    p.add_argument("--user", required=True, help="the recorded user (TLOG_USER)")
    p.add_argument("--session", type=int, required=True, help="the login's audit session id")
    p.add_argument("--term", default="")
    p.add_argument("--command", default="", help="the login's command (-c); empty for a login shell")
    p.add_argument("--conn", type=int, required=True, help="the login shell's connection")
    p.add_argument("--real", type=_fds, required=True, help="the login's stdin,stdout,stderr")
    p.add_argument("--ours", type=_fds, required=True, help="the recorder's side of the session")
    p.add_argument("--theirs", type=_fds, required=True, help="the session's side, for the login shell")
    p.add_argument("--answer", type=json.loads, required=True, help="the decision, sent to the login shell")
    p.add_argument("--pipes", action="store_true", help="not a terminal session")
    p.set_defaults(func=run)
    server = subparsers.add_parser(
        "relay-server",
        help=argparse.SUPPRESS,
        description="The warm recorder (recorder/forkserver.py): forks a relay for each session the agent "
        "asks for on --control.",
    )
    server.add_argument("--control", type=int, required=True, help="the agent's socket (SOCK_SEQPACKET)")
    server.set_defaults(func=run_server)


def run_server(args: argparse.Namespace) -> int:
    import stat

    from recorder import forkserver
    from recorder.cli import UsageError

    try:
        is_socket = stat.S_ISSOCK(os.fstat(args.control).st_mode)
    except OSError:
        is_socket = False
    if not is_socket:
        raise UsageError(f"--control {args.control} is not an open socket")
    return forkserver.serve(args.control)


def _answer(conn: socket.socket, message: dict, fds: tuple[int, ...] = ()) -> None:
    data = json.dumps({"v": 1, **message}).encode() + b"\n"
    if fds:
        socket.send_fds(conn, [data], list(fds))
    else:
        conn.sendall(data)


def run(args: argparse.Namespace) -> int:
    from recorder import identity
    from recorder.cli import VERSION
    from recorder.commands.record import check_options, make_sink, notice_text
    from recorder.relay import Ends, Relay
    from recorder.tlogformat import Meta
    from recorder.writers import WriterError

    check_options(args)
    identity.harden()
    conn = socket.socket(fileno=args.conn)
    meta = Meta(
        host=identity.fqdn(),
        rec=identity.rec_id(),
        user=args.user,
        term=args.term,
        session=args.session,
    )
    start = {"version": VERSION, "mode": "pipes" if args.pipes else "pty", "by": "agent"}
    if args.command:
        start["command"] = args.command
    if not (args.log_output or args.input):
        start["metadata_only"] = True  # a file transfer under `transfers: metadata`: command and sizes
    try:
        sink = make_sink(args, meta)
        # The start record, written before the session runs: a log that cannot take it refuses the session.
        sink.start(time.monotonic(), **start)
    except WriterError as exc:
        _answer(conn, {"ok": False, "error": f"cannot record: {exc}"})
        return 1
    ends = Ends(real=args.real, ours=args.ours)  # type: ignore[arg-type]
    relay = Relay(ends, conn, sink, log_input=args.input)
    try:
        relay.start()
        notice = notice_text(args).replace("\n", "\r\n").encode()
        if notice and not args.pipes:  # interactive sessions only, recorded like any output
            sink.output(time.monotonic(), notice)
            os.write(args.real[1], notice)
        sink.flush()
        _answer(conn, {"ok": True, "record": True, "refuse": False, **args.answer}, args.theirs)
        for fd in args.theirs:
            os.close(fd)
        relay.run()
        relay.finish(None if relay.status is not None else "the login shell ended without an exit status")
    except WriterError as exc:
        print(f"sessrec relay: recording failed, session ended: {exc}", file=sys.stderr)
        relay.tell_done()
        return 74
    return 0
