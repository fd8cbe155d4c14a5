"""The plugin's LDAP layout against the lab's real 389-ds: schema, host-side search, escaping and the
update file's access control (loaded from the shipped file)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap
import ldap.modlist
import ldap.schema
import pytest

from ipa_plugin import access
from ipa_plugin.policy import dn as dns
from ipa_plugin.policy import layout, options, rules
from sssd_helper import directory
from tests.ipa import updatefile
from tests.lab.lab import Lab

UPDATE_FILE = Path(__file__).resolve().parents[1] / "ipa_plugin" / "updates" / "75-sessionrecording.update"

Attrs = dict[str, list[str]]


def rule_entry(name: str, **attrs: list[str]) -> Attrs:
    """A rule entry as the server plugin writes it: classes, enabled flag, sessionrecording-add's defaults."""
    entry: Attrs = {
        "objectClass": list(layout.RULE_OBJECTCLASSES),
        layout.ATTR_NAME: [name],
        layout.ATTR_UNIQUE_ID: [str(uuid.uuid4())],
        layout.ATTR_ENABLED: [layout.LDAP_TRUE],
        layout.ATTR_KIND: [layout.KIND_RECORD],
        layout.ATTR_PRIORITY: ["0"],
        options.ATTRIBUTE["log_input"]: [layout.LDAP_FALSE],
        options.ATTRIBUTE["log_output"]: [layout.LDAP_TRUE],
        options.ATTRIBUTE["log_window"]: [layout.LDAP_TRUE],
        options.ATTRIBUTE["audit_commands"]: [layout.LDAP_FALSE],
    }
    entry.update(attrs)
    return entry


def add(conn: ldap.ldapobject.LDAPObject, dn: str, attrs: Attrs) -> str:
    conn.add_s(dn, ldap.modlist.addModlist({k: [v.encode() for v in vs] for k, vs in attrs.items()}))
    return dn


def delete_tree(conn: ldap.ldapobject.LDAPObject, dn: str) -> None:
    try:
        found = conn.search_s(dn, ldap.SCOPE_SUBTREE, "(objectClass=*)", ["1.1"])
    except ldap.NO_SUCH_OBJECT:
        return
    for child in sorted((d for d, _ in found), key=lambda d: -len(ldap.dn.str2dn(d))):
        conn.delete_s(child)


@pytest.fixture
def created(lab: Lab) -> Iterator[list[str]]:
    """DNs a test adds to the shared lab tree; deleted afterwards, deepest first."""
    dns: list[str] = []
    yield dns
    conn = lab.ldap()
    for dn in reversed(dns):
        delete_tree(conn, dn)


# -- schema ---------------------------------------------------------------------------------------------
def server_schema(lab: Lab) -> ldap.schema.SubSchema:
    conn = lab.ldap()
    found = conn.search_s(
        "cn=schema", ldap.SCOPE_BASE, "(objectClass=*)", ["attributeTypes", "objectClasses"]
    )
    return ldap.schema.SubSchema(found[0][1])


def test_schema_has_rule_class_and_option_attributes(lab: Lab) -> None:
    schema = server_schema(lab)
    rule = schema.get_obj(ldap.schema.ObjectClass, layout.RULE_OBJECTCLASS)
    assert rule is not None and rule.sup == ("ipaAssociation",) and rule.kind == 0  # STRUCTURAL
    must, may = schema.attribute_types([layout.RULE_OBJECTCLASS])
    names = {a.names[0].lower() for a in list(must.values()) + list(may.values())}
    inherited = (layout.ATTR_MEMBER_USER, layout.ATTR_MEMBER_HOST, layout.ATTR_USER_CATEGORY)
    inherited += (
        layout.ATTR_HOST_CATEGORY,
        layout.ATTR_ENABLED,
        layout.ATTR_DESCRIPTION,
        layout.ATTR_UNIQUE_ID,
    )
    assert {a.lower() for a in inherited} <= names
    for option in layout.OPTION_ATTRIBUTES:
        at = schema.get_obj(ldap.schema.AttributeType, option.attribute)
        assert at is not None, option.name
        syntax = layout.SYNTAX_BOOLEAN if option.type is options.Type.BOOL else at.syntax
        assert at.oid == layout.attribute_oid(option) and at.syntax == syntax
        assert bool(at.single_value) != option.multi_valued
        assert option.attribute.lower() in names
    assert set(layout.RULE_ATTRIBUTES) <= {n for a in (*must.values(), *may.values()) for n in a.names} | {
        "cn"
    }


def test_schema_rejects_bad_values(lab: Lab, created: list[str]) -> None:
    conn = lab.ldap()
    base = layout.container_dn(lab.data.suffix)
    name = f"bad-{uuid.uuid4().hex[:8]}"
    dn = dns.rule_dn(name, lab.data.suffix)
    cases = [
        ({layout.ATTR_PRIORITY: ["high"]}, ldap.INVALID_SYNTAX),
        ({options.ATTRIBUTE["latency"]: ["1.5"]}, ldap.INVALID_SYNTAX),
        ({options.ATTRIBUTE["log_input"]: ["yes"]}, ldap.INVALID_SYNTAX),
        ({layout.ATTR_ENABLED: ["on"]}, ldap.INVALID_SYNTAX),
        ({layout.ATTR_MEMBER_HOST: ["not a dn"]}, ldap.INVALID_SYNTAX),
        (
            {options.ATTRIBUTE["payload"]: ["64", "128"]},
            (ldap.CONSTRAINT_VIOLATION, ldap.OBJECT_CLASS_VIOLATION),
        ),
        ({options.ATTRIBUTE["notice"]: ["a", "b"]}, (ldap.CONSTRAINT_VIOLATION, ldap.OBJECT_CLASS_VIOLATION)),
        ({"fqdn": ["x.ipa.test"]}, ldap.OBJECT_CLASS_VIOLATION),  # not an attribute of the rule class
    ]
    for attrs, error in cases:
        with pytest.raises(error):
            add(conn, dn, rule_entry(name, **attrs))
    no_uid = rule_entry(name)
    del no_uid[layout.ATTR_UNIQUE_ID]
    with pytest.raises(ldap.OBJECT_CLASS_VIOLATION):  # ipaAssociation's MUST
        add(conn, dn, no_uid)
    created.append(
        add(conn, dn, rule_entry(name, **{options.ATTRIBUTE["watch_paths"]: ["r:/etc/a", "w:/etc/b"]}))
    )
    assert conn.search_s(base, ldap.SCOPE_ONELEVEL, f"(cn={name})", ["1.1"])


# -- the host's search in the lab tree ----------------------------------------------------------------
@dataclass
class Rules:
    prefix: str
    dns: list[str]


def host_conn(lab: Lab, fqdn: str) -> ldap.ldapobject.LDAPObject:
    return lab.ldap(dns.host_dn(fqdn, lab.data.suffix), lab.data.password(fqdn))


@pytest.fixture
def lab_rules(lab: Lab, created: list[str]) -> Rules:
    """Rules for: client1 directly, the clients hostgroup, production (nested: web1 via webservers), db1,
    all hosts, and a disabled rule for all hosts."""
    s = lab.data.suffix
    conn = lab.ldap()
    p = f"t{uuid.uuid4().hex[:6]}-"
    specs = {
        "direct": {layout.ATTR_MEMBER_HOST: [dns.host_dn("client1.ipa.test", s)]},
        "clients": {layout.ATTR_MEMBER_HOST: [dns.hostgroup_dn("clients", s)]},
        "production": {layout.ATTR_MEMBER_HOST: [dns.hostgroup_dn("production", s)]},
        "db1": {layout.ATTR_MEMBER_HOST: [dns.host_dn("db1.ipa.test", s)]},
        "everywhere": {layout.ATTR_HOST_CATEGORY: ["all"], layout.ATTR_PRIORITY: ["5"]},
        "disabled": {layout.ATTR_HOST_CATEGORY: ["all"], layout.ATTR_ENABLED: [layout.LDAP_FALSE]},
    }
    users = {layout.ATTR_MEMBER_USER: [dns.group_dn("staff", s)]}
    for name, attrs in specs.items():
        created.append(add(conn, dns.rule_dn(p + name, s), rule_entry(p + name, **users, **attrs)))
    return Rules(prefix=p, dns=list(created))


def seen(ruleset: rules.RuleSet, prefix: str) -> set[str]:
    return {r.name.removeprefix(prefix) for r in ruleset.rules if r.name.startswith(prefix)}


def test_host_fetches_exactly_its_rules_with_its_own_bind(lab: Lab, lab_rules: Rules) -> None:
    s, p = lab.data.suffix, lab_rules.prefix
    client1 = directory.fetch(host_conn(lab, "client1.ipa.test"), s, "client1.ipa.test")
    assert client1.hostgroups == {"clients"}
    assert seen(client1, p) == {"direct", "clients", "everywhere"}
    web1 = directory.fetch(host_conn(lab, "web1.ipa.test"), s, "web1.ipa.test")
    assert web1.hostgroups == {"webservers", "production"}  # nested: production holds webservers
    assert seen(web1, p) == {"production", "everywhere"}
    db1 = directory.fetch(host_conn(lab, "db1.ipa.test"), s, "db1.ipa.test")
    assert seen(db1, p) == {"production", "db1", "everywhere"}


def test_fetched_rules_decide_for_users_with_nested_groups(lab: Lab, lab_rules: Rules) -> None:
    client1 = directory.fetch(host_conn(lab, "client1.ipa.test"), lab.data.suffix, "client1.ipa.test")
    p = lab_rules.prefix
    ours = rules.RuleSet(
        rules=tuple(r for r in client1.rules if r.name.startswith(p)),
        host=client1.host,
        hostgroups=client1.hostgroups,
    )
    alice = ours.decide("alice", lab.data.groups_of("alice"))  # staff through developers
    assert alice.record and alice.rules == (p + "everywhere",)  # priority 5 beats the 0s
    assert not ours.decide("carol", lab.data.groups_of("carol")).record


def test_special_characters_in_host_names_are_escaped(lab: Lab, created: list[str]) -> None:
    """A host whose name is a filter injection attempt sees only its own and all-host rules."""
    s = lab.data.suffix
    conn = lab.ldap()
    tag = uuid.uuid4().hex[:6]
    fqdn = f'x*)(memberHost=*\\,=+<>;"#{tag}.ipa.test'
    password = "Lab-evil-host-Secret1"
    dn = dns.host_dn(fqdn, s)
    created.append(
        add(
            conn,
            dn,
            {
                "objectClass": ["top", "nsHost", "ipaHost", "ipaObject"],
                "cn": [fqdn],
                "fqdn": [fqdn],
                "ipaUniqueID": [f"host-{tag}"],
                "userPassword": [password],
            },
        )
    )
    p = f"e{tag}-"
    own = dns.rule_dn(p + "own,(x)=*", s)  # a rule name with DN- and filter-special characters
    created.append(add(conn, own, rule_entry(p + "own,(x)=*", **{layout.ATTR_MEMBER_HOST: [dn]})))
    created.append(
        add(
            conn,
            dns.rule_dn(p + "db1", s),
            rule_entry(p + "db1", **{layout.ATTR_MEMBER_HOST: [dns.host_dn("db1.ipa.test", s)]}),
        )
    )
    as_host = lab.ldap(dn, password)
    fetched = directory.fetch(as_host, s, fqdn)
    assert seen(fetched, p) == {"own,(x)=*"}
    assert fetched.rules and all(r.all_hosts or fqdn.casefold() in r.hosts for r in fetched.rules)
    # The same search unescaped would be an injection: it matches every rule naming any host.
    raw = f"(&(objectClass={layout.RULE_OBJECTCLASS})(|(memberHost={dn})))"
    try:
        injected = {d for d, _ in as_host.search_s(layout.container_dn(s), ldap.SCOPE_ONELEVEL, raw, ["1.1"])}
    except ldap.FILTER_ERROR:
        injected = set()
    assert injected != {own}


# -- the update file's access control, in a tree without the lab's global read ACI -------------------
ACL_BACKEND = "sessrecacl"
ACL_SUFFIX = "dc=acl,dc=test"


def _create_backend(conn: ldap.ldapobject.LDAPObject) -> None:
    add(
        conn,
        f"cn={ACL_BACKEND},cn=ldbm database,cn=plugins,cn=config",
        {
            "objectClass": ["top", "extensibleObject", "nsBackendInstance"],
            "cn": [ACL_BACKEND],
            "nsslapd-suffix": [ACL_SUFFIX],
        },
    )
    add(
        conn,
        f'cn="{ACL_SUFFIX}",cn=mapping tree,cn=config',
        {
            "objectClass": ["top", "extensibleObject", "nsMappingTree"],
            "cn": [ACL_SUFFIX],
            "nsslapd-state": ["backend"],
            "nsslapd-backend": [ACL_BACKEND],
        },
    )


def _drop_backend(conn: ldap.ldapobject.LDAPObject) -> None:
    delete_tree(conn, ACL_SUFFIX)
    for dn in (
        f'cn="{ACL_SUFFIX}",cn=mapping tree,cn=config',
        f"cn={ACL_BACKEND},cn=ldbm database,cn=plugins,cn=config",
    ):
        try:
            delete_tree(conn, dn)
        except ldap.LDAPError:
            pass


@dataclass
class AclTree:
    lab: Lab
    hosts: dict[str, str]  # fqdn -> DN
    user: str
    rule_names: dict[str, str]  # what the rule names -> rule name

    def conn(self, dn: str) -> ldap.ldapobject.LDAPObject:
        return self.lab.ldap(dn, "Acl-Secret-" + ldap.dn.str2dn(dn)[0][0][1])

    def readable_rules(self, dn: str) -> set[str]:
        found = self.conn(dn).search_s(
            layout.container_dn(ACL_SUFFIX), ldap.SCOPE_ONELEVEL, "(objectClass=*)", [layout.ATTR_NAME]
        )
        return {a[layout.ATTR_NAME][0].decode() for _, a in found if a}


@pytest.fixture(scope="module")
def acl_tree(lab: Lab) -> Iterator[AclTree]:
    """A second backend holding an IPA-shaped tree with FreeIPA-like access: nothing is readable except
    what an ACI grants (hosts read their own entry), plus the shipped update file."""
    conn = lab.ldap()
    _drop_backend(conn)
    _create_backend(conn)
    try:
        s = ACL_SUFFIX
        add(conn, s, {"objectClass": ["top", "domain"], "dc": ["acl"]})
        conn.modify_s(
            s,
            [
                (
                    ldap.MOD_ADD,
                    "aci",
                    [
                        b'(targetattr = "objectClass || fqdn || memberOf")(version 3.0; '
                        b'acl "test: a host reads its own entry"; allow (read, search, compare) '
                        b'userdn = "ldap:///self";)'
                    ],
                )
            ],
        )
        for rdn in ("cn=accounts", "cn=pbac", "cn=privileges,cn=pbac", *(f"{c}" for c in _ACCOUNT_RDNS)):
            add(conn, f"{rdn},{s}", {"objectClass": ["top", "nsContainer"], "cn": [rdn.split(",")[0][3:]]})
        updates = updatefile.load(UPDATE_FILE, s)
        updatefile.apply(conn, updates, lambda u: u.dn.lower().endswith(s))
        hosts = {}
        for fqdn in ("h1.acl.test", "h2.acl.test", "h3.acl.test"):
            hosts[fqdn] = add(
                conn,
                dns.host_dn(fqdn, s),
                {
                    "objectClass": ["top", "nsHost", "ipaHost", "ipaObject"],
                    "cn": [fqdn],
                    "fqdn": [fqdn],
                    "ipaUniqueID": [fqdn],
                    "userPassword": ["Acl-Secret-" + fqdn],
                },
            )
        hg = {"inner": [hosts["h2.acl.test"]], "outer": []}
        for name in ("inner", "outer"):
            attrs = {
                "objectClass": ["top", "groupOfNames", "nestedGroup", "ipaHostGroup", "ipaObject"],
                "cn": [name],
            }
            attrs["ipaUniqueID"] = [name]
            if hg[name]:
                attrs["member"] = hg[name]
            add(conn, dns.hostgroup_dn(name, s), attrs)
        conn.modify_s(
            dns.hostgroup_dn("outer", s),
            [(ldap.MOD_ADD, "member", [dns.hostgroup_dn("inner", s).encode()])],
        )
        user = add(
            conn,
            dns.user_dn("u1", s),
            {
                "objectClass": ["top", "person", "inetOrgPerson"],
                "uid": ["u1"],
                "cn": ["u1"],
                "sn": ["u1"],
                "userPassword": ["Acl-Secret-u1"],
            },
        )
        names = {
            "h1": ("r-h1", {layout.ATTR_MEMBER_HOST: [hosts["h1.acl.test"]]}),
            "outer": ("r-outer", {layout.ATTR_MEMBER_HOST: [dns.hostgroup_dn("outer", s)]}),
            "h3": ("r-h3", {layout.ATTR_MEMBER_HOST: [hosts["h3.acl.test"]]}),
            "all": ("r-all", {layout.ATTR_HOST_CATEGORY: ["all"]}),
        }
        for name, attrs in names.values():
            add(
                conn,
                dns.rule_dn(name, s),
                rule_entry(name, **{layout.ATTR_USER_CATEGORY: ["all"]}, **attrs),
            )
        yield AclTree(lab=lab, hosts=hosts, user=user, rule_names={k: v[0] for k, v in names.items()})
    finally:
        _drop_backend(lab.ldap())


_ACCOUNT_RDNS = (layout.USERS_RDN, layout.GROUPS_RDN, layout.HOSTS_RDN, layout.HOSTGROUPS_RDN)


def test_update_file_creates_container_with_host_acis_and_privilege(lab: Lab, acl_tree: AclTree) -> None:
    conn = lab.ldap()
    container = conn.search_s(
        layout.container_dn(ACL_SUFFIX), ldap.SCOPE_BASE, attrlist=["aci", "objectClass"]
    )[0][1]
    acis = {v.decode() for v in container["aci"]}
    assert set(access.host_acis(ACL_SUFFIX)) == acis
    privilege = f"cn={access.PRIVILEGE},cn=privileges,cn=pbac,{ACL_SUFFIX}"
    assert conn.search_s(privilege, ldap.SCOPE_BASE, attrlist=["cn"])[0][1]["cn"] == [
        access.PRIVILEGE.encode()
    ]


def test_update_file_parses_every_entry(lab: Lab) -> None:
    updates = updatefile.load(UPDATE_FILE, lab.data.suffix)
    dns = [u.dn for u in updates]
    assert layout.container_dn(lab.data.suffix) in dns
    index = [u for u in updates if ",cn=index," in u.dn]
    assert {u.values("only", "cn")[0] for u in index} == {a for a, _ in access.INDEXED_ATTRIBUTES}


def test_update_file_index_entries_load_into_389ds(lab: Lab, acl_tree: AclTree) -> None:
    conn = lab.ldap()
    updates = updatefile.load(UPDATE_FILE, ACL_SUFFIX)
    for u in updates:
        u.dn = u.dn.replace(f"cn={access.INDEX_BACKEND},", f"cn={ACL_BACKEND},")
    updatefile.apply(conn, updates, lambda u: ",cn=index," in u.dn)
    for attr, kinds in access.INDEXED_ATTRIBUTES:
        dn = f"cn={attr},cn=index,cn={ACL_BACKEND},cn=ldbm database,cn=plugins,cn=config"
        found = conn.search_s(dn, ldap.SCOPE_BASE, attrlist=["nsIndexType"])[0][1]
        assert {v.decode() for v in found["nsIndexType"]} == set(kinds)


def test_hosts_read_only_rules_that_name_them(acl_tree: AclTree) -> None:
    h, r = acl_tree.hosts, acl_tree.rule_names
    assert acl_tree.readable_rules(h["h1.acl.test"]) == {r["h1"], r["all"]}
    assert acl_tree.readable_rules(h["h2.acl.test"]) == {r["outer"], r["all"]}  # nested hostgroup
    assert acl_tree.readable_rules(h["h3.acl.test"]) == {r["h3"], r["all"]}


def test_users_and_anonymous_read_no_rules(lab: Lab, acl_tree: AclTree) -> None:
    assert (
        acl_tree.lab.ldap(acl_tree.user, "Acl-Secret-u1").search_s(
            layout.container_dn(ACL_SUFFIX), ldap.SCOPE_ONELEVEL, "(objectClass=*)", ["cn"]
        )
        == []
    )
    anonymous = ldap.initialize(lab.directory.ldap_uri)
    anonymous.simple_bind_s("", "")
    assert (
        anonymous.search_s(layout.container_dn(ACL_SUFFIX), ldap.SCOPE_ONELEVEL, "(objectClass=*)", ["cn"])
        == []
    )


def test_host_fetch_through_the_acis(acl_tree: AclTree) -> None:
    dn = acl_tree.hosts["h2.acl.test"]
    fetched = directory.fetch(acl_tree.conn(dn), ACL_SUFFIX, "h2.acl.test")
    assert fetched.hostgroups == {"inner", "outer"}
    assert {r.name for r in fetched.rules} == {acl_tree.rule_names["outer"], acl_tree.rule_names["all"]}
    assert fetched.decide("anyone", []).record
    # Every attribute the host fetches is readable, none is withheld by the ACI's targetattr.
    outer = next(r for r in fetched.rules if r.name == acl_tree.rule_names["outer"])
    assert outer.hostgroups == {"outer"} and outer.all_users and outer.option("log_output") is True
