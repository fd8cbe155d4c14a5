"""Host side of the session recording rules: fetch this host's rules and decide per user.

A host binds with its own identity, reads its hostgroups (memberOf, nested ones included) and runs one
filtered search for the enabled rules that name it, one of its hostgroups, or all hosts. Users and groups
are matched locally (`RuleSet.decide`), with the groups SSSD reports, nested membership included.

How overlapping rules combine (docs/plugin.md has the long form):
1. A rule applies when it is enabled, names the host (hostCategory=all, the host or one of its hostgroups)
   and the user (userCategory=all, the user or one of the user's groups).
2. Only the applying rules of the highest priority count (the top band); lower ones are overridden.
3. In the top band a `record` rule beats an `exempt` rule: exemption must win by a higher priority.
4. The options of the top band's record rules combine: what to record is the union (input, output,
   window, command audit: any rule asking turns it on; watched paths are merged, permissions united); how
   to write it (notice, latency, payload, rate, burst, limit action) comes from the first rule by name
   that sets it, else the default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import ldap
import ldap.dn
import ldap.filter

from ipa_plugin import layout, values

RawEntry = Mapping[str, Sequence[bytes | str]]


# -- DNs ----------------------------------------------------------------------------------------------
def _dn(rdn_attr: str, name: str, container: str, suffix: str) -> str:
    return ldap.dn.dn2str([[(rdn_attr, name, 1)]] + ldap.dn.str2dn(container) + ldap.dn.str2dn(suffix))


def user_dn(uid: str, suffix: str) -> str:
    return _dn("uid", uid, layout.USERS_RDN, suffix)


def group_dn(name: str, suffix: str) -> str:
    return _dn("cn", name, layout.GROUPS_RDN, suffix)


def host_dn(fqdn: str, suffix: str) -> str:
    return _dn("fqdn", fqdn, layout.HOSTS_RDN, suffix)


def hostgroup_dn(name: str, suffix: str) -> str:
    return _dn("cn", name, layout.HOSTGROUPS_RDN, suffix)


def rule_dn(name: str, suffix: str) -> str:
    return ldap.dn.dn2str([[(layout.RULE_RDN_ATTR, name, 1)]] + ldap.dn.str2dn(layout.container_dn(suffix)))


def _norm(dn: str) -> tuple[tuple[str, str], ...]:
    """A DN as comparable parts: attribute types and values case-folded (IPA's naming attributes are
    case-insensitive)."""
    return tuple((a.casefold(), v.casefold()) for rdn in ldap.dn.str2dn(dn) for a, v, _ in rdn)


def name_under(dn: str, rdn_attr: str, container: str, suffix: str) -> str | None:
    """The RDN value of `dn` when it is `<rdn_attr>=<value>,<container>,<suffix>`, else None."""
    try:
        parts = ldap.dn.str2dn(dn)
    except ldap.DECODING_ERROR:
        return None
    if len(parts) < 2 or len(parts[0]) != 1:
        return None
    attr, value, _ = parts[0][0]
    if attr.casefold() != rdn_attr.casefold():
        return None
    tail = ldap.dn.dn2str(parts[1:])
    if _norm(tail) != _norm(f"{container},{suffix}"):
        return None
    return value


# -- the search -----------------------------------------------------------------------------------------
def host_filter(host: str, hostgroups: Iterable[str] = ()) -> str:
    """The one filter a host searches with: enabled rules for all hosts, this host or its hostgroups.

    `host` and `hostgroups` are DNs; their values are escaped for the filter."""
    terms = [f"({layout.ATTR_HOST_CATEGORY}={layout.CATEGORY_ALL})"]
    for dn in (host, *sorted(set(hostgroups))):
        terms.append(f"({layout.ATTR_MEMBER_HOST}={ldap.filter.escape_filter_chars(dn)})")
    return (
        f"(&(objectClass={layout.RULE_OBJECTCLASS})({layout.ATTR_ENABLED}={layout.LDAP_TRUE})"
        f"(|{''.join(terms)}))"
    )


def hostgroups_of(memberof: Iterable[bytes | str], suffix: str) -> dict[str, str]:
    """The hostgroups among a host's memberOf values, as {name: DN}; other groups and rules are dropped."""
    found: dict[str, str] = {}
    for raw in memberof:
        dn = raw.decode() if isinstance(raw, bytes) else raw
        name = name_under(dn, "cn", layout.HOSTGROUPS_RDN, suffix)
        if name is not None:
            found[name] = dn
    return found


def fetch(conn: ldap.ldapobject.LDAPObject, suffix: str, fqdn: str) -> RuleSet:
    """This host's rules, read with `conn` (bound as the host): two searches, whatever the rule count."""
    dn = host_dn(fqdn, suffix)
    found = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["memberOf"])
    memberof = _values(found[0][1], "memberOf") if found else []
    groups = hostgroups_of(memberof, suffix)
    entries = conn.search_s(
        layout.container_dn(suffix),
        ldap.SCOPE_ONELEVEL,
        host_filter(dn, groups.values()),
        list(layout.RULE_ATTRIBUTES),
    )
    rules = tuple(Rule.from_entry(rdn, attrs, suffix) for rdn, attrs in entries if rdn)
    return RuleSet(rules=rules, host=fqdn, hostgroups=frozenset(groups))


# -- rules ------------------------------------------------------------------------------------------------
def _values(attrs: RawEntry, name: str) -> list[str]:
    for key, vals in attrs.items():
        if key.casefold() == name.casefold():
            return [v.decode() if isinstance(v, bytes) else v for v in vals]
    return []


def _single(attrs: RawEntry, name: str) -> str | None:
    vals = _values(attrs, name)
    return vals[0] if vals else None


def _bool(attrs: RawEntry, name: str) -> bool | None:
    value = _single(attrs, name)
    return None if value is None else value.upper() == layout.LDAP_TRUE


def _int(attrs: RawEntry, name: str) -> int | None:
    value = _single(attrs, name)
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _fold(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.casefold() for n in names)


@dataclass(frozen=True)
class Rule:
    """One rule as the host sees it; options are None when the rule does not set them."""

    name: str
    enabled: bool = True
    kind: str = values.DEFAULT_KIND
    priority: int = values.DEFAULT_PRIORITY
    all_users: bool = False
    all_hosts: bool = False
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    hostgroups: frozenset[str] = frozenset()
    log_input: bool | None = None
    log_output: bool | None = None
    log_window: bool | None = None
    notice: str | None = None
    latency: int | None = None
    payload: int | None = None
    rate: int | None = None
    burst: int | None = None
    limit_action: str | None = None
    audit_commands: bool | None = None
    watch_paths: tuple[values.WatchPath, ...] = ()

    def __post_init__(self) -> None:  # names compare case-insensitively, as their DNs do
        for name in ("users", "groups", "hosts", "hostgroups"):
            object.__setattr__(self, name, _fold(getattr(self, name)))

    @classmethod
    def from_entry(cls, dn: str, attrs: RawEntry, suffix: str) -> Rule:
        """Parse a rule entry as returned by python-ldap. Values the host cannot use are dropped
        (a member DN outside IPA's containers, a malformed watch path, an out-of-range number)."""
        users, groups, hosts, hostgroups = set(), set(), set(), set()
        for member in _values(attrs, layout.ATTR_MEMBER_USER):
            if (name := name_under(member, "uid", layout.USERS_RDN, suffix)) is not None:
                users.add(name)
            elif (name := name_under(member, "cn", layout.GROUPS_RDN, suffix)) is not None:
                groups.add(name)
        for member in _values(attrs, layout.ATTR_MEMBER_HOST):
            if (name := name_under(member, "fqdn", layout.HOSTS_RDN, suffix)) is not None:
                hosts.add(name)
            elif (name := name_under(member, "cn", layout.HOSTGROUPS_RDN, suffix)) is not None:
                hostgroups.add(name)
        watch: set[values.WatchPath] = set()
        for raw in _values(attrs, layout.ATTR_WATCH_PATH):
            try:
                watch.add(values.parse_watch_path(raw))
            except ValueError:
                continue
        kind = (_single(attrs, layout.ATTR_KIND) or values.DEFAULT_KIND).lower()
        limit = _single(attrs, layout.ATTR_LIMIT_ACTION)
        name = _single(attrs, layout.ATTR_NAME) or ldap.dn.str2dn(dn)[0][0][1]
        return cls(
            name=name,
            enabled=_bool(attrs, layout.ATTR_ENABLED) is True,
            # An unknown kind is treated as record: a host never skips recording on a value it cannot read.
            kind=kind if kind in layout.KINDS else layout.KIND_RECORD,
            priority=_ranged(_int(attrs, layout.ATTR_PRIORITY), values.PRIORITY_RANGE)
            or values.DEFAULT_PRIORITY,
            all_users=(_single(attrs, layout.ATTR_USER_CATEGORY) or "").lower() == layout.CATEGORY_ALL,
            all_hosts=(_single(attrs, layout.ATTR_HOST_CATEGORY) or "").lower() == layout.CATEGORY_ALL,
            users=frozenset(users),
            groups=frozenset(groups),
            hosts=frozenset(hosts),
            hostgroups=frozenset(hostgroups),
            log_input=_bool(attrs, layout.ATTR_LOG_INPUT),
            log_output=_bool(attrs, layout.ATTR_LOG_OUTPUT),
            log_window=_bool(attrs, layout.ATTR_LOG_WINDOW),
            notice=_single(attrs, layout.ATTR_NOTICE),
            latency=_ranged(_int(attrs, layout.ATTR_LATENCY), values.LATENCY_RANGE),
            payload=_ranged(_int(attrs, layout.ATTR_PAYLOAD), values.PAYLOAD_RANGE),
            rate=_ranged(_int(attrs, layout.ATTR_RATE), values.RATE_RANGE),
            burst=_ranged(_int(attrs, layout.ATTR_BURST), values.BURST_RANGE),
            limit_action=limit.lower() if limit and limit.lower() in layout.LIMIT_ACTIONS else None,
            audit_commands=_bool(attrs, layout.ATTR_AUDIT_COMMANDS),
            watch_paths=tuple(sorted(watch)),
        )

    def applies_to_host(self, fqdn: str, hostgroups: Iterable[str]) -> bool:
        return self.all_hosts or fqdn.casefold() in self.hosts or bool(self.hostgroups & _fold(hostgroups))

    def applies_to_user(self, user: str, groups: Iterable[str]) -> bool:
        return self.all_users or user.casefold() in self.users or bool(self.groups & _fold(groups))


def _ranged(value: int | None, bounds: tuple[int, int]) -> int | None:
    return value if value is not None and values.in_range(value, bounds) else None


@dataclass(frozen=True)
class Options:
    """The effective recording options of a session."""

    log_input: bool = values.DEFAULT_LOG_INPUT
    log_output: bool = values.DEFAULT_LOG_OUTPUT
    log_window: bool = values.DEFAULT_LOG_WINDOW
    notice: str = values.DEFAULT_NOTICE
    latency: int = values.DEFAULT_LATENCY
    payload: int = values.DEFAULT_PAYLOAD
    rate: int = values.DEFAULT_RATE
    burst: int = values.DEFAULT_BURST
    limit_action: str = values.DEFAULT_LIMIT_ACTION
    audit_commands: bool = values.DEFAULT_AUDIT_COMMANDS
    watch_paths: tuple[values.WatchPath, ...] = ()


@dataclass(frozen=True)
class Decision:
    """Whether to record a session, why (the deciding rules) and how."""

    record: bool
    rules: tuple[str, ...] = ()  # the deciding rules: the record rules of the top band, or its exempt rules
    options: Options | None = None  # set only when record is True
    reason: str = ""


_UNION_FLAGS = ("log_input", "log_output", "log_window", "audit_commands")
_FIRST_SET = ("notice", "latency", "payload", "rate", "burst", "limit_action")


def combine(rules: Iterable[Rule]) -> Options:
    """The options of several record rules of one band (see the module docstring, point 4)."""
    ordered = sorted(rules, key=lambda r: (r.name.casefold(), r.name))
    defaults = Options()
    kw: dict[str, object] = {}
    for flag in _UNION_FLAGS:
        kw[flag] = any(
            getattr(defaults, flag) if getattr(r, flag) is None else getattr(r, flag) for r in ordered
        )
    for opt in _FIRST_SET:
        kw[opt] = next(
            (getattr(r, opt) for r in ordered if getattr(r, opt) is not None), getattr(defaults, opt)
        )
    perms: dict[str, str] = {}
    for r in ordered:
        for w in r.watch_paths:
            perms[w.path] = values.canonical_permissions(perms.get(w.path, "") + w.permissions)
    kw["watch_paths"] = tuple(values.WatchPath(path=p, permissions=perms[p]) for p in sorted(perms))
    return Options(**kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RuleSet:
    """The rules a host fetched, with the host's identity, ready to decide for any user."""

    rules: tuple[Rule, ...]
    host: str
    hostgroups: frozenset[str] = field(default_factory=frozenset)

    def applicable(self, user: str, groups: Iterable[str]) -> list[Rule]:
        groups = list(groups)
        return [
            r
            for r in self.rules
            if r.enabled and r.applies_to_host(self.host, self.hostgroups) and r.applies_to_user(user, groups)
        ]

    def decide(self, user: str, groups: Iterable[str]) -> Decision:
        matching = self.applicable(user, groups)
        if not matching:
            return Decision(record=False, reason="no rule applies")
        top = max(r.priority for r in matching)
        band = [r for r in matching if r.priority == top]
        record = [r for r in band if r.kind == layout.KIND_RECORD]
        if record:
            names = tuple(sorted(r.name for r in record))
            return Decision(
                record=True,
                rules=names,
                options=combine(record),
                reason=f"recorded by {', '.join(names)} (priority {top})",
            )
        names = tuple(sorted(r.name for r in band))
        return Decision(record=False, rules=names, reason=f"exempted by {', '.join(names)} (priority {top})")
