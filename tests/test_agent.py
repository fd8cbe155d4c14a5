"""sessrecd, the host agent, on the lab: Kerberos bind as the host, InfoPipe, decisions on its socket."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import ldap
import pytest

from ipa_plugin.policy import dn as dns
from ipa_plugin.policy import layout, options
from sssd_helper import protocol
from tests.lab import story
from tests.lab.lab import Lab
from tests.test_infopipe import frozen_infopipe

ALICE, BOB, DAVE = 10001, 10002, 10004


@pytest.fixture(scope="module")
def agent(lab: Lab) -> Iterator[str]:
    """This host's agent with the story's rules (developers on clients, staff everywhere, bob exempt)."""
    added = story.add_rules(lab)
    socket_path = lab.agent.socket
    protocol.ask("sync", socket_path=socket_path)
    yield socket_path
    story.remove_rules(lab, added)
    protocol.ask("sync", socket_path=socket_path)


def ask_as(uid: int, installed: types.ModuleType, request: bytes, socket_path: str) -> dict:
    """Send raw bytes to the agent as `uid` (a process of that user, from the installed copy)."""
    code = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())\n"
        "s.shutdown(socket.SHUT_WR); print(s.makefile('rb').readline().decode())\n"
    )
    out = subprocess.run(
        [str(installed.PYTHON), "-I", "-c", code, socket_path],
        input=request,
        capture_output=True,
        timeout=30,
        user=uid,
        group=uid,
        cwd="/",
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def request(op: str, **fields: object) -> bytes:
    return protocol.encode({"v": protocol.VERSION, "op": op, **fields})


def test_root_gets_each_users_decision_and_why(agent: str) -> None:
    alice = protocol.ask("decide", socket_path=agent, user="alice")
    assert alice["record"] and alice["rules"] == ["developers-on-clients", "staff-everywhere"]
    assert options.from_dict(alice["options"]).log_input is True  # developers-on-clients logs input
    assert alice["shell"] == "/bin/bash" and alice["online"] is True and not alice["fail_closed"]
    assert alice["rules_age"] is not None and alice["rules_server"].startswith("ldap://ipa1.ipa.test:")
    bob = protocol.ask("decide", socket_path=agent, user="bob")
    assert not bob["record"] and bob["rules"] == ["bob-exempt"] and bob["overridden"] == ["staff-everywhere"]
    assert bob["options"] is None and "exempted by bob-exempt (priority 100)" == bob["reason"]
    assert not protocol.ask("decide", socket_path=agent, user="dave")["record"]
    with pytest.raises(protocol.AgentRefused, match="unknown user 'nosuchuser'"):
        protocol.ask("decide", socket_path=agent, user="nosuchuser")


def test_a_user_is_answered_only_about_herself(agent: str, installed: types.ModuleType) -> None:
    own = ask_as(ALICE, installed, request("decide"), agent)
    assert own["ok"] and own["user"] == "alice" and own["record"]
    named = ask_as(ALICE, installed, request("decide", user="alice"), agent)
    assert named["ok"] and named["user"] == "alice"
    other = ask_as(ALICE, installed, request("decide", user="bob"), agent)
    assert other == {"v": 1, "ok": False, "error": "only root may ask about other users"}
    for op in ("status", "show", "sync"):
        refused = ask_as(BOB, installed, request(op), agent)
        assert not refused["ok"] and refused["error"] == f"{op} is for root only"
    assert ask_as(BOB, installed, request("decide"), agent)["user"] == "bob"


def test_sessrec_policy_check_as_a_user_and_show_as_root(agent: str, installed: types.ModuleType) -> None:
    argv = [str(installed.SESSREC), "policy", "--socket", agent, "check"]
    mine = subprocess.run(argv, capture_output=True, text=True, timeout=30, user=ALICE, group=ALICE, cwd="/")
    assert mine.returncode == 0 and mine.stdout.startswith("alice: recorded\n"), mine.stderr
    theirs = subprocess.run(
        [*argv, "bob"], capture_output=True, text=True, timeout=30, user=ALICE, group=ALICE
    )
    assert theirs.returncode == 1 and theirs.stderr == "sessrec policy: only root may ask about other users\n"
    shown = subprocess.run(
        [str(installed.SESSREC), "policy", "show", "--socket", agent],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0 and "bob-exempt: exempt priority 100; bob on all hosts" in shown.stdout
    assert "hostgroups:  clients" in shown.stdout
    assert "audit:       no rule here audits commands or files" in shown.stdout.splitlines()


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"not json\n", "request is not JSON"),
        (b"[1, 2]\n", "request must be a JSON object"),
        (b'{"v": 2, "op": "decide"}\n', "unsupported protocol version 2; this is 1"),
        (b'{"v": 1, "op": "rm -rf"}\n', "unknown op 'rm -rf'; ops: decide, start, status, show, sync"),
        (b'{"v": 1, "op": "decide", "user": 7}\n', "user must be a name"),
        (b"x" * 70000 + b"\n", "request larger than 4096 bytes"),
    ],
    ids=["not-json", "not-object", "version", "op", "user-type", "oversized"],
)
def test_malformed_requests_get_an_error_and_the_agent_keeps_serving(
    agent: str, installed: types.ModuleType, raw: bytes, error: str
) -> None:
    assert ask_as(DAVE, installed, raw, agent) == {"v": 1, "ok": False, "error": error}
    assert protocol.ask("decide", socket_path=agent, user="alice")["record"]


def test_a_silent_client_does_not_hold_others_up(agent: str) -> None:
    with socket.socket(socket.AF_UNIX) as idle:
        idle.connect(agent)  # sends nothing
        start = time.monotonic()
        assert protocol.ask("decide", socket_path=agent, user="alice")["record"]
        assert time.monotonic() - start < 2


def test_fifty_concurrent_callers_are_all_answered(agent: str) -> None:
    answers: list[dict] = []
    errors: list[Exception] = []

    def one(user: str) -> None:
        try:
            answers.append(protocol.ask("decide", socket_path=agent, user=user))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(("alice", "bob")[i % 2],)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(answers) == 50
    assert sum(a["record"] for a in answers) == 25


def test_each_decision_goes_to_the_journal(lab: Lab, agent: str) -> None:
    protocol.ask("decide", socket_path=agent, user="carol")
    deadline = time.monotonic() + 10
    while not (entries := lab.journal_entries(SYSLOG_IDENTIFIER="sessrecd", SESSREC_USER="carol")):
        assert time.monotonic() < deadline, "no decision for carol in the journal"
        time.sleep(0.1)
    entry = entries[-1]
    assert entry["SESSREC_RECORD"] == "0" and entry["SESSREC_FAIL_CLOSED"] == "0"
    assert entry["MESSAGE"] == "sessrecd: carol: not recorded: no rule applies"
    assert entry["_UID"] == "0" and entry["SESSREC_CACHE_AGE"].isdigit()


def rule_attrs(name: str, **attrs: list[str]) -> dict[str, list[bytes]]:
    base = {
        "objectClass": list(layout.RULE_OBJECTCLASSES),
        layout.ATTR_NAME: [name],
        layout.ATTR_UNIQUE_ID: [f"test-{name}"],
        layout.ATTR_ENABLED: ["TRUE"],
        **attrs,
    }
    return {k: [v.encode() for v in vs] for k, vs in base.items()}


def test_sync_sees_new_and_disabled_rules(lab: Lab, agent: str) -> None:
    s = lab.data.suffix
    rule = dns.rule_dn("carol-on-this-host", s)
    attrs = {
        layout.ATTR_MEMBER_USER: [dns.user_dn("carol", s)],
        layout.ATTR_MEMBER_HOST: [dns.host_dn(lab.this_host, s)],
        options.ATTRIBUTE["latency"]: ["3"],
    }
    conn = lab.ldap()
    conn.add_s(rule, list(rule_attrs("carol-on-this-host", **attrs).items()))
    try:
        assert not protocol.ask("decide", socket_path=agent, user="carol")["record"]  # cached until a sync
        assert protocol.ask("sync", socket_path=agent)["rules"] == 4
        carol = protocol.ask("decide", socket_path=agent, user="carol")
        assert (
            carol["record"] and carol["rules"] == ["carol-on-this-host"] and carol["options"]["latency"] == 3
        )
        conn.modify_s(rule, [(ldap.MOD_REPLACE, layout.ATTR_ENABLED, [b"FALSE"])])
        protocol.ask("sync", socket_path=agent)
        assert not protocol.ask("decide", socket_path=agent, user="carol")["record"]
    finally:
        conn.delete_s(rule)
        protocol.ask("sync", socket_path=agent)


def test_the_cache_is_root_only_and_holds_what_was_fetched(lab: Lab, agent: str) -> None:
    path = lab.agent.cache
    st = path.stat()
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    assert {r["name"] for r in data["rules"]} == {"developers-on-clients", "staff-everywhere", "bob-exempt"}
    assert data["server"] == lab.directory_gssapi_uri and data["hostgroups"] == ["clients"]


def test_directory_unreachable_serves_the_cached_rules_with_their_age(lab: Lab, agent: str) -> None:
    cached = lab.agent_setup("agent-offline", uri="ldap://ipa1.ipa.test:1", ldap_timeout="1")
    cached.cache.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copy2(lab.agent.cache, cached.cache)
    os.utime(cached.cache)
    service = lab.start_agent(cached)
    try:
        deadline = time.monotonic() + 10  # with a cache it answers at once; the first fetch runs meanwhile
        while (status := protocol.ask("status", socket_path=cached.socket))["last_error"] is None:
            assert time.monotonic() < deadline, "the fetch from an unreachable server never failed"
            time.sleep(0.05)
        assert status["rules"] == 3 and "cannot bind to ldap://ipa1.ipa.test:1" in status["last_error"]
        alice = protocol.ask("decide", socket_path=cached.socket, user="alice")
        assert alice["record"] and not alice["fail_closed"] and alice["rules_age"] >= 0
        with pytest.raises(protocol.AgentRefused, match="sync failed: cannot bind"):
            protocol.ask("sync", socket_path=cached.socket)
    finally:
        service.stop()


@pytest.mark.parametrize(
    ("fail_mode", "record", "refuse"), [("record", True, False), ("refuse", False, True)]
)
def test_no_cache_and_no_server_gives_the_fail_closed_answer(
    lab: Lab, fail_mode: str, record: bool, refuse: bool
) -> None:
    setup = lab.agent_setup(
        f"agent-{fail_mode}", uri="ldap://ipa1.ipa.test:1", ldap_timeout="1", fail_mode=fail_mode
    )
    service = lab.start_agent(setup)
    try:
        alice = protocol.ask("decide", socket_path=setup.socket, user="alice")
        assert alice["fail_closed"] and alice["record"] is record and alice["refuse"] is refuse
        assert alice["reason"].startswith("cannot decide: no rules fetched yet (cannot bind to")
        if record:
            assert options.from_dict(alice["options"]) == options.Options()  # default options
        assert alice["shell"] == "/bin/bash"
    finally:
        service.stop()


def test_a_hanging_sssd_gives_the_fail_closed_answer_within_the_timeout(lab: Lab, agent: str) -> None:
    setup = lab.agent_setup("agent-slow-sssd", sssd_timeout="1", user_cache="0")
    service = lab.start_agent(setup)
    try:
        assert not protocol.ask("decide", socket_path=setup.socket, user="dave")["fail_closed"]
        with frozen_infopipe(lab):
            start = time.monotonic()
            dave = protocol.ask("decide", socket_path=setup.socket, user="dave")
            elapsed = time.monotonic() - start
            assert protocol.ask("status", socket_path=setup.socket)["rules"] == 3  # others are still served
        assert dave["fail_closed"] and dave["record"] and "SSSD did not answer" in dave["reason"]
        assert elapsed < 2.5
    finally:
        service.stop()


def test_a_wrong_keytab_is_refused_with_a_clear_error(lab: Lab) -> None:
    setup = lab.agent_setup("agent-stale-keytab")
    setup = dataclasses.replace(setup, keytab=lab.kdc.stale_keytab(lab.this_host))
    service = lab.start_agent(setup)
    try:
        error = protocol.ask("status", socket_path=setup.socket)["last_error"]
        assert error.startswith(f"no Kerberos ticket for host/{lab.this_host}@IPA.TEST from {setup.keytab}: ")
        assert "Preauthentication failed" in error
    finally:
        service.stop()


def test_another_hosts_agent_fetches_only_that_hosts_rules(lab: Lab, agent: str) -> None:
    setup = lab.agent_setup("agent-web1", host="web1.ipa.test")
    service = lab.start_agent(setup)
    try:
        status = protocol.ask("show", socket_path=setup.socket)
        assert {r["name"] for r in status["rule_list"]} == {"staff-everywhere", "bob-exempt"}  # not clients'
        alice = protocol.ask("decide", socket_path=setup.socket, user="alice")
        assert alice["rules"] == ["staff-everywhere"] and alice["options"]["log_input"] is False
    finally:
        service.stop()


def test_cache_written_by_anyone_but_root_is_not_trusted(lab: Lab, agent: str) -> None:
    setup = lab.agent_setup("agent-bad-cache", uri="ldap://ipa1.ipa.test:1", ldap_timeout="1")
    setup.cache.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copy2(lab.agent.cache, setup.cache)
    os.chown(setup.cache, ALICE, ALICE)
    service = lab.start_agent(setup)
    try:
        alice = protocol.ask("decide", socket_path=setup.socket, user="alice")
        assert alice["fail_closed"], "a cache alice owns must not decide for her"
    finally:
        service.stop()
        Path(setup.cache).unlink()
