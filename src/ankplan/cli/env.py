"""The CLI's environment (streams, tty-ness, terminal width, colour, variables, how nodes are
reached) and its exit statuses.

Does no I/O by itself; tests replace the streams with StringIO and the connector with fake
nodes to run every command in-process through `main(argv, env)`.
"""

from __future__ import annotations

import enum
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from ankplan.executors.transport import Transport, TransportPool


class ExitStatus(enum.IntEnum):
    """Exit codes of every ankplan command; documented in the README."""

    SUCCESS = 0
    ERROR = 1
    CHANGES_PRESENT = 2  # plan --detailed-exitcode: changes pending
    NOT_STABLE = 3  # watch --until-stable: did not settle before --duration
    GAVE_UP = 4  # watch --max-restarts: a workload exhausted its restarts
    CTRL_C = 130


@dataclass
class Env:
    """Streams and settings of one CLI invocation."""

    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    stdout_isatty: bool | None = None
    stderr_isatty: bool | None = None
    stdin_isatty: bool | None = None
    # Columns of the terminal on stdout; None: asked from the terminal when it is one.
    width: int | None = None
    # connector(node, accept_new_host_keys=...) -> Transport; None: the real one (local/SSH).
    connector: Callable[..., Transport] | None = None

    def __post_init__(self) -> None:
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _isatty(self.stderr)
        if self.stdin_isatty is None:
            self.stdin_isatty = _isatty(self.stdin)
        if self.width is None and self.stdout_isatty:
            import shutil  # only on a terminal (shutil pulls in bz2 and lzma)

            self.width = shutil.get_terminal_size().columns

    @property
    def colors(self) -> bool:
        """Colour only on a tty and with NO_COLOR unset."""
        return bool(self.stdout_isatty) and "NO_COLOR" not in self.environ

    def out_console(self, width: int | None = None) -> Console:
        """A rich console on stdout (results), `width` columns wide (default: the terminal)."""
        return _console(self.stdout, bool(self.stdout_isatty), "NO_COLOR" in self.environ,
                        width or self.width)

    def err_console(self) -> Console:
        """A rich console on stderr (progress, diagnostics, errors)."""
        return _console(self.stderr, bool(self.stderr_isatty), "NO_COLOR" in self.environ)

    def pool(self, *, accept_new_host_keys: bool = False,
             retry_failed_after: float | None = None) -> TransportPool:
        """A connection pool over this Env's connector; use it as a context manager."""
        from ankplan.executors.transport import TransportPool, connect

        return TransportPool(accept_new_host_keys=accept_new_host_keys,
                             connector=self.connector or connect,
                             retry_failed_after=retry_failed_after)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _console(stream: IO[str], tty: bool, no_color: bool, width: int | None = None) -> Console:
    from rich.console import Console  # imported on first use: rich costs ~50 ms at start-up

    return Console(file=stream, force_terminal=tty, no_color=no_color or not tty,
                   highlight=False, soft_wrap=not tty, width=width or (None if tty else 200))


@contextmanager
def signals_set(event: threading.Event, env: Env | None = None,
                message: str = "") -> Iterator[None]:
    """While inside, SIGINT and SIGTERM set `event` instead of raising (the command then
    finishes what runs and starts nothing new); the first signal prints `message` on stderr.
    Outside the main thread (tests) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if not event.is_set() and env is not None and message:
            env.stderr.write(f"\nankplan: {signal.Signals(signum).name} received: {message}\n")
        event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
