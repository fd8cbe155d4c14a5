"""`sessrec policy show|sync|check USER`: what the host agent has cached, decides, and why."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "policy",
        help="ask the host agent about this host's recording rules",
        description="Ask sessrecd, the host agent: the cached rules (show, root), fetch them now "
        "(sync, root), or whether USER is recorded here and why (check; users may check only themselves).",
    )
    p.add_argument("action", choices=("show", "sync", "check"))
    p.add_argument("user", nargs="?", help="for check: the user (default: you)")
    p.add_argument("--json", action="store_true", help="print the agent's answer as JSON")
    p.add_argument("--socket", default=None, help="the agent's socket (default /run/sessrec/agent.sock)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sssd_helper import protocol

    if args.user and args.action != "check":
        print(f"sessrec policy: {args.action} takes no user", file=sys.stderr)
        return 2
    fields = {"user": args.user} if args.user else {}
    op = {"check": "decide"}.get(args.action, args.action)
    try:
        answer = protocol.ask(op, socket_path=args.socket or protocol.SOCKET, timeout=30, **fields)
    except (protocol.AgentUnavailable, protocol.AgentRefused) as exc:
        print(f"sessrec policy: {exc}", file=sys.stderr)
        return 1
    answer.pop("v", None)
    answer.pop("ok", None)
    if args.json:
        print(json.dumps(answer, indent=1, sort_keys=True))
    elif args.action == "check":
        print(_decision_text(answer))
    else:
        print(_status_text(answer))
    return 0


def _age(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.0f} s ago"


def _when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def _value(v: Any) -> str:
    return ",".join(map(str, v)) if isinstance(v, list) else str(v)


def _status_text(a: dict[str, Any]) -> str:
    lines = [
        f"host:        {a['host']}",
        f"server:      {a['server']}",
        f"rules:       {a['rules'] if a['rules'] is not None else 'none fetched'} "
        f"(fetched {_age(a['rules_age'])} from {a['rules_server'] or '-'})",
        f"hostgroups:  {', '.join(a['hostgroups']) or '-'}",
        f"last try:    {_when(a['last_attempt'])}",
        f"last error:  {a['last_error'] or '-'}",
    ]
    for rule in a.get("rule_list", []):
        who = (
            "all users" if rule["all_users"] else ", ".join(rule["users"] + [f"@{g}" for g in rule["groups"]])
        )
        where = (
            "all hosts"
            if rule["all_hosts"]
            else ", ".join(rule["hosts"] + [f"@{g}" for g in rule["hostgroups"]])
        )
        opts = " ".join(f"{k}={_value(v)}" for k, v in rule["options"].items())
        head = f"  {rule['name']}: {rule['kind']} priority {rule['priority']}"
        lines.append(f"{head}; {who or 'nobody'} on {where or 'no host'}" + (f"; {opts}" if opts else ""))
    if "audit" in a:
        lines += _audit_text(a["audit"])
    return "\n".join(lines)


def _audit_text(au: dict[str, Any]) -> list[str]:
    """The agent's auditing (sssd_helper.audit.AuditManager.status) as `show` lines."""
    if not au["rules"]:
        return ["audit:       no rule here audits commands or files"]
    sessions = au["sessions"]
    mode = (
        "locked by the kernel (-e 2): rules load at the next boot"
        if au["immutable"]
        else f"{au['kernel_rules']} kernel rules for {len(sessions)} audited session"
        + ("" if len(sessions) == 1 else "s")
    )
    lines = [
        f"audit:       {mode}; rules {', '.join(au['rules'])}; backlog {au['backlog'] or '-'}",
        f"audit file:  {au['file'] or '-'}"
        + (
            " (backlog only: rules load per session)"
            if au["file_scope"] == "session"
            else f" ({au['file_rules']} static per-user rules)"
            if au["file"]
            else ""
        )
        + ("; this host locks its rules at boot" if au["locked_at_boot"] else ""),
        f"audit error: {au['last_error'] or '-'}",
    ]
    lines += [f"audit note:  {w}" for w in au["warnings"]]
    for s in sessions:
        what = [f"commands ({s['commands']})"] if s["commands"] else []
        what += [f"{perm}:{path} ({rule})" for path, perm, _, rule in s["watches"]]
        lines.append(f"  session {s['sessionid']} {s['user']}: {', '.join(what)}")
    return lines


def _decision_text(a: dict[str, Any]) -> str:
    verdict = "REFUSED" if a["refuse"] else "recorded" if a["record"] else "not recorded"
    lines = [f"{a['user']}: {verdict}", f"reason:      {a['reason']}"]
    if a["rules"]:
        lines.append(f"rules:       {', '.join(a['rules'])}")
    if a["overridden"]:
        lines.append(f"overridden:  {', '.join(a['overridden'])}")
    if a["options"]:
        lines.append("options:     " + " ".join(f"{k}={_value(v)}" for k, v in a["options"].items()))
    lines.append(f"shell:       {a['shell']}")
    lines.append(f"rules age:   {_age(a['rules_age'])}")
    return "\n".join(lines)
