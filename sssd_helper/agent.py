"""`sessrecd`, the host agent: this host's rules from FreeIPA, users from SSSD, decisions on a local socket.

It answers only for the caller the kernel names (SO_PEERCRED); root may ask about anyone. When a decision
cannot be made it gives the documented fail-closed answer (docs/agent.md), and every decision goes to the
journal.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ipa_plugin.policy import options as option_table
from ipa_plugin.policy.rules import Decision

from . import cache, config, directory, protocol, server
from .audit import AuditRules, sessionid_of
from .infopipe import InfoPipe, InfoPipeError, UnknownUser, UserInfo
from .journal import log
from .server import Request
from .sessions import Sessions

SELF_SHELLS = ("sessrec-shell",)  # never hand back our own login shell as the "real" one


class Agent:
    def __init__(self, cfg: config.AgentConfig, infopipe: InfoPipe) -> None:
        self.cfg = cfg
        self.infopipe = infopipe
        self.cached: cache.CachedRules | None = None
        self.last_error: str | None = None
        self.last_attempt: float | None = None
        self._refreshing: asyncio.Lock | None = None
        self._users: dict[tuple[str, object], tuple[UserInfo, float]] = {}
        self.audit = AuditRules(cfg, infopipe)  # kernel audit rules of recorded sessions (docs/audit.md)
        self.sessions = Sessions(cfg, on_end=self.audit.session_ended)

    # -- rules ---------------------------------------------------------------------------------
    def load_cache(self) -> None:
        try:
            self.cached = cache.read(Path(self.cfg.cache))
        except cache.CacheError as exc:
            self.last_error = str(exc)
            log(f"sessrecd: ignoring the rule cache: {exc}", priority=4)

    async def refresh(self) -> bool:
        """Fetch this host's rules; on failure keep serving the last good ones."""
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            self.last_attempt = time.time()
            try:
                fetched = await asyncio.to_thread(directory.fetch_for_host, self.cfg)
            except directory.DirectoryError as exc:
                self.last_error = str(exc)
                log(f"sessrecd: rule fetch failed, serving {self._age_text()}: {exc}", priority=3)
                return False
            cached = cache.CachedRules(fetched.ruleset, fetched.fetched_at, fetched.server)
            try:
                await asyncio.to_thread(cache.write, Path(self.cfg.cache), cached)
            except OSError as exc:
                log(f"sessrecd: cannot write the rule cache {self.cfg.cache}: {exc.strerror}", priority=3)
            self.cached, self.last_error = cached, None
            log(
                f"sessrecd: {len(fetched.ruleset.rules)} rules for {fetched.ruleset.host} "
                f"from {fetched.server} in {fetched.seconds * 1000:.0f} ms",
                SESSREC_RULE_COUNT=str(len(fetched.ruleset.rules)),
            )
            await self.audit.apply(fetched.ruleset)  # audit rules follow the rules; never raises
            return True

    async def refresh_forever(self, first_delay: float = 0.0) -> None:
        await asyncio.sleep(first_delay)
        while True:
            await self.refresh()
            await asyncio.sleep(self.cfg.refresh_interval)

    def _age(self) -> float | None:
        return None if self.cached is None else self.cached.age(time.time())

    def _age_text(self) -> str:
        age = self._age()
        return "no rules" if age is None else f"rules {age:.0f} s old"

    # -- decisions -----------------------------------------------------------------------------
    async def decide(self, name: str | None = None, uid: int | None = None) -> dict[str, Any]:
        """The decision for a user, as the protocol answers it."""
        try:
            user = await self._user(name, uid)
        except UnknownUser:
            if name is not None:
                raise protocol.AgentRefused(f"unknown user {name!r}") from None
            return self._fail_closed(str(uid), uid, f"SSSD does not know uid {uid}", None)
        except (TimeoutError, InfoPipeError) as exc:
            why = str(exc) or f"SSSD did not answer within {self.cfg.sssd_timeout:g} s"
            return self._fail_closed(name or str(uid), uid, why, None)
        shell = self._real_shell(user.shell)
        if self.cached is None:
            why = f"no rules fetched yet ({self.last_error or 'not tried'})"
            return self._fail_closed(user.name, user.uid, why, shell)
        decision = self.cached.ruleset.decide(user.name, user.groups)
        answer = self._answer(user.name, user.uid, decision, shell, fail_closed=False)
        answer["online"] = user.online
        return answer

    async def _user(self, name: str | None, uid: int | None) -> UserInfo:
        """The user from SSSD, or from the last `user_cache` seconds (logins come in bursts)."""
        key = ("name", name) if name is not None else ("uid", uid)
        hit = self._users.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        user = await asyncio.wait_for(self.infopipe.user(name=name, uid=uid), self.cfg.sssd_timeout)
        if self.cfg.user_cache > 0:
            expiry = time.monotonic() + self.cfg.user_cache
            if len(self._users) > 10000:
                self._users.clear()
            self._users[("name", user.name)] = self._users[("uid", user.uid)] = (user, expiry)
        return user

    def _answer(
        self, name: str, uid: int | None, decision: Decision, shell: str, fail_closed: bool
    ) -> dict[str, Any]:
        options = option_table.as_dict(decision.options) if decision.options is not None else None
        answer = {
            "user": name,
            "uid": uid,
            "record": decision.record,
            "refuse": False,
            "rules": list(decision.rules),
            "overridden": list(decision.overridden),
            "options": options,
            "shell": shell,
            "reason": decision.reason,
            "fail_closed": fail_closed,
            "rules_age": self._age(),
            "rules_server": self.cached.server if self.cached else None,
        }
        self._log_decision(answer)
        return answer

    def _fail_closed(self, name: str, uid: int | None, why: str, shell: str | None) -> dict[str, Any]:
        refuse = self.cfg.fail_mode == "refuse"
        reason = f"cannot decide: {why}; " + (
            "refusing the login" if refuse else "recording with default options"
        )
        decision = Decision(
            record=not refuse, options=None if refuse else option_table.Options(), reason=reason
        )
        answer = self._answer(name, uid, decision, shell or self.cfg.fallback_shell, fail_closed=True)
        answer["refuse"] = refuse
        return answer

    def _real_shell(self, shell: str) -> str:
        if not shell.startswith("/") or Path(shell).name in SELF_SHELLS or not os.access(shell, os.X_OK):
            return self.cfg.fallback_shell
        return shell

    def _log_decision(self, answer: dict[str, Any]) -> None:
        verdict = "refused" if answer["refuse"] else "recorded" if answer["record"] else "not recorded"
        age = answer["rules_age"]
        log(
            f"sessrecd: {answer['user']}: {verdict}: {answer['reason']}",
            priority=4 if answer["fail_closed"] else 6,
            SESSREC_USER=answer["user"],
            SESSREC_RECORD="1" if answer["record"] else "0",
            SESSREC_RULES=",".join(answer["rules"]),
            SESSREC_FAIL_CLOSED="1" if answer["fail_closed"] else "0",
            SESSREC_CACHE_AGE="" if age is None else f"{age:.0f}",
        )

    def status(self) -> dict[str, Any]:
        return {
            "host": self.cfg.host,
            "server": self.cfg.ldap_uri,
            "rules_server": self.cached.server if self.cached else None,
            "rules": len(self.cached.ruleset.rules) if self.cached else None,
            "hostgroups": sorted(self.cached.ruleset.hostgroups) if self.cached else [],
            "fetched_at": self.cached.fetched_at if self.cached else None,
            "rules_age": self._age(),
            "last_attempt": self.last_attempt,
            "last_error": self.last_error,
            "refresh_interval": self.cfg.refresh_interval,
            "audit": self.audit.status(),
        }

    # -- requests ------------------------------------------------------------------------------
    async def handle(self, request: Request) -> dict[str, Any] | None:
        """Answer one request; None when the connection was handed on (a recorded session's start)."""
        op, uid = request.fields["op"], request.uid
        if op == "start":
            decision = await self.decide(uid=uid)
            # The session's audit rules are loaded before its shell can run; never raises.
            sessionid = sessionid_of(request.pid)
            await self.audit.session_started(uid, sessionid, decision)
            return await self.sessions.start(request, decision, sessionid)
        if op == "decide":
            user = request.fields.get("user")
            if user is None:
                return {"ok": True, **await self.decide(uid=uid)}
            if not isinstance(user, str) or not user:
                raise protocol.AgentRefused("user must be a name")
            if uid != 0:
                own = await self.decide(uid=uid)
                if own["user"] != user:
                    raise protocol.AgentRefused("only root may ask about other users")
                return {"ok": True, **own}
            return {"ok": True, **await self.decide(name=user)}
        if uid != 0:
            raise protocol.AgentRefused(f"{op} is for root only")
        if op == "status":
            return {"ok": True, **self.status()}
        if op == "show":
            rules = [r.to_dict() for r in self.cached.ruleset.rules] if self.cached else []
            return {"ok": True, **self.status(), "rule_list": rules}
        fetched = await self.refresh()
        if not fetched:
            raise protocol.AgentRefused(f"sync failed: {self.last_error}")
        return {"ok": True, **self.status()}


async def serve(cfg: config.AgentConfig) -> None:
    agent = Agent(cfg, InfoPipe(timeout=cfg.sssd_timeout, autostart=cfg.dbus_autostart))
    agent.load_cache()
    sock = server.listening_socket(cfg.socket)
    first_delay = 0.0
    if agent.cached is None:
        # Without rules every answer would be the fail-closed one: fetch before answering (callers wait
        # in the listen queue), bounded by the LDAP timeouts.
        await agent.refresh()
        first_delay = cfg.refresh_interval
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(agent.refresh()))
    refresher = asyncio.ensure_future(agent.refresh_forever(first_delay))
    await agent.sessions.recorders.start_server()  # warm before the first recorded login
    log(f"sessrecd: serving {cfg.socket} for {cfg.host} ({agent._age_text()})")
    acceptor = asyncio.ensure_future(server.accept_forever(sock, agent.handle))
    await stop.wait()
    acceptor.cancel()
    refresher.cancel()
    agent.sessions.recorders.close()
    agent.infopipe.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sessrecd", description="Session recording host agent (root).")
    parser.add_argument("--config", default=str(config.AGENT_CONF), help="agent configuration file")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("sessrecd: must run as root", file=sys.stderr)
        return 1
    try:
        cfg = config.load(Path(args.config))
    except config.ConfigError as exc:
        print(f"sessrecd: {exc}", file=sys.stderr)
        return 2
    os.umask(0o077)
    try:
        asyncio.run(serve(cfg))
    except OSError as exc:
        print(f"sessrecd: cannot serve {cfg.socket}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
