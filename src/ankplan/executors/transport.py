"""The one I/O seam: run an argv on a node. Local transport (subprocess) and the connection pool.

Does I/O. The SSH transport lives in `ssh.py`; `connect(node)` picks the right one. Commands are
argv tuples and never pass through a local shell.
"""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, Self

from ankplan.errors import AnkplanError, ConnectError, RemoteCommandError
from ankplan.executors import early
from ankplan.model import Connection, Node
from ankplan.podman import mask_argv
from ankplan.podman.limits import too_long

# Exit code of a POSIX shell for "command not found"; LocalTransport reports the same.
EXIT_NOT_FOUND = 127


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResult:
    """What a command printed and how it exited; duration in seconds."""

    exit_code: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0


class StreamHandle:
    """A long-running command whose stdout is read line by line; it dies with the connection.

    A reader thread moves lines into a queue, so `readline` can wait with a timeout. `close()`
    ends the command (closes its stdin and its channel or process). Use it as a context manager.
    """

    def __init__(self, stdout: Iterable[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, args=(stdout,), daemon=True)
        self._reader.start()
        self._eof = False

    def _pump(self, stdout: Iterable[str]) -> None:
        try:
            for line in stdout:
                self._lines.put(line)
        except (OSError, ValueError, EOFError):
            pass
        finally:
            self._lines.put(None)

    def readline(self, timeout: float | None = None) -> str | None:
        """The next line (with its newline); None at end of output.

        Raises TimeoutError when no line came within `timeout` seconds.
        """
        if self._eof:
            return None
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no output within {timeout} s") from None
        if line is None:
            self._eof = True
        return line

    def lines(self) -> Iterator[str]:
        """Every line until the command ends (blocking)."""
        while (line := self.readline()) is not None:
            yield line

    def write(self, text: str) -> None:
        """Send `text` to the command's stdin."""
        raise NotImplementedError

    def exit_code(self) -> int | None:
        """The exit code once the command ended, else None."""
        raise NotImplementedError

    def close(self) -> None:
        """End the command and release its resources; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Transport(Protocol):
    """Runs argv on one node. Implementations: LocalTransport, SshTransport, test fakes."""

    node: Node

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        """Run `argv` to completion; raises ConnectError on timeout or a lost connection."""
        ...

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> StreamHandle:
        """Start `argv` and return a handle on its output; `timeout` bounds only the start."""
        ...

    def close(self) -> None:
        """Close the connection; running streams die with it."""
        ...


class _LocalStream(StreamHandle):
    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        super().__init__(process.stdout)
        self._process = process

    def write(self, text: str) -> None:
        if self._process.stdin is not None:
            self._process.stdin.write(text)
            self._process.stdin.flush()

    def exit_code(self) -> int | None:
        return self._process.poll()

    def close(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except OSError:
                pass
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class LocalTransport:
    """Runs commands on this machine with subprocess, never through a shell."""

    runs_here = True  # commands run on this machine as this process (the lock is taken here)

    def __init__(self, node: Node) -> None:
        self.node = node

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        """Run `argv` locally; a missing program gives exit code 127 like a shell would. A
        read-only command the console script began early (`early`) answers from there."""
        refuse_too_long(self.node, argv)
        started = time.monotonic()
        begun = early.take(argv) if stdin is None else None
        if begun is not None:
            return self._finish(begun, argv, timeout=timeout, started=started)
        try:
            completed = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                                       timeout=timeout, check=False,
                                       stdin=None if stdin is not None else subprocess.DEVNULL)
        except FileNotFoundError:
            return CommandResult(exit_code=EXIT_NOT_FOUND, stdout="",
                                 stderr=f"{argv[0]}: command not found",
                                 duration=time.monotonic() - started)
        except subprocess.TimeoutExpired:
            raise command_timeout(self.node, argv, timeout) from None
        return CommandResult(exit_code=completed.returncode, stdout=completed.stdout,
                             stderr=completed.stderr, duration=time.monotonic() - started)

    def _finish(self, process: subprocess.Popen[str], argv: Sequence[str], *, timeout: float,
                started: float) -> CommandResult:
        """The answer of a command begun early, waited for at most `timeout` from now."""
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise command_timeout(self.node, argv, timeout) from None
        return CommandResult(exit_code=process.returncode, stdout=stdout, stderr=stderr,
                             duration=time.monotonic() - started)

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> StreamHandle:
        """Start `argv` locally with pipes on stdin and stdout."""
        try:
            process = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, text=True, bufsize=1)
        except FileNotFoundError:
            raise ConnectError(self.node.name, f"{argv[0]}: command not found") from None
        return _LocalStream(process)

    def close(self) -> None:
        """Nothing to close locally."""


def command_timeout(node: Node, argv: Sequence[str], timeout: float) -> ConnectError:
    """The error for a command that ran longer than `timeout` seconds (it was killed)."""
    shown = " ".join(mask_argv(argv))
    return ConnectError(node.name, f"command timed out after {timeout:g} s: {shown}",
                        hint="the node or its podman is slow or stuck; check it, or raise "
                             "the timeout")


def refuse_too_long(node: Node, argv: Sequence[str]) -> None:
    """AnkplanError for a command line over the node's limit (podman/limits.py), before it is
    sent, so it fails alone and the connection stays up for every other command."""
    problem = too_long(argv)
    if problem is not None:
        shown = " ".join(mask_argv(argv[:3]))
        raise AnkplanError(f"node {node.name}: cannot run {shown} ...: {problem}",
                           hint="keep each workload's options and arguments well under 128 KiB "
                                "(`ankplan validate` checks this)")


def check_result(node: Node, argv: Sequence[str], result: CommandResult) -> CommandResult:
    """`result` if the command succeeded; else ConnectError when the podman command itself is
    missing, or RemoteCommandError (secrets masked in the argv it carries)."""
    if result.ok:
        return result
    if podman_missing(node, result):
        prefix = " ".join(node.podman)
        raise ConnectError(node.name, f"podman not installed (or wrong podman command '{prefix}')",
                           hint=f"install podman on {node.address}, or set `podman:` for this "
                                "node in the inventory")
    raise RemoteCommandError(node.name, mask_argv(argv), result.exit_code, result.stderr)


def podman_missing(node: Node, result: CommandResult) -> bool:
    """True when the shell (or sudo) could not find a program of the node's podman prefix.

    A container whose own command is missing also exits 127, but podman then says "Error: ...".
    """
    if result.ok:
        return False
    for word in node.podman:
        name = re.escape(word.rsplit("/", 1)[-1])
        pattern = rf"(^|[\s/:]){name}: ((command )?not found|No such file or directory)"
        if re.search(pattern, result.stderr, re.MULTILINE):
            return True
    return False


def connect(node: Node, *, accept_new_host_keys: bool = False) -> Transport:
    """A connected transport for `node`: local, or SSH (raises ConnectError when unreachable)."""
    if node.connection is Connection.LOCAL:
        return LocalTransport(node)
    from ankplan.executors import paramiko_import  # noqa: F401 - before paramiko's first import
    from ankplan.executors.ssh import SshTransport

    return SshTransport.open(node, accept_new_host_keys=accept_new_host_keys)


def _yes() -> bool:
    return True


class TransportPool:
    """At most one connection per node, opened lazily on first use and reused for the run.

    Thread-safe; a node whose connect failed keeps failing with the same error instead of
    waiting for its timeout again, for the rest of the run or, with `retry_failed_after`
    (watch, which runs for long), until that many seconds have passed. Closes all on exit.
    """

    def __init__(self, *, accept_new_host_keys: bool = False,
                 connector: Callable[..., Transport] = connect,
                 retry_failed_after: float | None = None) -> None:
        self._accept_new_host_keys = accept_new_host_keys
        self._connector = connector
        self.retry_failed_after = retry_failed_after
        self._failed_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._node_locks: dict[str, threading.Lock] = {}
        self._transports: dict[str, Transport] = {}
        self._failures: dict[str, ConnectError] = {}
        self.connections_opened = 0  # how many connects were attempted (for benchmarks/tests)

    def get(self, node: Node) -> Transport:
        """The transport for `node`, connecting on first use; raises ConnectError."""
        with self._lock:
            node_lock = self._node_locks.setdefault(node.name, threading.Lock())
        with node_lock:
            if node.name in self._transports:
                transport = self._transports[node.name]
                if self.retry_failed_after is None or getattr(transport, "is_alive", _yes)():
                    return transport
                del self._transports[node.name]  # dropped: reconnect, as after a failure
                transport.close()
            if node.name in self._failures:
                retry = self.retry_failed_after
                if retry is None or time.monotonic() - self._failed_at[node.name] < retry:
                    raise self._failures[node.name]
                del self._failures[node.name]
            self.connections_opened += 1
            try:
                transport = self._connector(node, accept_new_host_keys=self._accept_new_host_keys)
            except ConnectError as error:
                self._failures[node.name] = error
                self._failed_at[node.name] = time.monotonic()
                raise
            self._transports[node.name] = transport
            return transport

    def lost(self, node_name: str) -> str:
        """Why the node is out of reach for now ("" when it is not): its connection dropped
        or went silent (SSH heartbeat), or its connect failed and is not being retried yet."""
        with self._lock:
            transport = self._transports.get(node_name)
            failure = self._failures.get(node_name)
        if failure is not None:
            return failure.reason
        if transport is not None and not getattr(transport, "is_alive", _yes)():
            return getattr(transport, "lost_reason", "") or "connection lost"
        return ""

    def close(self) -> None:
        """Close every connection (errors while closing are ignored)."""
        with self._lock:
            transports = list(self._transports.values())
            self._transports.clear()
        for transport in transports:
            try:
                transport.close()
            except Exception:  # noqa: BLE001, S110 - closing must not hide the run's outcome
                pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
