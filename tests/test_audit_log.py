"""`sessrec audit` over audit logs written the kernel's way (auparse parses them), without the lab."""

from __future__ import annotations

import json
import os
import random
from datetime import datetime
from pathlib import Path

import pytest

from recorder import cli
from recorder.commands.audit import FIELDS
from sssd_helper import audit_log
from tests.lab.audit import login_record, syscall_event

T0 = 1_790_000_000.0  # the recording's start
BOOT = "c42f3a7925ce4b3486e5dff4e991c457"
REC = f"{BOOT}-2daf-89cce"


def recording(path: Path, session: int = 23, user: str = "alice", seconds: float = 10.0) -> Path:
    base = {"ver": "2.3", "host": "client1.ipa.test", "rec": REC, "user": user, "term": "xterm"}
    messages = [
        {**base, "session": session, "id": 1, "pos": 0, "time": T0, "timing": "=80x24>3", "out_txt": "$ "},
        {
            **base,
            "session": session,
            "id": 2,
            "pos": int(seconds * 1000),
            "time": T0 + seconds,
            "timing": ">2",
        },
    ]
    for m in messages:
        m.update(
            {k: m.get(k, v) for k, v in (("in_txt", ""), ("in_bin", []), ("out_txt", ""), ("out_bin", []))}
        )
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    return path


def audit(tmp_path: Path, lines: list[str], *args: str, session: int = 23) -> tuple[int, str, str]:
    log = tmp_path / "audit.log"
    log.write_text("".join(line + "\n" for line in lines), errors="surrogateescape")
    rec = recording(tmp_path / "rec.json", session=session)
    return run(["audit", "-i", str(rec), "--audit-log", str(log), *args])


def run(argv: list[str]) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def session_log() -> list[str]:
    """A login of alice (session 23) with two commands and two accesses to a watched file, another
    session's command, and a rule of the machine's own in alice's session."""
    return [
        login_record(T0 - 1, 100, 10001, 23),
        *syscall_event(T0 + 0.5, 101, 23, "sessrec-exec-audit-alice", argv=["cat", "/etc/hosts"]),
        *syscall_event(
            T0 + 1.25,
            102,
            23,
            "sessrec-file-audit-alice",
            path="/etc/shadow",
            syscall=(257, "openat"),
            exit_code=-13,
        ),
        *syscall_event(T0 + 2, 103, 24, "sessrec-exec-audit-alice", argv=["id"], uid=10002),
        *syscall_event(T0 + 3, 104, 23, "machine-own", argv=["ls"]),
        *syscall_event(
            T0 + 4, 105, 23, "sessrec-file-audit-alice", path="notes.txt", syscall=(257, "openat"), cwd="/srv"
        ),
        *syscall_event(T0 + 12.5, 106, 23, "sessrec-exec-audit-alice", argv=["sleep", "60"]),
    ]


def test_commands_and_files_of_the_session_with_their_time_user_cwd_argv_path_and_result(
    tmp_path: Path,
) -> None:
    code, out, err = audit(tmp_path, session_log())
    assert code == 0, err
    head, columns, *rows, tail = out.splitlines()
    assert head.startswith(f"alice on client1.ipa.test: recording {REC}, audit session 23 (login ")
    assert columns.split() == ["TIME", "USER", "WHAT", "RESULT", "CWD", "COMMAND", "OR", "PATH"]
    assert [r.split()[:5] for r in rows] == [
        ["00:00:00.500", "alice", "execve", "ok", "/home/alice"],
        ["00:00:01.250", "alice", "openat", "EACCES", "/home/alice"],
        ["00:00:04.000", "alice", "openat", "ok", "/srv"],
        ["00:00:12.500", "alice", "execve", "ok", "/home/alice"],
    ]
    assert rows[0].endswith("cat /etc/hosts") and rows[1].endswith("/etc/shadow (bash)")
    assert rows[2].endswith("/srv/notes.txt (bash)")  # a relative name, made absolute with the cwd
    play = f"sessrec play -i {tmp_path}/rec.json --rec {REC}"
    assert tail == (
        f"4 events (1 after the recording ended); to see one: {play} --goto TIME, or all: {play} --audit "
        "(n: the next one)"
    )
    _, with_others, _ = audit(tmp_path, session_log(), "--any-key")
    assert "machine" not in with_others and " ls" in with_others and "id" not in with_others.split()


def test_escape_sequences_in_a_command_line_or_path_never_reach_the_terminal(tmp_path: Path) -> None:
    title = "\x1b]0;owned\x07"
    lines = [
        login_record(T0 - 1, 100, 10001, 23),
        *syscall_event(T0 + 0.5, 101, 23, "sessrec-exec-r", argv=["echo", title]),
        *syscall_event(T0 + 1, 102, 23, "sessrec-file-r", path=f"/tmp/{title}", syscall=(257, "openat")),
    ]
    code, out, err = audit(tmp_path, lines)
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert out.count("\\x1b]0;owned\\x07") == 2
    _, as_json, _ = audit(tmp_path, lines, "--json")  # JSON escapes them its own way, and keeps them
    assert [json.loads(line).get("argv") for line in as_json.splitlines()][0] == ["echo", title]


def test_json_is_one_object_per_event_with_stable_fields_and_types(tmp_path: Path) -> None:
    code, out, err = audit(tmp_path, session_log(), "--json")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [list(e) for e in events] == [list(FIELDS)] * 4
    first, denied = events[0], events[1]
    assert first["rec"] == REC and first["host"] == "client1.ipa.test" and first["session"] == 23
    assert (
        first["kind"] == "exec"
        and first["rule"] == "audit-alice"
        and first["key"] == "sessrec-exec-audit-alice"
    )
    assert first["argv"] == ["cat", "/etc/hosts"] and first["offset"] == 0.5 and first["during"] is True
    assert first["user"] == first["as_user"] == "alice"  # by name, as auditd's ENRICHED format gives it
    assert first["auid"] == first["uid"] == 10001 and first["pid"] == 4242 and first["tty"] == "pts1"
    assert datetime.fromisoformat(first["time"]).timestamp() == T0 + 0.5  # ISO 8601 with its zone
    assert denied["kind"] == "file" and denied["path"] == "/etc/shadow" and denied["argv"] == []
    assert denied["success"] is False and denied["exit"] == -13 and denied["errno"] == "EACCES"
    assert events[-1]["during"] is False and events[-1]["offset"] == 12.5
    types = {k: {type(e[k]).__name__ for e in events} for k in FIELDS}
    assert all(len(t - {"NoneType"}) <= 1 for t in types.values()), types  # one type per field


def test_arguments_in_hex_cut_into_pieces_and_over_several_records_are_joined(tmp_path: Path) -> None:
    long = "x" * 9000
    stamp = f"msg=audit({T0 + 1:.3f}:200):"
    syscall, *_rest = syscall_event(T0 + 1, 200, 23, "sessrec-exec-audit-alice", argv=["sh"])
    lines = [
        login_record(T0 - 1, 100, 10001, 23),
        syscall,
        f'type=EXECVE {stamp} argc=4 a0="printf" a1=25730A a2_len=9000 a2[0]="{long[:7000]}"',
        f'type=EXECVE {stamp} a2[1]="{long[7000:]}" a3=C3A96CC3A8766520',
        f'type=CWD {stamp} cwd="/tmp"',
    ]
    code, out, err = audit(tmp_path, lines, "--json")
    assert code == 0, err
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert event["argv"] == ["printf", "%s\n", long, "élève "]


def test_a_session_id_from_an_earlier_boot_is_told_apart_by_its_login(tmp_path: Path) -> None:
    day = 86400
    lines = [
        login_record(T0 - day, 90, 10004, 23),  # the same id, given to dave a boot earlier
        *syscall_event(
            T0 - day + 5, 91, 23, "sessrec-exec-audit-dave", argv=["rm", "-rf", "/tmp/x"], uid=10004
        ),
        *session_log(),
        login_record(T0 + day, 300, 10003, 23),  # and to carol a boot later
        *syscall_event(T0 + day + 1, 301, 23, "sessrec-exec-audit-carol", argv=["whoami"], uid=10003),
    ]
    code, out, _ = audit(tmp_path, lines, "--json")
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [e["serial"] for e in events] == [101, 102, 105, 106]


def test_malformed_events_and_lines_are_skipped_and_counted_never_a_traceback(tmp_path: Path) -> None:
    stamp = f"msg=audit({T0 + 2:.3f}:400):"
    syscall, execve, *rest = syscall_event(T0 + 2, 400, 23, "sessrec-exec-audit-alice", argv=["a", "b"])
    lines = [
        *session_log()[:7],
        "this is not an audit record",
        "type=SYSCALL msg=audit(garbage): ses=23",  # no timestamp
        syscall.replace("auid=10001", "auid=abc"),  # auparse would show "root" for it
        f'type=EXECVE {stamp} argc=3 a0="a" a1=ZZ a2',  # argc 3, one bad hex argument, one cut
        *rest,
        "\x00\x01binary\xff",
        *session_log()[7:],
    ]
    code, out, err = audit(tmp_path, lines)
    assert code == 1
    assert err == (
        "sessrec audit: skipped 2 audit events of the session that do not parse and 2 lines that are not "
        "audit records\n"
    )
    assert "4 events" in out and "Traceback" not in err
    rng = random.Random(7)
    noise = [bytes(rng.randrange(256) for _ in range(200)).decode("latin-1") for _ in range(50)]
    code, out, err = audit(tmp_path, noise + session_log() + noise)
    assert code == 1 and "4 events" in out and "Traceback" not in err


def test_a_recording_without_an_audit_session_is_joined_by_uid_and_time(tmp_path: Path) -> None:
    unset = 4294967295
    lines = [
        *syscall_event(T0 - 30, 500, unset, "sessrec-exec-audit-alice", argv=["before"], auid=unset),
        *syscall_event(T0 + 1, 501, unset, "sessrec-exec-audit-alice", argv=["during"], auid=unset),
        *syscall_event(T0 + 2, 502, unset, "sessrec-exec-audit-alice", argv=["other"], auid=unset, uid=10002),
    ]
    uid = os.getuid()
    lines = [line.replace("uid=10001", f"uid={uid}") for line in lines]
    log = tmp_path / "audit.log"
    log.write_text("".join(line + "\n" for line in lines))
    import pwd

    me = pwd.getpwuid(uid).pw_name
    rec = recording(tmp_path / "rec.json", session=unset, user=me)
    code, out, err = run(["audit", "-i", str(rec), "--audit-log", str(log), "--json"])
    assert code == 0, err
    assert [json.loads(line)["argv"] for line in out.splitlines()] == [["during"]]
    code, out, _ = run(["audit", "-i", str(rec), "--audit-log", str(log)])
    assert "audit session none (joined by uid and time)" in out


def test_rotated_logs_are_read_oldest_first(tmp_path: Path) -> None:
    main = tmp_path / "audit.log"
    for name in ("audit.log.2", "audit.log.1", "audit.log", "audit.log.bak"):
        (tmp_path / name).write_text("")
    assert audit_log.log_files(main) == [tmp_path / n for n in ("audit.log.2", "audit.log.1", "audit.log")]


def test_unreadable_or_missing_inputs_are_one_line(tmp_path: Path) -> None:
    rec = recording(tmp_path / "rec.json")
    code, _, err = run(["audit", "-i", str(rec), "--audit-log", str(tmp_path / "none.log")])
    assert (
        code == 1
        and err.startswith("sessrec audit: cannot read ")
        and "\n" == err[-1]
        and err.count("\n") == 1
    )
    code, _, err = run(["audit", "-i", str(tmp_path / "none.json")])
    assert code == 1 and err.startswith("sessrec audit: cannot open ")
    code, _, err = run(["audit", "other-rec", "-i", str(rec), "--audit-log", str(rec)])
    assert code == 1 and err == "sessrec audit: no recording other-rec\n"


@pytest.mark.parametrize("seconds", [0.0, 1.5, 3725.25, -0.003])
def test_times_are_in_the_form_play_goto_takes(seconds: float) -> None:
    from recorder import player
    from recorder.commands.audit import goto

    text = goto(seconds)
    if seconds >= 0:
        assert player.parse_goto(text.strip()) == round(seconds * 1000)
    else:
        assert text == "-00:00:00.003"
