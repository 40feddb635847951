"""SSH transport with paramiko: one kept connection per node, strict host keys, bounded waits.

Does I/O. Every paramiko and socket failure is translated here, where it is raised, into a
ConnectError naming the node, with a one-line reason and a hint.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import select
import shlex
import socket
import stat
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import paramiko

from ankplan.errors import ConnectError
from ankplan.executors.transport import CommandResult, StreamHandle, command_timeout
from ankplan.model import Node

KEEPALIVE_SECONDS = 15
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
_KNOWN_HOSTS_WRITE = threading.Lock()  # nodes connect in parallel and may learn keys at once
# paramiko logs a dropped connection ("Socket exception: ...") from its own thread; without a
# handler Python prints that to stderr. Every failure reaches the user as a ConnectError instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class _TransientError(ConnectError):
    """A connect failure worth one retry (refused while sshd starts, reset, banner lost)."""

    def __init__(self, error: ConnectError) -> None:
        super().__init__(error.node_name, error.reason, error.hint)
        self.error = error


class _UnknownHostKey(paramiko.SSHException):
    def __init__(self, host: str, key: paramiko.PKey) -> None:
        super().__init__(f"host key for {host} is not known")
        self.key = key


class _StrictPolicy(paramiko.MissingHostKeyPolicy):
    """Refuses unknown hosts, or with `learn` appends their key to the known_hosts file."""

    def __init__(self, known_hosts: Path, learn: bool) -> None:
        self.known_hosts = known_hosts
        self.learn = learn
        self.learned = False

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        if not self.learn:
            raise _UnknownHostKey(hostname, key)
        with _KNOWN_HOSTS_WRITE, self.known_hosts.open("a", encoding="utf-8") as known_hosts:
            known_hosts.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.learned = True


def known_hosts_path(node: Node) -> Path:
    """The known_hosts file used for `node`."""
    return Path(os.path.expanduser(node.known_hosts_file or DEFAULT_KNOWN_HOSTS))


def host_key_name(node: Node) -> str:
    """The name a host key is filed under in known_hosts: `host` or `[host]:port`."""
    host = node.host or node.name
    return host if node.port == 22 else f"[{host}]:{node.port}"


def _fail(node: Node, reason: str, hint: str = "") -> ConnectError:
    return ConnectError(node.name, reason, hint)


def _prepare_known_hosts(node: Node, accept_new: bool) -> Path:
    path = known_hosts_path(node)
    if path.is_file():
        return path
    if not accept_new:
        raise _fail(node, f"known_hosts file {path} not found",
                    f"after checking the key, add it: ssh-keyscan -p {node.port} "
                    f"{node.host or node.name} >> {path}; or pass --accept-new-host-keys")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600)
    except OSError as error:
        raise _fail(node, f"cannot create known_hosts file {path}: {error.strerror}") from None
    return path


def load_private_key(node: Node) -> paramiko.PKey | None:
    """The node's identity file as a key, refused (like OpenSSH) if others may read it."""
    if not node.identity_file:
        return None
    path = Path(os.path.expanduser(node.identity_file))
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise _fail(node, f"identity file {path} not found",
                    "fix identity_file in the inventory") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise _fail(node, f"identity file {path} is accessible by others "
                    f"(mode {stat.S_IMODE(mode):04o}); refusing it as OpenSSH does",
                    f"chmod 600 {path}")
    try:
        return paramiko.PKey.from_path(path)
    except PermissionError:
        raise _fail(node, f"cannot read identity file {path}: permission denied") from None
    except (paramiko.PasswordRequiredException, TypeError):
        # cryptography raises TypeError ("password-protected") for encrypted OpenSSH keys.
        raise _fail(node, f"identity file {path} is encrypted with a passphrase",
                    f"load it into ssh-agent (ssh-add {path}) and leave identity_file unset"
                    ) from None
    except (paramiko.SSHException, ValueError, OSError) as error:
        raise _fail(node, f"identity file {path} is not a usable private key ({error})") from None


def _fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def _translate(node: Node, error: BaseException, known_hosts: Path) -> ConnectError:
    """A ConnectError for a failed connect, or a _TransientError wrapping one."""
    address = f"{node.host or node.name}:{node.port}"
    if isinstance(error, socket.gaierror):
        return _fail(node, f"could not resolve host '{node.host or node.name}'",
                     "check the node's host in the inventory (or HostName in ~/.ssh/config)")
    if isinstance(error, _UnknownHostKey):
        return _fail(node, f"host key of {address} is not known ({_fingerprint(error.key)})",
                     f"verify it, then add it: ssh-keyscan -p {node.port} "
                     f"{node.host or node.name} >> {known_hosts}; or pass "
                     "--accept-new-host-keys")
    if isinstance(error, paramiko.BadHostKeyException):
        return _fail(node, f"host key of {address} has CHANGED (expected "
                     f"{_fingerprint(error.expected_key)}, got {_fingerprint(error.key)}); "
                     "possible man-in-the-middle attack",
                     f"if the change is expected: ssh-keygen -R {host_key_name(node)} "
                     f"-f {known_hosts}")
    if isinstance(error, paramiko.AuthenticationException):
        user = node.user or "(current user)"
        key = node.identity_file or "ssh-agent and default keys"
        return _fail(node, f"authentication failed for user {user} on {address}",
                     f"check user and identity_file (tried: {key}); is the public key in "
                     "the node's authorized_keys?")
    if "No authentication methods available" in str(error):
        return _fail(node, f"authentication failed for user {node.user or '(current user)'} "
                     f"on {address}: no key to offer",
                     "set identity_file in the inventory, or load a key into ssh-agent (ssh-add)")
    if isinstance(error, (socket.timeout, TimeoutError)):
        return _fail(node, f"connection to {address} timed out after "
                     f"{node.connect_timeout:g} s",
                     "is the host up and the port reachable (firewall)?")
    return _translate_network(node, error, address)


def _translate_network(node: Node, error: BaseException, address: str) -> ConnectError:
    if _is_refused(error):
        return _TransientError(_fail(node, f"connection refused by {address}",
                                     f"is sshd running and listening on port {node.port}?"))
    if isinstance(error, OSError) and error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return _fail(node, f"no route to host {address}", "is the host up and on this network?")
    if isinstance(error, (EOFError, ConnectionResetError)) or "banner" in str(error):
        return _TransientError(_fail(node, f"SSH handshake with {address} failed: "
                                     f"{error or type(error).__name__}",
                                     "is it an SSH server, and is it overloaded (MaxStartups)?"))
    return _fail(node, f"SSH connection to {address} failed: {error or type(error).__name__}")


def _is_refused(error: BaseException) -> bool:
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        return all(getattr(e, "errno", None) == errno.ECONNREFUSED
                   for e in error.errors.values())
    return isinstance(error, ConnectionRefusedError)


def _connect_client(node: Node, accept_new: bool) -> tuple[paramiko.SSHClient, _StrictPolicy]:
    known_hosts = _prepare_known_hosts(node, accept_new)
    pkey = load_private_key(node)
    client = paramiko.SSHClient()
    try:
        client.load_host_keys(str(known_hosts))
    except (OSError, paramiko.SSHException, ValueError) as error:
        raise _fail(node, f"cannot read known_hosts file {known_hosts}: {error}") from None
    policy = _StrictPolicy(known_hosts, learn=accept_new)
    client.set_missing_host_key_policy(policy)
    timeout = node.connect_timeout
    try:
        client.connect(node.host or node.name, port=node.port, username=node.user or None,
                       pkey=pkey, look_for_keys=pkey is None, allow_agent=True,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       channel_timeout=timeout)
    except (paramiko.SSHException, OSError, EOFError) as error:
        client.close()
        raise _translate(node, error, known_hosts) from None
    return client, policy


class SshTransport:
    """Runs commands on a node over one kept paramiko connection; argv quoted with shlex.join."""

    def __init__(self, node: Node, client: paramiko.SSHClient, *, host_key_status: str,
                 host_key: str) -> None:
        self.node = node
        self._client = client
        self.host_key_status = host_key_status  # "known" or "learned"
        self.host_key = host_key  # "ssh-ed25519 SHA256:..."

    @classmethod
    def open(cls, node: Node, *, accept_new_host_keys: bool = False) -> SshTransport:
        """Connect to `node`, retrying once with jitter on transient failures."""
        for attempt in (1, 2):
            try:
                client, policy = _connect_client(node, accept_new_host_keys)
                break
            except _TransientError as transient:
                if attempt == 2:
                    raise transient.error from None
                time.sleep(random.uniform(0.1, 0.4))
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(KEEPALIVE_SECONDS)
        server_key = transport.get_remote_server_key()
        return cls(node, client, host_key=_fingerprint(server_key),
                   host_key_status="learned" if policy.learned else "known")

    def is_alive(self) -> bool:
        """False once the SSH connection has dropped (then the pool may reconnect)."""
        transport = self._client.get_transport()
        return transport is not None and transport.is_active()

    def _session(self, timeout: float) -> paramiko.Channel:
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise _fail(self.node, f"connection to {self.node.address} was lost")
        try:
            return transport.open_session(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise _fail(self.node, f"cannot open an SSH session: {error}",
                        "the node may limit sessions (MaxSessions) or have dropped us") from None

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        """Run `argv` through the node's shell, quoted; the channel is killed after `timeout`."""
        started = time.monotonic()
        channel = self._session(timeout)
        try:
            channel.exec_command(shlex.join(argv))
            if stdin:
                channel.sendall(stdin.encode())
            channel.shutdown_write()
            stdout, stderr, exit_code = _collect(channel, started + timeout)
        except TimeoutError:
            raise command_timeout(self.node, argv, timeout) from None
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise _fail(self.node, f"connection lost while running {argv[0]}: {error}") from None
        finally:
            channel.close()
        return CommandResult(exit_code=exit_code, stdout=stdout, stderr=stderr,
                             duration=time.monotonic() - started)

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> StreamHandle:
        """Start `argv` on a channel of its own; stderr is merged into the lines read."""
        channel = self._session(timeout)
        try:
            channel.set_combine_stderr(True)
            channel.exec_command(shlex.join(argv))
        except (paramiko.SSHException, OSError, EOFError) as error:
            channel.close()
            raise _fail(self.node, f"cannot start {argv[0]}: {error}") from None
        return _SshStream(channel)

    def close(self) -> None:
        """Close the connection; commands still running on it get end-of-input and hang-up."""
        self._client.close()


def _collect(channel: paramiko.Channel, deadline: float) -> tuple[str, str, int]:
    """Read stdout and stderr until the command exits; TimeoutError at `deadline`."""
    stdout, stderr = bytearray(), bytearray()
    while True:
        while channel.recv_ready():
            stdout += channel.recv(65536)
        while channel.recv_stderr_ready():
            stderr += channel.recv_stderr(65536)
        if channel.exit_status_ready() and not channel.recv_ready() \
                and not channel.recv_stderr_ready():
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if channel.eof_received or channel.closed:
            # Output is complete; only the exit status is still on its way.
            if not channel.status_event.wait(remaining):
                raise TimeoutError
        else:
            select.select([channel], [], [], min(remaining, 1.0))
    return (stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"),
            channel.recv_exit_status())


class _SshStream(StreamHandle):
    def __init__(self, channel: paramiko.Channel) -> None:
        self._channel = channel
        super().__init__(channel.makefile("r"))

    def write(self, text: str) -> None:
        self._channel.sendall(text.encode())

    def exit_code(self) -> int | None:
        if self._channel.exit_status_ready():
            return int(self._channel.recv_exit_status())
        return None

    def close(self) -> None:
        self._channel.close()
