"""The Ansible rules module (freeipa_sessrec.recording.ipasessionrecording) against FreeIPA's real server API
and JSON-RPC request handling, run by Ansible (Debian 12's ansible-core and PyPI's) as a playbook would.

The server is /work/shared/tools/ipa-webui (FreeIPA 4.9.12's server code with the plugin loaded, its real
JSON-RPC handling, a lab 389-ds) on loopback HTTP; python-freeipa speaks only HTTPS, so a TLS front end on
loopback (a certificate made here, given to the module as ipa_ca_cert) stands where httpd would. The server:
IPA_WEBUI_OUT names a running one (`run --serve --out DIR`), else it is started from IPA_SOURCE (a FreeIPA
git checkout at release-4-9-12) and stopped by PID after; without either these tests skip.

Each step is checked on the server through JSON-RPC, and is run twice (idempotent) and in check mode first.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = Path(os.environ.get("IPA_WEBUI_TOOL", ROOT.parent / "shared" / "tools" / "ipa-webui" / "run"))
VENV = Path(os.environ.get("SESSREC_ANSIBLE_VENV", "/tmp/sessrec-ansible-venv"))
ANSIBLE = {"debian": Path("/usr/bin/ansible"), "pypi": VENV / "bin" / "ansible"}
MODULE = "freeipa_sessrec.recording.ipasessionrecording"


# -- the server ----------
def _read_serve_url(out: Path) -> tuple[str, str, str]:
    url, user, password = (out / "serve.url").read_text().split()
    return url, user, password


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(UI URL, admin, password) of a running ipa-webui."""
    if os.environ.get("IPA_WEBUI_OUT"):
        yield _read_serve_url(Path(os.environ["IPA_WEBUI_OUT"]))
        return
    source = os.environ.get("IPA_SOURCE")
    if not source or not TOOL.is_file():
        pytest.skip("needs IPA_WEBUI_OUT (a running ipa-webui --serve) or IPA_SOURCE and the ipa-webui tool")
    if not (Path(source) / ".git").exists() and not (Path(source) / "HEAD").is_file():
        pytest.skip(f"IPA_SOURCE={source} is not a git checkout (ipa-webui reads release-4-9-12 from git)")
    out = tmp_path_factory.mktemp("ipa-webui")
    log = open(out / "run.log", "wb")  # noqa: SIM115 - kept open for the server's life
    proc = subprocess.Popen(
        [
            str(TOOL),
            "--plugin-dir",
            str(ROOT / "ipa_plugin"),
            "--freeipa-git",
            source,
            "--serve",
            "--out",
            str(out),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 1200
        while not (out / "serve.url").is_file():
            if proc.poll() is not None:
                pytest.fail(f"ipa-webui exited ({proc.returncode}): {(out / 'run.log').read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("ipa-webui did not come up")
            time.sleep(1)
        time.sleep(0.5)
        yield _read_serve_url(out)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()


class TlsFront:
    """HTTPS on a loopback port in front of the server's loopback HTTP, as httpd would be."""

    def __init__(self, backend: tuple[str, int], cert: Path, key: Path):
        self.backend = backend
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(self.backend, timeout=120)
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pump, args=(upstream, tls), daemon=True).start()
        self._pump(tls, upstream)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


@dataclass
class Server:
    http: str  # http://127.0.0.1:PORT
    user: str
    password: str
    front: TlsFront
    ca: Path
    session: Any

    def rpc(self, method: str, *args: Any, **options: Any) -> dict[str, Any]:
        """A JSON-RPC call as admin, straight to the server (for checking what the module did)."""
        body = {"method": method, "params": [list(args), {"version": "2.235", **options}], "id": 0}
        reply = self.session.post(
            f"{self.http}/ipa/session/json", json=body, headers={"Referer": f"{self.http}/ipa"}, timeout=60
        ).json()
        if reply.get("error"):
            raise LookupError(reply["error"]["message"])
        return reply["result"]

    def rule(self, name: str) -> dict[str, Any] | None:
        try:
            return self.rpc("sessionrecording_show", name, all=True)["result"]
        except LookupError as exc:
            if "not found" in str(exc):
                return None
            raise


@pytest.fixture(scope="module")
def server(served: tuple[str, str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import requests

    url, user, password = served
    http = re.match(r"^(http://[^/]+)", url).group(1)  # type: ignore[union-attr]
    host, port = http[len("http://") :].rsplit(":", 1)
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-nodes",
            "-newkey",
            "rsa:2048",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    front = TlsFront((host, int(port)), cert, key)
    session = requests.Session()
    login = session.post(
        f"{http}/ipa/session/login_password",
        data={"user": user, "password": password},
        headers={"Referer": f"{http}/ipa"},
        timeout=60,
    )
    assert login.ok, login.text
    try:
        yield Server(http, user, password, front, cert, session)
    finally:
        front.close()


# -- the module, as Ansible runs it ----------
@dataclass
class Result:
    status: str
    data: dict[str, Any]
    output: str

    @property
    def changed(self) -> bool:
        return bool(self.data.get("changed"))

    @property
    def failed(self) -> bool:
        return self.status.startswith("FAILED")


def run_module(server: Server, ansible: str, tmp: Path, *flags: str, **args: Any) -> Result:
    binary = ANSIBLE[ansible]
    if not binary.is_file() or not (VENV / "bin" / "python").is_file():
        pytest.fail(f"{binary} or {VENV} is missing: run `make ansible-venv` and scripts/install-deps.sh")
    params = {
        "ipa_host": f"127.0.0.1:{server.front.port}",
        "ipaadmin_principal": server.user,
        "ipaadmin_password": server.password,
        "ipa_ca_cert": str(server.ca),
        **args,
    }
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "none.cfg").write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "LANG": "C.UTF-8",
        "ANSIBLE_CONFIG": str(tmp / "none.cfg"),
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "local-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "remote-tmp"),
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "ansible"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    }
    argv = [
        str(binary),
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-m",
        MODULE,
        "-a",
        json.dumps(params),
        "-e",
        f"ansible_python_interpreter={VENV / 'bin' / 'python'}",
        *flags,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp, timeout=300)
    output = done.stdout + done.stderr
    match = re.search(r"^localhost \| (\w+!?)(?: \| rc=\d+)? => (\{.*\})\s*\Z", done.stdout, re.S | re.M)
    assert match, output[-3000:]
    result = Result(match.group(1), json.loads(match.group(2)), output)
    assert server.password not in output  # no_log
    return result


def ok(result: Result) -> Result:
    assert not result.failed, result.output[-3000:]
    return result


def twice(server: Server, ansible: str, tmp: Path, check_first: bool = True, **args: Any) -> Result:
    """Check mode (reports the change, changes nothing), the run (changes), the run again (no change)."""
    before = {
        name: server.rule(name)
        for name in ([args["name"]] if isinstance(args["name"], str) else args["name"])
    }
    if check_first:
        checked = ok(run_module(server, ansible, tmp, "--check", **args))
        assert checked.changed, checked.output[-2000:]
        assert {name: server.rule(name) for name in before} == before  # nothing written
    first = ok(run_module(server, ansible, tmp, **args))
    assert first.changed, first.output[-2000:]
    again = ok(run_module(server, ansible, tmp, **args))
    assert not again.changed and again.data["commands"] == [], again.data
    return first


# -- the tests ----------
@pytest.mark.parametrize("ansible", ["debian", "pypi"])
def test_the_module_manages_a_rule_on_the_real_server(server: Server, ansible: str, tmp_path: Path) -> None:
    name = f"ansible-{ansible}"
    if server.rule(name) is not None:
        server.rpc("sessionrecording_del", name)
    try:
        # create, with members and options
        created = twice(
            server,
            ansible,
            tmp_path,
            name=name,
            description="Auditors on production",
            group=["auditors"],
            hostgroup=["prod"],
            log_input=True,
            priority=5,
            notice="Recorded.",
            watch_paths=["wa:/etc/shadow"],
        )
        assert [c[0] for c in created.data["commands"]] == [
            "sessionrecording_add",
            "sessionrecording_add_user",
            "sessionrecording_add_host",
        ]
        rule = server.rule(name)
        assert (
            rule is not None
            and rule["memberuser_group"] == ["auditors"]
            and rule["memberhost_hostgroup"] == ["prod"]
        )
        assert rule["ipasessionrecordingloginput"] in ([True], ["TRUE"])
        assert int(rule["ipasessionrecordingpriority"][0]) == 5 and rule["ipasessionrecordingnotice"] == [
            "Recorded."
        ]
        assert created.data["rules"][name]["watch_paths"] == ["wa:/etc/shadow"]

        # change options; remove one (notice), replace the watched paths
        changed = twice(
            server,
            ansible,
            tmp_path,
            name=name,
            priority=7,
            notice="",
            latency=30,
            watch_paths=["r:/etc/hosts"],
            limit_action="delay",
            transfers="metadata",
        )
        assert [c[0] for c in changed.data["commands"]] == ["sessionrecording_mod"]
        rule = server.rule(name)
        assert rule is not None and "ipasessionrecordingnotice" not in rule
        assert (
            int(rule["ipasessionrecordingpriority"][0]) == 7
            and int(rule["ipasessionrecordinglatency"][0]) == 30
        )
        assert rule["ipasessionrecordingwatchpath"] == ["r:/etc/hosts"]
        assert rule["ipasessionrecordinglimitaction"] == ["delay"]
        assert rule["ipasessionrecordingtransfers"] == ["metadata"]
        assert rule["memberuser_group"] == ["auditors"]  # settings alone leave the members

        # --diff shows the rule before and after
        diffed = ok(run_module(server, ansible, tmp_path, "--check", "--diff", name=name, priority=9))
        assert '"priority": 7' in diffed.output and '"priority": 9' in diffed.output

        # members: add and remove with action member, then exact lists with action rule
        twice(
            server, ansible, tmp_path, name=name, action="member", user=["alice"], host=["web1.example.test"]
        )
        rule = server.rule(name)
        assert (
            rule is not None
            and rule["memberuser_user"] == ["alice"]
            and rule["memberhost_host"] == ["web1.example.test"]
        )
        twice(server, ansible, tmp_path, name=name, action="member", state="absent", user=["alice", "bob"])
        rule = server.rule(name)
        assert rule is not None and "memberuser_user" not in rule and rule["memberuser_group"] == ["auditors"]
        exact = twice(server, ansible, tmp_path, name=name, group=[], host=[], hostgroup=["prod"])
        rule = server.rule(name)
        assert rule is not None and "memberuser_group" not in rule and "memberhost_host" not in rule
        assert [c[0] for c in exact.data["commands"]] == [
            "sessionrecording_remove_user",
            "sessionrecording_remove_host",
        ]

        # a category: members go first, then the category is set
        twice(server, ansible, tmp_path, name=name, hostcategory="all", hostgroup=[])
        rule = server.rule(name)
        assert rule is not None and rule["hostcategory"] == ["all"] and "memberhost_hostgroup" not in rule

        # disable and enable
        twice(server, ansible, tmp_path, name=name, state="disabled")
        assert server.rule(name)["ipaenabledflag"] in ([False], ["FALSE"])  # type: ignore[index]
        twice(server, ansible, tmp_path, name=name, state="enabled")
        assert server.rule(name)["ipaenabledflag"] in ([True], ["TRUE"])  # type: ignore[index]

        # the server's refusals, passed on as one line naming the command
        refused = run_module(server, ansible, tmp_path, name=name, log_input=False, log_output=False)
        assert refused.failed and "\n" not in refused.data["msg"]
        assert refused.data["msg"].startswith(f"sessionrecording_mod {name}: ")
        assert "a record rule must record input or output" in refused.data["msg"]
        unknown = run_module(server, ansible, tmp_path, name=name, action="member", user=["nosuch"])
        assert unknown.failed and unknown.data["msg"].startswith(
            f"sessionrecording_add_user {name}: user nosuch: "
        )
        missing = run_module(server, ansible, tmp_path, name="no-such-rule", state="enabled")
        assert missing.failed and missing.data["msg"] == "no session recording rule 'no-such-rule'"

        # delete
        twice(server, ansible, tmp_path, name=name, state="absent")
        assert server.rule(name) is None
    finally:
        if server.rule(name) is not None:
            server.rpc("sessionrecording_del", name)


def test_a_wrong_password_is_one_clear_message(server: Server, tmp_path: Path) -> None:
    result = run_module(server, "pypi", tmp_path, name="x", ipaadmin_password="Not-the-password-1")
    assert result.failed and result.data["msg"].startswith("cannot log in to 127.0.0.1:")
    assert "Not-the-password-1" not in result.output


def test_an_untrusted_certificate_is_refused(server: Server, tmp_path: Path) -> None:
    result = run_module(server, "pypi", tmp_path, name="x", ipa_ca_cert="/etc/ssl/certs/ca-certificates.crt")
    assert (
        result.failed
        and "cannot log in" in result.data["msg"]
        and "CERTIFICATE_VERIFY_FAILED" in result.data["msg"]
    )
