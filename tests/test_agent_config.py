"""The agent's configuration (sssd_helper.config): an enrolled host's default.conf under sessrecd.conf."""

from __future__ import annotations

from pathlib import Path

import pytest

from sssd_helper.config import AgentConfig, ConfigError, load

DEFAULT_CONF = """\
[global]
basedn = dc=ipa,dc=test
realm = IPA.TEST
domain = ipa.test
server = ipa1.ipa.test
host = client1.ipa.test
xmlrpc_uri = https://ipa1.ipa.test/ipa/xml
"""


def write(tmp_path: Path, own: str, ipa: str = DEFAULT_CONF) -> tuple[Path, Path]:
    (tmp_path / "default.conf").write_text(ipa)
    (tmp_path / "sessrecd.conf").write_text(own)
    return tmp_path / "sessrecd.conf", tmp_path / "default.conf"


def test_an_enrolled_hosts_default_conf_is_enough(tmp_path: Path) -> None:
    cfg = load(*write(tmp_path, ""))
    assert (cfg.server, cfg.basedn, cfg.realm, cfg.host) == (
        "ipa1.ipa.test",
        "dc=ipa,dc=test",
        "IPA.TEST",
        "client1.ipa.test",
    )
    assert (
        cfg.ldap_uri == "ldap://ipa1.ipa.test" and cfg.bind == "gssapi" and cfg.keytab == "/etc/krb5.keytab"
    )
    assert cfg.host_principal == "host/client1.ipa.test@IPA.TEST" and cfg.fail_mode == "record"


def test_sessrecd_conf_overrides_and_types_its_keys(tmp_path: Path) -> None:
    own = "[sessrecd]\nuri = ldaps://ipa2.ipa.test\nrefresh_interval = 60\n"
    own += "dbus_autostart = no\nfail_mode = refuse\n"
    cfg = load(*write(tmp_path, own))
    assert cfg.ldap_uri == "ldaps://ipa2.ipa.test" and cfg.refresh_interval == 60.0
    assert cfg.dbus_autostart is False and cfg.fail_mode == "refuse" and cfg.server == "ipa1.ipa.test"


def test_ipa_conf_key_names_another_default_conf(tmp_path: Path) -> None:
    other = tmp_path / "other.conf"
    other.write_text(DEFAULT_CONF.replace("client1", "web1"))
    own, _ = write(tmp_path, f"[sessrecd]\nipa_conf = {other}\n")
    assert load(own, tmp_path / "missing.conf").host == "web1.ipa.test"


@pytest.mark.parametrize(
    ("own", "ipa", "error"),
    [
        ("", "", "configuration lacks server, basedn, host, realm (not an enrolled FreeIPA client?)"),
        ("[sessrecd]\nbogus = 1\n", DEFAULT_CONF, "unknown keys: bogus"),
        (
            "[sessrecd]\nbind = anonymous\n",
            DEFAULT_CONF,
            "bind must be one of gssapi, simple, not 'anonymous'",
        ),
        ("[sessrecd]\nbind = simple\n", DEFAULT_CONF, "bind = simple needs bind_password_file"),
        (
            "[sessrecd]\nfail_mode = open\n",
            DEFAULT_CONF,
            "fail_mode must be one of record, refuse, not 'open'",
        ),
        (
            "[sessrecd]\nsssd_timeout = soon\n",
            DEFAULT_CONF,
            "sssd_timeout must be a number of seconds, not 'soon'",
        ),
        ("[sessrecd]\nsssd_timeout = 0\n", DEFAULT_CONF, "sssd_timeout must be between 0 and 86400 seconds"),
        (
            "[sessrecd]\ndbus_autostart = maybe\n",
            DEFAULT_CONF,
            "dbus_autostart must be yes or no, not 'maybe'",
        ),
        ("no section\n", DEFAULT_CONF, "File contains no section headers."),
    ],
)
def test_bad_configuration_is_one_clear_line(tmp_path: Path, own: str, ipa: str, error: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(*write(tmp_path, own, ipa))
    assert error in str(err.value) and "\n" not in str(err.value)


def test_defaults_are_documented(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "agent.md").read_text()
    for key in AgentConfig.__dataclass_fields__:
        assert f"`{key}`" in doc, f"docs/agent.md does not document {key}"
