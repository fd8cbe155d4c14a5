"""The agent's rule cache: the last good fetch, written atomically, root-owned 0600, with time and server."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ipa_plugin.policy.rules import Rule, RuleSet

from . import files

FORMAT_VERSION = 1


class CacheError(Exception):
    """The cache cannot be used; the message is one line."""


@dataclass(frozen=True)
class CachedRules:
    ruleset: RuleSet
    fetched_at: float  # seconds since the epoch
    server: str

    def age(self, now: float) -> float:
        return max(0.0, now - self.fetched_at)


def to_json(cached: CachedRules) -> str:
    return json.dumps(
        {
            "version": FORMAT_VERSION,
            "fetched_at": cached.fetched_at,
            "server": cached.server,
            "host": cached.ruleset.host,
            "hostgroups": sorted(cached.ruleset.hostgroups),
            "rules": [r.to_dict() for r in cached.ruleset.rules],
        },
        indent=1,
        sort_keys=True,
    )


def from_json(text: str) -> CachedRules:
    try:
        data = json.loads(text)
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"format version {data.get('version')!r}, expected {FORMAT_VERSION}")
        ruleset = RuleSet(
            rules=tuple(Rule.from_dict(r) for r in data["rules"]),
            host=str(data["host"]),
            hostgroups=frozenset(str(g) for g in data["hostgroups"]),
        )
        return CachedRules(ruleset, float(data["fetched_at"]), str(data["server"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CacheError(f"not a rule cache: {exc}") from None


def write(path: Path, cached: CachedRules) -> None:
    """Replace the cache atomically: a new root-owned 0600 file renamed over the old one."""
    files.replace(path, to_json(cached), 0o600, dir_mode=0o700)


def read(path: Path) -> CachedRules | None:
    """The cached rules; None when there is no cache. A cache that anyone but root could have written
    is refused: it decides who is recorded."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CacheError(f"cannot open {path}: {exc.strerror}") from None
    with os.fdopen(fd, encoding="utf-8") as f:
        st = os.fstat(f.fileno())
        if st.st_uid != 0 or st.st_mode & 0o077:
            raise CacheError(f"{path} is not root-owned mode 0600; not trusting it")
        try:
            return from_json(f.read())
        except UnicodeDecodeError:
            raise CacheError(f"{path} is not UTF-8") from None
