"""The rule model and `decide()`: which rules apply to a user on a host, and what they decide.

How overlapping rules combine (docs/plugin.md has the long form):
1. A rule applies when it is enabled, names the host (hostCategory=all, the host or one of its hostgroups)
   and the user (userCategory=all, the user or one of the user's groups).
2. Only the applying rules of the highest priority count (the top band); lower ones are overridden.
3. In the top band a `record` rule beats an `exempt` rule: exemption must win by a higher priority.
4. The options of the top band's record rules combine as the option table says (options.Combine).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import dn, layout, options, values

RawEntry = Mapping[str, Sequence[bytes | str]]
Options = options.Options


def _fold(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.casefold() for n in names)


def entry_values(attrs: RawEntry, name: str) -> list[str]:
    """The values of attribute `name` (case-insensitive), as text."""
    for key, vals in attrs.items():
        if key.casefold() == name.casefold():
            return [v.decode() if isinstance(v, bytes) else v for v in vals]
    return []


@dataclass(frozen=True)
class Rule:
    """One rule as a host sees it. `options` holds only the recording options the rule sets."""

    name: str
    enabled: bool = True
    kind: str = options.KIND.default
    priority: int = options.PRIORITY.default
    all_users: bool = False
    all_hosts: bool = False
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    hostgroups: frozenset[str] = frozenset()
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:  # names compare case-insensitively, as their DNs do
        for name in ("users", "groups", "hosts", "hostgroups"):
            object.__setattr__(self, name, _fold(getattr(self, name)))
        unknown = set(self.options) - set(options.OPTION_NAMES)
        if unknown:
            raise ValueError(f"unknown recording options: {', '.join(sorted(unknown))}")

    def __hash__(self) -> int:
        return hash((self.name, self.priority, self.kind))

    @classmethod
    def of(cls, name: str, **kw: Any) -> Rule:
        """A rule from keyword arguments, recording options among them (`Rule.of("r", latency=3)`)."""
        opts = {k: kw.pop(k) for k in list(kw) if k in options.OPTION_NAMES}
        return cls(name=name, options=opts, **kw)

    @classmethod
    def from_entry(cls, rule_dn: str, attrs: RawEntry, suffix: str) -> Rule:
        """Parse a rule entry. Values a host cannot use are dropped (a member DN outside IPA's containers,
        a malformed watch path, an out-of-range number): the default then applies."""
        users, groups = _members(attrs, layout.ATTR_MEMBER_USER, suffix, ("uid", layout.USERS_RDN))
        hosts, hostgroups = _members(attrs, layout.ATTR_MEMBER_HOST, suffix, ("fqdn", layout.HOSTS_RDN))
        parsed = {s.name: s.parse(entry_values(attrs, s.attribute)) for s in options.SETTINGS}
        names = entry_values(attrs, layout.ATTR_NAME)
        return cls(
            name=names[0] if names else dn.parse(rule_dn)[0][1],
            enabled=_is_true(attrs, layout.ATTR_ENABLED),
            # An unknown kind is treated as record: a host never skips recording on a value it cannot read.
            kind=parsed.pop("kind") or options.KIND_RECORD,
            priority=_or_default(parsed.pop("priority"), options.PRIORITY.default),
            all_users=_is_all(attrs, layout.ATTR_USER_CATEGORY),
            all_hosts=_is_all(attrs, layout.ATTR_HOST_CATEGORY),
            users=users,
            groups=groups,
            hosts=hosts,
            hostgroups=hostgroups,
            options={k: v for k, v in parsed.items() if v is not None},
        )

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON-able values (the agent's cache, the decision protocol)."""
        out: dict[str, Any] = {
            "name": self.name,
            "enabled": self.enabled,
            "kind": self.kind,
            "priority": self.priority,
            "all_users": self.all_users,
            "all_hosts": self.all_hosts,
        }
        for members in ("users", "groups", "hosts", "hostgroups"):
            out[members] = sorted(getattr(self, members))
        out["options"] = {
            k: [str(w) for w in v] if options.BY_NAME[k].type is options.Type.WATCH else v
            for k, v in sorted(self.options.items())
        }
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """The inverse of to_dict; ValueError (or KeyError, TypeError) for data that is not a rule."""
        opts: dict[str, Any] = {}
        for key, value in dict(data.get("options", {})).items():
            setting = options.BY_NAME.get(key)
            if setting is None or setting.combine is options.Combine.RULE:
                raise ValueError(f"unknown recording option {key!r}")
            if setting.type is options.Type.WATCH:
                value = tuple(values.parse_watch_path(v) for v in value)
            error = setting.error(value)
            if error is not None:
                raise ValueError(f"option {key} {error}")
            opts[key] = value
        kind, priority = data["kind"], data["priority"]
        for setting, value in ((options.KIND, kind), (options.PRIORITY, priority)):
            if setting.error(value) is not None:
                raise ValueError(f"{setting.name} {setting.error(value)}")
        flags = [data[k] for k in ("enabled", "all_users", "all_hosts")]
        members = [data[k] for k in ("users", "groups", "hosts", "hostgroups")]
        if not all(isinstance(f, bool) for f in flags) or not isinstance(data["name"], str):
            raise ValueError("rule name must be text and its flags booleans")
        if not all(isinstance(m, list) and all(isinstance(n, str) for n in m) for m in members):
            raise ValueError("rule members must be lists of names")
        return cls(
            name=data["name"],
            enabled=flags[0],
            kind=kind,
            priority=priority,
            all_users=flags[1],
            all_hosts=flags[2],
            users=frozenset(members[0]),
            groups=frozenset(members[1]),
            hosts=frozenset(members[2]),
            hostgroups=frozenset(members[3]),
            options=opts,
        )

    def option(self, name: str) -> Any:
        """The value this rule sets for a recording option, None when it does not set it."""
        return self.options.get(name)

    def applies_to_host(self, fqdn: str, hostgroups: Iterable[str]) -> bool:
        return _names(
            self.all_hosts, self.hosts, self.hostgroups, frozenset({fqdn.casefold()}), _fold(hostgroups)
        )

    def applies_to_user(self, user: str, groups: Iterable[str]) -> bool:
        return _names(self.all_users, self.users, self.groups, frozenset({user.casefold()}), _fold(groups))


def _names(
    everyone: bool, ones: frozenset[str], groups: frozenset[str], one: frozenset[str], of: frozenset[str]
) -> bool:
    """A rule's side (users or hosts) names `one` (folded): directly, through a group in `of`, or all."""
    return everyone or not ones.isdisjoint(one) or not groups.isdisjoint(of)


def _or_default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _is_true(attrs: RawEntry, name: str) -> bool:
    return [v.upper() for v in entry_values(attrs, name)[:1]] == [options.LDAP_TRUE]


def _is_all(attrs: RawEntry, name: str) -> bool:
    return [v.lower() for v in entry_values(attrs, name)[:1]] == [layout.CATEGORY_ALL]


def _members(
    attrs: RawEntry, attribute: str, suffix: str, single: tuple[str, str]
) -> tuple[frozenset[str], frozenset[str]]:
    """Member DNs split into (single members, groups): users and groups, or hosts and hostgroups."""
    group_container = layout.GROUPS_RDN if single[1] == layout.USERS_RDN else layout.HOSTGROUPS_RDN
    ones, groups = set(), set()
    for member in entry_values(attrs, attribute):
        if (name := dn.name_under(member, single[0], single[1], suffix)) is not None:
            ones.add(name)
        elif (name := dn.name_under(member, "cn", group_container, suffix)) is not None:
            groups.add(name)
    return frozenset(ones), frozenset(groups)


@dataclass(frozen=True)
class Decision:
    """Whether to record a session, why (the deciding rules), how, and which applying rules lost."""

    record: bool
    rules: tuple[str, ...] = ()  # the deciding rules: the record rules of the top band, or its exempt rules
    options: Any = None  # options.Options, set only when record is True
    reason: str = ""
    overridden: tuple[str, ...] = ()  # applying rules that did not decide (lower priority, or exempt ones)


def combine(rules: Iterable[Rule]) -> Any:
    """The effective options of the deciding record rules, as each option's Combine says."""
    ordered = sorted(rules, key=lambda r: (r.name.casefold(), r.name))
    kw: dict[str, Any] = {}
    for o in options.OPTIONS:
        set_values = [r.option(o.name) for r in ordered if r.option(o.name) is not None]
        if o.combine is options.Combine.ANY:
            kw[o.name] = any(_or_default(r.option(o.name), o.default) for r in ordered)
        elif o.combine is options.Combine.FIRST:
            kw[o.name] = set_values[0] if set_values else o.default
        else:
            kw[o.name] = _merge_watch_paths(set_values)
    return options.Options(**kw)


def _merge_watch_paths(lists: Iterable[Iterable[values.WatchPath]]) -> tuple[values.WatchPath, ...]:
    perms: dict[str, str] = {}
    for watch_paths in lists:
        for w in watch_paths:
            perms[w.path] = values.canonical_permissions(perms.get(w.path, "") + w.permissions)
    return tuple(values.WatchPath(path=p, permissions=perms[p]) for p in sorted(perms))


def decide(
    rules: Iterable[Rule], host: str, hostgroups: Iterable[str], user: str, groups: Iterable[str]
) -> Decision:
    """The decision for `user` (member of `groups`) on `host` (member of `hostgroups`)."""
    host_names, host_groups = frozenset({host.casefold()}), _fold(hostgroups)
    user_names, user_groups = frozenset({user.casefold()}), _fold(groups)
    matching = [
        r
        for r in rules
        if r.enabled
        and _names(r.all_hosts, r.hosts, r.hostgroups, host_names, host_groups)
        and _names(r.all_users, r.users, r.groups, user_names, user_groups)
    ]
    if not matching:
        return Decision(record=False, reason="no rule applies")
    top = max(r.priority for r in matching)
    band = [r for r in matching if r.priority == top]
    record = [r for r in band if r.kind == options.KIND_RECORD]
    deciding = record or band
    names = tuple(sorted(r.name for r in deciding))
    deciding_ids = {id(r) for r in deciding}
    overridden = tuple(sorted(r.name for r in matching if id(r) not in deciding_ids))
    if record:
        reason = f"recorded by {', '.join(names)} (priority {top})"
        return Decision(True, names, combine(record), reason, overridden)
    return Decision(False, names, None, f"exempted by {', '.join(names)} (priority {top})", overridden)


@dataclass(frozen=True)
class RuleSet:
    """The rules a host fetched, with the host's identity, ready to decide for any user."""

    rules: tuple[Rule, ...]
    host: str
    hostgroups: frozenset[str] = field(default_factory=frozenset)

    def decide(self, user: str, groups: Iterable[str]) -> Decision:
        return decide(self.rules, self.host, self.hostgroups, user, groups)


# -- the host's search -----------------------------------------------------------------------------------
def host_filter(host: str, hostgroups: Iterable[str] = ()) -> str:
    """The one filter a host searches with: enabled rules for all hosts, this host or its hostgroups.

    `host` and `hostgroups` are DNs; their values are escaped for the filter."""
    terms = [f"({layout.ATTR_HOST_CATEGORY}={layout.CATEGORY_ALL})"]
    for member in (host, *sorted(set(hostgroups))):
        terms.append(f"({layout.ATTR_MEMBER_HOST}={dn.escape_filter(member)})")
    return (
        f"(&(objectClass={layout.RULE_OBJECTCLASS})({layout.ATTR_ENABLED}={layout.LDAP_TRUE})"
        f"(|{''.join(terms)}))"
    )


def hostgroups_of(memberof: Iterable[bytes | str], suffix: str) -> dict[str, str]:
    """The hostgroups among a host's memberOf values, as {name: DN}; other groups and rules are dropped."""
    found: dict[str, str] = {}
    for raw in memberof:
        member = raw.decode() if isinstance(raw, bytes) else raw
        name = dn.name_under(member, "cn", layout.HOSTGROUPS_RDN, suffix)
        if name is not None:
            found[name] = member
    return found
