"""Transports: the pool, LocalTransport on this machine, result checks, and the SSH transport's
error translation with paramiko faked only at SSHClient."""

from __future__ import annotations

import dataclasses
import os
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import paramiko
import pytest

from ankplan.errors import AnkplanError, ConnectError, RemoteCommandError
from ankplan.executors import ssh_connect
from ankplan.executors.transport import (
    CommandResult,
    LocalTransport,
    StreamHandle,
    TransportPool,
    check_result,
    connect,
)
from ankplan.model import Connection, Node

LOCAL = Node(name="local")


class FakeTransport:
    """Records every argv and replays queued results (default: exit 0, empty output)."""

    def __init__(self, node: Node, results: Sequence[CommandResult] = ()) -> None:
        self.node = node
        self.results = list(results)
        self.calls: list[tuple[str, ...]] = []
        self.closed = False

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        self.calls.append(tuple(argv))
        if self.results:
            return self.results.pop(0)
        return CommandResult(exit_code=0, stdout="", stderr="", duration=0.0)

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> StreamHandle:
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True


def result(exit_code: int = 0, stdout: str = "", stderr: str = "") -> CommandResult:
    return CommandResult(exit_code=exit_code, stdout=stdout, stderr=stderr, duration=0.0)


# --- pool ------------------------------------------------------------------------------------


def test_pool_connects_once_per_node_and_closes_all() -> None:
    made: list[FakeTransport] = []

    def connector(node: Node, *, accept_new_host_keys: bool) -> FakeTransport:
        time.sleep(0.05)  # widen the race window
        made.append(FakeTransport(node))
        return made[-1]

    nodes = [Node(name=f"n{i}") for i in range(3)]
    with TransportPool(connector=connector) as pool:
        threads = [threading.Thread(target=pool.get, args=(node,))
                   for node in nodes for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert pool.get(nodes[0]) is pool.get(nodes[0])
        assert pool.connections_opened == 3
    assert sorted(t.node.name for t in made) == ["n0", "n1", "n2"]
    assert all(t.closed for t in made)


def test_pool_remembers_a_failed_connect() -> None:
    attempts: list[str] = []

    def connector(node: Node, *, accept_new_host_keys: bool) -> FakeTransport:
        attempts.append(node.name)
        raise ConnectError(node.name, "connection refused", "start sshd")

    pool = TransportPool(connector=connector)
    for _ in range(3):
        with pytest.raises(ConnectError, match="connection refused"):
            pool.get(LOCAL)
    assert attempts == ["local"]


def test_pool_passes_accept_new_host_keys() -> None:
    seen: list[bool] = []

    def connector(node: Node, *, accept_new_host_keys: bool) -> FakeTransport:
        seen.append(accept_new_host_keys)
        return FakeTransport(node)

    TransportPool(accept_new_host_keys=True, connector=connector).get(LOCAL)
    assert seen == [True]


def test_connect_local_gives_local_transport() -> None:
    assert isinstance(connect(LOCAL), LocalTransport)


# --- local transport (real processes, no shell) ----------------------------------------------


def test_local_run_no_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    out = LocalTransport(LOCAL).run(["echo", f"$(touch {marker})", ";", "touch", str(marker)],
                                    timeout=5)
    assert out.exit_code == 0
    assert out.stdout == f"$(touch {marker}) ; touch {marker}\n"
    assert not marker.exists()


def test_local_run_stdin_stderr_exit_code() -> None:
    out = LocalTransport(LOCAL).run(["sh", "-c", "cat; echo oops >&2; exit 3"], timeout=5,
                                    stdin="hello")
    assert (out.exit_code, out.stdout, out.stderr) == (3, "hello", "oops\n")
    assert out.duration > 0


def test_local_run_missing_program_is_127() -> None:
    out = LocalTransport(LOCAL).run(["podman-nope", "ps"], timeout=5)
    assert out.exit_code == 127
    node = Node(name="local", podman=("podman-nope",))
    with pytest.raises(ConnectError, match="podman not installed .*'podman-nope'"):
        check_result(node, ["podman-nope", "ps"], out)


def test_local_run_timeout_kills_and_names_node() -> None:
    started = time.monotonic()
    with pytest.raises(ConnectError) as caught:
        LocalTransport(LOCAL).run(["sleep", "10"], timeout=0.3)
    assert time.monotonic() - started < 5
    assert caught.value.node_name == "local"
    assert "timed out after 0.3 s" in caught.value.summary


def test_local_stream_lines_and_close() -> None:
    with LocalTransport(LOCAL).open_stream(["sh", "-c", "echo ready; cat"], timeout=5) as stream:
        assert stream.readline(timeout=5) == "ready\n"
        stream.write("echoed\n")
        assert stream.readline(timeout=5) == "echoed\n"
        with pytest.raises(TimeoutError):
            stream.readline(timeout=0.1)
        assert stream.exit_code() is None
    assert stream.readline(timeout=5) is None  # closing stdin ended `cat`
    assert stream.exit_code() is not None


# --- check_result ----------------------------------------------------------------------------


@pytest.mark.parametrize("stderr", ["bash: line 1: podman-nope: command not found\n",
                                    "sh: 1: podman-nope: not found\n",
                                    "sudo: podman-nope: command not found\n"])
def test_check_result_podman_missing(stderr: str) -> None:
    node = Node(name="n1", podman=("sudo", "podman-nope"))
    with pytest.raises(ConnectError) as caught:
        check_result(node, ["sudo", "podman-nope", "ps"], result(127, stderr=stderr))
    assert caught.value.summary == ("node n1: podman not installed (or wrong podman command "
                                    "'sudo podman-nope')")
    assert caught.value.hint


def test_check_result_container_command_missing_is_not_podman_missing() -> None:
    stderr = ("Error: runc: runc create failed: unable to start container process: exec: "
              '"nope": executable file not found in $PATH: OCI runtime attempt to invoke a '
              "command that was not found\n")
    with pytest.raises(RemoteCommandError) as caught:
        check_result(LOCAL, ["podman", "run", "img", "nope"], result(127, stderr=stderr))
    assert caught.value.exit_code == 127


def test_check_result_masks_secrets() -> None:
    argv = ["podman", "run", "-e", "PASSWORD=hunter2", "img"]
    with pytest.raises(RemoteCommandError) as caught:
        check_result(LOCAL, argv, result(125, stderr="Error: bad\n"))
    assert "hunter2" not in repr(caught.value.argv)
    assert caught.value.summary == "node local: podman failed: Error: bad"
    assert check_result(LOCAL, argv, result(0, "ok")).stdout == "ok"


# --- SSH transport: paramiko faked at SSHClient ----------------------------------------------


class FakeChannel:
    def __init__(self, stdout: bytes = b"", stderr: bytes = b"", exit_code: int | None = 0):
        self.command = ""
        self._stdout, self._stderr, self._exit = stdout, stderr, exit_code
        self.eof_received = exit_code is not None
        self.closed = False
        self.status_event = threading.Event()
        if exit_code is not None:
            self.status_event.set()
        self._read_fd, self._write_fd = os.pipe()
        self.sent = bytearray()  # what run() wrote to the command's stdin
        self.write_shut = False  # stdin closed (the command sees end of input)

    def exec_command(self, command: str) -> None:
        self.command = command

    def sendall(self, data: bytes) -> None:
        assert self.command and not self.write_shut, "stdin written before exec or after EOF"
        self.sent += data

    def shutdown_write(self) -> None:
        self.write_shut = True

    def recv_ready(self) -> bool:
        return bool(self._stdout)

    def recv(self, size: int) -> bytes:
        data, self._stdout = self._stdout, b""
        return data

    def recv_stderr_ready(self) -> bool:
        return bool(self._stderr)

    def recv_stderr(self, size: int) -> bytes:
        data, self._stderr = self._stderr, b""
        return data

    def exit_status_ready(self) -> bool:
        return self._exit is not None

    def recv_exit_status(self) -> int:
        return -1 if self._exit is None else self._exit

    def fileno(self) -> int:
        return self._read_fd

    def close(self) -> None:
        if not self.closed:
            os.close(self._read_fd)
            os.close(self._write_fd)
        self.closed = True


class FakeParamikoTransport:
    def __init__(self, channel: FakeChannel) -> None:
        self.channel = channel
        self.keepalive = 0

    def set_keepalive(self, seconds: int) -> None:
        self.keepalive = seconds

    def get_remote_server_key(self) -> paramiko.PKey:
        return SERVER_KEY

    def is_active(self) -> bool:
        return True

    def open_session(self, timeout: float | None = None) -> FakeChannel:
        return self.channel


class FakeSSHClient:
    """Stands in for paramiko.SSHClient; `errors` are raised by connect() in turn."""

    errors: ClassVar[list[BaseException]] = []
    channel: ClassVar[FakeChannel] = FakeChannel()
    instances: ClassVar[list[FakeSSHClient]] = []

    def __init__(self) -> None:
        self.connect_kwargs: dict[str, Any] = {}
        self.policy: Any = None
        self.host_keys_file = ""
        self.closed = False
        FakeSSHClient.instances.append(self)

    def set_missing_host_key_policy(self, policy: Any) -> None:
        self.policy = policy

    def connect(self, hostname: str, **kwargs: Any) -> None:
        self.connect_kwargs = {"hostname": hostname, **kwargs}
        if FakeSSHClient.errors:
            raise FakeSSHClient.errors.pop(0)
        self.policy.missing_host_key(self, hostname, SERVER_KEY)  # paramiko always asks it

    def get_transport(self) -> FakeParamikoTransport:
        return FakeParamikoTransport(FakeSSHClient.channel)

    def close(self) -> None:
        self.closed = True


def _server_key() -> paramiko.PKey:
    return paramiko.PKey.from_type_string("ssh-ed25519", bytes.fromhex(
        "0000000b7373682d6564323535313900000020") + bytes(range(32)))


SERVER_KEY = _server_key()


@pytest.fixture()
def fake_ssh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Node:
    monkeypatch.setattr(ssh_connect.paramiko, "SSHClient", FakeSSHClient)
    monkeypatch.setattr(ssh_connect.time, "sleep", lambda seconds: None)
    FakeSSHClient.errors = []
    FakeSSHClient.instances = []
    FakeSSHClient.channel = FakeChannel()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[10.231.0.11]:2222,h ssh-ed25519 {SERVER_KEY.get_base64()}\n")
    return Node(name="node1", connection=Connection.SSH, host="10.231.0.11", port=2222,
                user="root", known_hosts_file=str(known_hosts), connect_timeout=3)


def connect_error(node: Node, *errors: BaseException) -> ConnectError:
    FakeSSHClient.errors = list(errors)
    with pytest.raises(ConnectError) as caught:
        connect(node)
    assert caught.value.node_name == node.name
    assert caught.value.summary.startswith(f"node {node.name}: ")
    assert "\n" not in caught.value.summary
    return caught.value


def test_ssh_connect_options_are_strict_and_bounded(fake_ssh: Node) -> None:
    transport = connect(fake_ssh)
    kwargs = FakeSSHClient.instances[0].connect_kwargs
    assert kwargs["hostname"] == "10.231.0.11" and kwargs["port"] == 2222
    assert kwargs["username"] == "root"
    assert kwargs["timeout"] == kwargs["banner_timeout"] == kwargs["auth_timeout"] == 3
    assert kwargs["allow_agent"] is True and kwargs["look_for_keys"] is False
    assert kwargs["sock"] is None  # no ProxyJump
    assert FakeSSHClient.instances[0].policy.known.path == fake_ssh.known_hosts_file
    assert FakeSSHClient.instances[0].policy.learn is False
    assert transport.host_key_status == "known"  # type: ignore[attr-defined]
    assert transport.host_key.startswith("ssh-ed25519 SHA256:")  # type: ignore[attr-defined]


def test_ssh_run_quotes_argv_once_at_the_edge(fake_ssh: Node) -> None:
    FakeSSHClient.channel = FakeChannel(b"out\n", b"err\n", 0)
    argv = ["podman", "run", "img", "sh", "-c", "echo $(touch /tmp/x); rm -rf /"]
    out = connect(fake_ssh).run(argv, timeout=5)
    assert (out.exit_code, out.stdout, out.stderr) == (0, "out\n", "err\n")
    assert FakeSSHClient.channel.command == shlex.join(argv)
    assert shlex.split(FakeSSHClient.channel.command) == argv


def test_ssh_run_sends_stdin_then_end_of_input(fake_ssh: Node) -> None:
    manifest = "kind: Pod\nmetadata: {name: web}\n# ünïcode\n"
    FakeSSHClient.channel = FakeChannel(b"Pod:\nabc\n", b"", 0)
    out = connect(fake_ssh).run(["podman", "kube", "play", "--quiet", "-"], timeout=5,
                                stdin=manifest)
    assert out.stdout == "Pod:\nabc\n"
    assert bytes(FakeSSHClient.channel.sent) == manifest.encode()
    assert FakeSSHClient.channel.write_shut


def test_ssh_run_without_stdin_closes_it_at_once(fake_ssh: Node) -> None:
    FakeSSHClient.channel = FakeChannel(b"", b"", 0)
    connect(fake_ssh).run(["podman", "ps"], timeout=5)
    assert FakeSSHClient.channel.sent == b"" and FakeSSHClient.channel.write_shut


def test_ssh_run_timeout_closes_channel(fake_ssh: Node) -> None:
    FakeSSHClient.channel = FakeChannel(exit_code=None)
    transport = connect(fake_ssh)
    with pytest.raises(ConnectError, match=r"node node1: command timed out after 0.2 s: "
                                           r"podman run -e A=\*\*\*"):
        transport.run(["podman", "run", "-e", "A=secret"], timeout=0.2)
    assert FakeSSHClient.channel.closed


@pytest.mark.parametrize(("error", "reason", "hint"), [
    (socket.gaierror(-2, "Name or service not known"), "could not resolve host '10.231.0.11'",
     "inventory"),
    (TimeoutError("timed out"), "connection to 10.231.0.11:2222 timed out after 3 s",
     "firewall"),
    (paramiko.AuthenticationException("Authentication failed."),
     "authentication failed for user root on 10.231.0.11:2222", "authorized_keys"),
    (OSError(113, "No route to host"), "no route to host 10.231.0.11:2222", "host up"),
    (paramiko.SSHException("No authentication methods available"),
     "authentication failed for user root on 10.231.0.11:2222: no key to offer", "ssh-add"),
    (paramiko.SSHException("Incompatible ssh peer (no acceptable host key)"),
     "SSH connection to 10.231.0.11:2222 failed: Incompatible ssh peer", ""),
])
def test_ssh_connect_errors_translated(fake_ssh: Node, error: BaseException, reason: str,
                                       hint: str) -> None:
    caught = connect_error(fake_ssh, error)
    assert reason in caught.reason
    assert hint in caught.hint
    assert len(FakeSSHClient.instances) == 1  # not transient: no retry
    assert FakeSSHClient.instances[0].closed


def test_ssh_refused_is_retried_once(fake_ssh: Node) -> None:
    refused = paramiko.ssh_exception.NoValidConnectionsError(
        {("10.231.0.11", 2222): ConnectionRefusedError(111, "refused")})
    caught = connect_error(fake_ssh, refused, refused)
    assert caught.reason == "connection refused by 10.231.0.11:2222"
    assert "sshd running" in caught.hint
    assert len(FakeSSHClient.instances) == 2
    FakeSSHClient.errors = [EOFError()]
    assert connect(fake_ssh) is not None  # second attempt succeeds


def test_ssh_missing_known_hosts(fake_ssh: Node, tmp_path: Path) -> None:
    node = Node(name="n", connection=Connection.SSH, host="h",
                known_hosts_file=str(tmp_path / "nope" / "known_hosts"))
    caught = connect_error(node)
    assert "known_hosts file" in caught.reason and "not found" in caught.reason
    assert "ssh-keyscan -p 22 h >>" in caught.hint
    assert FakeSSHClient.instances == []  # refused before any network traffic
    connect(node, accept_new_host_keys=True)
    assert (tmp_path / "nope" / "known_hosts").is_file()
    assert FakeSSHClient.instances[0].policy.learn is True


OTHER_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIMgaikwv+IRp9CZIxcDiC1VckEcVjq1RRkty5JK31G3l"


def test_unknown_host_refused_then_learned_as_openssh_writes_it(fake_ssh: Node) -> None:
    known_hosts = Path(fake_ssh.known_hosts_file)
    known_hosts.write_text(f"other ssh-ed25519 {OTHER_KEY}")  # no newline at the end
    caught = connect_error(fake_ssh)
    assert "host key of 10.231.0.11:2222 is not known (ssh-ed25519 SHA256:" in caught.reason
    assert "--accept-new-host-keys" in caught.hint
    transport = connect(fake_ssh, accept_new_host_keys=True)
    assert transport.host_key_status == "learned"  # type: ignore[attr-defined]
    assert known_hosts.read_text().splitlines() == [
        f"other ssh-ed25519 {OTHER_KEY}",
        f"[10.231.0.11]:2222 ssh-ed25519 {SERVER_KEY.get_base64()}"]
    assert connect(fake_ssh).host_key_status == "known"  # type: ignore[attr-defined]


def test_learned_key_hashed_with_hash_known_hosts(fake_ssh: Node) -> None:
    known_hosts = Path(fake_ssh.known_hosts_file)
    known_hosts.write_text("")
    node = dataclasses.replace(fake_ssh, hash_known_hosts=True)
    connect(node, accept_new_host_keys=True)
    line = known_hosts.read_text()
    assert line.startswith("|1|") and "10.231.0.11" not in line
    found = subprocess.run(["ssh-keygen", "-F", "[10.231.0.11]:2222", "-f", str(known_hosts)],
                           capture_output=True, text=True, check=False)
    assert "found: line 1" in found.stdout  # OpenSSH finds what we wrote


def test_changed_key_refused_even_with_accept_new(fake_ssh: Node) -> None:
    known_hosts = Path(fake_ssh.known_hosts_file)
    known_hosts.write_text(f"# keys\n\n[10.231.0.11]:2222 ssh-ed25519 {OTHER_KEY}\n")
    for accept_new in (False, True):
        FakeSSHClient.errors = []
        with pytest.raises(ConnectError) as caught:
            connect(fake_ssh, accept_new_host_keys=accept_new)
        assert "has CHANGED (expected ssh-ed25519 SHA256:" in caught.value.reason
        assert f"from {known_hosts}:3, got ssh-ed25519 SHA256:" in caught.value.reason
        assert caught.value.hint.endswith(f"ssh-keygen -R [10.231.0.11]:2222 -f {known_hosts}")
    assert OTHER_KEY in known_hosts.read_text() and SERVER_KEY.get_base64() not in \
        known_hosts.read_text()


def test_revoked_key_refused_with_file_and_line(fake_ssh: Node) -> None:
    known_hosts = Path(fake_ssh.known_hosts_file)
    known_hosts.write_text(f"[10.231.0.11]:2222 ssh-ed25519 {SERVER_KEY.get_base64()}\n"
                           f"@revoked * ssh-ed25519 {SERVER_KEY.get_base64()}\n")
    caught = connect_error(fake_ssh)
    assert caught.reason.startswith("host key of 10.231.0.11:2222 (ssh-ed25519 SHA256:")
    assert f"is REVOKED by {known_hosts}:2; refusing to connect" in caught.reason


def test_cert_authority_and_malformed_lines_warned_not_fatal(
        fake_ssh: Node, caplog: pytest.LogCaptureFixture) -> None:
    known_hosts = Path(fake_ssh.known_hosts_file)
    known_hosts.write_text(f"@cert-authority *.lab,[10.231.0.*]:* ssh-ed25519 {OTHER_KEY}\n"
                           "garbage\n@foo h ssh-ed25519 AAAA\n"
                           f"[10.231.0.?]:2222,other ssh-ed25519 {OTHER_KEY}\n"
                           f"[10.231.0.11]:2222 ssh-ed25519 {SERVER_KEY.get_base64()}\n")
    with caplog.at_level("WARNING", logger="ankplan"):
        assert connect(fake_ssh).host_key_status == "known"  # type: ignore[attr-defined]
    warnings = [record.getMessage() for record in caplog.records]
    assert warnings == [
        f"{known_hosts}:2: expected a host pattern, a key type and a key; line skipped",
        (f"{known_hosts}:3: unknown marker '@foo' (known: @cert-authority, @revoked); "
         "line skipped"),
        (f"{known_hosts}:1: @cert-authority line skipped for [10.231.0.11]:2222: ankplan does "
         "not support host certificates")]


def _keygen(path: Path, *extra: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path), *extra],
                   check=True, capture_output=True)
    return path


def test_identity_file_permissions_refused(fake_ssh: Node, tmp_path: Path) -> None:
    key = _keygen(tmp_path / "id")
    key.chmod(0o644)
    node = Node(name="n", connection=Connection.SSH, host="h", identity_file=str(key),
                known_hosts_file=fake_ssh.known_hosts_file)
    caught = connect_error(node)
    assert "accessible by others (mode 0644)" in caught.reason
    assert caught.hint == f"chmod 600 {key}"
    key.chmod(0o600)
    connect(node)
    kwargs = FakeSSHClient.instances[-1].connect_kwargs
    assert isinstance(kwargs["pkey"], paramiko.PKey) and kwargs["look_for_keys"] is False


def test_identity_file_problems(fake_ssh: Node, tmp_path: Path) -> None:
    def node_with(key: Path) -> Node:
        return Node(name="n", connection=Connection.SSH, host="h", identity_file=str(key),
                    known_hosts_file=fake_ssh.known_hosts_file)

    assert "not found" in connect_error(node_with(tmp_path / "missing")).reason
    encrypted = _keygen(tmp_path / "enc", "-N", "secret")
    assert "ssh-add" in connect_error(node_with(encrypted)).hint
    garbage = tmp_path / "garbage"
    garbage.write_text("not a key\n")
    garbage.chmod(0o600)
    assert "not a usable private key" in connect_error(node_with(garbage)).reason


def test_identities_only_offers_no_agent_keys(fake_ssh: Node, tmp_path: Path) -> None:
    key = _keygen(tmp_path / "id")
    connect(dataclasses.replace(fake_ssh, identity_file=str(key), identities_only=True))
    kwargs = FakeSSHClient.instances[-1].connect_kwargs
    assert kwargs["allow_agent"] is False and isinstance(kwargs["pkey"], paramiko.PKey)


def test_host_key_types_known_for_the_host_are_asked_for_first() -> None:
    left, right = socket.socketpair()
    try:
        transport = ssh_connect._transport_factory(("ecdsa-sha2-nistp256", "ssh-rsa"))(left)
        offered = list(transport.get_security_options().key_types)
        assert offered[:3] == ["ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"]
        assert "ssh-ed25519" in offered[3:]  # the others stay, after them
    finally:
        left.close()
        right.close()


# --- command lines over the limit ------------------------------------------------------------


def test_too_long_command_lines_are_refused_before_they_are_sent(fake_ssh: Node) -> None:
    """Sent, they fail with `Argument list too long` or make sshd drop the connection."""
    transport = connect(fake_ssh)
    with pytest.raises(AnkplanError) as caught:
        transport.run(["podman", "run", "-e", "PASSWORD=hunter2", "x" * 131_072], timeout=5)
    assert "over the 131,072-byte limit of one argument (Linux MAX_ARG_STRLEN)" in str(
        caught.value.summary)
    assert "hunter2" not in caught.value.summary
    assert FakeSSHClient.channel.command == ""  # nothing went out
    with pytest.raises(AnkplanError, match="MAX_ARG_STRLEN"):
        transport.open_stream(["podman", "logs", "y" * 200_000], timeout=5)
    just_fits = ["echo", "z" * (131_071 - len("echo "))]
    assert transport.run(just_fits, timeout=5).ok
    assert len(FakeSSHClient.channel.command) == 131_071


def test_local_commands_over_the_limit_fail_alone() -> None:
    with pytest.raises(AnkplanError, match="node local: cannot run echo"):
        LocalTransport(LOCAL).run(["echo", "x" * 200_000], timeout=5)
    assert LocalTransport(LOCAL).run(["echo", "ok"], timeout=5).stdout == "ok\n"


def test_closing_a_channel_of_a_lost_connection_does_not_hide_the_error(fake_ssh: Node,
                                                                        monkeypatch: Any) -> None:
    """paramiko raises EOFError from close() once the connection is gone; the user must see
    `connection lost`, never `internal error: EOFError`."""
    transport = connect(fake_ssh)

    def lost(command: str) -> None:
        raise EOFError()

    def close_fails() -> None:
        raise EOFError()

    monkeypatch.setattr(FakeSSHClient.channel, "exec_command", lost)
    monkeypatch.setattr(FakeSSHClient.channel, "close", close_fails)
    with pytest.raises(ConnectError, match="connection lost while running podman: EOFError"):
        transport.run(["podman", "ps"], timeout=5)
