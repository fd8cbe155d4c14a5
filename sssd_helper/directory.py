"""This host's rules from FreeIPA's LDAP: its hostgroups, then one filtered search for its enabled rules.

The host binds with its own identity (SASL GSSAPI with its keytab, or a simple bind when configured);
python-ldap lives here, never in the policy package or the login shell.
"""

from __future__ import annotations

import ldap

from ipa_plugin.policy import dn, layout
from ipa_plugin.policy.rules import Rule, RuleSet, entry_values, host_filter, hostgroups_of


def fetch(conn: ldap.ldapobject.LDAPObject, suffix: str, fqdn: str) -> RuleSet:
    """This host's rules, read with `conn` (bound as the host): two searches, whatever the rule count.

    memberOf on the host entry lists its hostgroups, nested ones included (389-ds's memberOf plugin)."""
    host = dn.host_dn(fqdn, suffix)
    found = conn.search_s(host, ldap.SCOPE_BASE, "(objectClass=*)", ["memberOf"])
    memberof = entry_values(found[0][1], "memberOf") if found else []
    groups = hostgroups_of(memberof, suffix)
    entries = conn.search_s(
        layout.container_dn(suffix),
        ldap.SCOPE_ONELEVEL,
        host_filter(host, groups.values()),
        list(layout.RULE_ATTRIBUTES),
    )
    rules = tuple(Rule.from_entry(rule_dn, attrs, suffix) for rule_dn, attrs in entries if rule_dn)
    return RuleSet(rules=rules, host=fqdn, hostgroups=frozenset(groups))
