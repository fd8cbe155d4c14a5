"""The system D-Bus daemon of the lab, with the distribution's policy files (sssd's InfoPipe among them)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from .process import Service

SOCKET = "/run/dbus/system_bus_socket"


def start(log: Path) -> Service:
    Path("/run/dbus").mkdir(parents=True, exist_ok=True)
    service = Service("dbus-daemon --system", ["dbus-daemon", "--system", "--nofork", "--nopidfile"], log)
    service.start(ping, timeout=20)
    return service


def ping() -> bool:
    """Ask the bus itself for its id (the system policy refuses Peer.Ping to the bus)."""
    return asyncio.run(_ping())


async def _ping() -> bool:
    from dbus_next import Message, MessageType
    from dbus_next.aio import MessageBus

    bus = await MessageBus(bus_address=f"unix:path={SOCKET}").connect()
    try:
        reply = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="GetId",
            )
        )
        return reply.message_type == MessageType.METHOD_RETURN
    finally:
        bus.disconnect()
