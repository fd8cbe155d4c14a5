"""sssd against the lab's 389-ds: nss, pam and InfoPipe, bound as this host like an enrolled client."""

from __future__ import annotations

import os
from pathlib import Path

from .process import Service

CONF = Path("/etc/sssd/sssd.conf")
IFP = "org.freedesktop.sssd.infopipe"
IFP_PATH = "/org/freedesktop/sssd/infopipe"

SSSD_CONF = """\
[sssd]
services = nss, pam, ifp
domains = {domain}

[nss]

[pam]

[ifp]
allowed_uids = 0

[domain/{domain}]
id_provider = ldap
auth_provider = none
access_provider = permit
ldap_uri = {uri}
ldap_search_base = {suffix}
ldap_user_search_base = cn=users,cn=accounts,{suffix}
ldap_group_search_base = cn=groups,cn=accounts,{suffix}
ldap_schema = rfc2307bis
ldap_group_nesting_level = 4
ldap_id_use_start_tls = false
ldap_default_bind_dn = {bind_dn}
ldap_default_authtok_type = password
ldap_default_authtok = {bind_password}
ldap_network_timeout = 3
ldap_opt_timeout = 5
entry_cache_timeout = 5
"""

NSSWITCH = """\
passwd:         files sss
group:          files sss
shadow:         files
hosts:          files
services:       files
netgroup:       files
"""


def write_config(domain: str, uri: str, suffix: str, bind_dn: str, bind_password: str) -> None:
    CONF.parent.mkdir(parents=True, exist_ok=True)
    text = SSSD_CONF.format(
        domain=domain, uri=uri, suffix=suffix, bind_dn=bind_dn, bind_password=bind_password
    )
    fd = os.open(CONF, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chown(CONF, 0, 0)
    os.chmod(CONF, 0o600)  # sssd refuses a config that is not root-owned 0600/0400


LOGIN_SHELL = "/usr/local/bin/sessrec-shell"
SNIPPET = Path("/etc/sssd/conf.d/50-sessrec.conf")


def _write_snippet(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)


def write_tlog_snippet(users: tuple[str, ...]) -> None:
    """SSSD's own session recording (tlog-rec-session as the users' shell): the anchor to compare with."""
    _write_snippet(
        SNIPPET.with_name("40-tlog.conf"), f"[session_recording]\nscope = some\nusers = {', '.join(users)}\n"
    )


def write_login_shell_snippet(domain: str, shell: str = LOGIN_SHELL) -> None:
    """As the rollout does it: the IPA domain's users get the login shell through a conf.d snippet
    (root:root 0600, or SSSD 2.8 skips it silently); sssd.conf stays as the IPA client wrote it."""
    _write_snippet(SNIPPET, f"[domain/{domain}]\noverride_shell = {shell}\n")


def start(log: Path) -> Service:
    for sub in ("db", "pipes/private", "mc", "pubconf", "gpo_cache", "secrets", "keytabs"):
        Path("/var/lib/sss", sub).mkdir(parents=True, exist_ok=True)
    service = Service("sssd", ["sssd", "-i", "-d", "2", "-c", str(CONF)], log)
    service.start(ifp_ping, timeout=45)
    return service


def ifp_ping() -> bool:
    from dbus_next import MessageType

    from . import bus

    reply = bus.call(
        destination=IFP, path=IFP_PATH, interface=IFP, member="Ping", signature="s", body=["ping"]
    )
    return reply.message_type == MessageType.METHOD_RETURN and Path("/var/lib/sss/pipes/nss").exists()
