"""Opening an SSH connection with paramiko: identity keys, host keys checked against known_hosts
as OpenSSH checks them, ProxyJump through other hosts, and one retry on transient failures.

Does I/O (network, key and known_hosts files). Every paramiko and socket failure is translated
here, where it is raised, into a ConnectError naming the node, with a one-line reason and a hint.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import logging
import os
import random
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from ankplan.errors import ConnectError
from ankplan.executors import known_hosts as kh
from ankplan.files import NotRegularFileError, check_regular, read_regular
from ankplan.model import Node

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
DEFAULT_IDENTITIES = ("~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ed25519")
MAX_JUMPS = 8
_KNOWN_HOSTS_WRITE = threading.Lock()  # nodes connect in parallel and may learn keys at once
# Host key algorithms paramiko offers for a key type found in known_hosts.
_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}
log = logging.getLogger(__name__)
# paramiko logs a dropped connection ("Socket exception: ...") from its own thread; without a
# handler Python prints that to stderr. Every failure reaches the user as a ConnectError instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


@dataclass(slots=True)
class OpenedClient:
    """A connected, authenticated client, the clients of its jump hosts, and its host key."""

    client: paramiko.SSHClient
    jumps: tuple[paramiko.SSHClient, ...]  # nearest last; closed after the client
    host_key_status: str  # "known" or "learned"
    host_key: str  # "ssh-ed25519 SHA256:..."

    def close(self) -> None:
        """Close the client, then its jump hosts."""
        for client in (self.client, *reversed(self.jumps)):
            client.close()


class _TransientError(ConnectError):
    """A connect failure worth one retry (refused while sshd starts, reset, banner lost)."""

    def __init__(self, error: ConnectError) -> None:
        super().__init__(error.node_name, error.reason, error.hint)
        self.error = error


class _HostKeyRefused(paramiko.SSHException):
    """The presented host key is unknown, changed or revoked (`check` says which)."""

    def __init__(self, check: kh.HostKeyCheck, key: paramiko.PKey) -> None:
        super().__init__(f"host key refused: {check.verdict.value}")
        self.check = check
        self.key = key


def known_hosts_path(node: Node) -> Path:
    """The known_hosts file used for `node`."""
    return Path(os.path.expanduser(node.known_hosts_file or DEFAULT_KNOWN_HOSTS))


def host_key_name(node: Node) -> str:
    """The name a host key is filed under in known_hosts: `host` or `[host]:port`."""
    return kh.lookup_name(node.host or node.name, node.port)


def _fail(node: Node, reason: str, hint: str = "") -> ConnectError:
    return ConnectError(node.name, reason, hint)


def fingerprint(key_type: str, blob: bytes) -> str:
    """`type SHA256:...` as ssh-keygen -l prints it."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"{key_type} SHA256:{digest}"


# --- known_hosts -----------------------------------------------------------------------------


class _OpenSshPolicy(paramiko.MissingHostKeyPolicy):
    """Decides on every presented host key (the client's own host key table stays empty)."""

    def __init__(self, node: Node, known: kh.KnownHosts, learn: bool) -> None:
        self.node = node
        self.known = known
        self.lines = kh.lines_for((known,), host_key_name(node))
        self.learn = learn
        self.learned = False

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        name = host_key_name(self.node)
        check = kh.check_host_key(self.lines, key.get_name(), key.asbytes())
        for line in check.skipped_authorities:
            log.warning("%s: @cert-authority line skipped for %s: ankplan does not support "
                        "host certificates", line.where, name)
        if check.verdict is kh.Verdict.OK:
            return
        if check.verdict is not kh.Verdict.UNKNOWN or not self.learn:
            raise _HostKeyRefused(check, key)
        with _KNOWN_HOSTS_WRITE:
            kh.learn_host_key(self.known.path, name, key.get_name(), key.get_base64(),
                              hashed=self.node.hash_known_hosts)
        self.learned = True


def _read_known_hosts(node: Node, accept_new: bool) -> kh.KnownHosts:
    path = known_hosts_path(node)
    if not path.exists() and not path.is_symlink():
        if not accept_new:
            raise _fail(node, f"known_hosts file {path} not found",
                        f"after checking the key, add it: ssh-keyscan -p {node.port} "
                        f"{node.host or node.name} >> {path}; or pass --accept-new-host-keys")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.touch(mode=0o600)
        except OSError as error:
            raise _fail(node, f"cannot create known_hosts file {path}: "
                        f"{error.strerror}") from None
    try:
        known = kh.read_known_hosts(str(path))
    except OSError as error:
        hint = ("give known_hosts_file (or UserKnownHostsFile) as a regular file"
                if isinstance(error, NotRegularFileError) else "")
        raise _fail(node, f"cannot read known_hosts file {path}: {error.strerror or error}",
                    hint) from None
    for warning in known.warnings:
        log.warning("%s", warning)
    return known


def _transport_factory(known_types: tuple[str, ...]) -> Callable[..., paramiko.Transport]:
    """A paramiko Transport that asks first for the host key types known for the host, as
    OpenSSH does, so a host with several keys presents one that known_hosts holds."""
    def make(sock: Any, **kwargs: Any) -> paramiko.Transport:
        transport = paramiko.Transport(sock, **kwargs)
        options = transport.get_security_options()
        offered = list(options.key_types)
        wanted = [name for key_type in known_types
                  for name in _ALGORITHMS.get(key_type, (key_type,)) if name in offered]
        options.key_types = wanted + [name for name in offered if name not in wanted]
        return transport
    return make


# --- identity keys ---------------------------------------------------------------------------


def load_private_key(node: Node) -> paramiko.PKey | None:
    """The node's identity file as a key, refused (like OpenSSH) if others may read it."""
    if not node.identity_file:
        return None
    path = Path(os.path.expanduser(node.identity_file))
    try:
        mode = check_regular(path).st_mode
    except FileNotFoundError:
        raise _fail(node, f"identity file {path} not found",
                    "fix identity_file in the inventory") from None
    except NotRegularFileError as error:
        raise _fail(node, f"identity file {path} {error.strerror}",
                    "give identity_file as the path of a private key file") from None
    except OSError as error:
        raise _fail(node, f"cannot read identity file {path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise _fail(node, f"identity file {path} is accessible by others "
                    f"(mode {stat.S_IMODE(mode):04o}); refusing it as OpenSSH does",
                    f"chmod 600 {path}")
    return _parse_private_key(node, path)


def _parse_private_key(node: Node, path: Path) -> paramiko.PKey:
    try:
        data = read_regular(path, max_bytes=1024 * 1024)
        key = _key_from_bytes(data)
        certificate = Path(f"{path}-cert.pub")
        if certificate.exists():
            key.load_certificate(read_regular(certificate).decode("ascii"))
        return key
    except PermissionError:
        raise _fail(node, f"cannot read identity file {path}: permission denied") from None
    except (paramiko.PasswordRequiredException, TypeError):
        # cryptography raises TypeError ("password-protected") for encrypted OpenSSH keys.
        raise _fail(node, f"identity file {path} is encrypted with a passphrase",
                    f"load it into ssh-agent (ssh-add {path}) and leave identity_file unset"
                    ) from None
    except (paramiko.SSHException, ValueError, UnicodeDecodeError, OSError) as error:
        raise _fail(node, f"identity file {path} is not a usable private key "
                    f"({getattr(error, 'strerror', None) or error})") from None


def _key_from_bytes(data: bytes) -> paramiko.PKey:
    """paramiko's PKey.from_path, from bytes already read."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    loaded: object
    try:
        loaded = serialization.load_ssh_private_key(data, password=None)
    except ValueError:
        loaded = serialization.load_pem_private_key(data, password=None)
    classes: tuple[tuple[type, type[paramiko.PKey]], ...] = (
        (rsa.RSAPrivateKey, paramiko.RSAKey), (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
        (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey))
    for crypto_class, key_class in classes:
        if isinstance(loaded, crypto_class):
            return key_class.from_private_key(io.StringIO(data.decode("ascii")))
    raise ValueError(f"unsupported key type {type(loaded).__name__}")


def _default_identities() -> list[str]:
    """~/.ssh/id_* that are regular files (paramiko's look_for_keys would block on a FIFO)."""
    found = []
    for candidate in DEFAULT_IDENTITIES:
        path = os.path.expanduser(candidate)
        try:
            check_regular(path)
        except OSError:
            continue
        found.append(path)
    return found


# --- error translation -----------------------------------------------------------------------


def _translate(node: Node, error: BaseException, known_hosts: str) -> ConnectError:
    """A ConnectError for a failed connect, or a _TransientError wrapping one."""
    address = f"{node.host or node.name}:{node.port}"
    if isinstance(error, socket.gaierror):
        return _fail(node, f"could not resolve host '{node.host or node.name}'",
                     "check the node's host in the inventory (or HostName in ~/.ssh/config)")
    if isinstance(error, _HostKeyRefused):
        return _host_key_error(node, error, address, known_hosts)
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


def _host_key_error(node: Node, error: _HostKeyRefused, address: str,
                    known_hosts: str) -> ConnectError:
    presented = fingerprint(error.key.get_name(), error.key.asbytes())
    line = error.check.line
    if error.check.verdict is kh.Verdict.REVOKED and line is not None:
        return _fail(node, f"host key of {address} ({presented}) is REVOKED by {line.where}; "
                     "refusing to connect",
                     "the node must get a new host key; if the @revoked line is wrong, "
                     f"remove it from {line.path}")
    if error.check.verdict is kh.Verdict.CHANGED and line is not None:
        return _fail(node, f"host key of {address} has CHANGED (expected "
                     f"{fingerprint(line.key_type, line.key_blob)} from {line.where}, got "
                     f"{presented}); possible man-in-the-middle attack",
                     f"if the change is expected: ssh-keygen -R {host_key_name(node)} "
                     f"-f {known_hosts}")
    return _fail(node, f"host key of {address} is not known ({presented})",
                 f"verify it, then add it: ssh-keyscan -p {node.port} "
                 f"{node.host or node.name} >> {known_hosts}; or pass --accept-new-host-keys")


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


# --- connecting ------------------------------------------------------------------------------


def open_client(node: Node, *, accept_new_host_keys: bool = False) -> OpenedClient:
    """Connect to `node` (through its jump hosts), retrying once with jitter when transient."""
    for attempt in (1, 2):
        try:
            return _open(node, accept_new_host_keys, depth=0)
        except _TransientError as transient:
            if attempt == 2:
                raise transient.error from None
            time.sleep(random.uniform(0.1, 0.4))
    raise AssertionError("unreachable")


def _open(node: Node, accept_new: bool, depth: int) -> OpenedClient:
    jumps: tuple[paramiko.SSHClient, ...] = ()
    sock = None
    if node.proxy_jump is not None:
        jumps, sock = _through_jump(node, accept_new, depth)
    try:
        return _connect(node, accept_new, sock, jumps)
    except BaseException:
        for client in reversed(jumps):
            client.close()
        raise


def _through_jump(node: Node, accept_new: bool,
                  depth: int) -> tuple[tuple[paramiko.SSHClient, ...], paramiko.Channel]:
    """The jump host's clients and a direct-tcpip channel from it to `node`."""
    jump = node.proxy_jump
    assert jump is not None
    if depth >= MAX_JUMPS:
        raise _fail(node, f"more than {MAX_JUMPS} ProxyJump hops",
                    "check ProxyJump in ~/.ssh/config for a loop")
    try:
        opened = _open(jump, accept_new, depth + 1)
    except ConnectError as error:
        wrap = _TransientError if isinstance(error, _TransientError) else None
        failed = _fail(node, f"jump host {jump.name}: {error.reason}", error.hint)
        raise (wrap(failed) if wrap else failed) from None
    address = (node.host or node.name, node.port)
    transport = opened.client.get_transport()
    try:
        assert transport is not None
        channel = transport.open_channel("direct-tcpip", address, ("127.0.0.1", 0),
                                         timeout=node.connect_timeout)
    except (paramiko.SSHException, OSError, EOFError) as error:
        opened.close()
        reason = getattr(error, "text", None) or str(error) or type(error).__name__
        raise _fail(node, f"jump host {jump.name} could not connect to "
                    f"{address[0]}:{address[1]}: {reason}",
                    "is the node up and reachable from the jump host, and does the jump "
                    "host allow TCP forwarding (AllowTcpForwarding)?") from None
    return (*opened.jumps, opened.client), channel


def _connect(node: Node, accept_new: bool, sock: paramiko.Channel | None,
             jumps: tuple[paramiko.SSHClient, ...]) -> OpenedClient:
    known = _read_known_hosts(node, accept_new)
    pkey = load_private_key(node)
    client = paramiko.SSHClient()
    policy = _OpenSshPolicy(node, known, learn=accept_new)
    client.set_missing_host_key_policy(policy)
    timeout = node.connect_timeout
    identities = None if pkey else _default_identities()  # paramiko takes a list of files too
    try:
        client.connect(node.host or node.name, port=node.port, username=node.user or None,
                       pkey=pkey, key_filename=identities,  # type: ignore[arg-type]
                       look_for_keys=False,
                       allow_agent=not node.identities_only,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       channel_timeout=timeout, sock=sock,
                       transport_factory=_transport_factory(kh.known_key_types(policy.lines)))
    except (paramiko.SSHException, OSError, EOFError) as error:
        client.close()
        raise _translate(node, error, known.path) from None
    transport = client.get_transport()
    assert transport is not None
    server_key = transport.get_remote_server_key()
    return OpenedClient(client=client, jumps=jumps,
                        host_key_status="learned" if policy.learned else "known",
                        host_key=fingerprint(server_key.get_name(), server_key.asbytes()))
