"""The one LDAP layout of session recording rules: container, classes, attribute names, value formats.

The rule settings' own attributes come from the option table (options.py). Standard library only.
"""

from __future__ import annotations

from . import options

# Our own OID arc (a 2.25.<uuid> arc needs no registration): .1.N attribute types, .2.N object classes.
OID_ARC = "2.25.255606285869947258398557235009129470607"
ATTRIBUTE_ARC = f"{OID_ARC}.1"
OBJECTCLASS_ARC = f"{OID_ARC}.2"
X_ORIGIN = "freeipa-session-recording"

# Rules live in cn=sessionrecording,<suffix>; each rule's RDN is cn=<rule name>.
CONTAINER_RDN = ("cn", "sessionrecording")
RULE_RDN_ATTR = "cn"

# FreeIPA's own tree, as the rules reference it.
USERS_RDN = "cn=users,cn=accounts"
GROUPS_RDN = "cn=groups,cn=accounts"
HOSTS_RDN = "cn=computers,cn=accounts"
HOSTGROUPS_RDN = "cn=hostgroups,cn=accounts"

# Classes: our rule is an ipaAssociation, so memberUser/memberHost/categories/enabled flag come from IPA.
RULE_OBJECTCLASS = "ipaSessionRecordingRule"
RULE_OBJECTCLASSES = ("top", "ipaAssociation", RULE_OBJECTCLASS)

# Attributes inherited from FreeIPA's ipaAssociation.
ATTR_NAME = "cn"
ATTR_UNIQUE_ID = "ipaUniqueID"
ATTR_ENABLED = "ipaEnabledFlag"
ATTR_DESCRIPTION = "description"
ATTR_MEMBER_USER = "memberUser"
ATTR_MEMBER_HOST = "memberHost"
ATTR_USER_CATEGORY = "userCategory"
ATTR_HOST_CATEGORY = "hostCategory"
CATEGORY_ALL = "all"

# LDAP syntaxes used by our attributes.
SYNTAX_BOOLEAN = "1.3.6.1.4.1.1466.115.121.1.7"
SYNTAX_INTEGER = "1.3.6.1.4.1.1466.115.121.1.27"
SYNTAX_STRING = "1.3.6.1.4.1.1466.115.121.1.15"


# Our own attributes: one per rule setting (options.SETTINGS).
OPTION_ATTRIBUTES: tuple[options.Setting, ...] = options.SETTINGS
ATTR_KIND = options.KIND.attribute
ATTR_PRIORITY = options.PRIORITY.attribute
RULE_OBJECTCLASS_NUMBER = 1

# Value formats.
KIND_RECORD = options.KIND_RECORD
KIND_EXEMPT = options.KIND_EXEMPT
KINDS = options.KIND.choices
LDAP_TRUE = options.LDAP_TRUE
LDAP_FALSE = options.LDAP_FALSE

# Every attribute a host fetches for a rule.
RULE_ATTRIBUTES: tuple[str, ...] = (
    ATTR_NAME,
    ATTR_UNIQUE_ID,
    ATTR_ENABLED,
    ATTR_MEMBER_USER,
    ATTR_MEMBER_HOST,
    ATTR_USER_CATEGORY,
    ATTR_HOST_CATEGORY,
) + tuple(a.attribute for a in OPTION_ATTRIBUTES)


def container_dn(suffix: str) -> str:
    return f"{CONTAINER_RDN[0]}={CONTAINER_RDN[1]},{suffix}"


def schema_ldif() -> str:
    """Our schema as a FreeIPA schema.d content LDIF (`dn: cn=schema`, one definition per line)."""
    lines = [
        "# Session recording rules for FreeIPA. Generated from ipa_plugin/policy/layout.py; do not edit.",
        "dn: cn=schema",
    ]
    for attr in OPTION_ATTRIBUTES:
        lines.append(f"attributeTypes: {_attribute_definition(attr)}")
    may = " $ ".join(a.attribute for a in OPTION_ATTRIBUTES)
    lines.append(
        f"objectClasses: ( {OBJECTCLASS_ARC}.{RULE_OBJECTCLASS_NUMBER} NAME '{RULE_OBJECTCLASS}' "
        f"DESC 'Session recording rule' SUP ipaAssociation STRUCTURAL MAY ( {may} ) "
        f"X-ORIGIN '{X_ORIGIN}' )"
    )
    return "\n".join(lines) + "\n"


# Free text (notice, watched paths) matches case-exactly; choices case-insensitively.
_SYNTAX_AND_MATCHING = {
    options.Type.BOOL: (SYNTAX_BOOLEAN, "EQUALITY booleanMatch"),
    options.Type.INT: (SYNTAX_INTEGER, "EQUALITY integerMatch ORDERING integerOrderingMatch"),
    options.Type.TEXT: (SYNTAX_STRING, "EQUALITY caseExactMatch SUBSTR caseExactSubstringsMatch"),
    options.Type.WATCH: (SYNTAX_STRING, "EQUALITY caseExactMatch SUBSTR caseExactSubstringsMatch"),
    options.Type.CHOICE: (SYNTAX_STRING, "EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch"),
}


def attribute_oid(setting: options.Setting) -> str:
    return f"{ATTRIBUTE_ARC}.{setting.number}"


def _description(setting: options.Setting) -> str:
    if setting.type is options.Type.CHOICE:
        return " | ".join(setting.choices)
    return setting.doc


def _attribute_definition(setting: options.Setting) -> str:
    syntax, matching = _SYNTAX_AND_MATCHING[setting.type]
    single = "" if setting.multi_valued else " SINGLE-VALUE"
    return (
        f"( {attribute_oid(setting)} NAME '{setting.attribute}' DESC '{_description(setting)}' {matching} "
        f"SYNTAX {syntax}{single} X-ORIGIN '{X_ORIGIN}' )"
    )


if __name__ == "__main__":
    print(schema_ldif(), end="")
