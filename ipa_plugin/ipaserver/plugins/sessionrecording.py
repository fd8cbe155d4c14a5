#
# Session recording rules for FreeIPA: which users are recorded on which hosts, and how.
#
# Installed into <python sitelib>/ipaserver/plugins/ next to FreeIPA's own plugins; the package
# ipa_plugin (its policy package and access.py) is installed into the sitelib with it. See docs/plugin.md.
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
"""FreeIPA server plugin: the sessionrecording object and its commands (written in FreeIPA's style)."""

from ipalib import Bool, Int, Str, StrEnum, _, errors, ngettext, output
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

from ipa_plugin import access
from ipa_plugin.policy import layout, options, values

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


def _check_categories(ldap, dn, entry_attrs):
    """Reject a rule that would name members and also apply to all users (or hosts)."""
    if dn is not None:
        try:
            old = ldap.get_entry(dn, [USER_CATEGORY, HOST_CATEGORY, MEMBER_USER, MEMBER_HOST])
        except errors.NotFound:
            old = {}
    else:
        old = {}
    for category, members, message in (
        (USER_CATEGORY, MEMBER_USER, _("user category cannot be 'all' while the rule names users or groups")),
        (
            HOST_CATEGORY,
            MEMBER_HOST,
            _("host category cannot be 'all' while the rule names hosts or hostgroups"),
        ),
    ):
        cat = entry_attrs[category] if category in entry_attrs else old.get(category)
        named = entry_attrs[members] if members in entry_attrs else old.get(members)
        if _is_all(cat) and named:
            raise errors.MutuallyExclusiveError(reason=message)


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
        _check_categories(ldap, None, entry_attrs)
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
        _check_categories(ldap, dn, entry_attrs)
        return dn


@register()
class sessionrecording_find(LDAPSearch):
    __doc__ = _("Search for session recording rules.")

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
