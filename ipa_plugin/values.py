"""Value rules of session recording options: defaults, ranges and the watch path format.

Shared by the FreeIPA server plugin (validation), the host side (defaults and parsing) and the tests.
Like layout.py it must stay free of third-party imports: it is installed next to the server plugin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ipa_plugin import layout

# Inclusive ranges of the integer options; None is "no upper bound" below LDAP's 32-bit signed integer.
INT32_MAX = 2**31 - 1
PRIORITY_RANGE = (0, 1000)
LATENCY_RANGE = (1, 3600)  # seconds
PAYLOAD_RANGE = (32, 1024 * 1024)  # bytes
RATE_RANGE = (0, INT32_MAX)  # bytes per second
BURST_RANGE = (0, INT32_MAX)  # bytes
NOTICE_MAX_LENGTH = 1024

# What a rule means when an option is not set. Recording options follow tlog-rec-session's defaults.
DEFAULT_KIND = layout.KIND_RECORD
DEFAULT_PRIORITY = 0
DEFAULT_LOG_INPUT = False
DEFAULT_LOG_OUTPUT = True
DEFAULT_LOG_WINDOW = True
DEFAULT_NOTICE = ""
DEFAULT_LATENCY = 10
DEFAULT_PAYLOAD = 2048
DEFAULT_RATE = 16384
DEFAULT_BURST = 32768
DEFAULT_LIMIT_ACTION = "pass"
DEFAULT_AUDIT_COMMANDS = False

# Rule names become the RDN value cn=<name>: keep them to a portable set, no LDAP-special characters.
RULE_NAME_PATTERN = r"^[a-zA-Z0-9_.][a-zA-Z0-9_.-]{0,254}$"
RULE_NAME_ERROR = "may only include letters, numbers, _, - and . and may not start with -"

_WATCH_RE = re.compile(rf"^([{layout.WATCH_PERMISSIONS}]+):(/.*)$")


@dataclass(frozen=True, order=True)
class WatchPath:
    """A watched path: audit accesses of kind `permissions` (subset of r w x a, canonical order)."""

    path: str
    permissions: str

    def __str__(self) -> str:
        return f"{self.permissions}:{self.path}"


def canonical_permissions(perms: str) -> str:
    return "".join(p for p in layout.WATCH_PERMISSIONS if p in perms)


def watch_path_error(value: str) -> str | None:
    """Why `value` is not a valid `<perms>:<absolute path>`; None when it is valid."""
    match = _WATCH_RE.match(value)
    if match is None:
        return f"must be <permissions>:<absolute path>, permissions from {layout.WATCH_PERMISSIONS}"
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


def in_range(value: int, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= value <= bounds[1]
