"""Install or remove the session recording plugin on a FreeIPA server.

    python3 -m ipa_plugin.install install [--dev]     copy the files, then ipa-server-upgrade
                                                      (--dev: ipa-ldap-updater + httpd restart instead)
    python3 -m ipa_plugin.install uninstall           remove the files, restart httpd; rules stay in LDAP
    python3 -m ipa_plugin.install install --destdir D --sitelib P    stage the files for a package

Run it with the Python that FreeIPA's server uses (it looks for `ipaserver` there). On a machine that is
not a configured FreeIPA server it refuses with one line and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "sessionrecording"
SCHEMA = "75-sessionrecording.ldif"
UPDATE = "75-sessionrecording.update"
# The pure modules the server plugin imports, installed as the package ipa_plugin (policy: every module).
PACKAGE_MODULES = (
    "__init__.py",
    "access.py",
    *sorted(f"policy/{p.name}" for p in (HERE / "policy").glob("*.py")),
)

# FreeIPA's directories (ipaplatform.base.paths: EXTERNAL_SCHEMA_DIR, UPDATES_DIR, IPA_JS_PLUGINS_DIR).
SCHEMA_DIR = Path("/usr/share/ipa/schema.d")
UPDATES_DIR = Path("/usr/share/ipa/updates")
JS_PLUGINS_DIR = Path("/usr/share/ipa/ui/js/plugins")
IPA_DEFAULT_CONF = Path("/etc/ipa/default.conf")


class Refused(Exception):
    """This machine cannot take the plugin; the message is one line."""


@dataclass(frozen=True)
class Targets:
    sitelib: Path

    @property
    def files(self) -> list[tuple[Path, Path]]:
        """(source, destination) of every installed file."""
        pairs = [
            (
                HERE / "ipaserver" / "plugins" / f"{NAME}.py",
                self.sitelib / "ipaserver" / "plugins" / f"{NAME}.py",
            )
        ]
        pairs += [(HERE / m, self.sitelib / "ipa_plugin" / m) for m in PACKAGE_MODULES]
        pairs += [
            (HERE / "schema.d" / SCHEMA, SCHEMA_DIR / SCHEMA),
            (HERE / "updates" / UPDATE, UPDATES_DIR / UPDATE),
            (HERE / "ui" / NAME / f"{NAME}.js", JS_PLUGINS_DIR / NAME / f"{NAME}.js"),
        ]
        return pairs

    @property
    def directories(self) -> list[Path]:
        """Directories that belong to this plugin alone (removed on uninstall)."""
        return [self.sitelib / "ipa_plugin", JS_PLUGINS_DIR / NAME]


def find_server_sitelib() -> Path:
    """The sitelib holding FreeIPA's server code; Refused when this is not a configured FreeIPA server."""
    try:
        import ipaserver.plugins  # noqa: F401 - presence is the question
    except ImportError:
        raise Refused(
            f"sessionrecording: not a FreeIPA server: {sys.executable} cannot import ipaserver "
            "(install and configure freeipa-server first, or run with its Python)"
        ) from None
    import ipaserver.plugins as plugins

    try:
        from ipalib.facts import is_ipa_configured  # FreeIPA 4.9+
    except ImportError:
        from ipaserver.install.installutils import is_ipa_configured  # older FreeIPA
    if not is_ipa_configured():
        raise Refused(
            "sessionrecording: FreeIPA server packages are installed but not configured (ipa-server-install)"
        )
    for d in (SCHEMA_DIR, UPDATES_DIR, JS_PLUGINS_DIR.parent):
        if not d.is_dir():
            raise Refused(f"sessionrecording: FreeIPA directory {d} is missing")
    return Path(plugins.__path__[0]).parent.parent


def copy_files(targets: Targets, destdir: Path | None) -> list[Path]:
    written = []
    for src, dst in targets.files:
        final = Path(str(destdir) + str(dst)) if destdir else dst
        final.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, final)
        final.chmod(0o644)
        written.append(final)
    return written


def remove_files(targets: Targets) -> None:
    for _, dst in targets.files:
        dst.unlink(missing_ok=True)
        cache = dst.parent / "__pycache__"
        for compiled in cache.glob(f"{dst.stem}.*.pyc") if cache.is_dir() else ():
            compiled.unlink()
    for d in targets.directories:
        shutil.rmtree(d, ignore_errors=True)


def run(argv: list[str]) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, check=True)


def restart_httpd() -> None:
    """FreeIPA loads its API once per httpd process; new or removed plugin code needs a restart."""
    from ipaplatform.services import knownservices

    knownservices.httpd.restart()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m ipa_plugin.install", description=__doc__.splitlines()[0]
    )
    parser.add_argument("action", choices=("install", "uninstall"))
    parser.add_argument(
        "--dev", action="store_true", help="ipa-ldap-updater and httpd restart, not ipa-server-upgrade"
    )
    parser.add_argument(
        "--destdir", type=Path, help="stage the files under this root (packaging; no server needed)"
    )
    parser.add_argument(
        "--sitelib", type=Path, help="python sitelib for --destdir (default: this Python's purelib)"
    )
    args = parser.parse_args(argv)
    try:
        if args.destdir is not None:
            if args.action != "install":
                raise Refused("sessionrecording: --destdir only stages an install")
            import sysconfig

            sitelib = args.sitelib or Path(sysconfig.get_paths()["purelib"])
            for path in copy_files(Targets(sitelib), args.destdir):
                print(path)
            return 0
        targets = Targets(find_server_sitelib())
        if os.geteuid() != 0:
            raise Refused("sessionrecording: run as root")
        if args.action == "install":
            copy_files(targets, None)
            if args.dev:
                run(["ipa-ldap-updater", "-S", str(SCHEMA_DIR / SCHEMA), str(UPDATES_DIR / UPDATE)])
                restart_httpd()
            else:
                run(["ipa-server-upgrade"])  # schema, update file, managed permissions; restarts services
            print("sessionrecording: installed; `ipa sessionrecording-find` works on every enrolled client")
        else:
            remove_files(targets)
            restart_httpd()
            print("sessionrecording: removed; the rules, schema, privilege and permissions stay in LDAP")
    except Refused as exc:
        print(exc, file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"sessionrecording: {exc.cmd[0]} failed with status {exc.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
