"""The writer lock: one ankplan writer (apply, watch, delete, destroy, restart) per node and
project at a time, released by itself when the run dies.

Does I/O. The lock is a `flock` held by a long-running shell on the node's own connection (on
a local node whose podman runs as ankplan, by ankplan itself: lock_here.py); the
shell waits on its stdin, so when ankplan exits, is killed, or loses the connection, the shell
sees end of input, exits, and the kernel drops the lock. ankplan also sends a heartbeat line
every few seconds, and the shell gives the lock up when none came for HEARTBEAT_TIMEOUT: a run
that vanished behind a network cut never tells the node's sshd, whose session would otherwise
hold the lock for hours. The lock guards one Podman: its file
name is keyed on what selects that Podman's storage on the node (user, CONTAINERS_CONF,
CONTAINERS_STORAGE_CONF, the podman command with its global options), so nodes that share a
filesystem (the test bed) never share a lock. `podman info` would name the run root too, but
costs ~0.25 s per node; this costs one shell round trip. The project is part of the name, so
writers of different projects on one node never block each other.

`acquire_locks` serves one-shot writers (all or nothing); `LockKeeper` serves `watch`, which
runs for long: it holds what it can reach, re-takes a lock lost with its connection in the
background, and acts on a node only while it holds that node's lock.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Self

from ankplan.errors import AnkplanError, LockError
from ankplan.executors import lock_here
from ankplan.executors.transport import StreamHandle, TransportPool
from ankplan.model import Node
from ankplan.podman.nodestore import UID_SCRIPT

# $1 = the node's podman command, $2 = the project ("" = the whole node). Sets f to the lock
# file path for that Podman and project, in a directory only this user can write (root:
# /run/ankplan; others: $XDG_RUNTIME_DIR or /tmp), or says on stdout why it cannot and exits 3.
# Read when the lock command is built (tests point it at a folder of their own).
LOCK_PATH_SCRIPT = (
    UID_SCRIPT + 'if [ "$u" = 0 ]; then d=/run/ankplan; else d=${XDG_RUNTIME_DIR:-/tmp}/ankplan-$u; fi; '
    '{ [ -d "$d" ] || mkdir -p -m 700 "$d"; } && [ -O "$d" ] '
    '|| { echo "cannot use lock directory $d"; exit 3; }; '
    'k=$(printf "%s|%s|%s|%s" "$u" "${CONTAINERS_CONF:-}" "${CONTAINERS_STORAGE_CONF:-}" "$1" '
    '| cksum); f=$d/apply-${k%% *}${2:+-$2}.lock; '
)
SAFE_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # what `--project` accepts
RETRY_INTERVAL = 0.5  # seconds between attempts while --lock-timeout allows waiting
ANSWER_TIMEOUT = 30.0  # seconds for the node's shell to say LOCKED or BUSY
HEARTBEAT_INTERVAL = 5.0  # seconds between the heartbeat lines ankplan sends to each lock
RELOCK_INTERVAL = 2.0  # seconds between a long-running writer's tries to re-take a lock
HEARTBEAT_TIMEOUT = 30  # seconds without a heartbeat after which the node gives the lock up

# After LOCK_PATH_SCRIPT, $3 = holder description, $4 = heartbeat timeout: one shell finds the
# lock file and takes it (a second shell only for the path would cost each writer ~10 ms before
# its first command). Prints "LOCKED <file>" and then holds the lock (fd 9, kept open by this
# shell) while a line arrives every $4 seconds and stdin stays open, or prints "BUSY <file>"
# and the current holder. Where `timeout` is missing or too old to take `timeout N cmd`, it
# holds the lock until stdin closes.
LOCK_HOLD_SCRIPT = (
    'exec 9>>"$f" || exit 3; '
    'if flock -n 9; then printf "%s\\n" "$3" > "$f.holder"; printf "LOCKED %s\\n" "$f"; '
    'if timeout 5 true 2>/dev/null; then '
    "while timeout \"$4\" sh -c 'IFS= read -r line'; do :; done; "
    'else cat >/dev/null; fi; '
    'else printf "BUSY %s\\n" "$f"; cat "$f.holder" 2>/dev/null; fi'
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
    import getpass  # here: the writer's start-up imports neither it nor socket nor datetime

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    started = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    command = " ".join(shlex.quote(arg) for arg in argv).replace("\n", " ")
    return Holder(user=user, host=os.uname().nodename, pid=os.getpid(), started=started,
                  command=command)


def lock_argv(node: Node, holder: Holder, project: str = "") -> tuple[str, ...]:
    """The shell command that finds the lock file and takes it; runs with the node's podman
    prefix (e.g. sudo)."""
    prefix = tuple(node.podman[:-1])  # ("sudo", "podman") -> ("sudo",): same rights as podman
    return (*prefix, "sh", "-c", LOCK_PATH_SCRIPT + LOCK_HOLD_SCRIPT, "sh",
            shlex.join(node.podman), _checked_project(project), str(holder),
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
                  project: str = "", lock_timeout: float = 0.0,
                  cancel: threading.Event | None = None, forks: int = 10) -> NodeLocks:
    """Lock `project` on every node in `nodes`, all or nothing.

    First one attempt on every node at once (`forks` at a time): no attempt waits, so two
    runs cannot deadlock, and when every lock is free this costs one round trip, not one per
    node. When one is busy, the locks taken are released; with `lock_timeout` (seconds per
    node, 0 = refuse at once, like Terraform) the nodes are then locked one after the other in
    sorted order, each waiting for its holder, so two waiting runs never deadlock either. On
    any failure the locks taken so far are released and LockError (or the node's
    ConnectError) is raised.
    """
    unique = sorted({node.name: node for node in nodes}.values(), key=lambda n: n.name)
    _checked_project(project)
    locks = NodeLocks()
    try:
        busy = _try_all(pool, unique, holder, project, forks, locks)
        if busy is None:
            return locks
        locks.release()
        if lock_timeout <= 0 or (cancel is not None and cancel.is_set()):
            node, other, lock_file = busy
            raise busy_error(node, project, other, lock_file)
        locks = NodeLocks()
        for node in unique:
            locks.handles[node.name] = _acquire(pool, node, holder, lock_timeout, cancel,
                                                project)
    except BaseException:
        locks.release()
        raise
    return locks


def _try_all(pool: TransportPool, nodes: Sequence[Node], holder: Holder, project: str,
             forks: int, locks: NodeLocks) -> tuple[Node, str, str] | None:
    """One attempt on every node at once; the locks taken go into `locks`. None when all were
    taken, else the first busy node (sorted) with the holder text and the lock file. Every
    attempt ends before the first node's error (sorted) is raised."""
    outcomes: list[tuple[StreamHandle | None, str, str] | BaseException]
    if len(nodes) == 1:  # the common case: no thread, and no other attempt to wait for
        outcomes = [try_lock(pool, nodes[0], holder, project)]
    else:
        with ThreadPoolExecutor(max_workers=max(1, min(forks, len(nodes))),
                                thread_name_prefix="ankplan-lock") as executor:
            futures = [executor.submit(try_lock, pool, node, holder, project) for node in nodes]
        outcomes = [future.exception() or future.result() for future in futures]
    busy: tuple[Node, str, str] | None = None
    error: BaseException | None = None
    for node, outcome in zip(nodes, outcomes):
        if isinstance(outcome, BaseException):
            error = error or outcome
            continue
        handle, other, lock_file = outcome
        if handle is not None:
            locks.handles[node.name] = handle
        elif busy is None:
            busy = (node, other, lock_file)
    if error is not None:
        raise error
    return busy


def _checked_project(project: str) -> str:
    if project and not SAFE_PROJECT.match(project):
        raise LockError(f"invalid project name {project!r} for the lock")
    return project


def holder_verb(holder_text: str) -> str:
    """The ankplan command named in a holder text ("... : ankplan watch x.yaml" -> "watch")."""
    found = re.search(r": ankplan (\w+)", holder_text)
    return found.group(1) if found else "ankplan run"


def busy_error(node: Node, project: str, holder_text: str, lock_file: str,
               waited: float = 0.0) -> LockError:
    """The refusal naming who holds the lock, e.g. "another watch holds the lock ..."."""
    scope = f" of project {project}" if project else ""
    waited_text = f" (waited {waited:g} s)" if waited > 0 else ""
    return LockError(
        f"node {node.name}: another {holder_verb(holder_text)} holds the lock{scope}"
        f"{waited_text}: held by {holder_text}",
        detail=f"lock file: {lock_file}",
        hint="wait for it to finish, or pass --lock-timeout SECONDS to wait; the lock "
             "frees itself when that run ends (one held through a lock shell, as over SSH, also "
             f"once the node has not heard from it for {HEARTBEAT_TIMEOUT} s)")


def _acquire(pool: TransportPool, node: Node, holder: Holder, lock_timeout: float,
             cancel: threading.Event | None, project: str = "") -> StreamHandle:
    """Take one node's lock, retrying every RETRY_INTERVAL until `lock_timeout` has passed."""
    deadline = time.monotonic() + max(0.0, lock_timeout)
    while True:
        handle, other, lock_file = try_lock(pool, node, holder, project)
        if handle is not None:
            return handle
        if time.monotonic() >= deadline or (cancel is not None and cancel.is_set()):
            raise busy_error(node, project, other, lock_file, lock_timeout)
        time.sleep(min(RETRY_INTERVAL, max(0.0, deadline - time.monotonic())))


def try_lock(pool: TransportPool, node: Node, holder: Holder,
             project: str = "") -> tuple[StreamHandle | None, str, str]:
    """One attempt: (handle, "", lock file) when locked, (None, holder text, lock file) when
    busy. A local node whose podman runs as this process is locked by ankplan itself
    (lock_here.py), any other through the lock shell on the node's connection."""
    transport = pool.get(node)
    if getattr(transport, "runs_here", False) and lock_here.takes_here(node):
        return lock_here.try_lock_here(node, str(holder), _checked_project(project))
    handle = transport.open_stream(lock_argv(node, holder, project), timeout=ANSWER_TIMEOUT)
    try:
        answer = (handle.readline(timeout=ANSWER_TIMEOUT) or "").strip()
    except TimeoutError:
        handle.close()
        raise LockError(f"node {node.name}: no answer from the lock command within "
                        f"{ANSWER_TIMEOUT:g} s") from None
    except BaseException:
        handle.close()
        raise
    word, _, lock_file = answer.partition(" ")
    if word == "LOCKED" and lock_file.startswith("/"):
        return handle, "", lock_file
    rest = _read_rest(handle)
    handle.close()
    if word == "BUSY" and lock_file.startswith("/"):
        text = rest.strip()
        return None, text.splitlines()[0] if text else "(holder unknown)", lock_file
    why = (answer + " " + rest).strip()
    if why.startswith("cannot use lock directory"):
        raise LockError(f"node {node.name}: cannot find a place for the writer lock: {why}",
                        hint="the node needs `sh`, `cksum` and `flock` next to podman")
    raise LockError(f"node {node.name}: cannot take the writer lock: "
                    f"{why or 'the lock command failed'}",
                    hint="the node needs `sh`, `cksum` and `flock` (util-linux) next to podman")


def _read_rest(handle: StreamHandle) -> str:
    """What the command printed after its first line, until it exits."""
    lines: list[str] = []
    try:
        while (line := handle.readline(timeout=ANSWER_TIMEOUT)) is not None:
            lines.append(line)
    except TimeoutError:
        pass
    return "".join(lines)



class LockKeeper:
    """The locks of a long-running writer (`watch`): taken on every node it can reach at start
    (another writer holding one refuses the start), re-taken in the background when a lock
    went with its connection, and asked with `held(node)` before every action on a node.

    A node whose lock another writer took in between is left alone (`problems()` says so once)
    until that writer is done.
    """

    def __init__(self, pool: TransportPool, nodes: Sequence[Node], *, holder: Holder,
                 project: str, forks: int = 10) -> None:
        self._pool, self._holder, self._project = pool, holder, project
        self._nodes = {node.name: node for node in nodes}
        self._locks = NodeLocks()
        self._guard = threading.Lock()
        self._attempts: dict[str, Future[AnkplanError | None]] = {}
        self._problems: list[tuple[str, str]] = []
        self._refused: dict[str, str] = {}  # node name -> holder text of the other writer
        self._next_try: dict[str, float] = {}  # node name -> monotonic time of the next try
        self._executor = ThreadPoolExecutor(max_workers=max(1, min(forks, len(self._nodes))),
                                            thread_name_prefix="ankplan-lock")

    def start(self, lock_timeout: float = 0.0) -> None:
        """Lock every node; raises LockError when another writer holds one (after waiting up
        to `lock_timeout`). A node that cannot be reached now is locked once it can."""
        outcomes = list(self._executor.map(lambda node: self._take(node, lock_timeout),
                                           self._nodes.values()))
        refused = [error for error in outcomes if isinstance(error, LockError)]
        if refused:
            self.release()
            raise refused[0]

    def _take(self, node: Node, lock_timeout: float) -> AnkplanError | None:
        """Try to lock one node; the error (ConnectError, LockError) instead of raising it."""
        try:
            handle = _acquire(self._pool, node, self._holder, lock_timeout, None,
                              self._project)
        except LockError as error:
            other = error.summary.partition("held by ")[2]
            with self._guard:
                if self._refused.get(node.name) != other:
                    message = f"{error.summary}; not acting on the node until it is free"
                    self._problems.append((node.name, message))
                self._refused[node.name] = other
            return error
        except AnkplanError as error:
            return error
        with self._guard:
            self._locks.handles[node.name] = handle
            self._refused.pop(node.name, None)
        return None

    def held(self, node_name: str) -> bool:
        """True while this run holds the node's lock (its lock shell still runs)."""
        with self._guard:
            handle = self._locks.handles.get(node_name)
        if handle is None or handle.exit_code() is not None:
            return False
        try:
            return handle.readline(timeout=0) is not None
        except TimeoutError:
            return True  # nothing to read: the lock shell waits for heartbeats, as it should

    def refresh(self) -> None:
        """Re-take, in the background, every lock that is not held (lost with a connection,
        or refused before); returns at once."""
        for name, node in self._nodes.items():
            attempt = self._attempts.get(name)
            if (attempt is not None and not attempt.done()) or self.held(name) or (
                    time.monotonic() < self._next_try.get(name, 0.0)):
                continue
            self._next_try[name] = time.monotonic() + RELOCK_INTERVAL
            with self._guard:
                dead = self._locks.handles.pop(name, None)
            if dead is not None:
                with contextlib.suppress(Exception):
                    dead.close()
            self._attempts[name] = self._executor.submit(self._take, node, 0.0)

    def problems(self) -> list[tuple[str, str]]:
        """(node, message) for every node left alone since the last call."""
        with self._guard:
            found, self._problems = self._problems, []
        return found

    def release(self) -> None:
        """Free every lock; safe to call twice."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._locks.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
