"""A real MIT Kerberos KDC for the lab: realm IPA.TEST on loopback, one keytab per principal."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import namespace
from .data import DOMAIN
from .process import ComponentError, Service, log_tail

REALM = DOMAIN.upper()
# The directory server's name: a GSSAPI client asks for ldap/<name>, and the lab has no DNS.
LDAP_SERVER_NAME = f"ipa1.{DOMAIN}"
KRB5KDC = "/usr/sbin/krb5kdc"
KDB5_UTIL = "/usr/sbin/kdb5_util"
KADMIN_LOCAL = "/usr/sbin/kadmin.local"
KINIT = "/usr/bin/kinit"
MACHINE_KRB5_CONF = Path("/etc/krb5.conf")

# As an enrolled FreeIPA client's krb5.conf has it, less DNS (the lab has none) and the kernel keyring.
KRB5_CONF = """\
[libdefaults]
    default_realm = {realm}
    dns_lookup_realm = false
    dns_lookup_kdc = false
    rdns = false
    dns_canonicalize_hostname = false
    ticket_lifetime = 24h
    forwardable = true
    udp_preference_limit = 0
    default_ccache_name = FILE:{ccaches}/krb5cc_%{{uid}}

[realms]
    {realm} = {{
        kdc = {address}
    }}

[domain_realm]
    .{domain} = {realm}
    {domain} = {realm}
"""

KDC_CONF = """\
[kdcdefaults]
    kdc_listen = {address}
    kdc_tcp_listen = {address}

[realms]
    {realm} = {{
        database_name = {state}/principal
        key_stash_file = {state}/stash
        max_life = 1d
        max_renewable_life = 7d
        default_principal_flags = +preauth
    }}

[logging]
    kdc = STDERR
"""


def free_port() -> int:
    """A loopback port free for TCP and UDP both (the KDC listens on both)."""
    while True:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@dataclass(frozen=True)
class KdcConfig:
    state: Path  # private (on the lab's /run): database, stash, configuration, keytabs
    port: int
    realm: str = REALM
    domain: str = DOMAIN

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def krb5_conf(self) -> Path:
        return self.state / "krb5.conf"

    @property
    def kdc_conf(self) -> Path:
        return self.state / "kdc.conf"

    @property
    def keytabs(self) -> Path:
        return self.state / "keytabs"

    @property
    def ccaches(self) -> Path:
        return self.state / "ccaches"

    def keytab_path(self, principal: str) -> Path:
        return self.keytabs / (principal.split("@")[0].replace("/", "_") + ".keytab")

    def stale_keytab_path(self, principal: str) -> Path:
        return self.keytabs / ("stale-" + self.keytab_path(principal).name)

    def env(self) -> dict[str, str]:
        """The environment of the lab's Kerberos programs: its krb5.conf and kdc.conf, explicitly."""
        return {**os.environ, "KRB5_CONFIG": str(self.krb5_conf), "KRB5_KDC_PROFILE": str(self.kdc_conf)}


def host_principal(fqdn: str, realm: str = REALM) -> str:
    return f"host/{fqdn}@{realm}"


def ldap_principal(server_name: str, realm: str = REALM) -> str:
    return f"ldap/{server_name}@{realm}"


class KinitError(RuntimeError):
    """kinit refused a keytab; the message carries kinit's own words."""


@contextmanager
def credentials_cache(ccache: str) -> Iterator[None]:
    """KRB5CCNAME=ccache for this process while inside (GSSAPI in python-ldap reads only the environment).

    The environment is the whole process's: callers keep the block to a single bind."""
    saved = os.environ.get("KRB5CCNAME")
    os.environ["KRB5CCNAME"] = ccache
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("KRB5CCNAME", None)
        else:
            os.environ["KRB5CCNAME"] = saved


class Kdc:
    """The running KDC and the keytabs it issued; `host_keytab(fqdn)` is what an enrolled host holds."""

    def __init__(self, cfg: KdcConfig, service: Service, log: Path):
        self.cfg = cfg
        self.service = service
        self.log = log

    @property
    def realm(self) -> str:
        return self.cfg.realm

    @property
    def address(self) -> str:
        return self.cfg.address

    def keytab(self, principal: str) -> Path:
        path = self.cfg.keytab_path(principal)
        if not path.exists():
            raise KeyError(f"the lab KDC issued no keytab for {principal}")
        return path

    def host_keytab(self, fqdn: str) -> Path:
        return self.keytab(host_principal(fqdn, self.realm))

    def stale_keytab(self, fqdn: str) -> Path:
        """The host's previous keys (exported, then its key was randomized again): the KDC refuses them."""
        path = self.cfg.stale_keytab_path(host_principal(fqdn, self.realm))
        if not path.exists():
            raise KeyError(f"the lab KDC issued no stale keytab for {fqdn}")
        return path

    def add_principal(self, principal: str) -> Path:
        """A new principal with random keys (e.g. a host the directory does not know); its keytab."""
        kadmin(self.cfg, [f"addprinc -randkey {principal}", _ktadd(self.cfg, principal)], self.log)
        return self.keytab(principal)

    def kinit(self, keytab: Path, principal: str, ccache: str) -> subprocess.CompletedProcess[str]:
        """`kinit -k` as a host does with its keytab; the caller checks the result."""
        return subprocess.run(
            [KINIT, "-k", "-t", str(keytab), "-c", ccache, principal],
            env=self.cfg.env(),
            capture_output=True,
            text=True,
            timeout=30,
        )

    def login(self, keytab: Path, principal: str, ccache: str) -> None:
        """kinit -k into `ccache`, or KinitError with kinit's message."""
        result = self.kinit(keytab, principal, ccache)
        if result.returncode != 0:
            raise KinitError(f"kinit -k -t {keytab} {principal}: {result.stderr.strip()}")


def start(cfg: KdcConfig, server_name: str, hosts: Iterable[str], log: Path) -> Kdc:
    """Create the realm's database and keytabs, put the lab's names in place, run krb5kdc -n."""
    write_config(cfg)
    use_lab_names(cfg, server_name)
    create_database(cfg, log)
    issue_keytabs(cfg, server_name, list(hosts), log)
    service = Service(
        "krb5kdc",
        [KRB5KDC, "-n", "-r", cfg.realm, "-P", str(cfg.state / "krb5kdc.pid")],
        log,
        env=cfg.env(),
    )
    kdc = Kdc(cfg, service, log)
    service_principal = ldap_principal(server_name, cfg.realm)
    keytab = kdc.keytab(service_principal)
    service.start(lambda: kdc.kinit(keytab, service_principal, "MEMORY:").returncode == 0, timeout=30)
    return kdc


def write_config(cfg: KdcConfig) -> None:
    cfg.state.mkdir(mode=0o755, parents=True, exist_ok=True)
    cfg.keytabs.mkdir(mode=0o755, exist_ok=True)
    cfg.ccaches.mkdir(exist_ok=True)
    cfg.ccaches.chmod(0o1777)  # like /tmp: every user's default cache, kept off the machine's /tmp
    fields = {"realm": cfg.realm, "domain": cfg.domain, "address": cfg.address, "state": cfg.state}
    cfg.krb5_conf.write_text(KRB5_CONF.format(ccaches=cfg.ccaches, **fields))
    cfg.kdc_conf.write_text(KDC_CONF.format(**fields))


def use_lab_names(cfg: KdcConfig, server_name: str) -> None:
    """The lab's krb5.conf and a hosts file naming the directory server, seen only inside the namespace."""
    hosts = cfg.state / "hosts"
    short = server_name.split(".")[0]
    machine_hosts = namespace.machine_path("/etc/hosts").read_text().rstrip("\n")
    hosts.write_text(f"{machine_hosts}\n127.0.0.1\t{server_name} {short}\n")
    hosts.chmod(0o644)
    namespace.bind_file(hosts, "/etc/hosts")
    cfg.krb5_conf.chmod(0o644)
    if MACHINE_KRB5_CONF.exists():
        namespace.bind_file(cfg.krb5_conf, MACHINE_KRB5_CONF)
    else:
        # Creating /etc/krb5.conf would create it on the machine (the namespace isolates mounts, not
        # files), so everything the lab starts from here on is pointed at the lab's file instead.
        os.environ["KRB5_CONFIG"] = str(cfg.krb5_conf)


def create_database(cfg: KdcConfig, log: Path) -> None:
    # The master password only protects a database on a tmpfs that ends with the lab; it is stashed (-s).
    argv = [KDB5_UTIL, "-r", cfg.realm, "create", "-s", "-P", secrets.token_urlsafe(24)]
    _run("kdb5_util create", argv, cfg, log)


def issue_keytabs(cfg: KdcConfig, server_name: str, hosts: list[str], log: Path) -> None:
    """ldap/<server> for 389-ds (readable by dirsrv), host/<fqdn> for each host, plus stale host keys."""
    service = ldap_principal(server_name, cfg.realm)
    commands = [f"addprinc -randkey {service}", _ktadd(cfg, service)]
    for fqdn in hosts:
        principal = host_principal(fqdn, cfg.realm)
        commands.append(f"addprinc -randkey {principal}")
        # ktadd randomizes the key each time, so the first export holds keys the KDC no longer has.
        commands += [f"ktadd -k {cfg.stale_keytab_path(principal)} {principal}", _ktadd(cfg, principal)]
    kadmin(cfg, commands, log)
    shutil.chown(cfg.keytab_path(service), "dirsrv", "dirsrv")


def kadmin(cfg: KdcConfig, commands: list[str], log: Path) -> None:
    """kadmin.local on the database directly (no kadmind); it reports errors on stderr, not its status."""
    with open(log, "a") as out:
        result = subprocess.run(
            [KADMIN_LOCAL, "-r", cfg.realm],
            input="\n".join(commands) + "\n",
            env=cfg.env(),
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
        out.write(result.stderr)
    errors = [line for line in result.stderr.splitlines() if " while " in line]
    if result.returncode != 0 or errors:
        raise ComponentError(f"kadmin.local: {'; '.join(errors) or result.returncode}")


def _ktadd(cfg: KdcConfig, principal: str) -> str:
    return f"ktadd -k {cfg.keytab_path(principal)} {principal}"


def _run(what: str, argv: list[str], cfg: KdcConfig, log: Path) -> None:
    with open(log, "a") as out:
        result = subprocess.run(argv, env=cfg.env(), stdout=out, stderr=subprocess.STDOUT, timeout=60)
    if result.returncode != 0:
        raise ComponentError(
            f"{what} failed ({result.returncode})\n--- last lines of {log} ---\n{log_tail(log)}"
        )
