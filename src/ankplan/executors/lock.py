"""The per-node apply lock: one apply at a time per node, released by itself when the run dies.

Does I/O. The lock is a `flock` held by a long-running shell on the node's own connection; the
shell waits on its stdin, so when ankplan exits, is killed, or loses the connection, the shell
sees end of input, exits, and the kernel drops the lock. ankplan also sends a heartbeat line
every few seconds, and the shell gives the lock up when none came for HEARTBEAT_TIMEOUT: a run
that vanished behind a network cut never tells the node's sshd, whose session would otherwise
hold the lock for hours. The lock guards one Podman: its file
name is keyed on what selects that Podman's storage on the node (user, CONTAINERS_CONF,
CONTAINERS_STORAGE_CONF, the podman command with its global options), so nodes that share a
filesystem (the test bed) never share a lock. `podman info` would name the run root too, but
costs ~0.25 s per node; this costs one shell round trip.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Self

from ankplan.errors import LockError
from ankplan.executors.transport import StreamHandle, TransportPool, check_result
from ankplan.model import Node

# $1 = the node's podman command. Prints the lock file path for that Podman, in a directory
# only this user can write (root: /run/ankplan; others: $XDG_RUNTIME_DIR or /tmp).
LOCK_PATH_SCRIPT = (
    'u=$(id -u); if [ "$u" = 0 ]; then d=/run/ankplan; else d=${XDG_RUNTIME_DIR:-/tmp}/ankplan-$u; fi; '
    'mkdir -p -m 700 "$d" && [ -O "$d" ] || { echo "cannot use lock directory $d" >&2; exit 3; }; '
    'k=$(printf "%s|%s|%s|%s" "$u" "${CONTAINERS_CONF:-}" "${CONTAINERS_STORAGE_CONF:-}" "$1" '
    '| cksum | cut -d" " -f1); echo "$d/apply-$k.lock"'
)
RETRY_INTERVAL = 0.5  # seconds between attempts while --lock-timeout allows waiting
ANSWER_TIMEOUT = 30.0  # seconds for the node's shell to say LOCKED or BUSY
HEARTBEAT_INTERVAL = 5.0  # seconds between the heartbeat lines ankplan sends to each lock
HEARTBEAT_TIMEOUT = 30  # seconds without a heartbeat after which the node gives the lock up

# $1 = lock file, $2 = holder description, $3 = heartbeat timeout. Prints LOCKED and then holds
# the lock (fd 9, kept open by this shell) while a line arrives every $3 seconds and stdin stays
# open, or prints BUSY and the current holder. Where `timeout` is missing or too old to take
# `timeout N cmd`, it holds the lock until stdin closes.
LOCK_SCRIPT = (
    'exec 9>>"$1" || exit 3; '
    'if flock -n 9; then printf "%s\\n" "$2" > "$1.holder"; echo LOCKED; '
    'if timeout 5 true 2>/dev/null; then '
    "while timeout \"$3\" sh -c 'IFS= read -r line'; do :; done; "
    'else cat >/dev/null; fi; '
    'else echo BUSY; cat "$1.holder" 2>/dev/null; fi'
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Holder:
    """Who runs an apply, written into the lock's holder file so a refused run can name it."""

    user: str
    host: str
    pid: int
    started: str  # ISO 8601, UTC, seconds
    command: str

    def __str__(self) -> str:
        return f"{self.user}@{self.host} pid {self.pid} since {self.started}: {self.command}"


def this_process(argv: Sequence[str]) -> Holder:
    """The Holder describing the current process running `argv` (e.g. `ankplan apply x.yaml`)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    started = datetime.now(UTC).replace(microsecond=0).isoformat()
    command = " ".join(shlex.quote(arg) for arg in argv).replace("\n", " ")
    return Holder(user=user, host=socket.gethostname(), pid=os.getpid(), started=started,
                  command=command)


def lock_argv(node: Node, lock_file: str, holder: Holder) -> tuple[str, ...]:
    """The shell command that takes the lock; runs with the node's podman prefix (e.g. sudo)."""
    prefix = tuple(node.podman[:-1])  # ("sudo", "podman") -> ("sudo",): same rights as podman
    return (*prefix, "sh", "-c", LOCK_SCRIPT, "sh", lock_file, str(holder),
            str(HEARTBEAT_TIMEOUT))


@dataclass
class NodeLocks:
    """Locks held on several nodes; `release()` (or leaving the `with` block) frees them all.

    While held, a background thread sends each lock's shell a heartbeat line.
    """

    handles: dict[str, StreamHandle] = field(default_factory=dict)  # node name -> held lock
    _released: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread(target=self._beat, name="apply-lock-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL):
            for handle in list(self.handles.values()):
                # A lock whose connection died is gone already: nothing to keep alive.
                with contextlib.suppress(Exception):
                    handle.write("\n")

    @property
    def node_names(self) -> tuple[str, ...]:
        """The nodes locked, sorted."""
        return tuple(sorted(self.handles))

    def release(self) -> None:
        """Close every lock's shell, in reverse order; safe to call twice."""
        if self._released:
            return
        self._released = True
        self._stop.set()
        for node_name in sorted(self.handles, reverse=True):
            # A dead connection has released its lock already: errors closing it do not matter.
            with contextlib.suppress(Exception):
                self.handles[node_name].close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def acquire_locks(pool: TransportPool, nodes: Sequence[Node], *, holder: Holder,
                  lock_timeout: float = 0.0, cancel: threading.Event | None = None,
                  forks: int = 10) -> NodeLocks:
    """Lock every node in `nodes`, in sorted order so two runs never deadlock.

    The lock files are found first on all nodes in parallel, then taken one
    node after the other. Waits up to `lock_timeout` seconds per node for a busy lock (0 =
    refuse at once, like Terraform). On any failure the locks taken so far are released and
    LockError (or the node's ConnectError) is raised.
    """
    unique = sorted({node.name: node for node in nodes}.values(), key=lambda n: n.name)
    if not unique:
        return NodeLocks()
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(unique)))) as executor:
        paths = list(executor.map(lambda node: lock_file_path(pool, node), unique))
    locks = NodeLocks()
    try:
        for node, path in zip(unique, paths):
            locks.handles[node.name] = _acquire(pool, node, path, holder, lock_timeout, cancel)
    except BaseException:
        locks.release()
        raise
    return locks


def lock_file_path(pool: TransportPool, node: Node) -> str:
    """The lock file of the node's Podman, computed on the node (LOCK_PATH_SCRIPT)."""
    prefix = tuple(node.podman[:-1])  # run with the same rights as podman (e.g. sudo)
    argv = (*prefix, "sh", "-c", LOCK_PATH_SCRIPT, "sh", shlex.join(node.podman))
    result = check_result(node, argv, pool.get(node).run(argv, timeout=ANSWER_TIMEOUT))
    path = result.stdout.strip()
    if not path.startswith("/"):
        raise LockError(f"node {node.name}: cannot find a place for the apply lock: "
                        f"{result.stderr.strip() or path or 'no answer'}",
                        hint="the node needs `sh`, `cksum` and `flock` next to podman")
    return path


def _acquire(pool: TransportPool, node: Node, lock_file: str, holder: Holder,
             lock_timeout: float, cancel: threading.Event | None) -> StreamHandle:
    """Take one node's lock, retrying every RETRY_INTERVAL until `lock_timeout` has passed."""
    deadline = time.monotonic() + max(0.0, lock_timeout)
    while True:
        handle, other = _try_lock(pool, node, lock_file, holder)
        if handle is not None:
            return handle
        if time.monotonic() >= deadline or (cancel is not None and cancel.is_set()):
            waited = f" (waited {lock_timeout:g} s)" if lock_timeout > 0 else ""
            raise LockError(
                f"node {node.name}: another apply holds the lock{waited}: {other}",
                detail=f"lock file: {lock_file}",
                hint="wait for it to finish, or pass --lock-timeout SECONDS to wait; the lock "
                     "frees itself when that run ends, or once the node has not heard from it "
                     f"for {HEARTBEAT_TIMEOUT} s")
        time.sleep(min(RETRY_INTERVAL, max(0.0, deadline - time.monotonic())))


def _try_lock(pool: TransportPool, node: Node, lock_file: str,
              holder: Holder) -> tuple[StreamHandle | None, str]:
    """One attempt: (handle, "") when locked, (None, holder text) when busy."""
    handle = pool.get(node).open_stream(lock_argv(node, lock_file, holder),
                                        timeout=ANSWER_TIMEOUT)
    try:
        answer = (handle.readline(timeout=ANSWER_TIMEOUT) or "").strip()
    except TimeoutError:
        handle.close()
        raise LockError(f"node {node.name}: no answer from the lock command within "
                        f"{ANSWER_TIMEOUT:g} s") from None
    except BaseException:
        handle.close()
        raise
    if answer == "LOCKED":
        return handle, ""
    rest = _read_rest(handle)
    handle.close()
    if answer == "BUSY":
        return None, rest.strip().splitlines()[0] if rest.strip() else "(holder unknown)"
    raise LockError(f"node {node.name}: cannot take the apply lock on {lock_file}: "
                    f"{(answer + ' ' + rest).strip() or 'the lock command failed'}",
                    hint="the node needs `sh` and `flock` (util-linux) next to podman")


def _read_rest(handle: StreamHandle) -> str:
    """What the command printed after its first line, until it exits."""
    lines: list[str] = []
    try:
        while (line := handle.readline(timeout=ANSWER_TIMEOUT)) is not None:
            lines.append(line)
    except TimeoutError:
        pass
    return "".join(lines)

