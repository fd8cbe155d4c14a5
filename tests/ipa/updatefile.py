"""Apply a FreeIPA update file (ipaserver.install.ldapupdate syntax) to a directory with python-ldap.

A small re-implementation for tests, so the lab loads the shipped update file itself, not a copy of its
ACIs. It follows FreeIPA's documented semantics for the actions our file uses: `default:` values are used
only when the entry is created; `add:` adds a value that is missing; `only:` replaces; `remove:` removes a
value; `deleteentry:` deletes the entry. Continuation lines start with one space, as in LDIF.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import ldap
import ldap.dn
import ldap.modlist

ACTIONS = ("default", "add", "only", "remove", "deleteentry")


@dataclass
class Update:
    dn: str
    items: list[tuple[str, str, str]] = field(default_factory=list)  # (action, attribute, value)

    def values(self, action: str, attr: str | None = None) -> list[str]:
        return [v for a, at, v in self.items if a == action and (attr is None or at.lower() == attr.lower())]


def parse(text: str, substitutions: dict[str, str]) -> list[Update]:
    updates: list[Update] = []
    logical: list[str] = []

    def sub(s: str) -> str:
        for key in sorted(substitutions, key=len, reverse=True):
            s = s.replace(f"${key}", substitutions[key])
        return s

    def flush() -> None:
        if not logical:
            return
        line = sub(logical[0].strip())
        logical.clear()
        if not line or line.startswith("#"):
            return
        action, _, rest = line.partition(":")
        action = action.strip().lower()
        if action not in ACTIONS:
            raise ValueError(f"unknown update action {action!r}")
        if action == "deleteentry":
            updates[-1].items.append((action, "", ""))
            return
        attr, sep, value = rest.partition(":")
        if not sep:
            raise ValueError(f"bad update line {line!r}")
        updates[-1].items.append((action, attr.strip(), value.strip()))

    for raw in text.splitlines():
        raw = raw.rstrip()
        if raw.startswith("#") or not raw:
            continue
        if raw.lower().startswith("dn:"):
            flush()
            updates.append(Update(dn=sub(raw[3:].strip())))
        elif raw.startswith(" "):
            if not logical:
                raise ValueError(f"continuation line without a start: {raw!r}")
            logical[0] += raw[1:]
        else:
            if not updates:
                raise ValueError("update item before any dn:")
            flush()
            logical.append(raw)
    flush()
    return updates


def load(path: Path, suffix: str, **extra: str) -> list[Update]:
    return parse(path.read_text(), {"SUFFIX": suffix, **extra})


def apply(
    conn: ldap.ldapobject.LDAPObject,
    updates: Iterable[Update],
    select: Callable[[Update], bool] = lambda u: True,
) -> list[str]:
    """Apply the selected updates; returns the DNs that were created."""
    created = []
    for update in updates:
        if not select(update):
            continue
        if any(a == "deleteentry" for a, _, _ in update.items):
            try:
                conn.delete_s(update.dn)
            except ldap.NO_SUCH_OBJECT:
                pass
            continue
        existing = _read(conn, update.dn)
        if existing is None:
            attrs: dict[str, list[str]] = {}
            for action, attr, value in update.items:
                if action in ("default", "add", "only"):
                    key = next((k for k in attrs if k.lower() == attr.lower()), attr)
                    if action == "only":
                        attrs[key] = [value]
                    elif value not in attrs.setdefault(key, []):
                        attrs[key].append(value)
            conn.add_s(
                update.dn, ldap.modlist.addModlist({k: [v.encode() for v in vs] for k, vs in attrs.items()})
            )
            created.append(update.dn)
            continue
        mods = []
        for action, attr, value in update.items:
            have = {v.lower() for v in existing.get(attr.lower(), [])}
            if action == "add" and value.lower() not in have:
                mods.append((ldap.MOD_ADD, attr, [value.encode()]))
            elif action == "only":
                mods.append((ldap.MOD_REPLACE, attr, [value.encode()]))
            elif action == "remove" and value.lower() in have:
                mods.append((ldap.MOD_DELETE, attr, [value.encode()]))
        if mods:
            conn.modify_s(update.dn, mods)
    return created


def _read(conn: ldap.ldapobject.LDAPObject, dn: str) -> dict[str, list[str]] | None:
    try:
        found = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["*", "aci"])
    except ldap.NO_SUCH_OBJECT:
        return None
    return {k.lower(): [v.decode() for v in vs] for k, vs in found[0][1].items()}
