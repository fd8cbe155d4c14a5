"""The collection (ansible/ansible_collections/freeipa_sessrec/recording) passes ansible-lint's production
profile and `ansible-test sanity` with Debian 12's ansible-core (2.14) and PyPI's (2.19, `make ansible-venv`).

ansible-test runs each sanity test in a virtualenv of its own with pinned requirements from the package
index, bootstrapped with a get-pip.py that it downloads from a host this machine cannot reach:
ansible/tools/get_pip.py stands in for it (ensurepip, then pip), in a private HOME under /tmp that also
keeps those virtualenvs between runs (the first run takes about two minutes, later ones seconds)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLLECTION = ROOT / "ansible" / "ansible_collections" / "freeipa_sessrec" / "recording"
VENV = Path(os.environ.get("SESSREC_ANSIBLE_VENV", "/tmp/sessrec-ansible-venv"))
HOME = Path(os.environ.get("SESSREC_ANSIBLE_TEST_HOME", "/tmp/sessrec-ansible-test-home"))
ANSIBLE_TEST = {"debian": Path("/usr/bin/ansible-test"), "pypi": VENV / "bin" / "ansible-test"}
GET_PIP_VERSIONS = ("21_3_1", "24_2")  # the pip versions 2.14's and 2.19's ansible-test bootstrap


def environment() -> dict[str, str]:
    cache = HOME / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for version in GET_PIP_VERSIONS:
        shutil.copyfile(ROOT / "ansible" / "tools" / "get_pip.py", cache / f"get_pip_{version}.py")
    return {
        "PATH": f"{VENV / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(HOME),
        "ANSIBLE_HOME": str(HOME / ".ansible"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
    }


def require(path: Path) -> None:
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make ansible-venv` and scripts/install-deps.sh")


def test_ansible_lint_production_profile() -> None:
    lint = VENV / "bin" / "ansible-lint"
    require(lint)
    result = subprocess.run(
        [str(lint), "--offline", "--nocolor", "--profile", "production"],
        cwd=COLLECTION,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in result.stderr + result.stdout


@pytest.mark.parametrize("ansible", ["debian", "pypi"])
def test_ansible_test_sanity(ansible: str) -> None:
    require(ANSIBLE_TEST[ansible])
    result = subprocess.run(
        [str(ANSIBLE_TEST[ansible]), "sanity", "--python", "3.11", "--color", "no"],
        cwd=COLLECTION,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        "\n".join(line for line in output.splitlines() if line.startswith(("ERROR", "FATAL")))
        or output[-4000:]
    )
    assert output.count('Running sanity test "') >= 20, output[-2000:]
