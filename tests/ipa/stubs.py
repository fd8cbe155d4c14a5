"""Load the server plugin module without FreeIPA: ipalib, ipapython and ipaserver.plugins.baseldap are
replaced by recorders of what the module declares (param names, kinds and keywords, classes, registrations).

This checks the declarations against the schema in CI; `make test-ipa` runs the module on real FreeIPA.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "ipa_plugin" / "ipaserver" / "plugins" / "sessionrecording.py"


@dataclass
class Param:
    """What ipalib.Param gets: the spec (`name`, `name?`, `name*`, `name+`), validation rules, keywords."""

    spec: str
    rules: tuple[Any, ...] = ()
    kw: dict[str, Any] = field(default_factory=dict)
    kind: str = "Param"

    @property
    def name(self) -> str:
        return self.spec.rstrip("?*+")

    @property
    def required(self) -> bool:
        return not self.spec.endswith(("?", "*"))

    @property
    def multivalue(self) -> bool:
        return self.spec.endswith(("*", "+"))

    @property
    def flags(self) -> set[str]:
        return set(self.kw.get("flags", ()))


def _param_class(kind: str) -> type:
    def init(self: Param, spec: str, *rules: Any, **kw: Any) -> None:
        Param.__init__(self, spec, rules, kw, kind)

    return type(kind, (Param,), {"__init__": init})


class _Base:
    """Any FreeIPA base class: subclasses are recorded as they are."""

    json_friendly_attributes: tuple[str, ...] = ("name", "takes_params")


@dataclass
class Output:
    """What ipalib.output.Output gets: a name, the types, the doc (label) and flags."""

    name: str
    type: Any = None
    doc: Any = None
    flags: Any = ()


class IpaError(Exception):
    """FreeIPA's errors take keywords (name=, error=, reason=); the stand-ins keep them."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(kw)
        self.kw = kw


class I18nMessages:
    """FreeIPA's i18n_messages command (ipaserver.plugins.internal): only its message tree."""

    messages: dict[str, Any] = {"objects": {}}


@dataclass
class Registered:
    classes: dict[str, type] = field(default_factory=dict)
    i18n: dict[str, Any] = field(default_factory=dict)  # the i18n_messages tree after the module ran


def load_plugin(monkeypatch: pytest.MonkeyPatch) -> tuple[types.ModuleType, Registered]:
    registered = Registered()

    class Registry:
        def __call__(self, **kw: Any):  # noqa: ANN204 - decorator factory
            def decorate(cls: type) -> type:
                registered.classes[cls.__name__] = cls
                return cls

            return decorate

    ipalib = types.ModuleType("ipalib")
    for kind in ("Bool", "Int", "Str", "StrEnum", "Flag", "DNParam"):
        setattr(ipalib, kind, _param_class(kind))
    ipalib.Object, ipalib.Method = type("Object", (_Base,), {}), type("Method", (_Base,), {})  # type: ignore[attr-defined]
    ipalib._ = lambda s: s  # type: ignore[attr-defined]
    ipalib.ngettext = lambda singular, plural, n: singular  # type: ignore[attr-defined]
    errors = types.ModuleType("ipalib.errors")
    for name in ("NotFound", "EmptyModlist", "MutuallyExclusiveError", "ValidationError", "DuplicateEntry"):
        setattr(errors, name, type(name, (IpaError,), {}))
    output = types.ModuleType("ipalib.output")
    output.standard_value = ("result", "value", "summary")  # type: ignore[attr-defined]
    output.Output = Output  # type: ignore[attr-defined]
    output.Entry = lambda name: Output(name, dict)  # type: ignore[attr-defined]
    output.summary = Output("summary", (str, type(None)))  # type: ignore[attr-defined]
    plugable = types.ModuleType("ipalib.plugable")
    plugable.Registry = Registry  # type: ignore[attr-defined]
    ipalib.errors, ipalib.output, ipalib.plugable = errors, output, plugable  # type: ignore[attr-defined]
    ipalib.api = types.SimpleNamespace(env=types.SimpleNamespace())  # type: ignore[attr-defined]

    ipapython = types.ModuleType("ipapython")
    dn = types.ModuleType("ipapython.dn")
    dn.DN = type("DN", (), {"__init__": lambda self, *rdns: setattr(self, "rdns", rdns)})  # type: ignore[attr-defined]
    ipapython.dn = dn  # type: ignore[attr-defined]

    ipaserver = types.ModuleType("ipaserver")
    plugins = types.ModuleType("ipaserver.plugins")
    baseldap = types.ModuleType("ipaserver.plugins.baseldap")
    for name in (
        "LDAPCreate",
        "LDAPDelete",
        "LDAPRetrieve",
        "LDAPUpdate",
        "LDAPSearch",
        "LDAPQuery",
        "LDAPAddMember",
        "LDAPRemoveMember",
    ):
        setattr(baseldap, name, type(name, (_Base,), {}))
    baseldap.LDAPObject = type(  # type: ignore[attr-defined]
        "LDAPObject",
        (_Base,),
        {"json_friendly_attributes": ("name", "takes_params", "label", "attribute_members")},
    )
    baseldap.pkey_to_value = lambda key, options: key  # type: ignore[attr-defined]
    ipaserver.plugins, plugins.baseldap = plugins, baseldap  # type: ignore[attr-defined]
    internal = types.ModuleType("ipaserver.plugins.internal")
    internal.i18n_messages = type("i18n_messages", (I18nMessages,), {"messages": {"objects": {}}})  # type: ignore[attr-defined]
    plugins.internal = internal  # type: ignore[attr-defined]

    for name, module in {
        "ipalib": ipalib,
        "ipalib.errors": errors,
        "ipalib.output": output,
        "ipalib.plugable": plugable,
        "ipapython": ipapython,
        "ipapython.dn": dn,
        "ipaserver": ipaserver,
        "ipaserver.plugins": plugins,
        "ipaserver.plugins.baseldap": baseldap,
        "ipaserver.plugins.internal": internal,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("sessionrecording_under_stubs", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    registered.i18n = internal.i18n_messages.messages  # type: ignore[attr-defined]
    return module, registered


def param_json(param: Param) -> dict[str, Any]:
    """A param as FreeIPA's metadata (json_metadata) shows it to the web UI: name, label, values..."""
    out: dict[str, Any] = {"name": param.name, "required": param.required, "multivalue": param.multivalue}
    for key in ("label", "doc", "values", "default", "cli_name", "minvalue", "maxvalue", "primary_key"):
        if key in param.kw:
            value = param.kw[key]
            out[key] = list(value) if isinstance(value, tuple) else value
    out["flags"] = sorted(param.flags)
    return out


def ui_context(registered: Registered) -> dict[str, Any]:
    """What the web UI would get from a server running the plugin, as far as the plugin makes it: its
    objects' and command's metadata and its i18n messages (FreeIPA's own texts are not in it)."""
    objects: dict[str, Any] = {}
    for name in ("sessionrecording", "sessionrecordingtest"):
        cls = registered.classes[name]
        obj: dict[str, Any] = {"name": name, "takes_params": [param_json(p) for p in cls.takes_params]}
        for attr in cls.json_friendly_attributes:
            if attr not in obj and hasattr(cls, attr):
                obj[attr] = getattr(cls, attr)
        pkeys = [p.name for p in cls.takes_params if p.kw.get("primary_key")]
        if pkeys:
            obj["primary_key"] = pkeys[0]
        objects[name] = obj
    test = registered.classes["sessionrecording_test"]
    commands = {
        test.__name__: {"name": test.__name__, "takes_options": [param_json(p) for p in test.takes_options]}
    }
    return {"metadata": {"objects": objects, "commands": commands}, "messages": registered.i18n}
