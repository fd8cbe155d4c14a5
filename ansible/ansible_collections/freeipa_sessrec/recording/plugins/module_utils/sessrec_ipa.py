# Copyright: FreeIPA session recording developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Session recording rules over FreeIPA's JSON-RPC: the option table, parameter checks, the plan of
commands that brings a rule to the wanted state, the diff, the connection and the execution.

Everything but `connect` and `execute` is pure, so it is tested without a server. The table mirrors the
project's option table (ipa_plugin/policy/options.py); tests/test_ansible_module.py fails when they differ.
"""

import copy
import re

# One entry per rule setting: module option, the plugin's JSON-RPC param (the LDAP attribute, lower-cased),
# type, choices, inclusive bounds, aliases.
SETTINGS = (
    ("kind", "ipasessionrecordingkind", "str", ("record", "exempt"), None, ()),
    ("priority", "ipasessionrecordingpriority", "int", (), (0, 1000), ()),
    ("log_input", "ipasessionrecordingloginput", "bool", (), None, ()),
    ("log_output", "ipasessionrecordinglogoutput", "bool", (), None, ()),
    ("log_window", "ipasessionrecordinglogwindow", "bool", (), None, ()),
    ("notice", "ipasessionrecordingnotice", "str", (), None, ()),
    ("latency", "ipasessionrecordinglatency", "int", (), (1, 3600), ()),
    ("payload", "ipasessionrecordingpayload", "int", (), (256, 3072), ()),
    ("rate", "ipasessionrecordingratelimit", "int", (), (1024, 2**31 - 1), ()),
    ("burst", "ipasessionrecordingburst", "int", (), (4096, 2**31 - 1), ()),
    ("limit_action", "ipasessionrecordinglimitaction", "str", ("pass", "delay", "drop"), None, ()),
    ("audit_commands", "ipasessionrecordingauditcommands", "bool", (), None, ()),
    ("watch_paths", "ipasessionrecordingwatchpath", "list", (), None, ("watch",)),
    ("transfers", "ipasessionrecordingtransfers", "str", ("record", "metadata", "refuse"), None, ()),
)
SETTING_NAMES = tuple(s[0] for s in SETTINGS)
CHOICES = dict((s[0], s[3]) for s in SETTINGS)
PARAM = dict((s[0], s[1]) for s in SETTINGS)
PARAM.update(description="description", usercategory="usercategory", hostcategory="hostcategory")
NOTICE_MAX = 1024
RULE_NAME = re.compile(r"^[a-zA-Z0-9_.][a-zA-Z0-9_.-]{0,254}$")
WATCH_PATH = re.compile(r"^([rwxa]+):(/.*)$")
MEMBERS = (
    ("user", "memberuser_user"),
    ("group", "memberuser_group"),
    ("host", "memberhost_host"),
    ("hostgroup", "memberhost_hostgroup"),
)
MEMBER_COMMAND = {"user": "user", "group": "user", "host": "host", "hostgroup": "host"}
RULE_KEYS = ("description", "usercategory", "hostcategory") + SETTING_NAMES
ACTIONS = ("rule", "member")
STATES = ("present", "absent", "enabled", "disabled")


def argument_spec():
    """The module's options (the connection's included)."""
    spec = dict(
        name=dict(type="list", elements="str", required=True, aliases=["cn"]),
        description=dict(type="str"),
        usercategory=dict(type="str", choices=["all", ""], aliases=["usercat"]),
        hostcategory=dict(type="str", choices=["all", ""], aliases=["hostcat"]),
        user=dict(type="list", elements="str"),
        group=dict(type="list", elements="str"),
        host=dict(type="list", elements="str"),
        hostgroup=dict(type="list", elements="str"),
        action=dict(type="str", default="rule", choices=list(ACTIONS)),
        state=dict(type="str", default="present", choices=list(STATES)),
        ipaadmin_principal=dict(type="str", default="admin"),
        ipaadmin_password=dict(type="str", no_log=True),
        ipa_host=dict(type="str"),
        ipa_ca_cert=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
    )
    for name, _param, kind, choices, _bounds, aliases in SETTINGS:
        option = dict(type=kind)
        if kind == "list":
            option["elements"] = "str"
        if choices:
            option["choices"] = list(choices)
        if aliases:
            option["aliases"] = list(aliases)
        spec[name] = option
    return spec


def watch_path_error(value):
    """Why `value` is not a watched path `<permissions>:<absolute path>` (as the server checks it)."""
    match = WATCH_PATH.match(value)
    if match is None:
        return "must be <permissions>:<absolute path>, permissions from rwxa"
    perms, path = match.groups()
    if len(set(perms)) != len(perms):
        return "permissions must not repeat"
    if any(c in path for c in "\0\n\r\t"):
        return "path must not contain control characters"
    if len(path) > 4096:
        return "path is too long"
    parts = path.split("/")[1:]
    if path != "/" and (path.endswith("/") or any(p in ("", ".", "..") for p in parts)):
        return "path must be normalized (no empty, '.' or '..' components, no trailing '/')"
    return None


def _value_error(name, kind, bounds, value):
    if kind == "int" and bounds is not None and not bounds[0] <= value <= bounds[1]:
        return f"{name} must be between {bounds[0]} and {bounds[1]}, not {value}"
    if name == "notice" and len(value) > NOTICE_MAX:
        return f"notice must be at most {NOTICE_MAX} characters"
    if name == "watch_paths":
        for item in value:
            error = watch_path_error(item)
            if error:
                return f"watch_paths: {item!r} {error}"
    return None


def check_params(params):
    """Why these (already type-checked) parameters cannot be used together; None when they can."""
    names, state, action = params["name"], params["state"], params["action"]
    if not names:
        return "name: give at least one rule name"
    for name in names:
        if not RULE_NAME.match(name):
            return f"name: {name!r} is not a valid rule name (letters, digits, _ . -; not starting with -)"
    given = [k for k in RULE_KEYS if params.get(k) is not None]
    members = [k for k, _attr in MEMBERS if params.get(k) is not None]
    if state in ("enabled", "disabled"):
        if action == "member":
            return f"action member cannot be used with state {state}"
        if given or members:
            return f"state {state} takes only name, not {', '.join(given + members)}"
        return None
    if action == "member":
        if given:
            return f"action member takes only name and members, not {', '.join(given)}"
        if not members:
            return "action member needs user, group, host or hostgroup"
        return None
    if state == "absent":
        if given or members:
            return f"state absent with action rule takes only name, not {', '.join(given + members)}"
        return None
    if len(names) != 1:
        return "state present with action rule takes exactly one name"
    for category, kinds in (("usercategory", ("user", "group")), ("hostcategory", ("host", "hostgroup"))):
        named = [k for k in kinds if params.get(k)]
        if params.get(category) == "all" and named:
            return f"{category} all cannot be combined with {' or '.join(named)}"
    for name, _param, kind, _choices, bounds, _aliases in SETTINGS:
        if params.get(name) is not None:
            error = _value_error(name, kind, bounds, params[name])
            if error:
                return error
    return None


# -- the rule as FreeIPA shows it ----------------------------------------------------------------------
def _first(value):
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _bool(value):
    value = _first(value)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.upper() == "TRUE"
    return bool(value)


def _normalize(name, kind, value):
    """A setting's value as the module compares it (None: unset on the rule)."""
    if kind == "list":
        if value is None:
            return None
        values = [value] if isinstance(value, str) else list(value)
        return sorted(set(str(v) for v in values if str(v) != "")) or None
    value = _first(value)
    if value is None or value == "":
        return None
    if kind == "bool":
        return _bool(value)
    if kind == "int":
        return int(value)
    return str(value).lower() if CHOICES.get(name) else str(value)


def rule_from_ipa(result):
    """The rule in the module's terms from a sessionrecording_show result (None: no such rule)."""
    if result is None:
        return None
    rule = {
        "name": str(_first(result.get("cn"))),
        "description": str(_first(result.get("description")) or ""),
        "usercategory": str(_first(result.get("usercategory")) or "").lower(),
        "hostcategory": str(_first(result.get("hostcategory")) or "").lower(),
        "enabled": _bool(result.get("ipaenabledflag")) is not False,
    }
    for key, attr in MEMBERS:
        rule[key] = sorted(str(v).lower() for v in result.get(attr) or [])
    for name, param, kind, _choices, _bounds, _aliases in SETTINGS:
        rule[name] = _normalize(name, kind, result.get(param))
    return rule


def _wanted_settings(params):
    out = {}
    for key in ("description", "usercategory", "hostcategory"):
        if params.get(key) is not None:
            out[key] = params[key]
    for name, _param, kind, _choices, _bounds, _aliases in SETTINGS:
        if params.get(name) is not None:
            out[name] = _normalize(name, kind, params[name])
    return out


def _ipa_value(value):
    """The JSON-RPC value that sets a setting; an empty string removes it."""
    return "" if value is None else value


def _members_wanted(params):
    return dict(
        (k, sorted(set(v.lower() for v in params[k]))) for k, _a in MEMBERS if params.get(k) is not None
    )


def _member_commands(method, name, changes):
    """sessionrecording_{add,remove}_{user,host} commands for {kind: [names]}."""
    commands = []
    for target in ("user", "host"):
        options = dict((k, v) for k, v in sorted(changes.items()) if v and MEMBER_COMMAND[k] == target)
        if options:
            commands.append([f"sessionrecording_{method}_{target}", name, options])
    return commands


class PlanError(Exception):
    """The wanted state cannot be reached from the current one (e.g. a missing rule for action member)."""


def plan(params, current):
    """The commands, as [method, rule name, options], that bring the rules to the wanted state.

    `current` maps each rule name to rule_from_ipa()'s dict, or None when the rule does not exist."""
    state, action = params["state"], params["action"]
    commands = []
    for name in params["name"]:
        rule = current.get(name)
        if state in ("enabled", "disabled") or action == "member":
            if rule is None:
                raise PlanError(f"no session recording rule {name!r}")
        if state == "enabled" and not rule["enabled"]:
            commands.append(["sessionrecording_enable", name, {}])
        elif state == "disabled" and rule["enabled"]:
            commands.append(["sessionrecording_disable", name, {}])
        elif state == "absent" and action == "rule":
            if rule is not None:
                commands.append(["sessionrecording_del", name, {}])
        elif action == "member":
            wanted = _members_wanted(params)
            if state == "present":
                changes = dict((k, [m for m in v if m not in rule[k]]) for k, v in wanted.items())
                commands += _member_commands("add", name, changes)
            else:
                changes = dict((k, [m for m in v if m in rule[k]]) for k, v in wanted.items())
                commands += _member_commands("remove", name, changes)
        elif state == "present":
            commands += _plan_rule(params, name, rule)
    return commands


def _plan_rule(params, name, rule):
    settings = _wanted_settings(params)  # text settings: "" is unset; the others: None is unset
    members = _members_wanted(params)
    if rule is None:
        options = dict((PARAM[k], v) for k, v in settings.items() if v not in (None, ""))
        return [["sessionrecording_add", name, options]] + _member_commands("add", name, members)
    changed = dict((PARAM[k], _ipa_value(v)) for k, v in settings.items() if rule.get(k) != v)
    removed = dict((k, [m for m in rule[k] if m not in v]) for k, v in members.items())
    added = dict((k, [m for m in v if m not in rule[k]]) for k, v in members.items())
    commands = _member_commands("remove", name, removed)  # before a category becomes all
    if changed:
        commands.append(["sessionrecording_mod", name, changed])
    return commands + _member_commands("add", name, added)  # after a category is cleared


def predict(rule, commands, name):
    """The rule after `commands` (for --diff), from rule_from_ipa()'s dict or None."""
    by_param = dict((v, k) for k, v in PARAM.items())
    after = copy.deepcopy(rule)
    for method, target, options in commands:
        if target != name:
            continue
        if method == "sessionrecording_add":
            after = {"name": name, "description": "", "usercategory": "", "hostcategory": "", "enabled": True}
            after.update(dict((k, []) for k, _a in MEMBERS))
            after.update(dict((k, None) for k in SETTING_NAMES))
        if method in ("sessionrecording_add", "sessionrecording_mod"):
            for param, value in options.items():
                key = by_param[param]
                if key in ("description", "usercategory", "hostcategory"):
                    after[key] = value or ""
                else:
                    kind = [s[2] for s in SETTINGS if s[0] == key][0]
                    after[key] = _normalize(key, kind, value)
        elif method == "sessionrecording_del":
            after = None
        elif method in ("sessionrecording_enable", "sessionrecording_disable"):
            after["enabled"] = method.endswith("enable")
        else:
            adding = "_add_" in method
            for key, members in options.items():
                now = set(after[key])
                after[key] = sorted(now | set(members) if adding else now - set(members))
    return after


def member_failures(result):
    """The per-member errors FreeIPA reports in an add/remove member result's `failed` (no exception)."""
    problems = []
    for _attr, kinds in sorted((result.get("failed") or {}).items()):
        for kind, failures in sorted((kinds or {}).items()):
            for failure in failures or []:
                member, error = (
                    (list(failure) + ["", ""])[:2] if isinstance(failure, (list, tuple)) else (failure, "")
                )
                problems.append(f"{kind} {member}: {error or 'failed'}")
    return problems


# -- the server ----------------------------------------------------------------------------------------
def default_server(path="/etc/ipa/default.conf"):
    """`server` of an enrolled host's default.conf, or None."""
    try:
        with open(path) as conf:
            text = conf.read()
    except OSError:
        return None
    match = re.search(r"(?m)^\s*server\s*=\s*(\S+)\s*$", text)
    return match.group(1) if match else None


def error_message(exc):
    """One line from a python-freeipa or requests exception."""
    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    if isinstance(message, dict):
        message = message.get("message") or str(message)
    return " ".join(str(message).split())


def connect(client_class, host, principal, password, verify):
    """A logged-in python-freeipa client (password login, or Kerberos from an existing ticket)."""
    client = client_class(host=host, verify_ssl=verify, dns_discovery=False)
    if password:
        client.login(principal, password)
    else:
        client.login_kerberos()
    return client


class CommandError(Exception):
    """A command failed on the server; the message is one line."""


def show(client, name):
    """The rule from the server, rule_from_ipa()'s dict or None when there is no such rule."""
    try:
        return rule_from_ipa(client._request("sessionrecording_show", [name], {"all": True})["result"])
    except Exception as exc:  # noqa: BLE001 - python-freeipa: NotFound (4001) for a missing rule; requests
        if getattr(exc, "code", None) == 4001 or exc.__class__.__name__ == "NotFound":
            return None
        raise CommandError(f"sessionrecording_show {name}: {error_message(exc)}") from None


def execute(client, commands):
    """Run the commands; stop at the first failure (server error or per-member failure)."""
    for method, name, options in commands:
        try:
            result = client._request(method, [name], options)
        except Exception as exc:  # noqa: BLE001 - python-freeipa and requests raise many kinds
            raise CommandError(f"{method} {name}: {error_message(exc)}") from None
        problems = member_failures(result if isinstance(result, dict) else {})
        if problems:
            raise CommandError(f"{method} {name}: {'; '.join(problems)}")
