"""The plugin's installer: refuses off a FreeIPA server, and stages exactly FreeIPA's file layout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ipa_plugin import install

ROOT = Path(__file__).resolve().parents[1]


def have_ipaserver() -> bool:
    try:
        import ipaserver  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("action", ["install", "uninstall"])
def test_refuses_with_one_line_off_a_freeipa_server(action: str) -> None:
    if have_ipaserver():  # tests/ipa puts FreeIPA's source on the path; the refusal is about a server
        pytest.skip("ipaserver is importable here")
    out = subprocess.run(
        [sys.executable, "-m", "ipa_plugin.install", action],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.splitlines()) == 1 and "not a FreeIPA server" in out.stderr


def test_stages_files_where_freeipa_reads_them(tmp_path: Path) -> None:
    sitelib = Path("/usr/lib/python3/dist-packages")
    assert install.main(["install", "--destdir", str(tmp_path), "--sitelib", str(sitelib)]) == 0
    staged = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert staged == sorted(
        [
            "usr/lib/python3/dist-packages/ipaserver/plugins/sessionrecording.py",
            "usr/lib/python3/dist-packages/ipa_plugin/__init__.py",
            "usr/lib/python3/dist-packages/ipa_plugin/access.py",
            "usr/lib/python3/dist-packages/ipa_plugin/policy/__init__.py",
            "usr/lib/python3/dist-packages/ipa_plugin/policy/dn.py",
            "usr/lib/python3/dist-packages/ipa_plugin/policy/layout.py",
            "usr/lib/python3/dist-packages/ipa_plugin/policy/options.py",
            "usr/lib/python3/dist-packages/ipa_plugin/policy/rules.py",
            "usr/lib/python3/dist-packages/ipa_plugin/policy/values.py",
            "usr/share/ipa/schema.d/75-sessionrecording.ldif",
            "usr/share/ipa/updates/75-sessionrecording.update",
            "usr/share/ipa/ui/js/plugins/sessionrecording/sessionrecording.js",
        ]
    )
    for src, dst in install.Targets(sitelib).files:
        assert Path(str(tmp_path) + str(dst)).read_bytes() == src.read_bytes()


def test_installed_modules_import_nothing_outside_the_standard_library() -> None:
    """The server gets only PACKAGE_MODULES; they must not need the project's other dependencies."""
    code = (
        "import sys; sys.path[:0] = [sys.argv[1]]\n"
        "import ipa_plugin.policy.rules, ipa_plugin.access\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('ldap', 'dbus_next', 'sssd_helper')]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code, str(ROOT)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
