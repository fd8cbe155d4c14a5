"""The LDAP layout module is the one source of the schema shipped to FreeIPA."""

from __future__ import annotations

import re
from pathlib import Path

from ipa_plugin.policy import layout

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "ipa_plugin" / "schema.d" / "75-sessionrecording.ldif"


def test_shipped_schema_is_generated_from_layout() -> None:
    assert SCHEMA_FILE.read_text() == layout.schema_ldif(), "run `make schema` after changing layout.py"


def test_oids_are_unique_and_under_our_arc() -> None:
    oids = re.findall(r"\( ([\d.]+) NAME", layout.schema_ldif())
    assert len(oids) == len(set(oids)) == len(layout.OPTION_ATTRIBUTES) + 1
    assert all(oid.startswith(layout.OID_ARC + ".") for oid in oids)


def test_rule_attributes_cover_every_option_once() -> None:
    names = [a.attribute.lower() for a in layout.OPTION_ATTRIBUTES]
    assert len(names) == len(set(names))
    assert set(names) <= {a.lower() for a in layout.RULE_ATTRIBUTES}
    assert layout.container_dn("dc=ipa,dc=test") == "cn=sessionrecording,dc=ipa,dc=test"
