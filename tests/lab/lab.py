"""The lab: real 389-ds, system D-Bus, sssd, journald, auditd and sshd in a private mount namespace."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import ldap

from . import agent, audit, bus, dirsrv, journal, kdc, namespace, sshd, sssd
from .data import DOMAIN, THIS_HOST, Directory, read_access_aci
from .kdc import Kdc
from .process import Service

STATE = Path("/run/sessrec-lab")
# Directories the services write to; each gets a tmpfs in the namespace (True: start from a copy).
PRIVATE_DIRS: tuple[tuple[str, bool], ...] = (
    ("/run", False),
    ("/etc/sssd", False),
    ("/var/lib/sss", True),
    ("/var/log/sssd", True),
    *dirsrv.PRIVATE_DIRS,
    ("/etc/audit", True),
    ("/var/log/audit", False),
    ("/var/log/journal", False),
    ("/etc/systemd", True),
    ("/home", False),
    ("/etc/sessrec", True),  # made by `make install`; the lab's shell.conf and sessrecd.conf go here
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab(AbstractContextManager["Lab"]):
    """Start with `with Lab() as lab:`; everything started is stopped, by PID, on exit."""

    def __init__(
        self,
        data: Directory | None = None,
        logs: Path | None = None,
        lazy_audit: bool = False,
        login_shell: bool = True,
        tlog_users: tuple[str, ...] = (),
    ):
        self.data = data or Directory()
        self._own_logs = logs is None  # a temporary log directory is removed after a clean run
        self.logs = logs or Path(tempfile.mkdtemp(prefix="sessrec-lab-logs-"))
        self.kdc_config = kdc.KdcConfig(state=STATE / "kdc", port=kdc.free_port())
        self._kdc: Kdc | None = None
        self.directory = dirsrv.DirectoryConfig(
            instance="sessreclab",
            suffix=self.data.suffix,
            port=free_port(),
            root_dn="cn=Directory Manager",
            root_password="Lab-Directory-Manager-1",
            server_name=kdc.LDAP_SERVER_NAME,
            realm=kdc.REALM,
            keytab=self.kdc_config.keytab_path(kdc.ldap_principal(kdc.LDAP_SERVER_NAME)),
        )
        self.ssh = sshd.SshConfig(port=free_port(), state=STATE / "ssh")
        self.services: dict[str, Service] = {}
        self._audit: audit.Audit | None = None
        self._agent: agent.AgentSetup | None = None
        # The kernel has one audit daemon slot; a lazy lab takes it only when a test asks for auditd.
        self.lazy_audit = lazy_audit
        # As on a host the rollout reached: the domain's users log in through sessrec-shell and the agent.
        self.login_shell = login_shell
        self.tlog_users = tlog_users  # recorded by SSSD's tlog-rec-session instead (benchmark anchor)
        self.timings: dict[str, float] = {}
        self.this_host = THIS_HOST

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Lab:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop()
        if exc_type is None and self._own_logs:
            shutil.rmtree(self.logs, ignore_errors=True)

    def start(self) -> None:
        t0 = time.monotonic()
        self._isolate()
        self._timed("kdc", self._start_kdc)
        self._timed("389-ds", self._start_directory)
        self._timed("dbus", lambda: self._add("dbus", bus.start(self.logs / "dbus.log")))
        self._timed("sssd", self._start_sssd)
        self._timed("journald", self._start_journald)
        if not self.lazy_audit:
            self._timed("auditd", self._start_audit)
        if self.login_shell:  # every login of the domain's users passes the login shell, which asks the agent
            self.start_default_agent()
        self._timed("sshd", self._start_sshd)
        self.timings["total"] = time.monotonic() - t0

    def stop(self) -> None:
        self._agent = None
        if self._audit is not None:
            self._audit.stop()
            self._audit = None
        for name in reversed(list(self.services)):
            self.services.pop(name).stop()

    # -- components -----------------------------------------------------------------------------
    def _isolate(self) -> None:
        namespace.enter_private_namespace()
        namespace.mount_private(PRIVATE_DIRS)
        dirsrv.prepare_runtime_dirs()
        STATE.mkdir(parents=True, exist_ok=True)
        STATE.chmod(0o755)
        # /dev/log reaches the lab's journald, so syslog writers are tested against a real receiver.
        namespace.private_dev(STATE / "machine-dev", {"log": str(journal.SYSLOG_SOCKET)})
        nsswitch = STATE / "nsswitch.conf"
        nsswitch.write_text(sssd.NSSWITCH)
        namespace.bind_file(nsswitch, "/etc/nsswitch.conf")
        for user in self.data.users:
            home = Path("/home", user.uid)
            home.mkdir(mode=0o700, exist_ok=True)
            os.chown(home, user.number, user.number)

    def _start_kdc(self) -> None:
        hosts = [h.fqdn for h in self.data.hosts]
        self._kdc = kdc.start(self.kdc_config, kdc.LDAP_SERVER_NAME, hosts, self.logs / "krb5kdc.log")
        self._add("krb5kdc", self._kdc.service)

    def _start_directory(self) -> None:
        dirsrv.create_instance(self.directory, self.logs / "dirsrv-setup.log")
        self._add("389-ds", dirsrv.start(self.directory, self.logs / "dirsrv.log"))
        conn = self.ldap()
        conn.modify_s(self.data.suffix, [(ldap.MOD_ADD, "aci", [read_access_aci(self.data.suffix).encode()])])
        dirsrv.add_entries(conn, self.data.entries())
        conn.unbind_s()

    def _start_sssd(self) -> None:
        host = self.data.host(self.this_host)
        sssd.write_config(
            DOMAIN,
            self.directory.ldap_uri,
            self.data.suffix,
            host.dn(self.data.suffix),
            self.data.password(host.fqdn),
        )
        if self.login_shell:
            sssd.write_login_shell_snippet(DOMAIN)
        if self.tlog_users:
            sssd.write_tlog_snippet(self.tlog_users)
        self._add("sssd", sssd.start(self.logs / "sssd.log"))

    def _start_journald(self) -> None:
        self._add("journald", journal.start(self.logs / "journald.log", Path("/etc/systemd/journald.conf")))

    @contextmanager
    def stopped(self, name: str) -> Iterator[None]:
        """Stop one of the lab's services (journald, the agent) for a while, then start it again."""
        restart = {"journald": self._start_journald, "agent": lambda: self.start_agent(self.agent, "agent")}[
            name
        ]
        self.services.pop(name).stop()
        try:
            yield
        finally:
            restart()

    def _start_audit(self) -> None:
        self._audit = audit.start(self.logs / "auditd.log")

    @property
    def audit(self) -> audit.Audit:
        """The running auditd, started on first use in a lazy lab."""
        if self._audit is None:
            self._timed("auditd", self._start_audit)
        assert self._audit is not None
        return self._audit

    def agent_setup(self, state: str = "agent", host: str | None = None, **extra: str) -> agent.AgentSetup:
        """A host agent's configuration for this lab: `host`'s keytab (this host by default) and the lab's
        directory; `extra` adds sessrecd.conf keys (e.g. uri, fail_mode)."""
        fqdn = host or self.this_host
        return agent.AgentSetup(
            state=STATE / state,
            ldap_uri=self.directory_gssapi_uri,
            server=self.ldap_server_name,
            basedn=self.data.suffix,
            realm=self.kdc.realm,
            domain=DOMAIN,
            host=fqdn,
            keytab=self.kdc.host_keytab(fqdn),
            socket=extra.pop(
                "socket", "/run/sessrec/agent.sock" if state == "agent" else str(STATE / state / "s")
            ),
            extra=tuple(extra.items()),
        )

    def start_agent(self, setup: agent.AgentSetup, name: str | None = None) -> Service:
        """Start a host agent (the installed sessrecd); the lab stops it with everything else."""
        service = agent.start(setup, self.logs / f"{name or setup.state.name}.log")
        self._add(name or setup.state.name, service)
        return service

    def start_default_agent(self) -> agent.AgentSetup:
        if self._agent is None:
            setup = self.agent_setup()
            self._timed("sessrecd", lambda: self.start_agent(setup, "agent"))
            self._agent = setup
        return self._agent

    @property
    def agent(self) -> agent.AgentSetup:
        """This host's agent, started on first use; its socket is the default /run/sessrec/agent.sock."""
        return self.start_default_agent()

    def _start_sshd(self) -> None:
        users = [u.uid for u in self.data.users]
        self._add("sshd", sshd.start(self.ssh, users, self.logs / "sshd.log"))

    def _add(self, name: str, service: Service) -> None:
        self.services[name] = service

    def _timed(self, name: str, step: object) -> None:
        t = time.monotonic()
        step()  # type: ignore[operator]
        self.timings[name] = time.monotonic() - t

    # -- what tests use -------------------------------------------------------------------------
    def ldap(self, who: str | None = None, password: str | None = None) -> ldap.ldapobject.LDAPObject:
        """A connection to the lab directory, as Directory Manager unless `who` is given."""
        return dirsrv.connect(self.directory, who, password)

    @property
    def kdc(self) -> Kdc:
        """The running KDC: realm, address, host_keytab(fqdn), stale_keytab(fqdn), add_principal."""
        assert self._kdc is not None, "the lab's KDC is not running"
        return self._kdc

    @property
    def ldap_server_name(self) -> str:
        """The directory's host name (private /etc/hosts: 127.0.0.1), the one its ldap/ principal names."""
        assert self.directory.server_name is not None
        return self.directory.server_name

    @property
    def directory_gssapi_uri(self) -> str:
        return self.directory.gssapi_uri

    def ldap_gssapi(self, keytab: Path, principal: str) -> ldap.ldapobject.LDAPObject:
        """A connection bound with SASL GSSAPI as `principal`, after `kinit -k` into a cache of its own."""
        with tempfile.TemporaryDirectory(prefix="ccache-", dir=self.kdc_config.ccaches) as private:
            ccache = f"FILE:{private}/krb5cc"
            self.kdc.login(keytab, principal, ccache)
            with kdc.credentials_cache(ccache):
                return dirsrv.connect_gssapi(self.directory)

    def journal_entries(self, **match: str) -> list[dict[str, str]]:
        return journal.entries(**match)

    def ssh_argv(self, user: str, *command: str, tty: bool = False) -> list[str]:
        return sshd.ssh_command(self.ssh, user, *command, tty=tty)

    def run_ssh(
        self, user: str, *command: str, tty: bool = False, timeout: float = 30
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.ssh_argv(user, *command, tty=tty), capture_output=True, timeout=timeout)

    def pids(self) -> dict[str, int]:
        pids = {name: s.pid for name, s in self.services.items()}
        if self._audit is not None:
            pids["auditd"] = self._audit.service.pid
        return pids
