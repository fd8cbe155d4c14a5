"""The system D-Bus daemon of the lab, with the distribution's policy files (sssd's InfoPipe among them)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from .process import Service

SOCKET = "/run/dbus/system_bus_socket"


def start(log: Path) -> Service:
    Path("/run/dbus").mkdir(parents=True, exist_ok=True)
    service = Service("dbus-daemon --system", ["dbus-daemon", "--system", "--nofork", "--nopidfile"], log)
    service.start(ping, timeout=20)
    return service


def call(timeout: float = 20.0, **message: Any) -> Any:
    """One method call on the lab's system bus; returns dbus-next's reply Message (errors included).

    Calls never start services by bus activation: only the lab starts processes, so it can stop them."""
    return asyncio.run(_call(timeout, message))


async def _call(timeout: float, message: dict[str, Any]) -> Any:
    from dbus_next import Message, MessageFlag
    from dbus_next.aio import MessageBus

    bus = await MessageBus(bus_address=f"unix:path={SOCKET}").connect()
    try:
        return await asyncio.wait_for(bus.call(Message(flags=MessageFlag.NO_AUTOSTART, **message)), timeout)
    finally:
        bus.disconnect()


def ping() -> bool:
    """Ask the bus itself for its id (the system policy refuses Peer.Ping to the bus)."""
    from dbus_next import MessageType

    reply = call(
        destination="org.freedesktop.DBus",
        path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus",
        member="GetId",
    )
    return reply.message_type == MessageType.METHOD_RETURN
