"""389 Directory Server for the lab: an instance made with lib389, IPA schema subset, IPA-shaped tree."""

from __future__ import annotations

import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import ldap
import ldap.modlist
import ldap.sasl

from .process import ComponentError, Service, wait_until

SCHEMA_DIR = Path(__file__).parent / "schema"
PROJECT_SCHEMA = Path(__file__).resolve().parents[2] / "ipa_plugin" / "schema.d" / "75-sessionrecording.ldif"
NS_SLAPD = "/usr/sbin/ns-slapd"
# Where 389-ds keeps instances, data and logs: private (tmpfs) in the lab, starting from the package's copy.
PRIVATE_DIRS: tuple[tuple[str, bool], ...] = (
    ("/etc/dirsrv", True),
    ("/var/lib/dirsrv", True),
    ("/var/log/dirsrv", True),
)


def prepare_runtime_dirs() -> None:
    """The run and lock directories ns-slapd expects, on the lab's private /run."""
    for sub in ("lock", "dirsrv", "lock/dirsrv"):
        Path("/run", sub).mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/dirsrv", "dirsrv", "dirsrv")
    shutil.chown("/run/lock/dirsrv", "dirsrv", "dirsrv")


@dataclass(frozen=True)
class DirectoryConfig:
    instance: str
    suffix: str
    port: int
    root_dn: str
    root_password: str
    # For SASL GSSAPI: the name clients reach it by (its ldap/ principal's), the realm, and its keytab.
    server_name: str | None = None
    realm: str | None = None
    keytab: Path | None = None

    @property
    def config_dir(self) -> Path:
        return Path(f"/etc/dirsrv/slapd-{self.instance}")

    @property
    def ldapi_path(self) -> str:
        return f"/run/slapd-{self.instance}.socket"

    @property
    def ldap_uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def gssapi_uri(self) -> str:
        assert self.server_name is not None, "the directory has no server name for GSSAPI"
        return f"ldap://{self.server_name}:{self.port}"

    @property
    def ldapi_uri(self) -> str:
        return "ldapi://" + self.ldapi_path.replace("/", "%2F")


def create_instance(cfg: DirectoryConfig, log: Path) -> None:
    """Create the instance with lib389's installer, told there is no systemd; it is left stopped."""
    from lib389 import DirSrv
    from lib389.instance.options import General2Base, Slapd2Base
    from lib389.instance.setup import SetupDs

    general = General2Base(None)
    general.set("systemd", False)
    general.set("selinux", False)
    general.set("start", True)
    slapd = Slapd2Base(None)
    for key, value in {
        "instance_name": cfg.instance,
        "port": cfg.port,
        "secure_port": 0,
        "self_sign_cert": False,
        "root_dn": cfg.root_dn,
        "root_password": cfg.root_password,
        "ldapi": cfg.ldapi_path,
    }.items():
        slapd.set(key, value)
    backends = [{"cn": "userroot", "nsslapd-suffix": cfg.suffix, "create_suffix_entry": True}]

    saved = DirSrv.with_systemd
    umask = os.umask(0o022)  # lib389 leaves the process umask at 007; put back what the caller had
    os.umask(umask)
    DirSrv.with_systemd = lambda self: False  # type: ignore[method-assign]
    try:
        with open(log, "a") as out:
            import logging

            logger = logging.getLogger("sessrec-lab.dirsrv")
            logger.handlers[:] = [logging.StreamHandler(out)]
            logger.setLevel(logging.INFO)
            logger.propagate = False
            SetupDs(verbose=False, log=logger).create_from_args(general.collect(), slapd.collect(), backends)
        _configure(cfg)
    except Exception as exc:  # noqa: BLE001 - lib389 raises many types; the lab names the component
        raise ComponentError(f"389-ds: lib389 could not create instance {cfg.instance}: {exc}") from None
    finally:
        DirSrv.with_systemd = saved  # type: ignore[method-assign]
        _kill_from_pidfile(cfg)  # the installer's own ns-slapd; the lab starts its own in the foreground
        os.umask(umask)

    schema_dir = cfg.config_dir / "schema"
    shutil.copy(SCHEMA_DIR / "60ipa-subset.ldif", schema_dir / "60ipa-subset.ldif")
    shutil.copy(PROJECT_SCHEMA, schema_dir / PROJECT_SCHEMA.name)
    shutil.chown(schema_dir / "60ipa-subset.ldif", "dirsrv", "dirsrv")
    shutil.chown(schema_dir / PROJECT_SCHEMA.name, "dirsrv", "dirsrv")


def _pidfile(cfg: DirectoryConfig) -> Path:
    return Path(f"/run/dirsrv/slapd-{cfg.instance}.pid")


def _kill_from_pidfile(cfg: DirectoryConfig) -> None:
    """Stop an ns-slapd that lib389's installer started for this instance before it failed."""
    try:
        pid = int(_pidfile(cfg).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"ns-slapd"):
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), 30, "389-ds stop")


def _configure(cfg: DirectoryConfig) -> None:
    """Settings applied on the installer's running server; they take effect at the lab's start."""
    conn = connect(cfg)
    conn.modify_s("cn=config", [(ldap.MOD_REPLACE, "nsslapd-listenhost", [b"127.0.0.1"])])
    # memberOf as FreeIPA configures it: member, memberUser and memberHost all produce memberOf.
    conn.modify_s(
        "cn=MemberOf Plugin,cn=plugins,cn=config",
        [
            (ldap.MOD_REPLACE, "nsslapd-pluginEnabled", [b"on"]),
            (ldap.MOD_REPLACE, "memberOfGroupAttr", [b"member", b"memberUser", b"memberHost"]),
            (ldap.MOD_REPLACE, "memberOfAutoAddOC", [b"nsMemberOf"]),
        ],
    )
    _add_indexes(conn)
    if cfg.server_name is not None and cfg.realm is not None:
        _configure_sasl(conn, cfg.server_name, cfg.realm, cfg.suffix)
    conn.unbind_s()


# Indices FreeIPA keeps on the attributes the rules, memberOf and the hosts' searches use (389-ds itself
# indexes member and memberOf); without them memberOf scans the whole backend on every rule change.
INDEXES = {
    "memberUser": (b"eq", b"pres"),
    "memberHost": (b"eq", b"pres"),
    "fqdn": (b"eq", b"pres"),
    "ipaEnabledFlag": (b"eq",),
    "hostCategory": (b"eq",),
    "userCategory": (b"eq",),
    "krbPrincipalName": (b"eq",),
    "ipaUniqueID": (b"eq",),
}


def _add_indexes(conn: ldap.ldapobject.LDAPObject, backend: str = "userroot") -> None:
    base = f"cn=index,cn={backend},cn=ldbm database,cn=plugins,cn=config"
    for attr, kinds in INDEXES.items():
        entry = {"objectClass": [b"top", b"nsIndex"], "cn": [attr.encode()], "nsSystemIndex": [b"false"]}
        conn.add_s(f"cn={attr},{base}", list({**entry, "nsIndexType": list(kinds)}.items()))


SASL_MAPPINGS = "cn=mapping,cn=sasl,cn=config"


def _configure_sasl(conn: ldap.ldapobject.LDAPObject, server_name: str, realm: str, suffix: str) -> None:
    """GSSAPI as FreeIPA sets it up (ipaserver/install/dsinstance.py, __configure_sasl_mappings).

    The SASL service name is nsslapd-localhost (ldap/<server_name>); the installer's default mappings
    (uid=&, Kerberos uid, rfc 2829) are removed, as FreeIPA does, so a principal maps only through an
    entry whose krbPrincipalName it is."""
    conn.modify_s(
        "cn=config",
        [
            (ldap.MOD_REPLACE, "nsslapd-localhost", [server_name.encode()]),
            (ldap.MOD_REPLACE, "nsslapd-sasl-mapping-fallback", [b"on"]),
        ],
    )
    for dn, _ in conn.search_s(SASL_MAPPINGS, ldap.SCOPE_ONELEVEL, "(objectClass=nsSaslMapping)", ["cn"]):
        conn.delete_s(dn)
    mappings = {
        "Full Principal": (r"\(.*\)@\(.*\)", r"(krbPrincipalName=\1@\2)"),
        "Name Only": ("^[^:@]+$", f"(krbPrincipalName=&@{realm})"),
    }
    for name, (regex, filter_template) in mappings.items():
        attrs = {
            "objectClass": ["top", "nsSaslMapping"],
            "cn": [name],
            "nsSaslMapRegexString": [regex],
            "nsSaslMapBaseDNTemplate": [suffix],
            "nsSaslMapFilterTemplate": [filter_template],
            "nsSaslMapPriority": ["10"],
        }
        add_entries(conn, [(f"cn={name},{SASL_MAPPINGS}", attrs)])


def start(cfg: DirectoryConfig, log: Path) -> Service:
    """Run ns-slapd in the foreground (-d 0) so the lab owns its PID; ready when a bind succeeds."""
    # As FreeIPA's dirsrv environment file does: the GSSAPI acceptor reads the service keytab from here.
    env = {**os.environ, "KRB5_KTNAME": f"FILE:{cfg.keytab}"} if cfg.keytab is not None else None
    service = Service(
        "389-ds (ns-slapd)",
        [NS_SLAPD, "-D", str(cfg.config_dir), "-i", f"/run/dirsrv/slapd-{cfg.instance}.pid", "-d", "0"],
        log,
        env=env,
    )
    service.start(lambda: bool(connect(cfg)), timeout=60)
    return service


def connect(
    cfg: DirectoryConfig, who: str | None = None, password: str | None = None
) -> ldap.ldapobject.LDAPObject:
    conn = ldap.initialize(cfg.ldap_uri)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
    conn.simple_bind_s(who or cfg.root_dn, password or cfg.root_password)
    return conn


def connect_gssapi(cfg: DirectoryConfig) -> ldap.ldapobject.LDAPObject:
    """A SASL GSSAPI bind with the credentials KRB5CCNAME names, to the server's Kerberos name."""
    conn = ldap.initialize(cfg.gssapi_uri)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
    # As FreeIPA's ipaldap does: ask for ldap/<name in the URI>, not for the reverse lookup of 127.0.0.1.
    conn.set_option(ldap.OPT_X_SASL_NOCANON, ldap.OPT_ON)
    conn.sasl_interactive_bind_s("", ldap.sasl.gssapi())
    return conn


def add_entries(conn: ldap.ldapobject.LDAPObject, entries: list[tuple[str, dict[str, list[str]]]]) -> None:
    for dn, attrs in entries:
        encoded = {k: [v.encode() for v in vals] for k, vals in attrs.items()}
        conn.add_s(dn, ldap.modlist.addModlist(encoded))
