"""A minimal InfoPipe caller for tests, on the lab's system bus."""

from __future__ import annotations

from typing import Any

from tests.lab import bus
from tests.lab.sssd import IFP, IFP_PATH


class IfpError(Exception):
    def __init__(self, name: str, text: str):
        super().__init__(f"{name}: {text}")
        self.name = name


def call(
    path: str, interface: str, member: str, signature: str = "", body: list[Any] | None = None
) -> list[Any]:
    from dbus_next import MessageType

    reply = bus.call(
        destination=IFP, path=path, interface=interface, member=member, signature=signature, body=body or []
    )
    if reply.message_type == MessageType.ERROR:
        raise IfpError(reply.error_name or "", str(reply.body[0] if reply.body else ""))
    return reply.body


def user_groups(name: str) -> list[str]:
    return call(IFP_PATH, IFP, "GetUserGroups", "s", [name])[0]


def user_shell(name: str) -> str:
    path = call(f"{IFP_PATH}/Users", f"{IFP}.Users", "FindByName", "s", [name])[0]
    props = call(path, "org.freedesktop.DBus.Properties", "GetAll", "s", [f"{IFP}.Users.User"])[0]
    return props["loginShell"].value
