"""SSSD's InfoPipe over the system bus (dbus-next): a user's groups, real login shell, and online state.

One persistent connection, reconnected when it drops; every call has a short timeout of its own. InfoPipe
answers only `[ifp] allowed_uids` (root), so only the agent uses this.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from dbus_next import Message, MessageFlag, MessageType, Variant
from dbus_next.aio import MessageBus
from dbus_next.constants import BusType

IFP = "org.freedesktop.sssd.infopipe"
IFP_PATH = "/org/freedesktop/sssd/infopipe"
PROPERTIES = "org.freedesktop.DBus.Properties"
NOT_FOUND = "sbus.Error.NotFound"
CACHE_SECONDS = 10.0  # group names and domain online states


class InfoPipeError(Exception):
    """SSSD did not answer as needed; `name` is the D-Bus error name, or a local one."""

    def __init__(self, name: str, text: str):
        super().__init__(f"{text} ({name})" if name else text)
        self.name = name


class UnknownUser(InfoPipeError):
    pass


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: int
    groups: tuple[str, ...]  # every group, the primary one and nested ones included
    shell: str  # the directory's login shell (NSS shows override_shell instead)
    online: bool | None  # the user's domain reaches its server; None when SSSD does not say


class InfoPipe:
    def __init__(self, timeout: float = 3.0, bus_address: str | None = None, autostart: bool = True) -> None:
        self.timeout = timeout
        self.flags = MessageFlag.NONE if autostart else MessageFlag.NO_AUTOSTART
        self.bus_address = bus_address
        self._bus: MessageBus | None = None
        self._connecting: asyncio.Lock | None = None
        self._group_names: dict[int, tuple[str | None, float]] = {}
        self._online_state: dict[str, tuple[bool | None, float]] = {}

    async def _connected(self) -> MessageBus:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._bus is None or not self._bus.connected:
                bus = MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM)
                try:
                    self._bus = await asyncio.wait_for(bus.connect(), self.timeout)
                except (TimeoutError, OSError) as exc:
                    raise InfoPipeError("", f"cannot reach the system bus: {exc or 'timeout'}") from None
            return self._bus

    def close(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    async def call(self, path: str, interface: str, member: str, signature: str = "", body: Any = ()) -> Any:
        bus = await self._connected()
        message = Message(
            destination=IFP,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=list(body),
        )
        try:
            reply = await asyncio.wait_for(bus.call(message), self.timeout)
        except TimeoutError:
            raise InfoPipeError(
                "timeout", f"SSSD did not answer {member} within {self.timeout:g} s"
            ) from None
        except (OSError, EOFError) as exc:
            self.close()  # the next call reconnects
            raise InfoPipeError("", f"lost the system bus: {exc}") from None
        if reply.message_type == MessageType.ERROR:
            text = str(reply.body[0]) if reply.body else member
            cls = UnknownUser if reply.error_name == NOT_FOUND else InfoPipeError
            raise cls(reply.error_name or "", text)
        return reply.body

    async def _get(self, path: str, interface: str, prop: str) -> Any:
        (value,) = await self.call(path, PROPERTIES, "Get", "ss", [interface, prop])
        return value.value if isinstance(value, Variant) else value

    async def user(self, name: str | None = None, uid: int | None = None) -> UserInfo:
        """Look a user up by name or uid; UnknownUser when SSSD does not know them.

        Independent calls go out together; group names and domain states are cached a little while
        (GetAll on a user or group costs SSSD about 10 ms, a single attribute about 1.5 ms)."""
        if name is None:
            (path,) = await self.call(f"{IFP_PATH}/Users", f"{IFP}.Users", "FindByID", "u", [uid])
            name = await self._get(path, f"{IFP}.Users.User", "name")
        wanted = ["uidNumber", "gidNumber", "loginShell", "domainname"]
        (attrs,), (groups,) = await asyncio.gather(
            self.call(IFP_PATH, IFP, "GetUserAttr", "sas", [name, wanted]),
            self.call(IFP_PATH, IFP, "GetUserGroups", "s", [name]),
        )
        first = {k: (v.value if isinstance(v, Variant) else v) for k, v in attrs.items()}
        first = {k: v[0] if v else "" for k, v in first.items()}
        primary, online = await asyncio.gather(
            self._group_name(int(first["gidNumber"])), self._online(first.get("domainname", ""))
        )
        return UserInfo(
            name=name,
            uid=int(first["uidNumber"]),
            groups=tuple(dict.fromkeys([*groups, *([primary] if primary else [])])),
            shell=first.get("loginShell", ""),
            online=online,
        )

    async def _group_name(self, gid: int) -> str | None:
        # GetUserGroups leaves out the primary group unless SSSD saw origPrimaryGroupGidNumber.
        cached = self._cached(self._group_names, gid)
        if cached is not None:
            return cached[0]
        try:
            (path,) = await self.call(f"{IFP_PATH}/Groups", f"{IFP}.Groups", "FindByID", "u", [gid])
            found = await self._get(path, f"{IFP}.Groups.Group", "name")
        except UnknownUser:
            found = None
        self._group_names[gid] = (found, time.monotonic() + CACHE_SECONDS)
        return found

    async def _online(self, domain: str) -> bool | None:
        if not domain:
            return None
        cached = self._cached(self._online_state, domain)
        if cached is not None:
            return cached[0]
        try:
            (online,) = await self.call(domain_path(domain), f"{IFP}.Domains.Domain", "IsOnline")
            state: bool | None = bool(online)
        except InfoPipeError:
            state = None
        self._online_state[domain] = (state, time.monotonic() + CACHE_SECONDS)
        return state

    @staticmethod
    def _cached(table: dict, key: Any) -> tuple | None:
        entry = table.get(key)
        return (entry[0],) if entry is not None and entry[1] > time.monotonic() else None

    # -- group expansion (audit rules name users by uid: sssd_helper/audit.py) -----------------------
    async def user_uid(self, name: str) -> int:
        """A user's uid; UnknownUser when SSSD does not know the name."""
        (path,) = await self.call(f"{IFP_PATH}/Users", f"{IFP}.Users", "FindByName", "s", [name])
        return await self._object_id(path, f"{IFP}.Users.User", "uidNumber")

    async def group_member_uids(self, name: str) -> frozenset[int]:
        """The uids of a group's members, members of nested groups included; UnknownUser when SSSD does
        not know the group. InfoPipe lists a group's members only after UpdateMemberList."""
        (path,) = await self.call(f"{IFP_PATH}/Groups", f"{IFP}.Groups", "FindByName", "s", [name])
        uids: set[int] = set()
        seen: set[str] = set()
        todo = [path]
        while todo:
            group = todo.pop()
            if group in seen:
                continue
            seen.add(group)
            await self.call(group, f"{IFP}.Groups.Group", "UpdateMemberList")
            users, groups = await asyncio.gather(
                self._get(group, f"{IFP}.Groups.Group", "users"),
                self._get(group, f"{IFP}.Groups.Group", "groups"),
            )
            ids = await asyncio.gather(*(self._object_id(u, f"{IFP}.Users.User", "uidNumber") for u in users))
            uids.update(ids)
            todo.extend(groups)
        return frozenset(uids)

    async def _object_id(self, path: str, interface: str, prop: str) -> int:
        # SSSD names users and groups by their id (…/Users/<domain>/<uid>); ask only when it does not.
        last = path.rsplit("/", 1)[-1]
        return int(last) if last.isdigit() else int(await self._get(path, interface, prop))


def domain_path(domain: str) -> str:
    """InfoPipe's object path of a domain: its name with every non-alphanumeric byte as _XX."""
    escaped = "".join(
        c if c.isascii() and c.isalnum() else "".join(f"_{b:02x}" for b in c.encode()) for c in domain
    )
    return f"{IFP_PATH}/Domains/{escaped}"
