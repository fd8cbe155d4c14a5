"""The Ansible role (ansible/…/roles/sessrec) applied for real, with `ansible-playbook -c local`, onto the lab
host made to look like a freshly enrolled FreeIPA client; with Debian 12's ansible-core and PyPI's.

The host is a private copy of the machine inside the lab's mount namespace. The role writes /etc (users,
groups, /etc/shells, SSSD, sshd, journald, /etc/sessrec), /opt/sessrec and /usr/local; here each of them
is a private copy (tmpfs) for the duration of a test, so the machine's own files are never touched, and the
lab's own mounts under /etc (its sssd, krb5.conf, hosts, …) stay live inside the copy. `ansible-playbook -c
local` runs as a child of the test process, in the same namespace.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sssd_helper import protocol
from tests.lab import agent as lab_agent
from tests.lab import namespace, sssd, story
from tests.lab.data import DOMAIN
from tests.lab.lab import STATE, Lab
from tests.lab.process import Service

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / "ansible"
COLLECTION = COLLECTIONS / "ansible_collections" / "freeipa_sessrec" / "recording"
ROLE = COLLECTION / "roles" / "sessrec"
ROLE_FQCN = "freeipa_sessrec.recording.sessrec"
# Debian 12's ansible-core, and a current one from PyPI (make ansible-venv).
PYPI_VENV = Path(os.environ.get("SESSREC_ANSIBLE_VENV", "/tmp/sessrec-ansible-venv"))
ANSIBLE_PLAYBOOK = {
    "debian": Path("/usr/bin/ansible-playbook"),
    "pypi": PYPI_VENV / "bin" / "ansible-playbook",
}
# What the role writes, besides /etc: each gets an empty private tmpfs. /opt/sessrec is an empty directory
# on a private /opt (the others in /opt bound in again), so the role can remove it as on a real host.
PRIVATE_EMPTY = ("/usr/local/bin", "/usr/local/lib/systemd/system", "/usr/local/lib/tmpfiles.d")
PREFIX = "/opt/sessrec"
# The agent's runtime directory: the lab's agent keeps running, unreachable by path while the role's agent
# answers on /run/sessrec/agent.sock in a private one.
PRIVATE_RUNTIME = ("/run/sessrec",)
# Written in place by useradd/userdel: private copies bound over them.
PRIVATE_FILES = ("/var/log/lastlog", "/var/log/faillog")
# What a snapshot covers; the shadow-utils backups (passwd- …) are left out.
SNAPSHOT_ROOTS = ("/etc", PREFIX, *PRIVATE_EMPTY)
SNAPSHOT_SKIP = re.compile(r"^/etc/(passwd|group|shadow|gshadow|subuid|subgid)-$")


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _mounts_below(top: str) -> list[str]:
    """Mount points strictly below `top`, in mount order (parents first)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point.startswith(top.rstrip("/") + "/"):
            found.append(point)
    return found


@contextmanager
def private_machine(stage_parent: Path) -> Iterator[None]:
    """Private /etc (a copy, with the lab's mounts under it bound in again), /opt without sessrec (the rest
    bound in again), empty /usr/local/{bin,lib/systemd/system,lib/tmpfiles.d}, private lastlog/faillog;
    all detached after."""
    if not namespace.in_private_namespace():
        raise RuntimeError("the private machine needs the lab's namespace (use the lab fixture)")
    for path in PRIVATE_EMPTY:
        if not os.path.isdir(path):
            raise RuntimeError(f"{path} is missing: run `make install` (nothing is created on the machine)")
    stage_parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix="etc-", dir=stage_parent))
    opt: Path | None = None
    mounted: list[str] = []
    try:
        _run("mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", str(stage))
        mounted.append(str(stage))
        _run("cp", "-a", "/etc/.", str(stage))
        for point in _mounts_below("/etc"):
            _run("mount", "--bind", point, str(stage) + point[len("/etc") :])
        _run("mount", "--rbind", str(stage), "/etc")
        mounted.append("/etc")
        opt = Path(tempfile.mkdtemp(prefix="opt-", dir=stage_parent))
        _run("mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", str(opt))
        mounted.append(str(opt))
        for entry in os.scandir("/opt"):
            if entry.path == PREFIX:
                continue
            if entry.is_dir(follow_symlinks=False):
                (opt / entry.name).mkdir()
            elif entry.is_symlink():
                os.symlink(os.readlink(entry.path), opt / entry.name)
                continue
            else:
                (opt / entry.name).touch()
            _run("mount", "--rbind", entry.path, str(opt / entry.name))
        _run("mount", "--rbind", str(opt), "/opt")
        mounted.append("/opt")
        for path in (*PRIVATE_EMPTY, *PRIVATE_RUNTIME):
            st = os.stat(path)
            _run("mount", "-t", "tmpfs", "-o", f"mode={st.st_mode & 0o7777:o}", "tmpfs", path)
            mounted.append(path)
        for path in PRIVATE_FILES:
            if os.path.isfile(path):
                copy = stage_parent / (Path(path).name + ".private")
                shutil.copy2(path, copy)
                _run("mount", "--bind", str(copy), path)
                mounted.append(path)
        yield
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", "-l", path], capture_output=True)
        for leftover in (stage, opt):  # empty once detached; never removed recursively (binds of /opt)
            if leftover is not None and not os.path.ismount(leftover):
                with contextlib.suppress(OSError):
                    leftover.rmdir()


@dataclass(frozen=True)
class Entry:
    kind: str
    mode: int
    uid: int
    gid: int
    content: str  # sha256 of a file, a link's target


def snapshot() -> dict[str, Entry]:
    """Every file, directory and link under the roots the role writes, with owner, mode and content."""
    out: dict[str, Entry] = {}
    for root in SNAPSHOT_ROOTS:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [*dirnames, *filenames]:
                path = os.path.join(dirpath, name)
                if SNAPSHOT_SKIP.match(path):
                    continue
                st = os.lstat(path)
                if os.path.islink(path):
                    kind, content = "link", os.readlink(path)
                elif os.path.isdir(path):
                    kind, content = "dir", ""
                elif os.path.isfile(path):
                    kind, content = "file", hashlib.sha256(Path(path).read_bytes()).hexdigest()
                else:
                    kind, content = "other", ""
                out[path] = Entry(kind, st.st_mode & 0o7777, st.st_uid, st.st_gid, content)
    return out


def differences(before: dict[str, Entry], after: dict[str, Entry]) -> list[str]:
    lines = [f"- {p}" for p in sorted(set(before) - set(after))]
    lines += [f"+ {p}" for p in sorted(set(after) - set(before))]
    lines += [
        f"~ {p}: {before[p]} -> {after[p]}" for p in sorted(set(before) & set(after)) if before[p] != after[p]
    ]
    return lines


def build_wheel(out: Path) -> Path:
    """The product's wheel, built from a copy of the checkout as scripts/install.sh builds it."""
    work = Path(tempfile.mkdtemp(prefix="sessrec-wheel-"))
    try:
        tar = subprocess.Popen(
            [
                "tar",
                "-C",
                str(ROOT),
                "--exclude=.venv",
                "--exclude=.git",
                "--exclude=*.egg-info",
                "--exclude=build",
                "--exclude=./ansible",
                "-cf",
                "-",
                ".",
            ],
            stdout=subprocess.PIPE,
        )
        subprocess.run(["tar", "-C", str(work), "-xf", "-"], stdin=tar.stdout, check=True)
        assert tar.wait() == 0
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "/usr/bin/python3",
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "--disable-pip-version-check",
                "-w",
                str(out),
                ".",
            ],
            cwd=work,
            check=True,
            capture_output=True,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (wheel,) = out.glob("*.whl")
    return wheel


@dataclass
class Run:
    argv: list[str]
    returncode: int
    output: str
    recap: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return self.recap.get("changed", -1)

    @property
    def handlers(self) -> list[str]:
        """The handlers that were notified (and ran or were skipped), by name."""
        return re.findall(r"^RUNNING HANDLER \[[^:\]]+ : ([^\]]+)\]", self.output, re.M)

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported a change."""
        names, current = [], None
        for line in self.output.splitlines():
            m = re.match(r"^(?:TASK|RUNNING HANDLER) \[(?:[^:\]]+ : )?([^\]]+)\]", line)
            if m:
                current = m.group(1)
            elif line.startswith("changed:") and current is not None:
                names.append(current)
        return names


def playbook(ansible: str, tmp: Path, variables: dict, *options: str) -> Run:
    """Apply the role to localhost (`-c local`) with `variables`; the output parsed."""
    import json

    tmp.mkdir(parents=True, exist_ok=True)
    play = tmp / "play.yml"
    play.write_text(
        "- name: Roll out session recording\n  hosts: all\n  gather_facts: false\n"
        f"  roles:\n    - role: {ROLE_FQCN}\n"
    )
    extra = tmp / "vars.json"
    extra.write_text(json.dumps({"ansible_python_interpreter": "/usr/bin/python3", **variables}))
    (tmp / "none.cfg").write_text("")
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(tmp),
        "LANG": "C.UTF-8",
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "local-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "remote-tmp"),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_CONFIG": str(tmp / "none.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    }
    argv = [
        str(ANSIBLE_PLAYBOOK[ansible]),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"@{extra}",
        *options,
        str(play),
    ]
    result = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    recap = {}
    m = re.search(r"^localhost\s+:\s+(.*)$", result.stdout, re.M)
    if m:
        recap = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
    return Run(argv, result.returncode, output, recap)


# -- the host ----------------------------------------------------------------------------------------------
AGENT_STATE = STATE / "role-agent"
USERS = ("sessrec", "tlog")  # what make install created on the machine; a new client has neither
GROUPS = ("sessrec-shell",)


def _restart_sssd(lab: Lab) -> None:
    """What the role's handler does on a booted host (the lab has no systemd): sssd rereads conf.d."""
    lab.services.pop("sssd").stop()
    lab.services["sssd"] = sssd.start(lab.logs / "sssd.log")


def _rename_user(old: str, new: str) -> None:
    """`usermod -l` on the private copy of /etc, which usermod refuses while a process of the user runs
    (the lab agent's warm recorder runs as the machine's `sessrec` all along)."""
    for name, members in (("passwd", None), ("shadow", None), ("group", 3), ("gshadow", 3)):
        path = Path("/etc") / name
        if not path.exists():
            continue
        lines = []
        for line in path.read_text().splitlines():
            fields = line.split(":")
            if members is None and fields[0] == old:
                fields[0] = new
            elif members is not None and len(fields) > members:
                fields[members] = ",".join(new if m == old else m for m in fields[members].split(","))
            lines.append(":".join(fields))
        mode = path.stat().st_mode
        path.write_text("".join(f"{line}\n" for line in lines))
        path.chmod(mode)


def _fresh_client(lab: Lab) -> None:
    """Make the private copy look like a host ipa-client-install has just enrolled, before any rollout."""
    # The machine's users and groups of these names are renamed, not deleted: their ids stay taken, so the
    # role's new ones differ, and userdel never meets a process of the machine's (uids are machine-wide).
    for user in USERS:
        if subprocess.run(["getent", "passwd", user], capture_output=True).returncode == 0:
            _rename_user(user, f"machine-{user}")
    for group in (*USERS, *GROUPS):
        if subprocess.run(["getent", "group", group], capture_output=True).returncode == 0:
            _run("groupmod", "-n", f"machine-{group}", group)
    shells = Path("/etc/shells")
    shells.write_text(
        "".join(f"{line}\n" for line in shells.read_text().splitlines() if "sessrec" not in line)
    )
    shutil.rmtree("/etc/sessrec", ignore_errors=True)
    shutil.rmtree("/etc/systemd/journald.conf.d", ignore_errors=True)
    Path("/etc/ssh/sshd_config.d/50-sessrec.conf").unlink(missing_ok=True)
    Path("/etc/ipa").mkdir(mode=0o755, exist_ok=True)
    Path("/etc/ipa/default.conf").write_text(
        lab_agent.IPA_DEFAULT_CONF.format(
            basedn=lab.data.suffix,
            realm=lab.kdc.realm,
            domain=DOMAIN,
            server=lab.ldap_server_name,
            host=lab.this_host,
        )
    )
    keytab = Path("/etc/krb5.keytab")
    shutil.copyfile(lab.kdc.host_keytab(lab.this_host), keytab)
    keytab.chmod(0o600)
    sssd.SNIPPET.unlink(missing_ok=True)  # the lab's own snippet: the role is to write it
    _restart_sssd(lab)


@dataclass
class Host:
    lab: Lab
    tmp: Path
    wheel: Path
    pristine: dict[str, Entry]
    sssd_conf: bytes
    agent: Service | None = None

    def variables(self, **extra: object) -> dict:
        return {
            "sessrec_wheel": str(self.wheel),
            # the lab's directory port, and no D-Bus activation (the lab starts every process itself)
            "sessrec_agent_config": {
                "uri": self.lab.directory_gssapi_uri,
                "dbus_autostart": False,
                "cache": str(AGENT_STATE / "rules.json"),
            },
            **extra,
        }

    def apply(self, ansible: str = "pypi", *options: str, **variables: object) -> Run:
        return playbook(ansible, self.tmp / "ansible", self.variables(**variables), *options)


@pytest.fixture(scope="module")
def host(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    missing = [name for name, path in ANSIBLE_PLAYBOOK.items() if not path.is_file()]
    if missing:
        pytest.fail(
            f"ansible-playbook missing ({', '.join(missing)}): run `make ansible-venv` (and install-deps)"
        )
    tmp = tmp_path_factory.mktemp("ansible-role")
    wheel = build_wheel(tmp / "dist")
    lab.start_default_agent()  # it keeps running; its socket's path leads to the role's agent meanwhile
    try:
        with private_machine(STATE / "ansible-private"):
            _fresh_client(lab)
            AGENT_STATE.mkdir(mode=0o700, parents=True, exist_ok=True)
            host = Host(lab, tmp, wheel, snapshot(), Path("/etc/sssd/sssd.conf").read_bytes())
            try:
                yield host
            finally:
                if host.agent is not None:
                    host.agent.stop()
    finally:
        sssd.write_login_shell_snippet(DOMAIN)  # the lab's own, as it started
        _restart_sssd(lab)


def recordings(lab: Lab, user: str) -> set[str]:
    return {e["TLOG_REC"] for e in lab.journal_entries(TLOG_USER=user)}


# -- the tests, in the order a rollout goes ----------------------------------------------------------------
@pytest.mark.parametrize("ansible", ["debian", "pypi"])
@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"sessrec_state": "gone"}, "sessrec_state must be one of: present, absent"),
        ({"sessrec_journald_rate_limit_burst": "lots"}, "sessrec_journald_rate_limit_burst"),
        ({"sessrec_ipa_domain": ["ipa.test"]}, "Invalid role variables"),  # type: str takes a list
        ({"sessrec_prefix": "opt/sessrec"}, "Invalid role variables"),
        ({"sessrec_prefix": "/usr"}, "Invalid role variables"),
        ({"sessrec_agent_config": {"no_such_key": "1"}}, "unknown keys ['no_such_key']"),
        ({"sessrec_agent_config": {"cache": "/x\nsocket = /y"}}, "not single-line"),
        ({"sessrec_wheel": ""}, "sessrec_wheel must name the product's wheel"),
    ],
)
def test_bad_variables_are_refused_before_anything_changes(
    host: Host, ansible: str, variables: dict, message: str
) -> None:
    before = snapshot()
    run = host.apply(ansible, "--check", **variables)
    assert run.returncode == 2 and run.recap.get("failed") == 1, run.output[-3000:]
    assert message in run.output, run.output[-3000:]
    assert run.changed == 0 and differences(before, snapshot()) == []


def test_check_mode_on_a_new_client_writes_nothing_and_shows_the_diff(host: Host) -> None:
    run = host.apply("pypi", "--check", "--diff")
    assert run.returncode == 0, run.output[-4000:]
    assert run.changed > 0
    assert (
        f"+[domain/{DOMAIN}]" in run.output and "+override_shell = /usr/local/bin/sessrec-shell" in run.output
    )
    assert "+RateLimitBurst=0" in run.output
    assert differences(host.pristine, snapshot()) == []


def test_before_the_rollout_no_login_is_recorded(host: Host) -> None:
    added = story.add_rules(host.lab)
    try:
        before = recordings(host.lab, "alice")
        result = host.lab.run_ssh("alice", 'echo "$0"; exit 3')
        assert (result.returncode, result.stdout) == (3, b"bash\n"), result.stderr
        assert recordings(host.lab, "alice") == before
    finally:
        story.remove_rules(host.lab, added)


@pytest.fixture(scope="module")
def applied(host: Host) -> Run:
    run = host.apply("pypi")
    assert run.returncode == 0, run.output[-6000:]
    return run


def test_the_first_run_installs_and_configures_the_client(host: Host, applied: Run) -> None:
    snippet = Path("/etc/sssd/conf.d/50-sessrec.conf")
    assert (
        snippet.read_bytes() == f"[domain/{DOMAIN}]\noverride_shell = /usr/local/bin/sessrec-shell\n".encode()
    )
    st = snippet.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o600)
    assert Path("/etc/sssd/sssd.conf").read_bytes() == host.sssd_conf  # as the IPA client wrote it
    journald = Path("/etc/systemd/journald.conf.d/50-sessrec.conf").read_text()
    assert "[Journal]\nRateLimitIntervalSec=0\nRateLimitBurst=0\n" in journald
    # Debian's sshd_config already runs sftp-server: a drop-in would make sshd refuse to start
    assert not Path("/etc/ssh/sshd_config.d/50-sessrec.conf").exists()
    for name in ("sessrec", "sessrecd", "sessrec-shell"):
        assert os.readlink(f"/usr/local/bin/{name}") == f"/opt/sessrec/bin/{name}"
    interpreter = Path("/opt/sessrec/libexec/sessrec-shell-python").stat()
    assert interpreter.st_mode & 0o7777 == 0o2755 and interpreter.st_gid == _gid("sessrec-shell")
    assert "/usr/local/bin/sessrec-shell" in Path("/etc/shells").read_text().splitlines()
    for name in ("sessrecd.service", "sessrecd.socket"):
        assert (
            Path(f"/usr/local/lib/systemd/system/{name}").read_bytes()
            == (ROOT / "sssd_helper" / "data" / name).read_bytes()
        )
    assert (
        Path("/usr/local/lib/tmpfiles.d/sessrec.conf").read_bytes()
        == (ROOT / "sssd_helper" / "data" / "sessrec.tmpfiles").read_bytes()
    )
    conf = Path("/etc/sessrec/sessrecd.conf")
    assert conf.stat().st_mode & 0o7777 == 0o600 and "dbus_autostart = no" in conf.read_text()
    for user in USERS:
        assert subprocess.run(["getent", "passwd", user], capture_output=True).returncode == 0
    version = subprocess.run(["/usr/local/bin/sessrec", "--help"], capture_output=True, text=True)
    assert version.returncode == 0 and "record" in version.stdout
    # handlers: notified for what changed (skipped here: the lab has no systemd, the test restarts sssd)
    assert set(applied.handlers) == {
        "Restart sessrecd",
        "Reload systemd",
        "Create tmpfiles",
        "Restart sssd",
        "Restart journald",
    }, applied.output[-3000:]


def _gid(group: str) -> int:
    import grp

    return grp.getgrnam(group).gr_gid


def test_after_the_rollout_a_covered_login_is_recorded_and_an_uncovered_one_is_not(
    host: Host, applied: Run
) -> None:
    import pwd

    _restart_sssd(host.lab)  # the "Restart sssd" handler's work
    host.agent = Service("sessrecd-role", ["/usr/local/bin/sessrecd"], host.lab.logs / "sessrecd-role.log")
    host.agent.start(lambda: protocol.ask("status", timeout=2)["ok"] is True, timeout=30)
    added = story.add_rules(host.lab)
    try:
        protocol.ask("sync")
        before = recordings(host.lab, "alice")
        result = host.lab.run_ssh("alice", "echo role-recorded; exit 3")
        assert (result.returncode, result.stdout) == (3, b"role-recorded\n"), result.stderr
        deadline = time.monotonic() + 15  # the journal may lag behind the login's end
        while not (new := recordings(host.lab, "alice") - before) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(new) == 1, new
        entries = host.lab.journal_entries(TLOG_REC=new.pop())
        assert {e["_UID"] for e in entries} == {str(pwd.getpwnam("sessrec").pw_uid)}  # the role's user
        before_dave = recordings(host.lab, "dave")
        result = host.lab.run_ssh("dave", 'echo "$0"; exit 4')
        assert (result.returncode, result.stdout) == (4, b"bash\n"), result.stderr
        assert recordings(host.lab, "dave") == before_dave
    finally:
        story.remove_rules(host.lab, added)


def test_a_second_run_changes_nothing_and_runs_no_handler(host: Host, applied: Run) -> None:
    before = snapshot()
    run = host.apply("pypi")
    assert run.returncode == 0 and run.changed == 0, run.changed_tasks()
    assert run.handlers == [] and differences(before, snapshot()) == []


def test_check_mode_on_the_configured_client_reports_no_change(host: Host, applied: Run) -> None:
    before = snapshot()
    run = host.apply("pypi", "--check", "--diff")
    assert run.returncode == 0 and run.changed == 0, run.changed_tasks()
    assert differences(before, snapshot()) == []


def test_absent_leaves_the_host_as_it_was(host: Host, applied: Run) -> None:
    if host.agent is not None:
        host.agent.stop()
        host.agent = None
    run = host.apply("pypi", sessrec_state="absent")
    assert run.returncode == 0, run.output[-4000:]
    assert "Restart sssd" in run.handlers
    assert differences(host.pristine, snapshot()) == []
    again = host.apply("pypi", sessrec_state="absent")
    assert again.returncode == 0 and again.changed == 0, again.changed_tasks()


def test_with_debian_ansible_an_sshd_serving_internal_sftp_is_switched_and_restored(host: Host) -> None:
    """Debian 12's ansible-core: the whole cycle, on a host whose sshd_config declares internal-sftp (which
    no login shell can record): the line is disabled, a drop-in declares sftp-server, absent restores it."""
    config = Path("/etc/ssh/sshd_config")
    original = config.read_bytes()
    try:
        config.write_bytes(
            re.sub(rb"(?m)^Subsystem\s+sftp\s+.*$", b"Subsystem sftp internal-sftp -l INFO", original)
        )
        before = snapshot()
        run = host.apply("debian", sessrec_state="present")
        assert run.returncode == 0, run.output[-6000:]
        assert "#sessrec-disabled# Subsystem sftp internal-sftp -l INFO" in config.read_text()
        dropin = Path("/etc/ssh/sshd_config.d/50-sessrec.conf").read_text()
        assert "\nSubsystem sftp /usr/lib/openssh/sftp-server\n" in dropin
        effective = subprocess.run(["/usr/sbin/sshd", "-T"], capture_output=True, text=True)
        assert "subsystem sftp /usr/lib/openssh/sftp-server" in effective.stdout, effective.stderr
        assert "Reload sshd" in run.handlers
        again = host.apply("debian", sessrec_state="present")
        assert again.returncode == 0 and again.changed == 0, again.changed_tasks()
        gone = host.apply("debian", sessrec_state="absent")
        assert gone.returncode == 0, gone.output[-4000:]
        assert differences(before, snapshot()) == []
    finally:
        config.write_bytes(original)


# -- what the role knows about the product, against the product (no lab needed) ----------------------------
def _yaml(path: Path) -> object:
    import yaml

    return yaml.safe_load(path.read_text())


def test_the_roles_knowledge_of_the_product_matches_the_product() -> None:
    import dataclasses

    from sssd_helper.config import AgentConfig

    internal = _yaml(ROLE / "vars" / "main.yml")
    assert isinstance(internal, dict)
    keys = {f.name for f in dataclasses.fields(AgentConfig)} | {"ipa_conf"}
    assert set(internal["__sessrec_agent_keys"]) == keys  # sessrecd.conf's keys (sssd_helper/config.py)
    install = (ROOT / "scripts" / "install.sh").read_text()
    entry_points = re.search(r"entry_points=\(\n(.*?)\n\)", install, re.S)
    assert entry_points is not None
    specs = re.findall(r'"(\S+) ([\w.]+):(\w+)"', entry_points.group(1))
    assert [(e["name"], e["module"], e["func"]) for e in internal["__sessrec_entry_points"]] == specs
    for name in ("sessrecd.service", "sessrecd.socket", "sessrec.tmpfiles"):
        assert (ROLE / "files" / name).read_bytes() == (ROOT / "sssd_helper" / "data" / name).read_bytes()
    deps = (ROOT / "scripts" / "install-deps.sh").read_text()
    block = deps.split("packages=(\n", 1)[1].split("\n)\n", 1)[0]
    listed = {word for line in block.splitlines() for word in line.split("#", 1)[0].split()}
    assert set(internal["__sessrec_packages"]) <= listed
    assert internal["__sessrec_login_shell"] == sssd.LOGIN_SHELL
    assert internal["__sessrec_sssd_snippet"] == str(sssd.SNIPPET)


def test_every_variable_has_a_default_a_spec_and_a_line_in_the_readme() -> None:
    defaults = _yaml(ROLE / "defaults" / "main.yml")
    specs = _yaml(ROLE / "meta" / "argument_specs.yml")
    assert isinstance(defaults, dict) and isinstance(specs, dict)
    options = specs["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults)
    readme = (ROLE / "README.md").read_text()
    for name, option in options.items():
        assert option["default"] == defaults[name], name
        assert f"`{name}`" in readme, name
