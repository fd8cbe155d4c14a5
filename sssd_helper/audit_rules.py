"""Kernel audit rules from this host's recording rules: which processes' commands and file accesses are
audited, rendered through jinja2 (sssd_helper/templates/) in auditctl's own canonical form.

Two scopes (docs/audit.md has the measurements behind them):

- **session** — per recorded session, loaded by the agent when the session starts and removed when its
  last process is gone: `-F sessionid=N` (one rule per arch for commands, one per arch and path for
  files), or `-F auid=-1 -F uid=U` for a session without an audit session. The cost follows the live
  recorded sessions, not the users the rules name. Impossible once the kernel is locked (`-e 2`).
- **user** — static rules for every user the rules record (`-F auid=U`, and `-F auid=-1 -F uid=U` for
  sessions without an audit session), groups expanded through SSSD, `all` as two rules with `never`
  rules for the exceptions in front: what a host whose kernel rules are locked at boot loads from
  /etc/audit/rules.d.

Every rule carries a key `sessrec-<what>-<FreeIPA rule>`: the agent touches only the rules it loaded,
and `sessrec audit` reads only events with these keys.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ipa_plugin.policy import options as option_table
from ipa_plugin.policy.rules import Rule, RuleSet

UNSET = 4294967295  # auid/ses of a process outside any login session (auditctl prints -1)
NOBODY = 65534
MAX_KEY = 256  # AUDIT_MAX_KEY_LEN: the kernel's (and auditctl's) limit for the keys of one rule
KEY_PREFIX = "sessrec-"
EXEC, FILE, SKIP = "exec", "file", "skip"  # key kinds: commands, watched paths, never (exceptions)
KEY_KINDS = (EXEC, FILE, SKIP)
ARCHES = ("b64", "b32")
EXEC_SYSCALLS = ("execve", "execveat")
DEFAULT_BACKLOG = 8192


def key(kind: str, rule: str) -> str:
    """`sessrec-<kind>-<rule>`, within the kernel's limit (a long name is cut and keeps a hash)."""
    whole = f"{KEY_PREFIX}{kind}-{rule}"
    if len(whole.encode()) <= MAX_KEY:
        return whole
    digest = hashlib.sha256(rule.encode()).hexdigest()[:8]
    keep = MAX_KEY - len(f"{KEY_PREFIX}{kind}-~{digest}")
    return f"{KEY_PREFIX}{kind}-{rule.encode()[:keep].decode(errors='ignore')}~{digest}"


def rule_of_key(value: str) -> tuple[str, str] | None:
    """(kind, rule name) of one of our keys; None for any other key."""
    for kind in KEY_KINDS:
        if value.startswith(f"{KEY_PREFIX}{kind}-"):
            return kind, value[len(KEY_PREFIX) + len(kind) + 1 :]
    return None


# -- whose processes --------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Scope:
    """Whose processes a kernel rule matches.

    - `sessions`: audit sessions `first`..`last` (one kernel rule for a whole range);
    - `uid`: processes of `uid` outside any audit session (su/runuser from a session-less parent);
    - `user`: every process of `uid`'s logins, and its session-less processes;
    - `all`: every login of a user with a uid from `uid` (UID_MIN) up, and their session-less processes.
    """

    kind: str
    uid: int = -1
    first: int = UNSET
    last: int = UNSET

    def fields(self) -> list[tuple[str, ...]]:
        """The -F fields of each kernel rule this scope needs (one rule per tuple)."""
        if self.kind == "sessions":
            if self.first == self.last:
                return [(f"sessionid={self.first}",)]
            return [(f"sessionid>={self.first}", f"sessionid<={self.last}")]
        if self.kind == "uid":
            return [("auid=-1", f"uid={self.uid}")]
        if self.kind == "user":
            return [(f"auid={self.uid}",), ("auid=-1", f"uid={self.uid}")]
        return [(f"auid>={self.uid}", "auid!=-1"), ("auid=-1", f"uid>={self.uid}", f"uid!={NOBODY}")]


@dataclass(frozen=True)
class Watch:
    path: str
    permissions: str  # from rwxa
    directory: bool = False  # -F dir= (the whole tree) rather than -F path= (the one inode)


@dataclass(frozen=True)
class Audited:
    """What is audited for one scope, and which FreeIPA rule asked for it (the key names it).

    `skip_commands` and `skip_watches` are exceptions to `all`: `never` rules loaded before it."""

    scope: Scope
    commands: str | None = None  # the rule whose audit_commands asked for commands; None: not audited
    watches: tuple[tuple[Watch, str], ...] = ()  # (watch, rule)
    skip_commands: str | None = None  # the rule that exempts the scope's commands from `all`
    skip_watches: tuple[tuple[Watch, str], ...] = ()


@dataclass(frozen=True)
class KernelRule:
    """One line of auditctl's canonical form (`auditctl -l` prints it back the same)."""

    action: str  # always | never
    arch: str
    syscalls: tuple[str, ...]  # ("all",) for path rules
    fields: tuple[str, ...]
    key: str

    @property
    def line(self) -> str:
        fields = "".join(f" -F {f}" for f in self.fields)
        syscalls = ",".join(self.syscalls)
        return f"-a {self.action},exit -F arch={self.arch} -S {syscalls}{fields} -F key={self.key}"


@dataclass
class Plan:
    """Everything one render needs; `problems` are reported (watched paths the kernel cannot take)."""

    rules: list[KernelRule] = field(default_factory=list)
    backlog: int = DEFAULT_BACKLOG
    scope: str = "user"
    sources: tuple[str, ...] = ()  # the FreeIPA rules that asked for auditing
    problems: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return [r.line for r in self.rules]


def kernel_rules(audited: Iterable[Audited]) -> list[KernelRule]:
    """Kernel rules in the order they are loaded and written: `never` exceptions first (the exit list,
    and each inode's list of path rules, is first match wins), then commands, then paths; single users
    and sessions before `all`, so an event carries the key of the rule closest to its user."""
    never: list[KernelRule] = []
    commands: list[KernelRule] = []
    files: list[KernelRule] = []
    for a in sorted(audited, key=lambda a: (a.scope.kind == "all", a.scope)):
        for fields in a.scope.fields():
            for arch in ARCHES:
                if a.skip_commands is not None:
                    never.append(KernelRule("never", arch, EXEC_SYSCALLS, fields, key(SKIP, a.skip_commands)))
                never.extend(_watch_rule("never", arch, w, fields, key(SKIP, r)) for w, r in a.skip_watches)
                if a.commands is not None:
                    commands.append(KernelRule("always", arch, EXEC_SYSCALLS, fields, key(EXEC, a.commands)))
                files.extend(_watch_rule("always", arch, w, fields, key(FILE, r)) for w, r in a.watches)
    return never + commands + files


def _watch_rule(action: str, arch: str, w: Watch, fields: tuple[str, ...], k: str) -> KernelRule:
    # The scope first: the kernel compares a rule's fields in order and stops at the first mismatch.
    where = f"dir={w.path}" if w.directory else f"path={w.path}"
    return KernelRule(action, arch, ("all",), (*fields, where, f"perm={w.permissions}"), k)


# -- from the rules ---------------------------------------------------------------------------------------
def audit_rules(ruleset: RuleSet) -> list[Rule]:
    """The enabled record rules of this host that ask for any auditing."""
    return [
        r
        for r in ruleset.rules
        if r.enabled
        and r.kind == option_table.KIND_RECORD
        and r.applies_to_host(ruleset.host, ruleset.hostgroups)
        and (r.option("audit_commands") or r.option("watch_paths"))
    ]


def first_rule(rules: Iterable[Rule], wants: Any) -> str | None:
    """The first rule by name (as options combine) for which `wants(rule)` holds."""
    names = sorted((r.name for r in rules if wants(r)), key=lambda n: (n.casefold(), n))
    return names[0] if names else None


def audited_for(
    decision_rules: Iterable[Rule],
    options: Any,
    scope: Scope,
    is_dir: Any = lambda p: False,
    fallback: str = "default",
) -> Audited | None:
    """What a decision's effective options audit for `scope`; None when nothing. Keys name the first
    deciding rule (by name) that asked for each thing; `fallback` when the rules are not at hand."""
    deciding = list(decision_rules)
    commands = None
    if options.audit_commands:
        commands = first_rule(deciding, lambda r: r.option("audit_commands")) or fallback
    watches = []
    for w in options.watch_paths:
        rule = first_rule(
            deciding, lambda r, w=w: any(v.path == w.path for v in r.option("watch_paths") or ())
        )
        watches.append((Watch(w.path, w.permissions, bool(is_dir(w.path))), rule or fallback))
    if commands is None and not watches:
        return None
    return Audited(scope, commands, tuple(watches))


@dataclass(frozen=True)
class Member:
    """A user some rule names, directly or through a group (found through SSSD)."""

    uid: int
    name: str | None  # known when a rule names the user directly
    groups: frozenset[str]  # the groups named by rules that contain the user (nested ones included)


def user_scope(
    ruleset: RuleSet, members: Iterable[Member], uid_min: int, is_dir: Any = lambda p: False
) -> list[Audited]:
    """Static per-user auditing: each named user's decision, and `all` once with its exceptions.

    `decide()` sees a user's name and the rule-named groups the user is in, which is all it looks at.
    A user no rule names (only `all` applies) decides like the anonymous user; named users whose decision
    differs from it get their own rules, and `never` rules when `all` would audit what they must not."""
    by_name = {r.name: r for r in ruleset.rules}
    anonymous = ruleset.decide("", ())
    base = (
        audited_for([by_name[n] for n in anonymous.rules], anonymous.options, Scope("all", uid_min), is_dir)
        if anonymous.record
        else None
    )
    out: list[Audited] = [base] if base is not None else []
    for m in sorted(members, key=lambda m: m.uid):
        d = ruleset.decide(m.name or f"#{m.uid}", m.groups)
        mine = (
            audited_for([by_name[n] for n in d.rules], d.options, Scope("user", m.uid), is_dir)
            if d.record
            else None
        )
        out.extend(_against_base(mine, base, Scope("user", m.uid), d.rules))
    return out


def _against_base(
    mine: Audited | None, base: Audited | None, scope: Scope, rules: tuple[str, ...]
) -> list[Audited]:
    """A named user's own rules, given what the `all` rules already audit for everyone: only the
    differences, as the user's own `always` rules and `never` rules in front of `all`."""
    if base is None:
        return [mine] if mine is not None else []
    why = rules[0] if rules else "exempt"
    commands = mine.commands if mine is not None else None
    own = dict((w.path, (w, r)) for w, r in (mine.watches if mine is not None else ()))
    common = {w.path: (w, r) for w, r in base.watches}
    watches, skips = [], []
    for path in sorted(set(own) | set(common)):
        mine_perms = own[path][0].permissions if path in own else ""
        base_perms = common[path][0].permissions if path in common else ""
        extra = "".join(p for p in mine_perms if p not in base_perms)
        less = "".join(p for p in base_perms if p not in mine_perms)
        if extra:
            w, r = own[path]
            watches.append((Watch(path, extra, w.directory), r))
        if less:
            w = common[path][0]
            skips.append((Watch(path, less, w.directory), why))
    audited = Audited(
        scope,
        commands=commands if base.commands is None else None,
        watches=tuple(watches),
        skip_commands=why if base.commands is not None and commands is None else None,
        skip_watches=tuple(skips),
    )
    return [audited] if audited != Audited(scope) else []


@dataclass(frozen=True)
class Session:
    """A recorded session and what its decision audits (`audited_for` with the session's scope unset)."""

    sessionid: int  # UNSET: no audit session (su/runuser from a session-less parent)
    uid: int
    user: str
    commands: str | None = None
    watches: tuple[tuple[Watch, str], ...] = ()

    @property
    def audits(self) -> bool:
        return self.commands is not None or bool(self.watches)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessionid": self.sessionid,
            "uid": self.uid,
            "user": self.user,
            "commands": self.commands,
            "watches": [[w.path, w.permissions, w.directory, r] for w, r in self.watches],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Session:
        watches = tuple((Watch(str(p), str(m), bool(t)), str(r)) for p, m, t, r in d["watches"])
        commands = d["commands"]
        return cls(
            int(d["sessionid"]),
            int(d["uid"]),
            str(d["user"]),
            None if commands is None else str(commands),
            watches,
        )


def ranges(wanted: Iterable[int], others: Iterable[int]) -> list[tuple[int, int]]:
    """Cover the `wanted` session ids with as few ranges as possible that hold none of `others` (the live
    sessions that must not match). Ids of ended sessions may fall inside a range: the kernel hands out
    session ids in increasing order and never twice in a boot, and every new one is above the ranges."""
    want = sorted(set(wanted))
    avoid = sorted(set(others) - set(want))
    out: list[tuple[int, int]] = []
    for sid in want:
        if out:
            at = bisect.bisect_right(avoid, out[-1][1])
            if at == len(avoid) or avoid[at] > sid:
                out[-1] = (out[-1][0], sid)
                continue
        out.append((sid, sid))
    return out


def session_scope(sessions: Iterable[Session], live: Iterable[int]) -> list[Audited]:
    """Per-session auditing, each kind of auditing (commands, each watched path with its permissions,
    each with the rule it names) over ranges of the sessions that want it; `live` is every audit
    session that has a process now."""
    live = set(live) - {UNSET}
    by_what: dict[tuple, set[int]] = {}
    sessionless: dict[tuple, set[int]] = {}
    for s in sessions:
        whats = ([("exec", s.commands)] if s.commands is not None else []) + [("file", w) for w in s.watches]
        for what in whats:
            if s.sessionid == UNSET:
                sessionless.setdefault(what, set()).add(s.uid)
            else:
                by_what.setdefault(what, set()).add(s.sessionid)
    out = []
    for what, ids in sorted(by_what.items(), key=repr):
        for first, last in ranges(ids, live):
            out.append(_audited(Scope("sessions", first=first, last=last), what))
    for what, uids in sorted(sessionless.items(), key=repr):
        out.extend(_audited(Scope("uid", uid), what) for uid in sorted(uids))
    return out


def _audited(scope: Scope, what: tuple) -> Audited:
    if what[0] == "exec":
        return Audited(scope, commands=what[1])
    return Audited(scope, watches=(what[1],))


# -- rendering --------------------------------------------------------------------------------------------
_ENV: Any = None


def render(plan: Plan, host: str, template: str = "75-sessrec.rules.j2") -> str:
    """The rules file: a header, the backlog, then the rules in load order."""
    global _ENV
    if _ENV is None:  # made once: compiling the template costs a recorded login milliseconds
        import jinja2

        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("sssd_helper", "templates"),
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
    return _ENV.get_template(template).render(
        host=host,
        scope=plan.scope,
        backlog=plan.backlog,
        sources=plan.sources,
        never=[r for r in plan.rules if r.action == "never"],
        commands=[r for r in plan.rules if r.action == "always" and r.syscalls == EXEC_SYSCALLS],
        files=[r for r in plan.rules if r.action == "always" and r.syscalls != EXEC_SYSCALLS],
    )


def rule_lines(text: str) -> list[str]:
    """The rule lines of a rendered file (what `auditctl -l` lists back), in order."""
    return [line for line in text.splitlines() if line.startswith("-a ")]
