"""Value formats that are not single settings: rule names and watched paths (`<perms>:<absolute path>`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Rule names become the RDN value cn=<name>: keep them to a portable set, no LDAP-special characters.
RULE_NAME_PATTERN = r"^[a-zA-Z0-9_.][a-zA-Z0-9_.-]{0,254}$"
RULE_NAME_ERROR = "may only include letters, numbers, _, - and . and may not start with -"

WATCH_PERMISSIONS = "rwxa"
_WATCH_RE = re.compile(rf"^([{WATCH_PERMISSIONS}]+):(/.*)$")


@dataclass(frozen=True, order=True)
class WatchPath:
    """A watched path: audit accesses of kind `permissions` (subset of r w x a, canonical order)."""

    path: str
    permissions: str

    def __str__(self) -> str:
        return f"{self.permissions}:{self.path}"


def canonical_permissions(perms: str) -> str:
    return "".join(p for p in WATCH_PERMISSIONS if p in perms)


def watch_path_error(value: str) -> str | None:
    """Why `value` is not a valid `<perms>:<absolute path>`; None when it is valid."""
    match = _WATCH_RE.match(value)
    if match is None:
        return f"must be <permissions>:<absolute path>, permissions from {WATCH_PERMISSIONS}"
    perms, path = match.groups()
    if len(set(perms)) != len(perms):
        return "permissions must not repeat"
    if any(c in path for c in "\0\n\r\t"):
        return "path must not contain control characters"
    if len(path) > 4096:
        return "path is too long"
    parts = path.split("/")[1:]
    if path != "/" and (path.endswith("/") or any(p in ("", ".", "..") for p in parts)):
        return "path must be normalized (no empty, '.' or '..' components, no trailing '/')"
    return None


def parse_watch_path(value: str) -> WatchPath:
    """Parse `<perms>:<absolute path>`; ValueError says why it is not valid."""
    error = watch_path_error(value)
    if error is not None:
        raise ValueError(f"watch path {value!r}: {error}")
    perms, path = value.split(":", 1)
    return WatchPath(path=path, permissions=canonical_permissions(perms))
