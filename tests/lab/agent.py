"""The host agent (sessrecd) in the lab: the installed copy, bound to the lab's 389-ds as this host with
its keytab, as on an enrolled client; its cache and socket on the lab's private /run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tests import installed

from .process import ComponentError, Service

IPA_DEFAULT_CONF = """\
[global]
basedn = {basedn}
realm = {realm}
domain = {domain}
server = {server}
host = {host}
xmlrpc_uri = https://{server}/ipa/xml
enable_ra = False
"""


@dataclass(frozen=True)
class AgentSetup:
    state: Path
    ldap_uri: str
    server: str
    basedn: str
    realm: str
    domain: str
    host: str
    keytab: Path
    socket: str = "/run/sessrec/agent.sock"
    extra: tuple[tuple[str, str], ...] = ()  # more sessrecd.conf keys

    @property
    def config(self) -> Path:
        return self.state / "sessrecd.conf"

    @property
    def ipa_conf(self) -> Path:
        return self.state / "default.conf"

    @property
    def cache(self) -> Path:
        return self.state / "cache" / "rules.json"


def write_config(setup: AgentSetup) -> None:
    """An enrolled client's default.conf, and sessrecd.conf pointing at the lab's directory over it."""
    setup.state.mkdir(parents=True, exist_ok=True)
    setup.ipa_conf.write_text(
        IPA_DEFAULT_CONF.format(
            basedn=setup.basedn, realm=setup.realm, domain=setup.domain, server=setup.server, host=setup.host
        )
    )
    keys = {
        "ipa_conf": str(setup.ipa_conf),
        "uri": setup.ldap_uri,  # the lab's port; the server name comes from default.conf
        "keytab": str(setup.keytab),
        "cache": str(setup.cache),
        "socket": setup.socket,
        "dbus_autostart": "no",  # only the lab starts processes
        **dict(setup.extra),
    }
    text = "[sessrecd]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
    fd = os.open(setup.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def start(setup: AgentSetup, log: Path) -> Service:
    problem = installed.problem()
    if problem is not None:
        raise ComponentError(f"sessrecd: {problem}")
    write_config(setup)
    service = Service("sessrecd", [str(installed.BIN / "sessrecd"), "--config", str(setup.config)], log)
    service.start(lambda: _answers(setup.socket), timeout=30)
    return service


def _answers(path: str) -> bool:
    from sssd_helper import protocol

    return protocol.ask("status", socket_path=path, timeout=2)["ok"] is True
