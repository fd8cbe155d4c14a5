"""The product as installed on the host (`make install`): what runs as other users runs from here."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX = Path(os.environ.get("SESSREC_PREFIX", "/opt/sessrec"))
BIN = PREFIX / "bin"
PYTHON = BIN / "python3"
SESSREC = BIN / "sessrec"
# What runs on a host; the server plugin's files are installed too but never run there.
HOST_SIDE = ("ipa_plugin/__init__.py", "ipa_plugin/policy", "recorder", "sssd_helper")


def site_packages() -> Path:
    version = sysconfig.get_python_version()
    return PREFIX / "lib" / f"python{version}" / "site-packages"


def stale_files() -> list[str]:
    """Checkout modules whose installed copy is missing or differs (empty: the install is current)."""
    stale = []
    for part in HOST_SIDE:
        top = ROOT / part
        for source in sorted(top.rglob("*") if top.is_dir() else [top]):
            if source.is_file() and "__pycache__" not in source.parts:
                relative = source.relative_to(ROOT)
                copy = site_packages() / relative
                if not copy.is_file() or copy.read_bytes() != source.read_bytes():
                    stale.append(str(relative))
    return stale


def problem() -> str | None:
    """Why the installed copy cannot be used for the tests; None when it can."""
    if not SESSREC.is_file():
        return f"the product is not installed under {PREFIX}: run `make install`"
    # SESSREC_STALE_OK=1: while others change the checkout under you; never set in CI (`make test` installs).
    stale = [] if os.environ.get("SESSREC_STALE_OK") == "1" else stale_files()
    if stale:
        return (
            f"the installed copy under {PREFIX} differs from the checkout ({stale[0]}, …): run `make install`"
        )
    if PREFIX.stat().st_uid != 0 or PREFIX.stat().st_mode & 0o022:
        return f"{PREFIX} must be root-owned and not group/world-writable"
    return None
