"""Who may read and manage session recording rules, and the FreeIPA update file that sets it up.

`python3 -m ipa_plugin.access > ipa_plugin/updates/75-sessionrecording.update` regenerates the shipped
update file (a test checks it is current). Stays free of third-party imports: installed with the plugin.
"""

from __future__ import annotations

from ipa_plugin.policy import layout

PRIVILEGE = "Session Recording Administrators"
PRIVILEGE_DESCRIPTION = "Manage session recording rules"

# Indices for our attributes that searches use. Hosts search only on IPA's own, already indexed
# attributes (objectClass, ipaEnabledFlag, hostCategory, memberHost); `sessionrecording-find --kind` and
# `--priority` search on these two.
INDEXED_ATTRIBUTES = ((layout.ATTR_KIND, ("eq",)), (layout.ATTR_PRIORITY, ("eq",)))
INDEX_BACKEND = "userRoot"

# What a host may read of a rule: exactly what it fetches, plus objectClass for its search filter.
HOST_READABLE_ATTRIBUTES = ("objectClass", *layout.RULE_ATTRIBUTES)

ACI_NAMED_HOSTS = "session recording: hosts read the rules that name them or their hostgroups"
ACI_ALL_HOSTS = "session recording: hosts read the rules for all hosts"


def _targetattr() -> str:
    return " || ".join(HOST_READABLE_ATTRIBUTES)


def host_acis(suffix: str = "$SUFFIX") -> tuple[str, str]:
    """The container's ACIs that let a host, bound as itself, read the rules that apply to it.

    memberHost#USERDN: the host is named. memberHost#GROUPDN: the host is a member of a named hostgroup,
    nested hostgroups included (389-ds follows nested groups). Rules for all hosts: any host entry."""
    named = (
        f'(targetfilter = "(objectClass={layout.RULE_OBJECTCLASS})")(targetattr = "{_targetattr()}")'
        f'(version 3.0; acl "{ACI_NAMED_HOSTS}"; allow (read, search, compare) '
        f'userattr = "{layout.ATTR_MEMBER_HOST}#USERDN" or userattr = "{layout.ATTR_MEMBER_HOST}#GROUPDN";)'
    )
    everyone = (
        f'(targetfilter = "(&(objectClass={layout.RULE_OBJECTCLASS})'
        f'({layout.ATTR_HOST_CATEGORY}={layout.CATEGORY_ALL}))")(targetattr = "{_targetattr()}")'
        f'(version 3.0; acl "{ACI_ALL_HOSTS}"; allow (read, search, compare) '
        f'userdn = "ldap:///fqdn=*,{layout.HOSTS_RDN},{suffix}";)'
    )
    return named, everyone


def update_file() -> str:
    """The update file for FreeIPA's /usr/share/ipa/updates (ipaserver.install.ldapupdate syntax)."""
    lines = [
        "# Session recording rules for FreeIPA: indices, the rules container with the hosts' read access,",
        "# and the administrators' privilege (the plugin's managed permissions are added to it).",
        "# Generated from ipa_plugin/access.py and layout.py; do not edit by hand.",
        "",
    ]
    for attr, kinds in INDEXED_ATTRIBUTES:
        lines += [
            f"dn: cn={attr},cn=index,cn={INDEX_BACKEND},cn=ldbm database,cn=plugins,cn=config",
            f"only:cn: {attr}",
            "default:objectClass: top",
            "default:objectClass: nsIndex",
            "default:nsSystemIndex: false",
            *[f"add:nsIndexType: {k}" for k in kinds],
            "",
        ]
    name, value = layout.CONTAINER_RDN
    lines += [
        f"dn: {name}={value},$SUFFIX",
        "default:objectClass: top",
        "default:objectClass: nsContainer",
        f"default:{name}: {value}",
        *[f"add:aci: {aci}" for aci in host_acis()],
        "",
        f"dn: cn={PRIVILEGE},cn=privileges,cn=pbac,$SUFFIX",
        "default:objectClass: top",
        "default:objectClass: groupofnames",
        "default:objectClass: nestedgroup",
        f"default:cn: {PRIVILEGE}",
        f"default:description: {PRIVILEGE_DESCRIPTION}",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(update_file(), end="")
