"""The lab's real MIT KDC, and 389-ds mapping GSSAPI binds to host entries as FreeIPA does."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import ldap
import ldap.sasl
import pytest

from tests.lab import dirsrv, kdc, namespace
from tests.lab.lab import Lab


def principal(lab: Lab, fqdn: str) -> str:
    return f"host/{fqdn}@{lab.kdc.realm}"


def test_host_keytab_gets_a_ticket_into_a_private_cache(lab: Lab, tmp_path: Path) -> None:
    ccache = f"FILE:{tmp_path}/krb5cc"
    result = lab.kdc.kinit(lab.kdc.host_keytab(lab.this_host), principal(lab, lab.this_host), ccache)
    assert result.returncode == 0, result.stderr
    klist = ["klist", "-c", ccache]
    listed = subprocess.run(klist, env=lab.kdc_config.env(), capture_output=True, text=True, timeout=30)
    assert f"Default principal: host/{lab.this_host}@IPA.TEST" in listed.stdout
    assert "krbtgt/IPA.TEST@IPA.TEST" in listed.stdout


def test_gssapi_bind_as_host_maps_to_its_entry(lab: Lab) -> None:
    host = lab.data.host(lab.this_host)
    conn = lab.ldap_gssapi(lab.kdc.host_keytab(host.fqdn), principal(lab, host.fqdn))
    assert conn.whoami_s() == "dn: fqdn=client1.ipa.test,cn=computers,cn=accounts,dc=ipa,dc=test"
    assert conn.whoami_s() == f"dn: {host.dn()}"
    found = conn.search_s(lab.data.suffix, ldap.SCOPE_SUBTREE, "(uid=alice)", ["loginShell", "userPassword"])
    assert found[0][1] == {"loginShell": [b"/bin/bash"]}  # it reads as the host, not as a manager
    conn.unbind_s()


def test_second_host_maps_to_its_own_entry(lab: Lab) -> None:
    web1 = lab.data.host("web1.ipa.test")
    conn = lab.ldap_gssapi(lab.kdc.host_keytab(web1.fqdn), principal(lab, web1.fqdn))
    assert conn.whoami_s() == f"dn: {web1.dn()}"
    conn.unbind_s()


def test_bind_restores_the_processes_credentials_cache(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRB5CCNAME", "FILE:/nonexistent/cache")
    lab.ldap_gssapi(lab.kdc.host_keytab(lab.this_host), principal(lab, lab.this_host)).unbind_s()
    assert os.environ["KRB5CCNAME"] == "FILE:/nonexistent/cache"


def test_stale_keytab_is_refused_by_the_kdc(lab: Lab, tmp_path: Path) -> None:
    stale = lab.kdc.stale_keytab(lab.this_host)
    result = lab.kdc.kinit(stale, principal(lab, lab.this_host), f"FILE:{tmp_path}/krb5cc")
    assert result.returncode != 0
    assert "Preauthentication failed" in result.stderr
    with pytest.raises(kdc.KinitError, match="Preauthentication failed"):
        lab.ldap_gssapi(stale, principal(lab, lab.this_host))


def test_gssapi_without_credentials_is_refused(lab: Lab, tmp_path: Path) -> None:
    with kdc.credentials_cache(f"FILE:{tmp_path}/empty"), pytest.raises(ldap.LOCAL_ERROR):
        dirsrv.connect_gssapi(lab.directory)


def test_anonymous_client_is_not_mapped(lab: Lab) -> None:
    conn = ldap.initialize(lab.directory_gssapi_uri)
    conn.simple_bind_s("", "")
    assert conn.whoami_s() == ""
    conn.unbind_s()


def test_principal_without_directory_entry_is_not_mapped(lab: Lab) -> None:
    stray = f"host/stray-{uuid.uuid4().hex[:8]}.ipa.test@{lab.kdc.realm}"
    keytab = lab.kdc.add_principal(stray)
    with pytest.raises(ldap.INVALID_CREDENTIALS):
        lab.ldap_gssapi(keytab, stray)


def test_only_the_directory_advertises_gssapi_under_its_kerberos_name(lab: Lab) -> None:
    root = lab.ldap().search_s("", ldap.SCOPE_BASE, attrlist=["supportedSASLMechanisms"])[0][1]
    assert b"GSSAPI" in root["supportedSASLMechanisms"]
    config = lab.ldap().search_s("cn=config", ldap.SCOPE_BASE, attrlist=["nsslapd-localhost"])[0][1]
    assert config["nsslapd-localhost"] == [lab.ldap_server_name.encode()]
    mappings = lab.ldap().search_s(
        dirsrv.SASL_MAPPINGS, ldap.SCOPE_ONELEVEL, "(objectClass=nsSaslMapping)", ["cn"]
    )
    assert sorted(a["cn"][0].decode() for _, a in mappings) == ["Full Principal", "Name Only"]


def test_kdc_and_names_stay_inside_the_lab(lab: Lab) -> None:
    host, port = lab.kdc.address.split(":")
    assert host == "127.0.0.1"
    assert lab.directory_gssapi_uri == f"ldap://{lab.ldap_server_name}:{lab.directory.port}"
    resolved = subprocess.run(
        ["getent", "hosts", lab.ldap_server_name], capture_output=True, text=True, timeout=30
    )
    assert resolved.stdout.split()[0] == "127.0.0.1"
    assert lab.ldap_server_name not in namespace.machine_path("/etc/hosts").read_text()
    machine_krb5 = namespace.machine_path("/etc/krb5.conf")
    assert not machine_krb5.exists() or "IPA.TEST" not in machine_krb5.read_text()
    assert lab.kdc.service.alive()
    assert int(port) == lab.kdc_config.port
