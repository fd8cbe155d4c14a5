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


@dataclass
class Registered:
    classes: dict[str, type] = field(default_factory=dict)


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
    ipalib._ = lambda s: s  # type: ignore[attr-defined]
    ipalib.ngettext = lambda singular, plural, n: singular  # type: ignore[attr-defined]
    errors = types.ModuleType("ipalib.errors")
    for name in ("NotFound", "EmptyModlist", "MutuallyExclusiveError", "ValidationError", "DuplicateEntry"):
        setattr(errors, name, type(name, (Exception,), {}))
    output = types.ModuleType("ipalib.output")
    output.standard_value = ("result", "value", "summary")  # type: ignore[attr-defined]
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
        "LDAPObject",
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
    baseldap.pkey_to_value = lambda key, options: key  # type: ignore[attr-defined]
    ipaserver.plugins, plugins.baseldap = plugins, baseldap  # type: ignore[attr-defined]

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
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("sessionrecording_under_stubs", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, registered
