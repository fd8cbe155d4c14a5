"""The agent's rule cache (sssd_helper.cache): atomic, root-only, refused when anyone else could write it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ipa_plugin.policy.rules import Rule, RuleSet
from ipa_plugin.policy.values import WatchPath
from sssd_helper import cache

RULES = RuleSet(
    rules=(
        Rule.of("prod", groups={"admins"}, hostgroups={"production"}, log_input=True, latency=3),
        Rule.of("skip", kind="exempt", priority=9, users={"backup"}, all_hosts=True),
        Rule.of("w", all_users=True, all_hosts=True, watch_paths=(WatchPath("/etc/shadow", "wa"),)),
    ),
    host="web1.ipa.test",
    hostgroups=frozenset({"production", "webservers"}),
)


def test_round_trip_keeps_every_rule_and_decision(tmp_path: Path) -> None:
    path = tmp_path / "c" / "rules.json"
    cache.write(path, cache.CachedRules(RULES, 1000.0, "ldap://ipa1"))
    back = cache.read(path)
    assert (
        back is not None
        and back.ruleset == RULES
        and back.fetched_at == 1000.0
        and back.server == "ldap://ipa1"
    )
    assert back.age(1030.0) == 30.0
    assert back.ruleset.decide("alice", ["admins"]) == RULES.decide("alice", ["admins"])
    st = path.stat()
    assert st.st_mode & 0o777 == 0o600 and st.st_uid == 0
    assert [p.name for p in path.parent.iterdir()] == ["rules.json"]  # no temporary file left


def test_no_cache_is_none_and_garbage_is_an_error(tmp_path: Path) -> None:
    assert cache.read(tmp_path / "none.json") is None
    bad = tmp_path / "bad.json"
    for text in ("{", '{"version": 2}', '{"version": 1, "rules": [{"name": 1}]}'):
        bad.write_text(text)
        os.chmod(bad, 0o600)
        with pytest.raises(cache.CacheError):
            cache.read(bad)


def test_a_cache_others_could_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    cache.write(path, cache.CachedRules(RULES, 1.0, "s"))
    os.chmod(path, 0o644)
    with pytest.raises(cache.CacheError, match="not root-owned mode 0600"):
        cache.read(path)
    os.chmod(path, 0o600)
    os.chown(path, 10001, 10001)
    with pytest.raises(cache.CacheError, match="not root-owned mode 0600"):
        cache.read(path)


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    cache.write(real, cache.CachedRules(RULES, 1.0, "s"))
    link = tmp_path / "rules.json"
    link.symlink_to(real)
    with pytest.raises(cache.CacheError, match="cannot open"):
        cache.read(link)


def test_rule_values_outside_the_option_table_are_refused() -> None:
    data = RULES.rules[0].to_dict()
    for key, value in (("latency", 0), ("bogus", 1), ("kind", "x")):
        changed = (
            {**data, "options": {**data["options"], key: value}} if key != "kind" else {**data, "kind": value}
        )
        with pytest.raises(ValueError):
            Rule.from_dict(changed)
