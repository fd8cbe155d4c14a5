"""`make install`: a root-owned copy outside the checkout, isolated entry points, usable by every user
even when the checkout sits in a directory only root can read."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import types
from pathlib import Path

from tests import installed as installed_copy

ROOT = installed_copy.ROOT


def test_installed_copy_is_current_root_owned_and_isolated(installed: types.ModuleType) -> None:
    assert installed.stale_files() == []
    first_line = installed.SESSREC.read_text().splitlines()[0]
    assert first_line == f"#!{installed.PYTHON} -I"
    for path in (installed.PREFIX, installed.SESSREC, installed.site_packages() / "recorder" / "cli.py"):
        st = path.stat()
        assert st.st_uid == 0 and not st.st_mode & 0o022, path
    assert Path("/usr/local/bin/sessrec").resolve() == installed.SESSREC.resolve()


def test_install_from_a_checkout_in_a_private_directory_serves_other_users() -> None:
    private = Path(tempfile.mkdtemp(prefix="sessrec-0700-"))  # mode 0700, as mktemp -d makes it
    prefix = Path(tempfile.mkdtemp(prefix="sessrec-prefix-")) / "opt"
    try:
        assert private.stat().st_mode & 0o777 == 0o700
        checkout = private / "c"
        shutil.copytree(
            ROOT, checkout, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info")
        )
        done = subprocess.run(
            [str(checkout / "scripts" / "install.sh"), "--stage", str(prefix)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        os.chmod(prefix.parent, 0o755)
        as_nobody = subprocess.run(
            [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                str(prefix / "bin" / "sessrec"),
                "--version",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )
        assert as_nobody.returncode == 0 and as_nobody.stdout.strip(), as_nobody.stderr
        # Nothing of the installed copy points back into the checkout.
        assert str(private) not in (prefix / "bin" / "sessrec").read_text()
        assert not list(prefix.rglob("*.egg-link")) and not list(prefix.rglob("__editable__*"))
    finally:
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(prefix.parent, ignore_errors=True)
