"""Reach, lock and observe the nodes in a background thread while the command reads its
manifests, so that the nodes' answers (SSH connects, the lock, `podman ps`) overlap ankplan's
own work in Python (reading and checking the manifests, importing the planner and executor).

Does I/O, in one thread: opens the command's connection pool, takes the writer lock when asked
(lock_nodes), observes the nodes (observe_nodes). The thread keeps the pool and the lock until
the block ends; leaving the block on an error does not wait for slow nodes (a lock taken
meanwhile is released when the thread ends, or with the process). Every ankplan module the
thread runs is imported before it starts: two threads importing one package's modules at once
can see each other's half-initialised modules (an ImportError).
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Self

from ankplan.cli.env import Env
from ankplan.cli.options import (
    load_inventory_from_args,
    load_manifest_from_args,
    lock_nodes,
    open_pool,
)
from ankplan.errors import AnkplanError
from ankplan.executors import lock as _lock  # noqa: F401 - imported here, not in the thread
from ankplan.executors.observe import images_ahead, observe_nodes
from ankplan.model import Inventory, LiveState, Node

if TYPE_CHECKING:
    from ankplan.executors.transport import TransportPool

# Seconds a block left by an error waits for the thread to give back the lock and the pool:
# enough for nodes that answer; an unreachable one is not waited for.
ABANDON_AFTER = 0.5


class NodesAhead:
    """`with NodesAhead(...) as ahead:` starts observing; `ahead.result()` waits for it."""

    def __init__(self, args: argparse.Namespace, env: Env, nodes: Sequence[Node], *,
                 project: str, lock: bool) -> None:
        self._args, self._env, self._nodes = args, env, tuple(nodes)
        self._project, self._lock = project, lock
        self._ready = threading.Event()  # result or error known
        self._done = threading.Event()  # the block ended: give back the lock and the pool
        self._value: tuple[TransportPool, LiveState] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="nodes-ahead", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._done.set()
        self._thread.join(None if kind is None else ABANDON_AFTER)
        if kind is None and self._value is not None and self._error is not None:
            raise self._error  # giving back the lock or the pool failed

    def result(self) -> tuple[TransportPool, LiveState]:
        """The open pool (with the lock held, when asked) and the observation; raises what
        reaching, locking or observing the nodes raised."""
        self._ready.wait()
        if self._value is None:
            assert self._error is not None
            raise self._error
        return self._value

    def _run(self) -> None:
        args = self._args
        try:
            with contextlib.ExitStack() as stack:
                pool = stack.enter_context(open_pool(args, self._env))
                reader = stack.enter_context(ThreadPoolExecutor(max_workers=max(1, args.forks),
                                                                thread_name_prefix="images"))
                images = images_ahead(reader, pool, self._nodes, timeout=args.timeout)
                if self._lock:  # images are no writer's state: read while the lock is taken
                    stack.enter_context(lock_nodes(args, pool, self._nodes,
                                                   project=self._project))
                live = observe_nodes(pool, self._nodes, forks=args.forks, timeout=args.timeout,
                                     images=True, project=self._project, images_read=images)
                self._value = (pool, live)
                self._ready.set()
                self._done.wait()
        except BaseException as error:  # noqa: BLE001 - handed to the command's thread
            self._error = error
        finally:
            self._ready.set()


def inventory_first(args: argparse.Namespace, env: Env, *, stdin: str | None) -> Inventory:
    """The inventory, read before the manifests so the nodes can be reached meanwhile. When
    both are broken the manifest's error is raised, as when it was read first."""
    try:
        return load_inventory_from_args(args)
    except AnkplanError:
        load_manifest_from_args(args, env, stdin=stdin)
        raise


def import_carry_out() -> None:
    """Import what `carry_out` runs (the executor and its views) while the nodes answer."""
    import ankplan.cli.views.apply
    import ankplan.executors.apply  # noqa: F401
