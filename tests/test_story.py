"""The story on real components: rules → this host's decision → a recorded ssh login → verified playback."""

from __future__ import annotations

import pwd
import types
from collections.abc import Iterator

import pytest

from tests.lab import story
from tests.lab.lab import Lab


@pytest.fixture
def story_rules(lab: Lab) -> Iterator[list[str]]:
    dns = story.add_rules(lab)
    yield dns
    story.remove_rules(lab, dns)


def test_host_decides_from_directory_rules_and_sssd_groups(lab: Lab, story_rules: list[str]) -> None:
    decisions = story.host_decisions(lab)
    alice = decisions["alice"]  # developers (on clients, with input) and staff (via nested developers)
    assert alice["record"] and alice["rules"] == ["developers-on-clients", "staff-everywhere"]
    assert alice["options"]["log_input"] is True and not alice["fail_closed"]
    assert not decisions["bob"]["record"] and decisions["bob"]["rules"] == ["bob-exempt"]
    assert decisions["bob"]["overridden"] == ["staff-everywhere"] and decisions["bob"]["shell"] == "/bin/sh"
    assert not decisions["carol"]["record"] and decisions["carol"]["reason"] == "no rule applies"


def test_recorded_login_plays_back_verified_from_the_journal(
    lab: Lab, story_rules: list[str], installed: types.ModuleType
) -> None:
    assert story.host_decisions(lab)["alice"]["record"]
    login = story.login(lab, "alice", "echo recorded-hello; id -un")
    assert login.returncode == 0, login.stderr
    assert b"recorded-hello" in login.stdout
    rec = story.newest_recording(lab, "alice")
    entries = lab.journal_entries(TLOG_REC=rec)
    recorder = str(pwd.getpwnam("sessrec").pw_uid)
    assert {e["_UID"] for e in entries} == {recorder}  # the recorder's own user, not alice
    assert {e["_COMM"] for e in entries} == {"tlog-rec-sessio"}
    assert {e["TLOG_USER"] for e in entries} == {"alice"}
    played = story.play_verified(rec)
    assert played.returncode == 0, played.stderr
    assert b"recorded-hello\r\nalice\r\n" in played.stdout


def test_an_exempt_users_login_is_not_recorded(lab: Lab, story_rules: list[str]) -> None:
    before = {e["TLOG_REC"] for e in lab.journal_entries(TLOG_USER="bob")}
    login = story.login(lab, "bob", "echo not-recorded; exit 4")
    assert login.returncode == 4 and b"not-recorded" in login.stdout and b"ATTENTION" not in login.stdout
    assert {e["TLOG_REC"] for e in lab.journal_entries(TLOG_USER="bob")} == before
