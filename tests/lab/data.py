"""The lab's directory content: IPA-shaped users, nested groups, hosts and hostgroups."""

from __future__ import annotations

from dataclasses import dataclass, field

from ipa_plugin.policy import layout

Entry = tuple[str, dict[str, list[str]]]

SUFFIX = "dc=ipa,dc=test"
DOMAIN = "ipa.test"
# The host the lab plays: sssd binds as it, as an enrolled FreeIPA client does with its keytab.
THIS_HOST = "client1.ipa.test"


@dataclass(frozen=True)
class User:
    uid: str
    number: int
    shell: str = "/bin/bash"

    def dn(self, suffix: str = SUFFIX) -> str:
        return f"uid={self.uid},{layout.USERS_RDN},{suffix}"


@dataclass(frozen=True)
class Group:
    name: str
    number: int
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # nested member groups

    def dn(self, suffix: str = SUFFIX) -> str:
        return f"cn={self.name},{layout.GROUPS_RDN},{suffix}"


@dataclass(frozen=True)
class Host:
    fqdn: str

    def dn(self, suffix: str = SUFFIX) -> str:
        return f"fqdn={self.fqdn},{layout.HOSTS_RDN},{suffix}"


@dataclass(frozen=True)
class HostGroup:
    name: str
    hosts: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def dn(self, suffix: str = SUFFIX) -> str:
        return f"cn={self.name},{layout.HOSTGROUPS_RDN},{suffix}"


@dataclass(frozen=True)
class Directory:
    users: tuple[User, ...] = (
        User("alice", 10001),
        User("bob", 10002, "/bin/sh"),
        User("carol", 10003),
        User("dave", 10004),
    )
    groups: tuple[Group, ...] = (
        Group("developers", 20001, users=("alice",)),
        Group("staff", 20002, users=("bob",), groups=("developers",)),  # alice is in staff via developers
        Group("auditors", 20003, users=("carol",)),
    )
    hosts: tuple[Host, ...] = (Host(THIS_HOST), Host("db1.ipa.test"), Host("web1.ipa.test"))
    hostgroups: tuple[HostGroup, ...] = (
        HostGroup("webservers", hosts=("web1.ipa.test",)),
        HostGroup("clients", hosts=(THIS_HOST,)),
        HostGroup("production", groups=("webservers",), hosts=("db1.ipa.test",)),
    )
    suffix: str = SUFFIX
    passwords: dict[str, str] = field(default_factory=dict)

    def password(self, name: str) -> str:
        """Every user and host gets a password derived from its name (a lab, not a secret)."""
        return self.passwords.get(name, f"Lab-{name}-Secret1")

    def user(self, uid: str) -> User:
        return next(u for u in self.users if u.uid == uid)

    def host(self, fqdn: str) -> Host:
        return next(h for h in self.hosts if h.fqdn == fqdn)

    def groups_of(self, uid: str) -> set[str]:
        """All groups of a user, nested membership included (what SSSD must report)."""
        direct = {g.name for g in self.groups if uid in g.users}
        found = set(direct)
        changed = True
        while changed:
            changed = False
            for g in self.groups:
                if g.name not in found and found.intersection(g.groups):
                    found.add(g.name)
                    changed = True
        return found

    def entries(self) -> list[Entry]:
        s = self.suffix
        entries: list[Entry] = [
            (f"cn=accounts,{s}", _container("accounts")),
            *[(f"{rdn},{s}", _container(rdn.split(",")[0][3:])) for rdn in _ACCOUNT_CONTAINERS],
            (f"cn=etc,{s}", _container("etc")),
            (layout.container_dn(s), _container(layout.CONTAINER_RDN[1])),
        ]
        uid_dn = {u.uid: u.dn(s) for u in self.users}
        group_dn = {g.name: g.dn(s) for g in self.groups}
        host_dn = {h.fqdn: h.dn(s) for h in self.hosts}
        hostgroup_dn = {g.name: g.dn(s) for g in self.hostgroups}
        for u in self.users:
            entries.append((uid_dn[u.uid], self._user_attrs(u)))
        for u in self.users:  # FreeIPA's user private groups (made by its Managed Entries plugin)
            entries.append(
                (
                    f"cn={u.uid},{layout.GROUPS_RDN},{s}",
                    {"objectClass": ["top", "posixGroup"], "cn": [u.uid], "gidNumber": [str(u.number)]},
                )
            )
        for g in self.groups:
            members = [uid_dn[m] for m in g.users] + [group_dn[m] for m in g.groups]
            entries.append((group_dn[g.name], self._group_attrs(g, members)))
        for h in self.hosts:
            entries.append(
                (
                    host_dn[h.fqdn],
                    {
                        "objectClass": ["top", "nsHost", "ipaHost", "ipaObject", "krbPrincipalAux"],
                        "cn": [h.fqdn],
                        "fqdn": [h.fqdn],
                        "serverHostName": [h.fqdn.split(".")[0]],
                        "ipaUniqueID": [f"host-{h.fqdn}"],
                        "userPassword": [self.password(h.fqdn)],
                        # What a GSSAPI bind as the host maps through (FreeIPA's "Full Principal").
                        "krbPrincipalName": [f"host/{h.fqdn}@{DOMAIN.upper()}"],
                    },
                )
            )
        for hg in self.hostgroups:
            members = [host_dn[m] for m in hg.hosts] + [hostgroup_dn[m] for m in hg.groups]
            attrs = {
                "objectClass": ["top", "groupOfNames", "nestedGroup", "ipaHostGroup", "ipaObject"],
                "cn": [hg.name],
                "ipaUniqueID": [f"hostgroup-{hg.name}"],
            }
            if members:
                attrs["member"] = members
            entries.append((hostgroup_dn[hg.name], attrs))
        return entries

    def _user_attrs(self, u: User) -> dict[str, list[str]]:
        return {
            "objectClass": [
                "top",
                "person",
                "organizationalPerson",
                "inetOrgPerson",
                "posixAccount",
                "ipaObject",
            ],
            "uid": [u.uid],
            "cn": [u.uid.capitalize()],
            "sn": [u.uid.capitalize()],
            "uidNumber": [str(u.number)],
            "gidNumber": [str(u.number)],
            "homeDirectory": [f"/home/{u.uid}"],
            "loginShell": [u.shell],
            "ipaUniqueID": [f"user-{u.uid}"],
            "userPassword": [self.password(u.uid)],
        }

    def _group_attrs(self, g: Group, members: list[str]) -> dict[str, list[str]]:
        attrs = {
            "objectClass": ["top", "groupOfNames", "nestedGroup", "ipaUserGroup", "ipaObject", "posixGroup"],
            "cn": [g.name],
            "gidNumber": [str(g.number)],
            "ipaUniqueID": [f"group-{g.name}"],
        }
        if members:
            attrs["member"] = members
        return attrs


_ACCOUNT_CONTAINERS = (layout.USERS_RDN, layout.GROUPS_RDN, layout.HOSTS_RDN, layout.HOSTGROUPS_RDN)


def _container(name: str) -> dict[str, list[str]]:
    return {"objectClass": ["top", "nsContainer"], "cn": [name]}


def read_access_aci(suffix: str) -> str:
    """Authenticated principals (hosts included) read accounts, as FreeIPA's read permissions allow."""
    return (
        '(targetattr != "userPassword")(version 3.0; acl "lab: authenticated principals read accounts"; '
        'allow (read, search, compare) userdn = "ldap:///all";)'
    )
