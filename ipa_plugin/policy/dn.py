"""Distinguished names (RFC 4514) and filter values (RFC 4515) with the standard library only.

Enough for the names the rules use: single-valued RDNs built from IPA's containers, parsed back with
escapes, compared case-insensitively (IPA's naming attributes are case-insensitive).
"""

from __future__ import annotations

from . import layout

RDN = tuple[str, str]

_DN_SPECIAL = ',+"\\<>;='


def escape_value(value: str) -> str:
    """An attribute value escaped for use in a DN string."""
    out = []
    for i, ch in enumerate(value):
        if ch in _DN_SPECIAL or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        elif ch < " " or ch == "\x7f":  # control characters as hex: some parsers strip them otherwise
            out.append(f"\\{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def escape_filter(value: str) -> str:
    """A value escaped for an LDAP search filter: the characters RFC 4515 reserves, as \\XX."""
    return "".join(f"\\{ord(ch):02x}" if ch in "*()\\\0" else ch for ch in value)


def parse(dn: str) -> list[RDN]:
    """A DN as its RDNs, values unescaped; ValueError for a malformed or multi-valued DN."""
    rdns: list[RDN] = []
    attr: list[str] = []
    value: list[bytes] = []
    in_value = False
    i = 0
    raw = dn.encode()
    while i < len(raw):
        ch = raw[i : i + 1]
        if ch == b"\\":
            nxt = raw[i + 1 : i + 3]
            if len(nxt) == 2 and all(c in b"0123456789abcdefABCDEF" for c in nxt):
                value.append(bytes.fromhex(nxt.decode()))
                i += 3
                continue
            if not nxt:
                raise ValueError(f"DN ends in an escape: {dn!r}")
            if in_value:
                value.append(nxt[:1])
            else:
                attr.append(nxt[:1].decode())
            i += 2
            continue
        if ch == b"+":
            raise ValueError(f"multi-valued RDNs are not used here: {dn!r}")
        if ch == b",":
            rdns.append(_rdn(attr, value, in_value, dn))
            attr, value, in_value = [], [], False
        elif ch == b"=" and not in_value:
            in_value = True
        elif in_value:
            value.append(ch)
        else:
            attr.append(ch.decode())
        i += 1
    rdns.append(_rdn(attr, value, in_value, dn))
    return rdns


def _rdn(attr: list[str], value: list[bytes], in_value: bool, dn: str) -> RDN:
    name = "".join(attr).strip()
    if not in_value or not name:
        raise ValueError(f"not a DN: {dn!r}")
    try:
        text = b"".join(value).decode()
    except UnicodeDecodeError:
        raise ValueError(f"DN value is not UTF-8: {dn!r}") from None
    return name, text


def build(rdns: list[RDN]) -> str:
    return ",".join(f"{a}={escape_value(v)}" for a, v in rdns)


def normalized(rdns: list[RDN]) -> tuple[RDN, ...]:
    return tuple((a.casefold(), v.casefold()) for a, v in rdns)


def under(rdn_attr: str, name: str, container: str, suffix: str) -> str:
    """`<rdn_attr>=<name>,<container>,<suffix>` with the name escaped."""
    return build([(rdn_attr, name), *parse(container), *parse(suffix)])


def user_dn(uid: str, suffix: str) -> str:
    return under("uid", uid, layout.USERS_RDN, suffix)


def group_dn(name: str, suffix: str) -> str:
    return under("cn", name, layout.GROUPS_RDN, suffix)


def host_dn(fqdn: str, suffix: str) -> str:
    return under("fqdn", fqdn, layout.HOSTS_RDN, suffix)


def hostgroup_dn(name: str, suffix: str) -> str:
    return under("cn", name, layout.HOSTGROUPS_RDN, suffix)


def rule_dn(name: str, suffix: str) -> str:
    return build([(layout.RULE_RDN_ATTR, name), *parse(layout.container_dn(suffix))])


def name_under(dn: str, rdn_attr: str, container: str, suffix: str) -> str | None:
    """The RDN value of `dn` when it is `<rdn_attr>=<value>,<container>,<suffix>`, else None."""
    try:
        parts = parse(dn)
        expected_tail = normalized(parse(f"{container},{suffix}"))
    except ValueError:
        return None
    if len(parts) < 2 or parts[0][0].casefold() != rdn_attr.casefold():
        return None
    if normalized(parts[1:]) != expected_tail:
        return None
    return parts[0][1]


def norm(dn_text: str) -> tuple[RDN, ...]:
    """A DN as comparable parts (attribute types and values case-folded)."""
    return normalized(parse(dn_text))
