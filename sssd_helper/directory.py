"""This host's rules from FreeIPA's LDAP: its hostgroups, then one filtered search for its enabled rules.

The host binds with its own identity (SASL GSSAPI with its keytab, as an enrolled client does, or a simple
bind when configured); python-ldap lives here, never in the policy package or the login shell.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

import ldap
import ldap.sasl

from ipa_plugin.policy import dn, layout
from ipa_plugin.policy.rules import Rule, RuleSet, entry_values, host_filter, hostgroups_of

from .config import AgentConfig

KINIT = "/usr/bin/kinit"


class DirectoryError(Exception):
    """The directory could not be read; the message is one line."""


@dataclass(frozen=True)
class Fetched:
    """What one fetch brought: the rules and when, from where, how long it took."""

    ruleset: RuleSet
    fetched_at: float
    server: str
    seconds: float


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


def kinit(config: AgentConfig) -> None:
    """A ticket for the host principal from the keytab, into the agent's own credential cache."""
    env = {**os.environ, "KRB5CCNAME": f"FILE:{config.ccache}"}
    argv = [KINIT, "-k", "-t", config.keytab, config.host_principal]
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=config.ldap_timeout * 2)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DirectoryError(f"kinit for {config.host_principal} failed: {exc}") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no reason given"])[-1].removeprefix("kinit: ")
        raise DirectoryError(f"no Kerberos ticket for {config.host_principal} from {config.keytab}: {why}")


def connect(config: AgentConfig) -> ldap.ldapobject.LDAPObject:
    """A connection bound as this host."""
    conn = ldap.initialize(config.ldap_uri)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, config.ldap_timeout)
    conn.set_option(ldap.OPT_TIMEOUT, config.ldap_timeout)
    conn.set_option(ldap.OPT_REFERRALS, 0)
    try:
        if config.bind == "gssapi":
            kinit(config)
            os.environ["KRB5CCNAME"] = f"FILE:{config.ccache}"  # read by the SASL library at bind time
            # As FreeIPA's clients do: ask for ldap/<name in the URI>, not for a reverse lookup's name.
            conn.set_option(ldap.OPT_X_SASL_NOCANON, ldap.OPT_ON)
            conn.sasl_interactive_bind_s("", ldap.sasl.gssapi())
        else:
            conn.simple_bind_s(config.bind_dn or dn.host_dn(config.host, config.basedn), _password(config))
    except ldap.LDAPError as exc:
        raise DirectoryError(f"cannot bind to {config.ldap_uri} as this host: {_ldap_reason(exc)}") from None
    return conn


def _password(config: AgentConfig) -> str:
    try:
        st = os.stat(config.bind_password_file)
        if st.st_uid != 0 or st.st_mode & 0o077:
            raise DirectoryError(f"{config.bind_password_file} must be root-owned and mode 0600 or 0400")
        with open(config.bind_password_file, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as exc:
        raise DirectoryError(f"cannot read {config.bind_password_file}: {exc.strerror}") from None


def _ldap_reason(exc: ldap.LDAPError) -> str:
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    parts = [str(info.get("desc", type(exc).__name__))]
    if info.get("info"):
        parts.append(str(info["info"]).strip().splitlines()[0])
    return ": ".join(parts)


def fetch_for_host(config: AgentConfig) -> Fetched:
    """Bind as this host and fetch its rules; DirectoryError says why not."""
    start = time.monotonic()
    conn = connect(config)
    try:
        ruleset = fetch(conn, config.basedn, config.host)
    except ldap.LDAPError as exc:
        raise DirectoryError(f"reading rules from {config.ldap_uri} failed: {_ldap_reason(exc)}") from None
    finally:
        conn.unbind_s()
    return Fetched(ruleset, time.time(), config.ldap_uri, time.monotonic() - start)
