"""sshd on a loopback port with key authentication; users resolve through sssd (passwd: files sss)."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .process import Service

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class SshConfig:
    port: int
    state: Path  # host key, authorized keys, client key

    @property
    def client_key(self) -> Path:
        return self.state / "client_ed25519"

    def authorized_keys(self, user: str) -> Path:
        return self.state / "authorized_keys" / user


def prepare(cfg: SshConfig, users: list[str]) -> Path:
    (cfg.state / "authorized_keys").mkdir(parents=True, exist_ok=True)
    for d in (cfg.state, cfg.state / "authorized_keys"):
        d.chmod(0o755)  # users read their own authorized_keys through these
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    host_key = cfg.state / "host_ed25519"
    for key in (host_key, cfg.client_key):
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public = cfg.client_key.with_suffix(".pub").read_text()
    for user in users:
        cfg.authorized_keys(user).write_text(public)
        cfg.authorized_keys(user).chmod(0o644)
    conf = cfg.state / "sshd_config"
    conf.write_text(
        f"Port {cfg.port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {host_key}\n"
        f"PidFile {cfg.state / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {cfg.state / 'authorized_keys'}/%u\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin no\n"
        "UsePAM yes\n"
        "StrictModes yes\n"
        "LogLevel VERBOSE\n"
        # As the rollout sets it: the external server runs through the login shell; internal-sftp never would.
        "Subsystem sftp /usr/lib/openssh/sftp-server\n"
    )
    return conf


def start(cfg: SshConfig, users: list[str], log: Path) -> Service:
    conf = prepare(cfg, users)
    service = Service("sshd", [SSHD, "-D", "-e", "-f", str(conf)], log)
    service.start(lambda: _banner(cfg.port), timeout=20)
    return service


def _banner(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        return s.recv(64).startswith(b"SSH-2.0-")


def ssh_command(cfg: SshConfig, user: str, *command: str, tty: bool = False) -> list[str]:
    """argv of an ssh client logging in as `user` on the lab's sshd (with `tty`, a forced terminal)."""
    return [
        "ssh",
        *(["-tt"] if tty else []),
        "-i",
        str(cfg.client_key),
        "-p",
        str(cfg.port),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        f"{user}@127.0.0.1",
        *command,
    ]
