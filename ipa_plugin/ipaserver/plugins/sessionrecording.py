#
# Session recording rules for FreeIPA: which users are recorded on which hosts, and how.
#
# Installed into <python sitelib>/ipaserver/plugins/ next to FreeIPA's own plugins; the package
# ipa_plugin (its policy package and access.py) is installed into the sitelib with it. See docs/plugin.md.
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""FreeIPA server plugin: the sessionrecording object and its commands (written in FreeIPA's style)."""

import dataclasses

from ipalib import Bool, Flag, Int, Method, Object, Str, StrEnum, _, errors, ngettext, output
from ipalib.plugable import Registry
from ipapython.dn import DN
from ipaserver.plugins.baseldap import (
    LDAPAddMember,
    LDAPCreate,
    LDAPDelete,
    LDAPObject,
    LDAPQuery,
    LDAPRemoveMember,
    LDAPRetrieve,
    LDAPSearch,
    LDAPUpdate,
    pkey_to_value,
)
from ipaserver.plugins.internal import i18n_messages

from ipa_plugin import access
from ipa_plugin.policy import dn as dns
from ipa_plugin.policy import layout, options, values
from ipa_plugin.policy import rules as policy_rules

__doc__ = _(
    """
Session recording rules

Decide centrally which users have their terminal sessions recorded on which
hosts, and how. A rule names users and user groups (or all users) and hosts
and host groups (or all hosts). A "record" rule records the sessions it
applies to; an "exempt" rule keeps them from being recorded.

When several rules apply to a session, only those with the highest priority
count. Among those, recording wins over exemption, and the recording options
combine: input, output, window changes and command audit are recorded when any
of them asks for it, watched paths are merged, and the other options come from
the first rule (by name) that sets them.

Hosts read the rules that apply to them with their own identity.

EXAMPLES:

 Record every session of the user group "contractors" on all hosts:
   ipa sessionrecording-add --hostcat=all contractors
   ipa sessionrecording-add-user --groups=contractors contractors

 Record input too, and audit the commands run on production hosts:
   ipa sessionrecording-add --log-input=TRUE --audit-commands=TRUE prod
   ipa sessionrecording-add-host --hostgroups=production prod
   ipa sessionrecording-add-user --groups=admins prod

 Do not record the backup service account anywhere:
   ipa sessionrecording-add --kind=exempt --priority=100 --hostcat=all backup
   ipa sessionrecording-add-user --users=backup backup

 Watch writes to /etc/shadow during recorded sessions:
   ipa sessionrecording-mod --watch=wa:/etc/shadow prod

 Disable a rule:
   ipa sessionrecording-disable prod

 Find the rules that name the user group "contractors" (directly):
   ipa sessionrecording-find --groups=contractors

 Is alice recorded on web1.example.com, by which rules, and how? (the same
 decision the host makes at login, with alice's groups and the host's
 host groups, nested ones included):
   ipa sessionrecording-test --user=alice --host=web1.example.com

 The same, as if only "prod" and the disabled rule "new-prod" existed:
   ipa sessionrecording-test --user=alice --host=web1.example.com \\
       --rules=prod --rules=new-prod

 The same with every enabled rule plus every disabled one:
   ipa sessionrecording-test --user=alice --host=web1.example.com \\
       --enabled --disabled
"""
)

register = Registry()


def _param(attr):
    """A param's name is its LDAP attribute's name, lower-cased as FreeIPA spells attributes."""
    return attr.lower()


MEMBER_USER = _param(layout.ATTR_MEMBER_USER)
MEMBER_HOST = _param(layout.ATTR_MEMBER_HOST)
USER_CATEGORY = _param(layout.ATTR_USER_CATEGORY)
HOST_CATEGORY = _param(layout.ATTR_HOST_CATEGORY)
ENABLED = _param(layout.ATTR_ENABLED)

OPTION_PARAMS = tuple(_param(a.attribute) for a in layout.OPTION_ATTRIBUTES)
MEMBERSHIP_ATTRS = (MEMBER_USER, MEMBER_HOST)
RULE_SETTING_ATTRS = (
    _param(layout.ATTR_NAME),
    _param(layout.ATTR_DESCRIPTION),
    USER_CATEGORY,
    HOST_CATEGORY,
    ENABLED,
) + OPTION_PARAMS


def _validate_watch_path(ugettext, value):
    error = values.watch_path_error(value)
    return None if error is None else ugettext(error)


def _is_all(value):
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value is not None and str(value).lower() == layout.CATEGORY_ALL


KIND = _param(options.KIND.attribute)
LOG_INPUT = _param(options.BY_NAME["log_input"].attribute)
LOG_OUTPUT = _param(options.BY_NAME["log_output"].attribute)


def _first(value):
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _as_bool(value, default):
    """A Bool param's value as the plugin or LDAP hands it over (bool, 'TRUE', b'FALSE', [..]); unset is
    the default."""
    value = _first(value)
    if value is None or value == "":
        return default
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return value.upper() == options.LDAP_TRUE
    return bool(value)


def _check_rule(ldap, dn, entry_attrs):
    """Checks across params that the params cannot make alone, on the rule as it will be stored.

    - A rule names members or applies to all users (hosts), not both.
    - A record rule records input or output: one that records neither would make hosts start recording
      sessions and write nothing of them, while the rule (and `sessionrecording-test`) says they are
      recorded. Checked when the kind or one of the two is set, so older rules stay editable.
    """
    wanted = [USER_CATEGORY, HOST_CATEGORY, MEMBER_USER, MEMBER_HOST, KIND, LOG_INPUT, LOG_OUTPUT]
    old = {}
    if dn is not None:
        try:
            old = ldap.get_entry(dn, wanted)
        except errors.NotFound:
            pass

    def current(attr):
        return entry_attrs[attr] if attr in entry_attrs else old.get(attr)

    for category, members, message in (
        (USER_CATEGORY, MEMBER_USER, _("user category cannot be 'all' while the rule names users or groups")),
        (
            HOST_CATEGORY,
            MEMBER_HOST,
            _("host category cannot be 'all' while the rule names hosts or hostgroups"),
        ),
    ):
        if _is_all(current(category)) and current(members):
            raise errors.MutuallyExclusiveError(reason=message)

    if not any(attr in entry_attrs for attr in (KIND, LOG_INPUT, LOG_OUTPUT)):
        return
    kind = str(_first(current(KIND)) or options.KIND.default).lower()
    records_io = _as_bool(current(LOG_INPUT), options.BY_NAME["log_input"].default) or _as_bool(
        current(LOG_OUTPUT), options.BY_NAME["log_output"].default
    )
    if kind == options.KIND_RECORD and not records_io:
        raise errors.ValidationError(
            name="log_output",
            error=_(
                "a record rule must record input or output (--log-input=TRUE or --log-output=TRUE); "
                "to stop recording these sessions, use --kind=exempt"
            ),
        )


_PARAM_CLASSES = {
    options.Type.BOOL: Bool,
    options.Type.INT: Int,
    options.Type.TEXT: Str,
    options.Type.CHOICE: StrEnum,
    options.Type.WATCH: Str,
}


def _setting_param(setting):
    """The param of one rule setting, from the option table.

    Kind, priority and the on/off options are stored on every rule (autofilled with their default); the
    other options stay unset unless given, so that "the first rule that sets it" means something."""
    kw = dict(cli_name=setting.cli_name, label=_(setting.label), doc=_(setting.doc))
    args = ()
    if setting.type is options.Type.INT:
        kw.update(minvalue=setting.bounds[0], maxvalue=setting.bounds[1])
    elif setting.type is options.Type.CHOICE:
        kw.update(values=setting.choices)
    elif setting.type is options.Type.TEXT and setting.max_length:
        kw.update(maxlength=setting.max_length)
    elif setting.type is options.Type.WATCH:
        args = (_validate_watch_path,)
    if setting.combine is options.Combine.RULE or setting.type is options.Type.BOOL:
        kw.update(default=setting.default, autofill=True)
    suffix = "*" if setting.multi_valued else "?"
    return _PARAM_CLASSES[setting.type](_param(setting.attribute) + suffix, *args, **kw)


# Web UI texts that are not param labels, through FreeIPA's translation mechanism: the web UI reads them
# as '@i18n:objects.sessionrecording.<key>' from the server's i18n_messages, as core pages read theirs.
UI_MESSAGES = {
    "sessionrecording": {
        "add": _("Add session recording rule"),
        "remove": _("Remove session recording rules"),
        "menu": _("Session Recording"),
        "user": _("Who"),
        "host": _("Where"),
        "recording": _("What is recorded"),
        "limits": _("Latency and limits"),
        "default": _("Default"),
        "add_users": _("Add users into session recording rule '${primary_key}'"),
        "add_groups": _("Add user groups into session recording rule '${primary_key}'"),
        "add_hosts": _("Add hosts into session recording rule '${primary_key}'"),
        "add_hostgroups": _("Add host groups into session recording rule '${primary_key}'"),
        "remove_users": _("Remove users from session recording rule '${primary_key}'"),
        "remove_groups": _("Remove user groups from session recording rule '${primary_key}'"),
        "remove_hosts": _("Remove hosts from session recording rule '${primary_key}'"),
        "remove_hostgroups": _("Remove host groups from session recording rule '${primary_key}'"),
        # One label per choice of each choice param, by value (the values come from the param's metadata).
        "choices": {
            _param(options.KIND.attribute): {
                options.KIND_RECORD: _("Record the sessions"),
                options.KIND_EXEMPT: _("Do not record the sessions (exempt)"),
            },
            _param(options.BY_NAME["limit_action"].attribute): {
                "pass": _("pass: record everything"),
                "delay": _("delay: slow the session down"),
                "drop": _("drop: lose what is above the rate"),
            },
            _param(options.BY_NAME["transfers"].attribute): {
                "record": _("record: their bytes, like any session"),
                "metadata": _("metadata: only the command and the byte counts"),
                "refuse": _("refuse them"),
            },
        },
    },
    "sessionrecordingtest": {
        "label": _("Session Recording Test"),
        "rules": _("Rules"),
        "outcome": _("Outcome"),
        "deciding": _("Decides"),
        "overridden": _("Matched, overridden"),
        "notmatched": _("Not matched"),
        "result": _("Result"),
    },
}
i18n_messages.messages["objects"].update(UI_MESSAGES)

# The params an exempt rule ignores (the option table's applies_to_exempt); shipped in the object's
# metadata so the web UI hides them on exempt rules without a list of its own.
RECORD_ONLY_PARAMS = [_param(s.attribute) for s in options.SETTINGS if not s.applies_to_exempt]


@register()
class sessionrecording(LDAPObject):
    """Session recording rule."""

    container_dn = DN(layout.CONTAINER_RDN)
    object_name = _("session recording rule")
    object_name_plural = _("session recording rules")
    object_class = [c.lower() for c in layout.RULE_OBJECTCLASSES if c.lower() != "top"]
    permission_filter_objectclasses = [layout.RULE_OBJECTCLASS.lower()]
    default_attributes = list(RULE_SETTING_ATTRS + MEMBERSHIP_ATTRS)
    search_attributes = [_param(layout.ATTR_NAME), _param(layout.ATTR_DESCRIPTION)]
    search_display_attributes = [
        _param(layout.ATTR_NAME),
        ENABLED,
        _param(layout.ATTR_KIND),
        _param(layout.ATTR_PRIORITY),
        _param(layout.ATTR_DESCRIPTION),
    ]
    uuid_attribute = _param(layout.ATTR_UNIQUE_ID)
    allow_rename = True
    record_only_params = RECORD_ONLY_PARAMS
    json_friendly_attributes = LDAPObject.json_friendly_attributes + ("record_only_params",)
    attribute_members = {
        MEMBER_USER: ["user", "group"],
        MEMBER_HOST: ["host", "hostgroup"],
    }
    managed_permissions = {
        "System: Read Session Recording Rules": {
            "ipapermbindruletype": "permission",
            "ipapermright": {"read", "search", "compare"},
            "ipapermdefaultattr": {"objectclass", _param(layout.ATTR_UNIQUE_ID)}
            | set(RULE_SETTING_ATTRS + MEMBERSHIP_ATTRS),
            "default_privileges": {access.PRIVILEGE},
        },
        "System: Add Session Recording Rules": {
            "ipapermright": {"add"},
            "default_privileges": {access.PRIVILEGE},
        },
        "System: Modify Session Recording Rules": {
            "ipapermright": {"write"},
            "ipapermdefaultattr": set(RULE_SETTING_ATTRS),
            "default_privileges": {access.PRIVILEGE},
        },
        "System: Delete Session Recording Rules": {
            "ipapermright": {"delete"},
            "default_privileges": {access.PRIVILEGE},
        },
        "System: Manage Session Recording Rule Membership": {
            "ipapermright": {"write"},
            "ipapermdefaultattr": set(MEMBERSHIP_ATTRS),
            "default_privileges": {access.PRIVILEGE},
        },
    }

    label = _("Session Recording Rules")
    label_singular = _("Session Recording Rule")

    takes_params = (
        Str(
            _param(layout.ATTR_NAME),
            cli_name="name",
            label=_("Rule name"),
            primary_key=True,
            pattern=values.RULE_NAME_PATTERN,
            pattern_errmsg=values.RULE_NAME_ERROR,
        ),
        Str(
            _param(layout.ATTR_DESCRIPTION) + "?",
            cli_name="desc",
            label=_("Description"),
        ),
        StrEnum(
            USER_CATEGORY + "?",
            cli_name="usercat",
            label=_("User category"),
            doc=_("User category the rule applies to"),
            values=(layout.CATEGORY_ALL,),
        ),
        StrEnum(
            HOST_CATEGORY + "?",
            cli_name="hostcat",
            label=_("Host category"),
            doc=_("Host category the rule applies to"),
            values=(layout.CATEGORY_ALL,),
        ),
        Bool(
            ENABLED + "?",
            label=_("Enabled"),
            flags=["no_option"],
        ),
        *(_setting_param(s) for s in options.SETTINGS),
        Str(
            MEMBER_USER + "_user?",
            label=_("Users"),
            flags=["no_create", "no_update", "no_search"],
        ),
        Str(
            MEMBER_USER + "_group?",
            label=_("User Groups"),
            flags=["no_create", "no_update", "no_search"],
        ),
        Str(
            MEMBER_HOST + "_host?",
            label=_("Hosts"),
            flags=["no_create", "no_update", "no_search"],
        ),
        Str(
            MEMBER_HOST + "_hostgroup?",
            label=_("Host Groups"),
            flags=["no_create", "no_update", "no_search"],
        ),
    )


@register()
class sessionrecording_add(LDAPCreate):
    __doc__ = _("Create a new session recording rule.")

    msg_summary = _('Added session recording rule "%(value)s"')

    def pre_callback(self, ldap, dn, entry_attrs, attrs_list, *keys, **options):
        assert isinstance(dn, DN)
        entry_attrs[ENABLED] = True  # rules are enabled when created
        _check_rule(ldap, None, entry_attrs)
        return dn


@register()
class sessionrecording_del(LDAPDelete):
    __doc__ = _("Delete a session recording rule.")

    msg_summary = _('Deleted session recording rule "%(value)s"')


@register()
class sessionrecording_mod(LDAPUpdate):
    __doc__ = _("Modify a session recording rule.")

    msg_summary = _('Modified session recording rule "%(value)s"')

    def pre_callback(self, ldap, dn, entry_attrs, attrs_list, *keys, **options):
        assert isinstance(dn, DN)
        _check_rule(ldap, dn, entry_attrs)
        return dn


@register()
class sessionrecording_find(LDAPSearch):
    __doc__ = _("Search for session recording rules.")

    # --users/--groups/--hosts/--hostgroups and their --no-... forms: rules that name (or do not name)
    # these members directly. Who a rule applies to through groups and categories: sessionrecording-test.
    member_attributes = [MEMBER_USER, MEMBER_HOST]

    msg_summary = ngettext(
        "%(count)d session recording rule matched",
        "%(count)d session recording rules matched",
        0,
    )


@register()
class sessionrecording_show(LDAPRetrieve):
    __doc__ = _("Display the properties of a session recording rule.")


class _set_enabled(LDAPQuery):
    """Set ipaEnabledFlag; setting the value a rule already has is not an error."""

    enabled = True
    has_output = output.standard_value

    def execute(self, cn, **options):
        ldap = self.obj.backend
        dn = self.obj.get_dn(cn)
        try:
            entry = ldap.get_entry(dn, [ENABLED])
        except errors.NotFound:
            raise self.obj.handle_not_found(cn) from None
        entry[ENABLED] = [self.enabled]
        try:
            ldap.update_entry(entry)
        except errors.EmptyModlist:
            pass
        return dict(result=True, value=pkey_to_value(cn, options))


@register()
class sessionrecording_enable(_set_enabled):
    __doc__ = _("Enable a session recording rule.")

    msg_summary = _('Enabled session recording rule "%(value)s"')
    enabled = True


@register()
class sessionrecording_disable(_set_enabled):
    __doc__ = _("Disable a session recording rule.")

    msg_summary = _('Disabled session recording rule "%(value)s"')
    enabled = False


def _refuse_members_with_category(obj, ldap, dn, keys, category, message):
    try:
        entry = ldap.get_entry(dn, [category])
    except errors.NotFound:
        raise obj.handle_not_found(*keys) from None
    if _is_all(entry.get(category)):
        raise errors.MutuallyExclusiveError(reason=message)
    return entry.dn


@register()
class sessionrecording_add_user(LDAPAddMember):
    __doc__ = _("Add users and groups to a session recording rule.")

    member_attributes = [MEMBER_USER]
    member_count_out = ("%i object added.", "%i objects added.")

    def pre_callback(self, ldap, dn, found, not_found, *keys, **options):
        assert isinstance(dn, DN)
        return _refuse_members_with_category(
            self.obj, ldap, dn, keys, USER_CATEGORY, _("users cannot be added when user category='all'")
        )


@register()
class sessionrecording_remove_user(LDAPRemoveMember):
    __doc__ = _("Remove users and groups from a session recording rule.")

    member_attributes = [MEMBER_USER]
    member_count_out = ("%i object removed.", "%i objects removed.")


@register()
class sessionrecording_add_host(LDAPAddMember):
    __doc__ = _("Add hosts and hostgroups to a session recording rule.")

    member_attributes = [MEMBER_HOST]
    member_count_out = ("%i object added.", "%i objects added.")

    def pre_callback(self, ldap, dn, found, not_found, *keys, **options):
        assert isinstance(dn, DN)
        return _refuse_members_with_category(
            self.obj, ldap, dn, keys, HOST_CATEGORY, _("hosts cannot be added when host category='all'")
        )


@register()
class sessionrecording_remove_host(LDAPRemoveMember):
    __doc__ = _("Remove hosts and hostgroups from a session recording rule.")

    member_attributes = [MEMBER_HOST]
    member_count_out = ("%i object removed.", "%i objects removed.")


# -- sessionrecording-test: the host's decision, simulated on the server ------------------------------------
_RESULT_PARAM_CLASSES = {options.Type.BOOL: Bool, options.Type.INT: Int}


def _result_param(setting):
    """The param that shows one effective recording option in sessionrecording-test's result."""
    suffix = "*" if setting.multi_valued else "?"
    return _RESULT_PARAM_CLASSES.get(setting.type, Str)(
        _param(setting.attribute) + suffix, label=_(setting.label), doc=_(setting.doc)
    )


def select_rules(all_rules, names, enabled=False, disabled=False):
    """The rules sessionrecording-test evaluates, chosen as hbactest chooses, and the names given that are
    no rule. Named rules count as enabled; so do all disabled ones with `disabled`; all enabled ones
    count with `enabled`, and without names and `disabled` (the default)."""
    include_enabled = enabled or not (names or disabled)
    wanted = {n.casefold(): n for n in names}
    tested = []
    for rule in all_rules:
        if wanted.pop(rule.name.casefold(), None) is not None or (disabled and not rule.enabled):
            tested.append(dataclasses.replace(rule, enabled=True))
        elif include_enabled and rule.enabled:
            tested.append(rule)
    return tested, sorted(wanted.values())


def simulate(tested, user, groups, host, hostgroups):
    """sessionrecording-test's output: `decide()`, the function the hosts run, on the tested rules, with
    the deciding rules and their priority, the rules that applied but lost, the ones that did not apply,
    and the effective recording options (by param name, unset text and empty lists left out)."""
    decision = policy_rules.decide(tested, host, hostgroups, user, groups)
    decided = set(decision.rules) | set(decision.overridden)
    result = dict(
        user=user,
        host=host,
        usergroups=sorted(groups),
        hostgroups=sorted(hostgroups),
        recorded=decision.record,
        deciding=list(decision.rules),
        overridden=list(decision.overridden),
        notmatched=sorted(r.name for r in tested if r.name not in decided),
    )
    if decision.rules:
        top = max(r.priority for r in tested if r.name in decision.rules)
        message = _("recorded by %(rules)s (priority %(priority)d)")
        if not decision.record:
            message = _("exempted by %(rules)s (priority %(priority)d)")
        result.update(priority=top, reason=str(message % dict(rules=", ".join(decision.rules), priority=top)))
    else:
        result.update(reason=str(_("no rule applies")))
    if decision.record:
        for name, value in options.as_dict(decision.options).items():
            result[_param(options.BY_NAME[name].attribute)] = value
    summary = (
        _("%(user)s is recorded on %(host)s")
        if decision.record
        else _("%(user)s is not recorded on %(host)s")
    )
    return dict(
        summary=str(summary % dict(user=user, host=host)),
        result={k: v for k, v in result.items() if v not in ([], "")},
        value=decision.record,
    )


@register()
class sessionrecordingtest(Object):
    """The outcome of sessionrecording-test: its params label the result's fields (CLI and web UI)."""

    takes_params = (
        Str("user?", label=_("User name")),
        Str("host?", label=_("Host")),
        Str("usergroups*", label=_("User groups")),
        Str("hostgroups*", label=_("Host groups")),
        Bool("recorded?", label=_("Recorded")),
        Str("reason?", label=_("Reason")),
        Str("deciding*", label=_("Deciding rules")),
        Int("priority?", label=_("Deciding priority")),
        Str("overridden*", label=_("Matched but overridden rules")),
        Str("notmatched*", label=_("Not matched rules")),
        Str("error*", label=_("Non-existent rules")),
        *(_result_param(s) for s in options.OPTIONS),
    )


@register()
class sessionrecording_test(Method):
    __doc__ = _(
        "Simulate the session recording decision for a user on a host (the decision the host makes at "
        "login, with the user's groups and the host's host groups, nested ones included)."
    )

    obj_name = "sessionrecordingtest"
    attr_name = "run"

    takes_options = (
        Str("user", cli_name="user", label=_("User name")),
        Str("host", cli_name="host", label=_("Host")),
        Str(
            "rules*",
            cli_name="rules",
            label=_("Rules to test. If not specified, --enabled is assumed"),
        ),
        Flag(
            "enabled?",
            cli_name="enabled",
            label=_("Include all enabled session recording rules into the test [default]"),
        ),
        Flag(
            "disabled?",
            cli_name="disabled",
            label=_("Include all disabled session recording rules into the test"),
        ),
    )

    has_output = (
        output.summary,
        output.Entry("result"),
        output.Output("value", bool, _("Whether the sessions are recorded"), ["no_display"]),
    )

    def execute(self, user, host, rules=None, enabled=False, disabled=False, **kw):
        ldap = self.api.Backend.ldap2
        suffix = str(self.api.env.basedn)
        uid, groups = self._user(ldap, user, suffix)
        fqdn, hostgroups = self._host(ldap, host, suffix)
        tested, unresolved = select_rules(self._rules(ldap, suffix), list(rules or ()), enabled, disabled)
        if unresolved:
            return dict(
                summary=str(_("Unresolved rules in --rules")), result=dict(error=unresolved), value=False
            )
        return simulate(tested, uid, groups, fqdn, hostgroups)

    def _user(self, ldap, name, suffix):
        """The user's name and groups as the host's SSSD reports them: every group (memberOf lists the
        nested ones too) and the primary group, the one whose gidNumber the user has."""
        obj = self.api.Object.user
        try:
            entry = ldap.get_entry(obj.get_dn(name), ["uid", "memberof", "gidnumber"])
        except errors.NotFound:
            raise obj.handle_not_found(name) from None
        groups = {dns.name_under(str(m), "cn", layout.GROUPS_RDN, suffix) for m in entry.get("memberof", [])}
        gid = entry.single_value.get("gidnumber")
        if gid is not None:
            base = DN(self.api.env.container_group, self.api.env.basedn)
            try:
                found = ldap.get_entries(
                    base, ldap.SCOPE_ONELEVEL, f"(&(objectClass=posixGroup)(gidNumber={int(gid)}))", ["cn"]
                )
            except errors.NotFound:
                found = []
            groups.update(e.single_value["cn"] for e in found)
        groups.discard(None)
        return entry.single_value["uid"], groups

    def _host(self, ldap, name, suffix):
        """The host's name and host groups (memberOf lists the nested ones too), as the host reads them."""
        obj = self.api.Object.host
        try:
            entry = ldap.get_entry(obj.get_dn(name), ["fqdn", "memberof"])
        except errors.NotFound:
            raise obj.handle_not_found(name) from None
        hostgroups = policy_rules.hostgroups_of([str(m) for m in entry.get("memberof", [])], suffix)
        return entry.single_value["fqdn"], set(hostgroups)

    def _rules(self, ldap, suffix):
        """Every rule the caller may read, parsed as a host parses it."""
        base = DN(self.api.Object.sessionrecording.container_dn, self.api.env.basedn)
        try:
            entries = ldap.get_entries(
                base,
                ldap.SCOPE_ONELEVEL,
                f"(objectClass={layout.RULE_OBJECTCLASS})",
                list(layout.RULE_ATTRIBUTES),
                size_limit=0,
                paged_search=True,
            )
        except errors.NotFound:
            return []
        return [policy_rules.Rule.from_entry(str(e.dn), e.raw, suffix) for e in entries]
