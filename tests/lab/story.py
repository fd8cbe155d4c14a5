"""The whole story on the lab: rules in the directory → this host's decision → a recorded login → playback
→ the login's commands and files from the kernel audit log."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass

import ldap
import ldap.modlist

from ipa_plugin.policy import dn as dns
from ipa_plugin.policy import layout, options
from sssd_helper import protocol
from tests import installed

from .lab import Lab

SESSREC = str(installed.SESSREC)  # what runs as the user runs from the installed copy


@dataclass(frozen=True)
class RuleSpec:
    name: str
    kind: str = layout.KIND_RECORD
    priority: int = 0
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    hostgroups: tuple[str, ...] = ()
    all_hosts: bool = False
    log_input: bool = False
    audit_commands: bool = False
    watch_paths: tuple[str, ...] = ()


# Developers are recorded (with what they type) on client machines; staff everywhere; bob is exempt.
RULES = (
    RuleSpec("developers-on-clients", groups=("developers",), hostgroups=("clients",), log_input=True),
    RuleSpec("staff-everywhere", groups=("staff",), all_hosts=True),
    RuleSpec("bob-exempt", kind=layout.KIND_EXEMPT, priority=100, users=("bob",), all_hosts=True),
)


NOTES = "/home/alice/notes.txt"  # the lab's private /home
# Auditors also want the commands and the files: developers' commands, and writes to alice's notes.
AUDIT_RULE = RuleSpec(
    "developers-audited",
    groups=("developers",),
    all_hosts=True,
    audit_commands=True,
    watch_paths=(f"wa:{NOTES}",),
)
AUDITED_SCRIPT = f"cd /tmp; uname -sr; sleep 0.5; echo 'meeting at 10' > {NOTES}; sleep 0.5; wc -c {NOTES}"


def rule_entry(spec: RuleSpec, suffix: str) -> dict[str, list[str]]:
    """A rule entry as `ipa sessionrecording-add` and its `-add-user`/`-add-host` write it."""
    entry = {
        "objectClass": list(layout.RULE_OBJECTCLASSES),
        layout.ATTR_NAME: [spec.name],
        layout.ATTR_UNIQUE_ID: [str(uuid.uuid4())],
        layout.ATTR_ENABLED: [layout.LDAP_TRUE],
        layout.ATTR_KIND: [spec.kind],
        layout.ATTR_PRIORITY: [str(spec.priority)],
        options.ATTRIBUTE["log_input"]: [layout.LDAP_TRUE if spec.log_input else layout.LDAP_FALSE],
    }
    if spec.audit_commands:
        entry[options.ATTRIBUTE["audit_commands"]] = [layout.LDAP_TRUE]
    if spec.watch_paths:
        entry[options.ATTRIBUTE["watch_paths"]] = list(spec.watch_paths)
    members = [dns.user_dn(u, suffix) for u in spec.users] + [dns.group_dn(g, suffix) for g in spec.groups]
    if members:
        entry[layout.ATTR_MEMBER_USER] = members
    if spec.all_hosts:
        entry[layout.ATTR_HOST_CATEGORY] = [layout.CATEGORY_ALL]
    else:
        entry[layout.ATTR_MEMBER_HOST] = [dns.hostgroup_dn(h, suffix) for h in spec.hostgroups]
    return entry


def add_rules(lab: Lab, specs: tuple[RuleSpec, ...] = RULES) -> list[str]:
    """Write the rules as Directory Manager; returns their DNs."""
    conn = lab.ldap()
    added = []
    for spec in specs:
        dn = dns.rule_dn(spec.name, lab.data.suffix)
        attrs = {k: [v.encode() for v in vs] for k, vs in rule_entry(spec, lab.data.suffix).items()}
        conn.add_s(dn, ldap.modlist.addModlist(attrs))
        added.append(dn)
    return added


def remove_rules(lab: Lab, dns: list[str]) -> None:
    conn = lab.ldap()
    for dn in dns:
        conn.delete_s(dn)


def host_decisions(lab: Lab) -> dict[str, dict]:
    """What this host's agent decides for each user: it fetched the rules with the host's own Kerberos
    identity and asks InfoPipe for the groups; `sync` makes it fetch the rules just written."""
    socket_path = lab.agent.socket
    protocol.ask("sync", socket_path=socket_path)
    return {u.uid: protocol.ask("decide", socket_path=socket_path, user=u.uid) for u in lab.data.users}


def login(lab: Lab, user: str, script: str) -> subprocess.CompletedProcess[bytes]:
    """An ssh login with a terminal, nothing else: the login shell asks the agent and records it or not."""
    return lab.run_ssh(user, script, tty=True, timeout=60)


def newest_recording(lab: Lab, user: str) -> str:
    entries = lab.journal_entries(TLOG_USER=user)
    if not entries:
        raise LookupError(f"no recording of {user} in the journal")
    return entries[-1]["TLOG_REC"]


def play_verified(rec: str) -> subprocess.CompletedProcess[bytes]:
    """`sessrec play --journal --verify --goto end`: the output, proven to come from one recorder."""
    return subprocess.run(
        [SESSREC, "play", "--journal", "--rec", rec, "--verify", "--goto", "end"],
        capture_output=True,
        timeout=60,
    )


def audited_login(lab: Lab) -> tuple[str, subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """With AUDIT_RULE added: alice's recorded login running AUDITED_SCRIPT, then `sessrec audit` of its
    recording and `sessrec play --audit` (16x, output and notes in the order written)."""
    dns = add_rules(lab, (AUDIT_RULE,))
    try:
        protocol.ask("sync", socket_path=lab.agent.socket)
        before = {e["TLOG_REC"] for e in lab.journal_entries(TLOG_USER="alice")}
        login(lab, "alice", AUDITED_SCRIPT)
    finally:
        remove_rules(lab, dns)
        protocol.ask("sync", socket_path=lab.agent.socket)
    rec = newest_recording(lab, "alice")
    if rec in before:
        raise LookupError("the audited login left no recording")
    listed = subprocess.run([SESSREC, "audit", rec], capture_output=True, text=True, timeout=60)
    played = subprocess.run(
        [SESSREC, "play", "--journal", "--rec", rec, "--audit", "--speed", "16"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    return rec, listed, played
