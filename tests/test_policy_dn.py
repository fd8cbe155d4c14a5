"""The policy package's own DN and filter escaping agrees with python-ldap's (which it must not import)."""

from __future__ import annotations

import ldap.dn
import ldap.filter
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipa_plugin.policy import dn

SUFFIX = "dc=ipa,dc=test"
names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


@given(names)
def test_built_dns_parse_back_and_python_ldap_reads_the_same(name: str) -> None:
    built = dn.host_dn(name, SUFFIX)
    assert dn.parse(built)[0] == ("fqdn", name)
    assert ldap.dn.str2dn(built)[0][0][:2] == ("fqdn", name)
    assert dn.name_under(built, "fqdn", "cn=computers,cn=accounts", SUFFIX) == name


@given(names)
def test_dns_written_by_python_ldap_parse_the_same(name: str) -> None:
    written = ldap.dn.dn2str([[("cn", name, 1)], [("cn", "hostgroups", 1)], [("cn", "accounts", 1)]])
    assert dn.parse(written)[0] == ("cn", name)


@given(st.text(max_size=40))
def test_filter_escaping_matches_python_ldap(value: str) -> None:
    assert dn.escape_filter(value) == ldap.filter.escape_filter_chars(value)


@pytest.mark.parametrize("bad", ["", "no equals", "cn=a\\", "cn=a+uid=b", "=x"])
def test_malformed_dns_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        dn.parse(bad)
    assert dn.name_under(bad, "cn", "cn=groups,cn=accounts", SUFFIX) is None


def test_hex_escapes_and_case_insensitive_comparison() -> None:
    assert dn.parse(r"cn=a\2cb\c3\a9,dc=X")[0] == ("cn", "a,bé")
    upper = "CN=Clients,cn=HostGroups,CN=accounts,DC=ipa,dc=test"
    assert dn.norm(upper) == dn.norm(dn.hostgroup_dn("clients", SUFFIX))
