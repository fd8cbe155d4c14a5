"""Fixtures for running the server plugin on real FreeIPA server code (`make test-ipa IPA_SOURCE=...`).

FreeIPA's server code is not installable from the package registries, so these tests need a FreeIPA
source tree (IPA_SOURCE) and PyPI's ipalib/ipapython/ipaplatform of the same version. They run FreeIPA's
own `ipaserver.plugins.baseldap` and `ldap2` against a 389-ds instance (the lab's, made with the lab's
building blocks) that carries FreeIPA's full schema from the source tree instead of the lab's subset.
Without IPA_SOURCE (or an installed ipaserver) they skip, saying so.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap
import pytest

from ipa_plugin.policy import layout

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "ipa_plugin" / "ipaserver" / "plugins"
UPDATE_FILE = ROOT / "ipa_plugin" / "updates" / "75-sessionrecording.update"
# FreeIPA's schema files (ipaserver.install.dsinstance.IPA_SCHEMA_FILES); 389-ds 2.x carries rfc2307
# itself (10rfc2307compat), so FreeIPA's 15rfc2307bis is left out as on a FreeIPA 4.9 install on 389-ds 2.
IPA_SCHEMA_FILES = (
    "60kerberos.ldif",
    "60samba.ldif",
    "60ipaconfig.ldif",
    "60basev2.ldif",
    "60basev3.ldif",
    "60basev4.ldif",
    "60ipapk11.ldif",
    "60ipadns.ldif",
    "60certificate-profiles.ldif",
    "61kerberos-ipav3.ldif",
    "65ipacertstore.ldif",
    "65ipasudo.ldif",
    "70ipaotp.ldif",
    "70topology.ldif",
    "71idviews.ldif",
    "72domainlevels.ldif",
    "73certmap.ldif",
    "15rfc4876.ldif",
)
# FreeIPA's plugin modules the tests load (the API refuses to start when any loaded module fails; these
# need nothing beyond ipalib, ipapython and python-ldap), plus ours.
MODULES = (
    "baseldap",
    "ldap2",
    "user",
    "group",
    "host",
    "hostgroup",
    "netgroup",
    "service",
    "role",
    "idviews",
    "hbacrule",
    "sudorule",
    "sudocmd",
    "sudocmdgroup",
    "privilege",
    "permission",
    "subid",
    "hbacsvc",
    "hbacsvcgroup",
    "internal",
    "config",
    "sessionrecording",
)
REALM = "IPA.TEST"


def ipa_source() -> Path | None:
    value = os.environ.get("IPA_SOURCE")
    return Path(value) if value else None


def skip_reason() -> str | None:
    """Why the FreeIPA-code tests cannot run here, or None."""
    try:
        import ipalib  # noqa: F401
    except ImportError:
        return "ipalib is not installed: run `make test-ipa IPA_SOURCE=<FreeIPA 4.9.x source tree>`"
    source = ipa_source()
    if source is None:
        try:
            import ipaserver.plugins.baseldap  # noqa: F401
        except ImportError:
            return (
                "FreeIPA server code (ipaserver) is not installable from the registries: "
                "run `make test-ipa IPA_SOURCE=<FreeIPA 4.9.x source tree>`"
            )
        return None
    if not (source / "ipaserver" / "plugins" / "baseldap.py").is_file():
        return f"IPA_SOURCE={source} is not a FreeIPA source tree"
    return None


@dataclass
class IpaDirectory:
    cfg: Any
    suffix: str
    service: Any

    def ldap(self, who: str | None = None, password: str | None = None) -> ldap.ldapobject.LDAPObject:
        from tests.lab import dirsrv

        return dirsrv.connect(self.cfg, who, password)


@pytest.fixture(scope="session")
def ipa_directory() -> Iterator[IpaDirectory]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from tests.lab import dirsrv, namespace
    from tests.lab.data import Directory, read_access_aci
    from tests.lab.lab import free_port

    source = ipa_source()
    namespace.enter_private_namespace()
    namespace.mount_private((("/run", False), *dirsrv.PRIVATE_DIRS))
    dirsrv.prepare_runtime_dirs()
    data = Directory()
    cfg = dirsrv.DirectoryConfig(
        instance="sessrecipa",
        suffix=data.suffix,
        port=free_port(),
        root_dn="cn=Directory Manager",
        root_password="Ipa-Directory-Manager-1",
    )
    logs = Path(tempfile.mkdtemp(prefix="sessrec-ipa-"))
    dirsrv.create_instance(cfg, logs / "setup.log")
    schema_dir = cfg.config_dir / "schema"
    (schema_dir / "60ipa-subset.ldif").unlink()
    if source is not None:
        for name in IPA_SCHEMA_FILES:
            shutil.copy(source / "install" / "share" / name, schema_dir / name)
            shutil.chown(schema_dir / name, "dirsrv", "dirsrv")
    service = dirsrv.start(cfg, logs / "dirsrv.log")
    try:
        conn = dirsrv.connect(cfg)
        conn.modify_s(data.suffix, [(ldap.MOD_ADD, "aci", [read_access_aci(data.suffix).encode()])])
        entries = data.entries()
        containers = [
            (f"cn=pbac,{data.suffix}", {"objectClass": ["top", "nsContainer"], "cn": ["pbac"]}),
            (
                f"cn=privileges,cn=pbac,{data.suffix}",
                {"objectClass": ["top", "nsContainer"], "cn": ["privileges"]},
            ),
            (
                f"cn=permissions,cn=pbac,{data.suffix}",
                {"objectClass": ["top", "nsContainer"], "cn": ["permissions"]},
            ),
        ]
        # The update file creates the rules container; the lab's data has one, so leave that out.
        ours = [e for e in entries if not e[0].lower().startswith("cn=sessionrecording,")]
        dirsrv.add_entries(conn, ours + containers)
        from tests.ipa import updatefile

        updatefile.apply(conn, updatefile.load(UPDATE_FILE, data.suffix))
        if source is not None:
            _freeipa_defaults(conn, source, data.suffix)
            conn.unbind_s()
            service.stop()  # the Managed Entries plugin reads its new configuration area at start
            service = dirsrv.start(cfg, logs / "dirsrv.log")
        else:
            conn.unbind_s()
        yield IpaDirectory(cfg=cfg, suffix=data.suffix, service=service)
    finally:
        service.stop()
        shutil.rmtree(logs, ignore_errors=True)


@pytest.fixture(scope="session")
def ipa_api(ipa_directory: IpaDirectory) -> Any:
    """FreeIPA's API in server mode: FreeIPA's baseldap and ldap2 plus our plugin, as Directory Manager."""
    source = ipa_source()
    import ipalib

    tree = None
    if source is not None:
        tree = _server_tree(source)
        sys.path.insert(0, str(tree))
        ipalib.__path__.append(str(source / "ipalib"))  # ipalib.install is not in PyPI's ipalib
        import ipapython

        ipapython.__path__.append(str(source / "ipapython"))  # nor ipapython.install (config needs it)
    import ipaserver.plugins
    from ipalib import api
    from ipapython.dn import DN

    ipaserver.plugins.__path__.append(str(PLUGINS))
    ipaserver.plugins.modules = list(MODULES)
    confdir = Path(tempfile.mkdtemp(prefix="sessrec-ipa-conf-"))
    cacert = confdir / "ca.crt"
    cacert.write_text("")
    api.bootstrap(
        in_server=True,
        context="lite",
        confdir=str(confdir),
        basedn=DN(ipa_directory.suffix),
        realm=REALM,
        domain="ipa.test",
        ldap_uri=ipa_directory.cfg.ldapi_uri,
        mode="production",
    )
    api.finalize()
    api.Backend.ldap2.connect(
        bind_dn=DN(("cn", "Directory Manager")), bind_pw=ipa_directory.cfg.root_password, cacert=str(cacert)
    )
    yield api
    api.Backend.ldap2.disconnect()
    shutil.rmtree(confdir, ignore_errors=True)
    if tree is not None:
        shutil.rmtree(tree, ignore_errors=True)  # only the symlink and its directory


def _freeipa_defaults(conn: ldap.ldapobject.LDAPObject, source: Path, suffix: str) -> None:
    """What FreeIPA's own user_add, group_add and host_add need from an installed server: the IPA
    configuration entry (object classes, default group, limits), the default group `ipausers`, and user
    private groups made by 389-ds's Managed Entries plugin from FreeIPA's own template and definition
    (install/share/managed-entries.ldif and user_private_groups.ldif of the source tree)."""
    from tests.lab import dirsrv

    config = {
        "objectClass": ["top", "nsContainer", "ipaGuiConfig", "ipaConfigObject"],
        "cn": ["ipaConfig"],
        "ipaUserSearchFields": ["uid,givenname,sn"],
        "ipaGroupSearchFields": ["cn,description"],
        "ipaSearchTimeLimit": ["2"],
        "ipaSearchRecordsLimit": ["100"],
        "ipaHomesRootDir": ["/home"],
        "ipaDefaultLoginShell": ["/bin/bash"],
        "ipaDefaultPrimaryGroup": ["ipausers"],
        "ipaMaxUsernameLength": ["32"],
        "ipaMaxHostnameLength": ["64"],
        "ipaMigrationEnabled": ["FALSE"],
        "ipaGroupObjectClasses": ["top", "groupOfNames", "nestedGroup", "ipaUserGroup", "ipaObject"],
        "ipaUserObjectClasses": [
            "top",
            "person",
            "organizationalPerson",
            "inetOrgPerson",
            "inetUser",
            "posixAccount",
            "krbPrincipalAux",
            "krbTicketPolicyAux",
            "ipaObject",
            "ipaSshUser",
        ],
    }
    ipausers = {
        "objectClass": ["top", "groupOfNames", "nestedGroup", "ipaUserGroup", "ipaObject"],
        "cn": ["ipausers"],
        "description": ["Default group for all users"],
        "ipaUniqueID": ["autogenerate"],
    }
    dirsrv.add_entries(
        conn,
        [(f"cn=ipaConfig,cn=etc,{suffix}", config), (f"cn=ipausers,{layout.GROUPS_RDN},{suffix}", ipausers)],
    )
    for name in ("managed-entries.ldif", "user_private_groups.ldif"):
        text = (source / "install" / "share" / name).read_text().replace("$SUFFIX", suffix).replace("$$", "$")
        text = "\n".join(line for line in text.splitlines() if not line.startswith("changetype:"))
        dirsrv.add_entries(
            conn,
            [(dn, {k: [v.decode() for v in vs] for k, vs in attrs.items()}) for dn, attrs in _ldif(text)],
        )
    conn.modify_s(
        "cn=Managed Entries,cn=plugins,cn=config",
        [
            (
                ldap.MOD_REPLACE,
                "nsslapd-pluginConfigArea",
                [f"cn=Definitions,cn=Managed Entries,cn=etc,{suffix}".encode()],
            ),
            (ldap.MOD_REPLACE, "nsslapd-pluginEnabled", [b"on"]),
        ],
    )


def _ldif(text: str) -> list[tuple[str, dict[str, list[bytes]]]]:
    import io

    import ldif

    parser = ldif.LDIFRecordList(io.StringIO(text))
    parser.parse()
    return parser.all_records


def _server_tree(source: Path) -> Path:
    """A directory holding only `ipaserver` of the source tree, so the source's own ipalib, ipapython and
    ipaplatform (which need generated files) do not shadow the installed ones."""
    tree = Path(tempfile.mkdtemp(prefix="sessrec-ipaserver-"))
    (tree / "ipaserver").symlink_to(source / "ipaserver")
    return tree
