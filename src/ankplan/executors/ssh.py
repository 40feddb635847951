"""SSH transport with paramiko: one kept connection per node, bounded waits, argv quoted once.

Does I/O. Connecting (keys, known_hosts, ProxyJump, error translation) lives in ssh_connect.py;
failures while running are translated here into a ConnectError naming the node.
"""

from __future__ import annotations

import select
import shlex
import time
from collections.abc import Sequence

import paramiko

from ankplan.errors import ConnectError
from ankplan.executors.heartbeat import Heartbeat
from ankplan.executors.ssh_connect import OpenedClient, open_client
from ankplan.executors.transport import (
    CommandResult,
    StreamHandle,
    command_timeout,
    refuse_too_long,
)
from ankplan.model import Node


def _fail(node: Node, reason: str, hint: str = "") -> ConnectError:
    return ConnectError(node.name, reason, hint)


class SshTransport:
    """Runs commands on a node over one kept paramiko connection; argv quoted with shlex.join."""

    def __init__(self, node: Node, opened: OpenedClient) -> None:
        self.node = node
        self._opened = opened
        self._client = opened.client
        self.host_key_status = opened.host_key_status  # "known" or "learned"
        self.host_key = opened.host_key  # "ssh-ed25519 SHA256:..."
        self.lost_reason = ""  # set when the heartbeat found the node silent
        self._heartbeat: Heartbeat | None = None

    @classmethod
    def open(cls, node: Node, *, accept_new_host_keys: bool = False) -> SshTransport:
        """Connect to `node` (through its ProxyJump hosts), retrying once when transient."""
        opened = open_client(node, accept_new_host_keys=accept_new_host_keys)
        transport = opened.client.get_transport()
        assert transport is not None
        made = cls(node, opened)
        made._heartbeat = Heartbeat(transport, made._lose)
        return made

    def _lose(self, reason: str) -> None:
        """The heartbeat found the node silent: remember why, and close the connection, so
        every command and stream on it ends now instead of at its own timeout."""
        self.lost_reason = reason
        self._opened.close()

    def is_alive(self) -> bool:
        """False once the SSH connection has dropped (then the pool may reconnect)."""
        transport = self._client.get_transport()
        return not self.lost_reason and transport is not None and transport.is_active()

    def _lost(self) -> ConnectError:
        return _fail(self.node, self.lost_reason or f"connection to {self.node.address} was lost",
                     "is the node up and reachable?")

    def _session(self, timeout: float) -> paramiko.Channel:
        transport = self._client.get_transport()
        if not self.is_alive() or transport is None:
            raise self._lost()
        try:
            return transport.open_session(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as error:
            if not self.is_alive():
                raise self._lost() from None
            raise _fail(self.node, f"cannot open an SSH session: {error}",
                        "the node may limit sessions (MaxSessions) or have dropped us") from None

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        """Run `argv` through the node's shell, quoted; the channel is killed after `timeout`.

        A command line over the shell's limit is refused before anything is sent: sent, it
        would fail (`Argument list too long`) or make sshd drop the whole connection."""
        refuse_too_long(self.node, argv)
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
            if self.lost_reason:
                raise self._lost() from None
            raise _fail(self.node, f"connection lost while running {argv[0]}: "
                               f"{str(error) or type(error).__name__}") from None
        finally:
            _close(channel)
        if not self.is_alive():  # closed under the command: its exit status is not its own
            raise self._lost()
        return CommandResult(exit_code=exit_code, stdout=stdout, stderr=stderr,
                             duration=time.monotonic() - started)

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> StreamHandle:
        """Start `argv` on a channel of its own; stderr is merged into the lines read."""
        refuse_too_long(self.node, argv)
        channel = self._session(timeout)
        try:
            channel.set_combine_stderr(True)
            channel.exec_command(shlex.join(argv))
        except (paramiko.SSHException, OSError, EOFError) as error:
            _close(channel)
            raise _fail(self.node, f"cannot start {argv[0]}: "
                               f"{str(error) or type(error).__name__}") from None
        return _SshStream(channel)

    def close(self) -> None:
        """Close the connection (and its jump hosts'); running commands get end-of-input and
        hang-up."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._opened.close()


def _close(channel: paramiko.Channel) -> None:
    """Close a channel; on a connection that is already gone, closing raises, and the error
    that ended the command is the one worth reporting."""
    try:
        channel.close()
    except (paramiko.SSHException, OSError, EOFError):
        pass


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
