"""The agent's kernel audit rules: the commands and file accesses of recorded sessions (docs/audit.md).

- A recorded session that the rules audit gets kernel rules when it starts (`session_started`, called by
  the agent before the recorder answers the login shell) and loses them when its last process is gone
  (checked every SWEEP seconds, on `session_ended` and on every rule fetch). Rules cover ranges of audit
  session ids, so a host where every session is recorded needs one rule per arch, however many users log
  in (`audit_rules.session_scope`).
- After every rule fetch (`apply`) live sessions are decided again (a deleted or disabled rule stops
  auditing them), and /etc/audit/rules.d/75-sessrec.rules is rewritten: the backlog, and — on a host
  whose rules lock the kernel at boot (`-e 2`), where no rule can be added later — static rules for
  every user the rules audit (`audit_rules.user_scope`, groups expanded through SSSD). Removed when no
  rule audits anything here.
- Only rules this agent loaded are ever deleted, each by its exact text; the machine's own rules, and
  other programs' rules with our key prefix, are never touched. A locked kernel is detected and reported,
  never set. Failures are logged and kept in `status()` (`sessrec policy show`); they never stop a login.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from ipa_plugin.policy import options as option_table
from ipa_plugin.policy.rules import RuleSet

from . import audit_rules as ar
from . import files
from .journal import log

RULES_FILE = Path("/etc/audit/rules.d/75-sessrec.rules")
LOGIN_DEFS = Path("/etc/login.defs")
SWEEP = 15.0  # seconds between checks for ended sessions while any is audited
ENDED_RECHECKS = (0.5, 1.5, 3.0)  # seconds between checks after a session's recorder ended
AUDITCTL_TIMEOUT = 10.0
EXPAND_TIMEOUT = 60.0  # group expansion through SSSD for static rules, all of it
STATE_VERSION = 1
STATUS_SECONDS = 5.0


class AuditError(Exception):
    """auditctl failed; the message is one line."""


def sessionid_of(pid: int) -> int:
    """A process's audit session id, from the kernel (UNSET when it has none or is gone)."""
    try:
        return int(Path(f"/proc/{pid}/sessionid").read_text())
    except (OSError, ValueError):
        return ar.UNSET


def live_sessions(proc: Path = Path("/proc")) -> tuple[set[int], set[int]]:
    """(audit session ids that have a process, uids of processes outside any audit session)."""
    sessions: set[int] = set()
    sessionless: set[int] = set()
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            sid = int(Path(entry.path, "sessionid").read_text())
            if sid == ar.UNSET:
                sessionless.add(entry.stat().st_uid)
            else:
                sessions.add(sid)
        except (OSError, ValueError):
            continue  # gone meanwhile
    return sessions, sessionless


def uid_min(path: Path = LOGIN_DEFS) -> int:
    """UID_MIN of login.defs (1000 by default): `all` users start there."""
    try:
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "UID_MIN" and parts[1].isdigit():
                return int(parts[1])
    except OSError:
        pass
    return 1000


# -- the kernel, through auditctl ------------------------------------------------------------------------
async def auditctl(*args: str) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(
            "auditctl",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise AuditError(f"cannot run auditctl: {exc.strerror or exc}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), AUDITCTL_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AuditError(f"auditctl {args[0]} did not finish within {AUDITCTL_TIMEOUT:g} s") from None
    if proc.returncode != 0:
        text = (err or out).decode(errors="replace").strip().splitlines()
        raise AuditError(f"auditctl {' '.join(args)}: {text[-1] if text else f'status {proc.returncode}'}")
    return out.decode(errors="replace")


async def kernel_status() -> dict[str, str]:
    out = await auditctl("-s")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


async def kernel_rules() -> list[str]:
    out = await auditctl("-l")
    return [line for line in out.splitlines() if line.startswith("-")]


def locks_at_boot(rules_d: Path, own: Path) -> bool:
    """Whether the machine's own rules.d files lock the kernel's rules at boot (`-e 2`)."""
    try:
        files = sorted(p for p in rules_d.glob("*.rules") if p != own)
    except OSError:
        return False
    for path in files:
        try:
            for line in path.read_text(errors="replace").splitlines():
                if line.split("#", 1)[0].split() == ["-e", "2"]:
                    return True
        except OSError:
            continue
    return False


def machine_backlog(rules_d: Path, own: Path) -> int:
    """The largest `-b` of the machine's own rules.d files (0 when none): ours never lowers it."""
    found = 0
    try:
        files = sorted(p for p in rules_d.glob("*.rules") if p != own)
    except OSError:
        return 0
    for path in files:
        try:
            for line in path.read_text(errors="replace").splitlines():
                words = line.split("#", 1)[0].split()
                if len(words) == 2 and words[0] == "-b" and words[1].isdigit():
                    found = max(found, int(words[1]))
        except OSError:
            continue
    return found


def write_atomically(path: Path, text: str, mode: int = 0o640) -> bool:
    """Replace `path` with `text` (a new file renamed over it); False when it already says that."""
    try:
        if path.read_text() == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    files.replace(path, text, mode)
    return True


class AuditRules:
    """The agent's audit rules; every public method logs and records its failures instead of raising."""

    def __init__(
        self,
        cfg: Any,
        infopipe: Any,
        rules_file: Path = RULES_FILE,
        state_dir: Path | None = None,
        proc: Path = Path("/proc"),
    ) -> None:
        self.cfg = cfg
        self.infopipe = infopipe
        self.rules_file = rules_file
        # Runtime state next to the agent's socket (/run/sessrec): gone at reboot, as the rules are.
        self.state_dir = state_dir or Path(cfg.socket).parent
        self.proc = proc
        self.sessions: dict[tuple[int, int], ar.Session] = {}
        self.loaded: list[str] = []  # the kernel rules this agent loaded, in order
        self.refused: set[str] = set()  # rules the kernel refused: not tried again until the rules change
        self.ruleset: RuleSet | None = None
        self.sources: tuple[str, ...] = ()
        self.file_scope: str | None = None
        self.file_rules = 0
        self.immutable = False
        self.locked_at_boot = False
        self.backlog: int | None = None
        self.last_error: str | None = None
        self.last_change: float | None = None
        self.warnings: list[str] = []
        self._lock: asyncio.Lock | None = None
        self._sweeper: asyncio.Task | None = None
        self._restored = False
        self._status_cache: tuple[float, dict[str, str]] | None = None

    @property
    def state_file(self) -> Path:
        return self.state_dir / "audit-sessions.json"

    @property
    def runtime_file(self) -> Path:
        return self.state_dir / "audit.rules"

    def _locked(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # -- the hooks -----------------------------------------------------------------------------------
    async def apply(self, ruleset: RuleSet) -> None:
        """After a successful fetch: decide live sessions again, rewrite the rules file, reconcile."""
        async with self._locked():
            try:
                self._restore()
                self.ruleset = ruleset
                self.refused.clear()
                self.sources = tuple(sorted({r.name for r in ar.audit_rules(ruleset)}))
                await self._redecide(ruleset)
                await self._write_rules_file(ruleset)
                await self._reconcile(check_kernel=True)
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - auditing must never stop the agent
                self._failed("cannot update the audit rules", exc)

    async def session_started(self, uid: int, sessionid: int, decision: dict[str, Any]) -> None:
        """A recorded session starts (before its shell runs): load what its decision audits.

        `sessionid` comes from the kernel (/proc/<login shell>/sessionid: `sessionid_of`); the decision
        is the agent's answer (`record`, `rules`, `options`)."""
        if not decision.get("record") or decision.get("refuse") or not decision.get("options"):
            return
        async with self._locked():
            try:
                self._restore()
                session = self._session(uid, sessionid, str(decision.get("user")), decision)
                self.sessions[(sessionid, uid)] = session
                if session.audits:
                    await self._reconcile(deletes=False)  # rules no longer needed go right after
                    asyncio.ensure_future(self.sweep())
                    self._sweep_later()
                    log(
                        f"sessrecd: auditing session {_session_text(sessionid)} of {session.user}: "
                        + _what_text(session),
                        SESSREC_USER=session.user,
                        SESSREC_AUDIT_SESSION=str(sessionid),
                    )
            except Exception as exc:  # noqa: BLE001 - auditing must never stop a login
                self._failed(f"cannot audit the session of uid {uid}", exc)

    async def session_ended(self, uid: int, sessionid: int) -> None:
        """The recorder of a session ended; its rules stay while any process of the session lives. The
        login's last processes (its login shell, sshd's session process) end just after the recorder: look
        again a few times before leaving the rest to the sweep."""
        for delay in (0.0, *ENDED_RECHECKS):
            await asyncio.sleep(delay)
            async with self._locked():
                try:
                    if (sessionid, uid) not in self.sessions:
                        return
                    await self._reconcile()
                except Exception as exc:  # noqa: BLE001
                    self._failed("cannot update the audit rules", exc)
                    return

    async def sweep(self) -> None:
        async with self._locked():
            try:
                self._restore()
                await self._reconcile(check_kernel=True)
            except Exception as exc:  # noqa: BLE001
                self._failed("cannot update the audit rules", exc)

    def status(self) -> dict[str, Any]:
        """What `sessrec policy show` shows of auditing."""
        return {
            "file": str(self.rules_file) if self.file_scope else None,
            "file_scope": self.file_scope,
            "file_rules": self.file_rules,
            "rules": self.sources,
            "sessions": [s.to_dict() for s in self.sessions.values() if s.audits],
            "kernel_rules": len(self.loaded),
            "immutable": self.immutable,
            "locked_at_boot": self.locked_at_boot,
            "backlog": self.backlog,
            "last_change": self.last_change,
            "last_error": self.last_error,
            "warnings": list(self.warnings),
        }

    # -- sessions ------------------------------------------------------------------------------------
    def _session(self, uid: int, sessionid: int, user: str, decision: dict[str, Any]) -> ar.Session:
        options = option_table.from_dict(decision["options"])
        by_name = {r.name: r for r in self.ruleset.rules} if self.ruleset else {}
        deciding = [by_name[n] for n in decision.get("rules", ()) if n in by_name]
        fallback = (list(decision.get("rules", ())) or ["default"])[0]
        audited = ar.audited_for(deciding, options, ar.Scope("sessions"), os.path.isdir, fallback)
        if audited is None:
            return ar.Session(sessionid, uid, user)
        return ar.Session(sessionid, uid, user, audited.commands, audited.watches)

    async def _redecide(self, ruleset: RuleSet) -> None:
        """Each tracked session decided again with the new rules (its user's groups from SSSD)."""
        for handle, s in list(self.sessions.items()):
            try:
                user = await asyncio.wait_for(self.infopipe.user(uid=s.uid), self.cfg.sssd_timeout)
            except Exception:  # noqa: BLE001 - SSSD cannot say now: keep what the session had
                continue
            d = ruleset.decide(user.name, user.groups)
            by_name = {r.name: r for r in ruleset.rules}
            audited = (
                ar.audited_for([by_name[n] for n in d.rules], d.options, ar.Scope("sessions"), os.path.isdir)
                if d.record
                else None
            )
            if audited is None:
                self.sessions[handle] = ar.Session(s.sessionid, s.uid, s.user)
            else:
                self.sessions[handle] = ar.Session(
                    s.sessionid, s.uid, s.user, audited.commands, audited.watches
                )

    def _sweep_later(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.ensure_future(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while any(s.audits for s in self.sessions.values()):
            await asyncio.sleep(SWEEP)
            await self.sweep()

    # -- the kernel ----------------------------------------------------------------------------------
    async def _reconcile(self, check_kernel: bool = False, deletes: bool = True) -> None:
        """Drop ended sessions; load the rules the live ones need, then delete what is no longer needed
        (make before break: no moment without the rules). `deletes=False` leaves the deletions to the
        next call (a login waits only for its own rules). `check_kernel` also puts back rules that someone
        else deleted (`augenrules --load` starts with `-D`)."""
        if not self.sessions and not self.loaded:
            return
        live, sessionless = await asyncio.to_thread(live_sessions, self.proc)
        for handle, s in list(self.sessions.items()):
            alive = s.uid in sessionless if s.sessionid == ar.UNSET else s.sessionid in live
            if not alive:
                del self.sessions[handle]
        wanted = ar.session_scope([s for s in self.sessions.values() if s.audits], live)
        plan = ar.Plan(ar.kernel_rules(wanted), scope="session", sources=self.sources)
        plan.rules = [r for r in plan.rules if r.line not in self.refused and self._watchable(r.line)]
        new = plan.lines
        if check_kernel and self.loaded:
            present = await kernel_rules()
            if any(line.startswith("-a never,task") for line in present):
                self._warn("the machine's `-a never,task` rule turns syscall auditing off for every process")
            missing = set(self.loaded) - set(present)
            if missing:
                self._warn(f"{len(missing)} of our audit rules were deleted by someone else: loaded again")
                self.loaded = [line for line in self.loaded if line not in missing]
        if new != self.loaded:
            await self._load(new, plan, deletes)
        self._save()

    def _watchable(self, line: str) -> bool:
        # The kernel refuses to watch a path whose directory does not exist (and stops a rules file there).
        match = re.search(r" -F (?:path|dir)=(\S+)", line)
        if match is None or Path(match.group(1)).parent.is_dir():
            return True
        self._warn(f"watched path {match.group(1)}: its directory does not exist, not watched")
        return False

    async def _load(self, new: list[str], plan: ar.Plan, deletes: bool = True) -> None:
        status = await self._status()
        if self.immutable:
            return self._locked_out(new)
        if new and not self.loaded:
            await self._raise_backlog(status)
        added, errors = await self._add([line for line in new if line not in self.loaded])
        if errors:
            await self._status(fresh=True)  # locked meanwhile?
            if self.immutable:
                return self._locked_out(new)
        gone: set[str] = set()
        if deletes:
            gone, failed = await self._delete([line for line in self.loaded if line not in new])
            errors += failed
        old = set(self.loaded)
        kept = [line for line in self.loaded if line not in new and line not in gone]
        self.loaded = [line for line in new if line in old or line in added] + kept
        self.last_change = time.time()
        loaded = set(self.loaded)
        plan.rules = [r for r in plan.rules if r.line in loaded]
        await asyncio.to_thread(write_atomically, self.runtime_file, ar.render(plan, self.cfg.host), 0o600)
        if errors:
            raise AuditError(f"{len(errors)} audit rule changes failed; the first: {errors[0]}")

    def _locked_out(self, new: list[str]) -> None:
        self.loaded = []
        self.refused.clear()
        if new and not (self.locked_at_boot and self.file_rules):
            raise AuditError(
                "the kernel's audit rules are locked (enabled 2) until reboot: cannot add the session's rules"
            )
        # else: the static rules of the rules file, loaded at boot, audit the session

    async def _add(self, lines: list[str]) -> tuple[set[str], list[str]]:
        """Load `lines` in one auditctl run; when the kernel refuses one, line by line to know which."""
        if not lines:
            return set(), []
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".audit-add-", suffix=".rules", dir=self.state_dir)
        try:
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(lines) + "\n")
            await auditctl("-R", tmp)
            return set(lines), []
        except AuditError:
            pass  # auditctl stops at the first refused line: find out which ones are in
        finally:
            Path(tmp).unlink(missing_ok=True)
        added, errors = set(), []
        for line in lines:
            try:
                await auditctl(*line.split())
                added.add(line)
            except AuditError as exc:
                if "Rule exists" in str(exc):
                    added.add(line)
                else:
                    errors.append(str(exc))
                    self.refused.add(line)
        return added, errors

    async def _delete(self, lines: list[str]) -> tuple[set[str], list[str]]:
        gone, errors = set(), []
        for line in lines:
            try:
                await auditctl("-d", *line.split()[1:])
                gone.add(line)
            except AuditError as exc:
                if "No such file" in str(exc):
                    gone.add(line)  # not there any more
                else:
                    errors.append(str(exc))
        return gone, errors

    async def _status(self, fresh: bool = False) -> dict[str, str]:
        """`auditctl -s`, reused for STATUS_SECONDS (a login should not pay for it every time)."""
        now = time.monotonic()
        if fresh or self._status_cache is None or now - self._status_cache[0] > STATUS_SECONDS:
            self._status_cache = (now, await kernel_status())
        status = self._status_cache[1]
        self._kernel_state(status)
        return status

    def _kernel_state(self, status: dict[str, str]) -> None:
        self.immutable = status.get("enabled") == "2"
        backlog = status.get("backlog_limit", "")
        self.backlog = int(backlog) if backlog.isdigit() else None

    async def _raise_backlog(self, status: dict[str, str]) -> None:
        """The kernel's default backlog (64) overflows with a burst of execve events; never lowered."""
        if self.backlog is not None and self.backlog < ar.DEFAULT_BACKLOG:
            try:
                await auditctl("-b", str(ar.DEFAULT_BACKLOG))
            except AuditError as exc:
                self._warn(f"cannot raise the kernel's audit backlog: {exc}")
                return
            self.backlog = ar.DEFAULT_BACKLOG
            self._status_cache = None

    # -- the rules file ------------------------------------------------------------------------------
    async def _write_rules_file(self, ruleset: RuleSet) -> None:
        rules_d = self.rules_file.parent
        if not ar.audit_rules(ruleset):
            self.file_scope, self.file_rules, self.locked_at_boot = None, 0, False
            if self.rules_file.exists():
                await asyncio.to_thread(self.rules_file.unlink)
                log(f"sessrecd: no rule audits anything here: removed {self.rules_file}")
            return
        await self._status(fresh=True)
        self.locked_at_boot = locks_at_boot(rules_d, self.rules_file)
        backlog = max(ar.DEFAULT_BACKLOG, machine_backlog(rules_d, self.rules_file))
        plan = ar.Plan(backlog=backlog, scope="session", sources=self.sources)
        if self.locked_at_boot:
            members = await asyncio.wait_for(expand_members(ruleset, self.infopipe), EXPAND_TIMEOUT)
            audited = ar.user_scope(ruleset, members, uid_min(), os.path.isdir)
            plan.rules = [r for r in ar.kernel_rules(audited) if self._watchable(r.line)]
            plan.scope = "user"
        text = ar.render(plan, ruleset.host)
        changed = await asyncio.to_thread(write_atomically, self.rules_file, text)
        self.file_scope, self.file_rules = plan.scope, len(plan.rules)
        if changed:
            log(
                f"sessrecd: wrote {self.rules_file} ({plan.scope} scope, {len(plan.rules)} rules"
                + (", loaded at the next boot" if self.immutable else "")
                + ")",
                SESSREC_AUDIT_FILE=str(self.rules_file),
            )

    # -- state across restarts of the agent ----------------------------------------------------------
    def _restore(self) -> None:
        if self._restored:
            return
        self._restored = True
        try:
            data = json.loads(self.state_file.read_text())
            if data.get("version") != STATE_VERSION or data.get("boot") != _boot_id():
                return
            for d in data["sessions"]:
                s = ar.Session.from_dict(d)
                self.sessions[(s.sessionid, s.uid)] = s
            self.loaded = [str(line) for line in data["loaded"]]
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._warn(f"ignoring {self.state_file}: {exc}")
            return
        if any(s.audits for s in self.sessions.values()):
            self._sweep_later()

    def _save(self) -> None:
        data = {
            "version": STATE_VERSION,
            "boot": _boot_id(),
            "sessions": [s.to_dict() for s in self.sessions.values()],
            "loaded": self.loaded,
        }
        write_atomically(self.state_file, json.dumps(data, indent=1), 0o600)

    # -- reporting -----------------------------------------------------------------------------------
    def _failed(self, what: str, exc: Exception) -> None:
        self.last_error = f"{what}: {exc}"
        log(f"sessrecd: {self.last_error}", priority=3, SESSREC_AUDIT_ERROR="1")

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)
            log(f"sessrecd: {text}", priority=4)


async def expand_members(ruleset: RuleSet, infopipe: Any) -> list[ar.Member]:
    """Every user the host's rules name, directly or through (nested) groups, with the rule-named groups
    each is in: all `decide()` needs to decide for them without asking SSSD about each."""
    from .infopipe import UnknownUser

    rules = [r for r in ruleset.rules if r.enabled and r.applies_to_host(ruleset.host, ruleset.hostgroups)]
    names = sorted({u for r in rules for u in r.users})
    groups = sorted({g for r in rules for g in r.groups})
    uid_of: dict[str, int] = {}
    for name in names:
        try:
            uid_of[name] = await infopipe.user_uid(name)
        except UnknownUser:
            continue
    member_of: dict[int, set[str]] = {}
    for group in groups:
        try:
            for uid in await infopipe.group_member_uids(group):
                member_of.setdefault(uid, set()).add(group)
        except UnknownUser:
            continue
    name_of = {uid: name for name, uid in uid_of.items()}
    uids = set(name_of) | set(member_of)
    return [ar.Member(uid, name_of.get(uid), frozenset(member_of.get(uid, ()))) for uid in sorted(uids)]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _session_text(sessionid: int) -> str:
    return "(none)" if sessionid == ar.UNSET else str(sessionid)


def _what_text(s: ar.Session) -> str:
    parts = []
    if s.commands:
        parts.append(f"commands ({s.commands})")
    parts += [f"{w.permissions}:{w.path} ({r})" for w, r in s.watches]
    return ", ".join(parts)
