"""The host agent's configuration: an enrolled host's /etc/ipa/default.conf, overridden by sessrecd.conf.

Every key is documented in docs/agent.md; unknown keys and bad values are refused with one line.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, fields
from pathlib import Path

from recorder.identity import RECORDER_USER

IPA_DEFAULT_CONF = Path("/etc/ipa/default.conf")
AGENT_CONF = Path("/etc/sessrec/sessrecd.conf")
SECTION = "sessrecd"
BIND_METHODS = ("gssapi", "simple")
FAIL_MODES = ("record", "refuse")


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line."""


@dataclass(frozen=True)
class AgentConfig:
    """What the agent needs; defaults are what an enrolled FreeIPA client has."""

    server: str = ""  # FreeIPA server host name (default.conf: server)
    uri: str = ""  # LDAP URI; default ldap://<server>
    basedn: str = ""  # directory suffix (default.conf: basedn)
    realm: str = ""  # Kerberos realm (default.conf: realm)
    host: str = ""  # this host's FQDN (default.conf: host)
    bind: str = "gssapi"  # gssapi (the host keytab) or simple (explicit option only)
    keytab: str = "/etc/krb5.keytab"
    principal: str = ""  # default host/<host>@<realm>
    bind_dn: str = ""  # simple bind only; default the host's own entry
    bind_password_file: str = ""  # simple bind only: a root-only file holding the password
    refresh_interval: float = 300.0  # seconds between rule fetches
    ldap_timeout: float = 5.0  # seconds for connecting and for each search
    sssd_timeout: float = 3.0  # seconds for each InfoPipe call
    user_cache: float = 5.0  # seconds a user's groups and shell from SSSD are reused (0: never)
    cache: str = "/var/cache/sessrec/rules.json"
    socket: str = "/run/sessrec/agent.sock"
    ccache: str = "/run/sessrec/krb5cc"
    # When the decision cannot be made (no rules yet, SSSD cannot answer): record with default options,
    # or refuse the login.
    fail_mode: str = "record"
    fallback_shell: str = "/bin/bash"  # the shell when SSSD cannot tell the user's own
    recorder_user: str = RECORDER_USER  # the system user recorders run as (never a login user)
    sessrec: str = "/opt/sessrec/bin/sessrec"  # the installed recorder
    dbus_autostart: bool = True  # let the bus start InfoPipe on demand (as sssd-ifp is on systemd hosts)

    @property
    def ldap_uri(self) -> str:
        return self.uri or f"ldap://{self.server}"

    @property
    def host_principal(self) -> str:
        return self.principal or f"host/{self.host}@{self.realm}"

    def check(self) -> AgentConfig:
        missing = [k for k in ("basedn", "host") if not getattr(self, k)]
        if not (self.server or self.uri):
            missing.insert(0, "server")
        if self.bind == "gssapi" and not self.realm and not self.principal:
            missing.append("realm")
        if missing:
            raise ConfigError(f"configuration lacks {', '.join(missing)} (not an enrolled FreeIPA client?)")
        if self.bind not in BIND_METHODS:
            raise ConfigError(f"bind must be one of {', '.join(BIND_METHODS)}, not {self.bind!r}")
        if self.fail_mode not in FAIL_MODES:
            raise ConfigError(f"fail_mode must be one of {', '.join(FAIL_MODES)}, not {self.fail_mode!r}")
        if self.bind == "simple" and not self.bind_password_file:
            raise ConfigError("bind = simple needs bind_password_file")
        for key in ("refresh_interval", "ldap_timeout", "sssd_timeout"):
            if not 0 < getattr(self, key) <= 86400:
                raise ConfigError(f"{key} must be between 0 and 86400 seconds")
        if not 0 <= self.user_cache <= 300:
            raise ConfigError("user_cache must be between 0 and 300 seconds")
        return self


_FLOATS = {f.name for f in fields(AgentConfig) if f.type in ("float", float)}
_BOOLS = {f.name for f in fields(AgentConfig) if f.type in ("bool", bool)}
_TRUE, _FALSE = ("yes", "true", "on", "1"), ("no", "false", "off", "0")
_KEYS = {f.name for f in fields(AgentConfig)}


def _read(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ConfigError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    return parser


def load(agent_conf: Path = AGENT_CONF, ipa_conf: Path | None = None) -> AgentConfig:
    """default.conf's [global] (server, basedn, realm, host), then sessrecd.conf's [sessrecd] over it.

    sessrecd.conf may name another default.conf with `ipa_conf = PATH`."""
    own = _read(agent_conf)
    values: dict[str, str] = {}
    if own.has_section(SECTION):
        values = dict(own.items(SECTION))
    unknown = set(values) - _KEYS - {"ipa_conf"}
    if unknown:
        raise ConfigError(f"{agent_conf}: unknown keys: {', '.join(sorted(unknown))}")
    ipa = _read(Path(values.pop("ipa_conf", "")) if "ipa_conf" in values else (ipa_conf or IPA_DEFAULT_CONF))
    merged: dict[str, str] = {}
    if ipa.has_section("global"):
        merged.update({k: v for k, v in ipa.items("global") if k in ("server", "basedn", "realm", "host")})
    merged.update(values)
    kw: dict[str, object] = {}
    for key, raw in merged.items():
        if key in _BOOLS:
            if raw.strip().lower() not in _TRUE + _FALSE:
                raise ConfigError(f"{key} must be yes or no, not {raw!r}")
            kw[key] = raw.strip().lower() in _TRUE
        elif key in _FLOATS:
            try:
                kw[key] = float(raw)
            except ValueError:
                raise ConfigError(f"{key} must be a number of seconds, not {raw!r}") from None
        else:
            kw[key] = raw.strip()
    return AgentConfig(**kw).check()  # type: ignore[arg-type]
