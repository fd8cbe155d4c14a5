"""The one LDAP layout of session recording rules: container, classes, attribute names, value formats.

Imported by the FreeIPA plugin, the host agent and the tests; it must stay free of third-party imports.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class OptionAttribute:
    """One recording-option attribute of our schema."""

    number: int  # last OID component under ATTRIBUTE_ARC; never reuse a number
    name: str
    syntax: str
    single_value: bool = True
    case_exact: bool = False
    description: str = ""

    @property
    def oid(self) -> str:
        return f"{ATTRIBUTE_ARC}.{self.number}"


ATTR_KIND = "ipaSessionRecordingKind"
ATTR_PRIORITY = "ipaSessionRecordingPriority"
ATTR_LOG_INPUT = "ipaSessionRecordingLogInput"
ATTR_LOG_OUTPUT = "ipaSessionRecordingLogOutput"
ATTR_LOG_WINDOW = "ipaSessionRecordingLogWindow"
ATTR_NOTICE = "ipaSessionRecordingNotice"
ATTR_LATENCY = "ipaSessionRecordingLatency"
ATTR_PAYLOAD = "ipaSessionRecordingPayload"
ATTR_RATE = "ipaSessionRecordingRateLimit"
ATTR_BURST = "ipaSessionRecordingBurst"
ATTR_LIMIT_ACTION = "ipaSessionRecordingLimitAction"
ATTR_AUDIT_COMMANDS = "ipaSessionRecordingAuditCommands"
ATTR_WATCH_PATH = "ipaSessionRecordingWatchPath"

OPTION_ATTRIBUTES: tuple[OptionAttribute, ...] = (
    OptionAttribute(1, ATTR_KIND, SYNTAX_STRING, description="record | exempt"),
    OptionAttribute(2, ATTR_PRIORITY, SYNTAX_INTEGER, description="higher wins among matching rules"),
    OptionAttribute(3, ATTR_LOG_INPUT, SYNTAX_BOOLEAN, description="record what the user types"),
    OptionAttribute(4, ATTR_LOG_OUTPUT, SYNTAX_BOOLEAN, description="record what the terminal shows"),
    OptionAttribute(5, ATTR_LOG_WINDOW, SYNTAX_BOOLEAN, description="record window size changes"),
    OptionAttribute(6, ATTR_NOTICE, SYNTAX_STRING, case_exact=True, description="text shown at start"),
    OptionAttribute(7, ATTR_LATENCY, SYNTAX_INTEGER, description="seconds before buffered data is written"),
    OptionAttribute(8, ATTR_PAYLOAD, SYNTAX_INTEGER, description="maximum encoded payload bytes per message"),
    OptionAttribute(9, ATTR_RATE, SYNTAX_INTEGER, description="bytes per second before the limit action"),
    OptionAttribute(10, ATTR_BURST, SYNTAX_INTEGER, description="bytes allowed above the rate"),
    OptionAttribute(11, ATTR_LIMIT_ACTION, SYNTAX_STRING, description="pass | delay | drop"),
    OptionAttribute(12, ATTR_AUDIT_COMMANDS, SYNTAX_BOOLEAN, description="audit every executed command"),
    OptionAttribute(
        13,
        ATTR_WATCH_PATH,
        SYNTAX_STRING,
        single_value=False,
        case_exact=True,
        description="<perms>:<absolute path>, perms from r w x a",
    ),
)
RULE_OBJECTCLASS_NUMBER = 1

# Value formats.
KIND_RECORD = "record"
KIND_EXEMPT = "exempt"
KINDS = (KIND_RECORD, KIND_EXEMPT)
LIMIT_ACTIONS = ("pass", "delay", "drop")
WATCH_PERMISSIONS = "rwxa"
LDAP_TRUE = "TRUE"
LDAP_FALSE = "FALSE"

# Every attribute a host fetches for a rule.
RULE_ATTRIBUTES: tuple[str, ...] = (
    ATTR_NAME,
    ATTR_UNIQUE_ID,
    ATTR_ENABLED,
    ATTR_MEMBER_USER,
    ATTR_MEMBER_HOST,
    ATTR_USER_CATEGORY,
    ATTR_HOST_CATEGORY,
) + tuple(a.name for a in OPTION_ATTRIBUTES)


def container_dn(suffix: str) -> str:
    return f"{CONTAINER_RDN[0]}={CONTAINER_RDN[1]},{suffix}"


def schema_ldif() -> str:
    """Our schema as a FreeIPA schema.d content LDIF (`dn: cn=schema`, one definition per line)."""
    lines = [
        "# Session recording rules for FreeIPA. Generated from ipa_plugin/layout.py; do not edit by hand.",
        "dn: cn=schema",
    ]
    for attr in OPTION_ATTRIBUTES:
        lines.append(f"attributeTypes: {_attribute_definition(attr)}")
    may = " $ ".join(a.name for a in OPTION_ATTRIBUTES)
    lines.append(
        f"objectClasses: ( {OBJECTCLASS_ARC}.{RULE_OBJECTCLASS_NUMBER} NAME '{RULE_OBJECTCLASS}' "
        f"DESC 'Session recording rule' SUP ipaAssociation STRUCTURAL MAY ( {may} ) "
        f"X-ORIGIN '{X_ORIGIN}' )"
    )
    return "\n".join(lines) + "\n"


def _attribute_definition(attr: OptionAttribute) -> str:
    if attr.syntax == SYNTAX_BOOLEAN:
        matching = "EQUALITY booleanMatch"
    elif attr.syntax == SYNTAX_INTEGER:
        matching = "EQUALITY integerMatch ORDERING integerOrderingMatch"
    elif attr.case_exact:
        matching = "EQUALITY caseExactMatch SUBSTR caseExactSubstringsMatch"
    else:
        matching = "EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch"
    single = " SINGLE-VALUE" if attr.single_value else ""
    return (
        f"( {attr.oid} NAME '{attr.name}' DESC '{attr.description}' {matching} "
        f"SYNTAX {attr.syntax}{single} X-ORIGIN '{X_ORIGIN}' )"
    )


if __name__ == "__main__":
    print(schema_ldif(), end="")
