"""The role ships the agent's units as files of its own (a collection is self-contained): they must be the
product's, byte for byte (sssd_helper/data/)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROLE_FILES = ROOT / "ansible/ansible_collections/freeipa_sessrec/recording/roles/sessrec/files"


@pytest.mark.parametrize("name", ["sessrecd.service", "sessrecd.socket", "sessrec.tmpfiles"])
def test_role_files_are_the_products(name: str) -> None:
    assert (ROLE_FILES / name).read_bytes() == (ROOT / "sssd_helper" / "data" / name).read_bytes()
