"""The one table of a rule's settings: every recording option once, with everything derived from it.

Each entry names its LDAP attribute, value type, default, range, how overlapping rules combine it and the
`sessrec record` flag it becomes. The schema, the plugin's params, the rule model, the effective options
and the recorder's command line are all derived from `SETTINGS`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import values

INT32_MAX = 2**31 - 1
LDAP_TRUE = "TRUE"
LDAP_FALSE = "FALSE"


class Type(enum.Enum):
    BOOL = "bool"
    INT = "int"
    TEXT = "text"
    CHOICE = "choice"
    WATCH = "watch"  # multi-valued <perms>:<path>


class Combine(enum.Enum):
    """How the deciding record rules of one priority band combine an option."""

    RULE = "rule"  # a property of the rule itself (kind, priority): decides, is not combined
    ANY = "any"  # on when any deciding rule turns it on (unset counts as the default)
    FIRST = "first"  # from the first deciding rule by name that sets it, else the default
    MERGE = "merge"  # values of all deciding rules merged (watched paths: permissions united)


@dataclass(frozen=True)
class Setting:
    """One rule setting stored in its own LDAP attribute."""

    name: str  # Python name, also the plugin's CLI option (with - for _)
    attribute: str  # LDAP attribute type
    number: int  # last OID component under the attribute arc; never reuse a number
    type: Type
    default: Any
    label: str
    doc: str
    combine: Combine
    bounds: tuple[int, int] | None = None  # inclusive, for INT
    choices: tuple[str, ...] = ()  # for CHOICE
    max_length: int | None = None  # for TEXT
    recorder_flag: str | None = None  # `sessrec record` flag; BOOL flags also have a --no- form
    applies_to_exempt: bool = False  # meaningful on an exempt rule (the UI hides the others there)
    cli: str = ""  # the plugin's CLI option when it is not `name`

    @property
    def multi_valued(self) -> bool:
        return self.type is Type.WATCH

    @property
    def cli_name(self) -> str:
        return self.cli or self.name

    def parse(self, raw: Sequence[str]) -> Any:
        """The value of this setting from an entry's raw values; None when unset or unusable.

        Hosts drop what they cannot use rather than fail: the default then applies."""
        if self.type is Type.WATCH:
            found = set()
            for value in raw:
                try:
                    found.add(values.parse_watch_path(value))
                except ValueError:
                    continue
            return tuple(sorted(found)) or None
        if not raw:
            return None
        value = raw[0]
        if self.type is Type.BOOL:
            return {LDAP_TRUE: True, LDAP_FALSE: False}.get(value.upper())
        if self.type is Type.INT:
            try:
                number = int(value)
            except ValueError:
                return None
            return number if self.error(number) is None else None
        if self.type is Type.CHOICE:
            return value.lower() if value.lower() in self.choices else None
        return value if self.error(value) is None else None

    def error(self, value: Any) -> str | None:
        """Why `value` is not acceptable for this setting; None when it is."""
        if self.type is Type.BOOL:
            return None if isinstance(value, bool) else "must be a boolean"
        if self.type is Type.INT:
            if isinstance(value, bool) or not isinstance(value, int):
                return "must be an integer"
            assert self.bounds is not None
            low, high = self.bounds
            return None if low <= value <= high else f"must be between {low} and {high}"
        if self.type is Type.CHOICE:
            return None if value in self.choices else f"must be one of {', '.join(self.choices)}"
        if self.type is Type.TEXT:
            if not isinstance(value, str):
                return "must be text"
            if self.max_length is not None and len(value) > self.max_length:
                return f"must be at most {self.max_length} characters"
            return None
        bad = [str(v) for v in value if not isinstance(v, values.WatchPath)]
        return f"not watch paths: {', '.join(bad)}" if bad else None

    def to_ldap(self, value: Any) -> list[str]:
        """The attribute values that store `value`."""
        if self.type is Type.BOOL:
            return [LDAP_TRUE if value else LDAP_FALSE]
        if self.type is Type.WATCH:
            return [str(w) for w in value]
        return [str(value)]

    def recorder_args(self, value: Any) -> list[str]:
        """The `sessrec record` arguments for `value` ([] when this setting is not a recorder flag)."""
        if self.recorder_flag is None:
            return []
        if self.type is Type.BOOL:
            return [self.recorder_flag if value else "--no-" + self.recorder_flag[2:]]
        if self.type is Type.TEXT and not value:
            return []
        return [self.recorder_flag, str(value)]


KIND_RECORD = "record"
KIND_EXEMPT = "exempt"
LIMIT_ACTIONS = ("pass", "delay", "drop")
TRANSFERS = ("record", "metadata", "refuse")

KIND = Setting(
    "kind",
    "ipaSessionRecordingKind",
    1,
    Type.CHOICE,
    KIND_RECORD,
    "Rule kind",
    "record: record the sessions; exempt: do not record them",
    Combine.RULE,
    choices=(KIND_RECORD, KIND_EXEMPT),
    applies_to_exempt=True,
)
PRIORITY = Setting(
    "priority",
    "ipaSessionRecordingPriority",
    2,
    Type.INT,
    0,
    "Priority",
    "Among the rules applying to a session only the highest priority counts",
    Combine.RULE,
    bounds=(0, 1000),
    applies_to_exempt=True,
)

# Recording options follow tlog-rec-session's defaults.
OPTIONS: tuple[Setting, ...] = (
    Setting(
        "log_input",
        "ipaSessionRecordingLogInput",
        3,
        Type.BOOL,
        False,
        "Record input",
        "Record what the user types (passwords too)",
        Combine.ANY,
        recorder_flag="--log-input",
    ),
    Setting(
        "log_output",
        "ipaSessionRecordingLogOutput",
        4,
        Type.BOOL,
        True,
        "Record output",
        "Record what the terminal shows",
        Combine.ANY,
        recorder_flag="--log-output",
    ),
    Setting(
        "log_window",
        "ipaSessionRecordingLogWindow",
        5,
        Type.BOOL,
        True,
        "Record window changes",
        "Record terminal window size changes",
        Combine.ANY,
        recorder_flag="--log-window",
    ),
    Setting(
        "notice",
        "ipaSessionRecordingNotice",
        6,
        Type.TEXT,
        "",
        "Notice",
        "Text shown to the user when a recorded session starts",
        Combine.FIRST,
        max_length=1024,
        recorder_flag="--notice",
    ),
    Setting(
        "latency",
        "ipaSessionRecordingLatency",
        7,
        Type.INT,
        10,
        "Latency (s)",
        "Seconds recorded data may be buffered before it is written",
        Combine.FIRST,
        bounds=(1, 3600),
        recorder_flag="--latency",
    ),
    Setting(
        "payload",
        "ipaSessionRecordingPayload",
        8,
        Type.INT,
        2048,
        "Payload (bytes)",
        "Maximum encoded payload of one recorded message",
        Combine.FIRST,
        # journald's JSON output shows fields over 4096 bytes as null: stay well below with the envelope.
        bounds=(256, 3072),
        recorder_flag="--payload",
    ),
    Setting(
        "rate",
        "ipaSessionRecordingRateLimit",
        9,
        Type.INT,
        16384,
        "Rate limit (bytes/s)",
        "Recorded bytes per second before the limit action applies",
        Combine.FIRST,
        bounds=(1024, INT32_MAX),
        recorder_flag="--rate",
    ),
    Setting(
        "burst",
        "ipaSessionRecordingBurst",
        10,
        Type.INT,
        32768,
        "Burst (bytes)",
        "Bytes allowed above the rate limit",
        Combine.FIRST,
        bounds=(4096, INT32_MAX),
        recorder_flag="--burst",
    ),
    Setting(
        "limit_action",
        "ipaSessionRecordingLimitAction",
        11,
        Type.CHOICE,
        "pass",
        "Limit action",
        "What happens above the rate: pass (record all), delay (slow the session), drop (lose data)",
        Combine.FIRST,
        choices=LIMIT_ACTIONS,
        recorder_flag="--limit-action",
    ),
    Setting(
        "audit_commands",
        "ipaSessionRecordingAuditCommands",
        12,
        Type.BOOL,
        False,
        "Audit commands",
        "Audit every command executed in the session",
        Combine.ANY,
    ),
    Setting(
        "watch_paths",
        "ipaSessionRecordingWatchPath",
        13,
        Type.WATCH,
        (),
        "Watched paths",
        "Audit accesses to a path during the session: <permissions>:<absolute path>, permissions from rwxa",
        Combine.MERGE,
        cli="watch",
    ),
    Setting(
        "transfers",
        "ipaSessionRecordingTransfers",
        14,
        Type.CHOICE,
        "record",
        "File transfers",
        "Sessions of sftp-server, scp and rsync: record (their bytes), metadata (only the command and "
        "byte counts), refuse",
        Combine.FIRST,
        choices=TRANSFERS,
    ),
)

SETTINGS: tuple[Setting, ...] = (KIND, PRIORITY, *OPTIONS)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
OPTION_NAMES: tuple[str, ...] = tuple(o.name for o in OPTIONS)


def _python_type(setting: Setting) -> type:
    return {
        Type.BOOL: bool,
        Type.INT: int,
        Type.TEXT: str,
        Type.CHOICE: str,
        Type.WATCH: tuple,
    }[setting.type]


# The effective recording options of a session: one field per option, its default when unset.
Options = dataclasses.make_dataclass(
    "Options",
    [(o.name, _python_type(o), dataclasses.field(default=o.default)) for o in OPTIONS],
    frozen=True,
)
Options.__module__ = __name__
Options.__doc__ = "The effective recording options of a session (one field per entry of OPTIONS)."


def as_dict(options: Any) -> dict[str, Any]:
    """Effective options as plain JSON-able values (watched paths as their text form)."""
    out = {}
    for o in OPTIONS:
        value = getattr(options, o.name)
        out[o.name] = [str(w) for w in value] if o.type is Type.WATCH else value
    return out


def from_dict(data: dict[str, Any]) -> Any:
    """The inverse of as_dict; ValueError names the first unacceptable value."""
    kw = {}
    for o in OPTIONS:
        if o.name not in data:
            continue
        value = data[o.name]
        if o.type is Type.WATCH:
            value = tuple(values.parse_watch_path(v) for v in value)
        error = o.error(value)
        if error is not None:
            raise ValueError(f"option {o.name} {error}")
        kw[o.name] = value
    return Options(**kw)


def recorder_args(options: Any) -> list[str]:
    """`sessrec record` arguments that carry the effective options (up to, not including, `--`)."""
    args: list[str] = []
    for o in OPTIONS:
        args += o.recorder_args(getattr(options, o.name))
    return args


ATTRIBUTE: dict[str, str] = {s.name: s.attribute for s in SETTINGS}
