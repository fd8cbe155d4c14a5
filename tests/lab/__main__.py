"""`python -m tests.lab demo`: bring the lab up, show what is in it, tear it down on exit or Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

import ldap

from .lab import Lab
from .process import ComponentError


def _section(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def _run(argv: list[str]) -> None:
    print(f"$ {' '.join(argv)}", flush=True)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    print((out.stdout + out.stderr).rstrip() or f"(exit {out.returncode})", flush=True)


def show(lab: Lab) -> None:
    _section("Lab up")
    for name, seconds in lab.timings.items():
        print(f"  {name:<10} {seconds:5.1f} s")
    print("  processes (stopped by PID at exit): " + ", ".join(f"{k}={v}" for k, v in lab.pids().items()))

    _section(f"Directory (389-ds on {lab.directory.ldap_uri}, suffix {lab.data.suffix})")
    conn = lab.ldap()
    for dn, attrs in conn.search_s(lab.data.suffix, ldap.SCOPE_SUBTREE, "(|(uid=*)(fqdn=*)(member=*))"):
        members = [m.decode().split(",")[0] for m in attrs.get("member", [])]
        print(f"  {dn}" + (f"  members: {', '.join(members)}" if members else ""))

    _section("Users through SSSD (private nsswitch: passwd: files sss)")
    for user in lab.data.users:
        _run(["id", user.uid])

    _section("InfoPipe over the lab's system bus (root only), with the agent's client")
    import asyncio

    from sssd_helper.infopipe import InfoPipe

    async def users() -> list:
        ifp = InfoPipe(autostart=False)
        try:
            return [await ifp.user(name=u.uid) for u in lab.data.users]
        finally:
            ifp.close()

    for info in asyncio.run(users()):
        print(f"  {info.name}: groups {sorted(info.groups)}, shell {info.shell}, online {info.online}")

    _section(f"A login: ssh alice@127.0.0.1 -p {lab.ssh.port}")
    _run(lab.ssh_argv("alice", "echo hello from $(hostname) as $(id -un), groups: $(id -Gn)"))
    show_story(lab)


def show_story(lab: Lab) -> None:
    from . import story

    _section("Recording rules in the directory (as `ipa sessionrecording-*` writes them)")
    for spec in story.RULES:
        who = ", ".join([*spec.users, *(f"group {g}" for g in spec.groups)])
        where = "all hosts" if spec.all_hosts else ", ".join(f"hostgroup {h}" for h in spec.hostgroups)
        extra = ", input logged" if spec.log_input else ""
        print(f"  {spec.name}: {spec.kind} {who} on {where}, priority {spec.priority}{extra}")
    dns = story.add_rules(lab)
    try:
        _section(
            f"What the agent on {lab.this_host} decides (Kerberos bind as the host, groups from InfoPipe)"
        )
        decisions = story.host_decisions(lab)
        for user, decision in decisions.items():
            print(f"  {user:<6} {'RECORD' if decision['record'] else 'no    '}  {decision['reason']}")
        _run([story.SESSREC, "policy", "show"])
        _section("alice asks the agent about herself (it knows her from the kernel, not from an argument)")
        _run(["setpriv", "--reuid=alice", "--regid=alice", "--init-groups", story.SESSREC, "policy", "check"])
        _section(
            "alice logs in with ssh -t: sshd runs her login shell, sessrec-shell (SSSD's override_shell)"
        )
        login = story.login(lab, "alice", "echo this session is recorded; id -un; ls /")
        print(login.stdout.decode(errors="replace").rstrip())
        _section("bob logs in the same way: exempt, his own shell runs directly")
        print(story.login(lab, "bob", "echo bob is not recorded").stdout.decode(errors="replace").rstrip())
        rec = story.newest_recording(lab, "alice")
        _section("The recording in the journal")
        _run([story.SESSREC, "list", "--journal"])
        _section(f"Played back with --verify (one recorder process, as the recorders' user, wrote it): {rec}")
        played = story.play_verified(rec)
        print((played.stdout + played.stderr).decode(errors="replace").rstrip())
        spec = story.AUDIT_RULE
        _section(
            f"Audit: rule {spec.name} asks for the commands of group developers and writes to "
            f"{', '.join(w.partition(':')[2] for w in spec.watch_paths)}; alice logs in again and runs: "
            f"{story.AUDITED_SCRIPT}"
        )
        rec, listed, audited = story.audited_login(lab)
        print(f"$ sessrec audit {rec}")
        print((listed.stdout + listed.stderr).rstrip())
        _section("The same recording played with its commands and files at their moments (--audit, 16x)")
        print(f"$ sessrec play --journal --rec {rec} --audit --speed 16")
        print(audited.stdout.replace("\r\n", "\n").rstrip())
    finally:
        story.remove_rules(lab, dns)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def demo(interactive: bool) -> int:
    # SIGTERM/SIGHUP take the same way out as Ctrl-C, so the lab is always torn down.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    print("Starting the lab: 389-ds, D-Bus, sssd, journald, auditd, sshd (about 15 s) …", flush=True)
    started = time.monotonic()
    try:
        with Lab() as lab:
            show(lab)
            if interactive:
                _section("A root shell inside the lab namespace; `exit` (or Ctrl-D) tears the lab down")
                print(f"  try: ssh -i {lab.ssh.client_key} -p {lab.ssh.port} bob@127.0.0.1", flush=True)
                subprocess.run([os.environ.get("SHELL", "/bin/bash")], check=False)
            _section("Tearing down")
    except ComponentError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: lab torn down", file=sys.stderr)
        return 130
    print(f"Done in {time.monotonic() - started:.1f} s; nothing of the lab is left running.")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab")
    parser.add_argument("command", choices=["demo"])
    parser.add_argument("--no-shell", action="store_true", help="do not open a shell inside the lab")
    args = parser.parse_args()
    return demo(interactive=sys.stdin.isatty() and not args.no_shell)


if __name__ == "__main__":
    sys.exit(main())
