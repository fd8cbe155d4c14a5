"""auditd -n on the kernel audit subsystem; the lab only adds and removes rules carrying its own keys."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .process import ComponentError, Service

LOG = Path("/var/log/audit/audit.log")
KEY_PREFIX = "sessrec"

AUDITD_CONF = """\
local_events = yes
write_logs = yes
log_file = {log}
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 1
max_log_file = 64
num_logs = 2
max_log_file_action = ROTATE
space_left = 16
space_left_action = IGNORE
admin_space_left = 8
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
plugin_dir = /etc/audit/plugins.d
q_depth = 2000
overflow_action = IGNORE
end_of_event_timeout = 1
"""


def status() -> dict[str, str]:
    out = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


@dataclass
class Audit:
    """The running auditd plus the audit state to put back when the lab stops."""

    service: Service
    enabled_before: str
    keys: set[str] = field(default_factory=set)

    def add_rule(self, rule: list[str], key: str) -> None:
        if not key.startswith(KEY_PREFIX):
            raise ValueError(f"lab audit keys start with {KEY_PREFIX!r}")
        self.keys.add(key)
        subprocess.run(["auditctl", *rule, "-k", key], check=True, capture_output=True)

    def remove_rules(self, key: str) -> None:
        subprocess.run(["auditctl", "-D", "-k", key], check=True, capture_output=True)
        self.keys.discard(key)

    def events(self, key: str) -> list[str]:
        """Raw log lines of the syscall events that carry `key` (whole events, every record of each)."""
        text = LOG.read_text(errors="replace") if LOG.exists() else ""
        # Syscall events only: the CONFIG_CHANGE record of adding the rule carries the key too.
        pattern = r'type=SYSCALL msg=audit\(([\d.:]+)\):[^\n]*key="' + re.escape(key) + '"'
        serials = set(re.findall(pattern, text))
        return [line for line in text.splitlines() if any(f"msg=audit({s})" in line for s in serials)]

    def stop(self) -> None:
        for key in sorted(self.keys):
            subprocess.run(["auditctl", "-D", "-k", key], capture_output=True)
        self.keys.clear()
        self.service.stop()
        subprocess.run(["auditctl", "-e", self.enabled_before], capture_output=True)


def start(log: Path) -> Audit:
    before = status()
    if before.get("enabled") == "2":
        raise ComponentError("auditd: the kernel audit configuration is locked (enabled 2); reboot to unlock")
    if before.get("pid", "0") != "0":
        raise ComponentError(
            f"auditd: another audit daemon (pid {before['pid']}) holds the kernel audit socket"
        )
    LOG.parent.mkdir(parents=True, exist_ok=True)
    Path("/etc/audit/auditd.conf").write_text(AUDITD_CONF.format(log=LOG))
    Path("/etc/audit/auditd.conf").chmod(0o640)
    service = Service("auditd", ["auditd", "-n", "-s", "enable"], log)
    audit = Audit(service, before.get("enabled", "0"))
    service.start(lambda: status().get("pid") == str(service.pid) and LOG.exists(), timeout=20)
    return audit
