"""What apply's waiting steps see of the nodes: the same EventFeeds watch follows (one listing
per node, then its `podman events` stream; a node that cannot stream is polled alone), started
when a step first waits on observed state, and a new Snapshot whenever a feed changes.

Does I/O: the feeds' threads (events.py) and one thread here that turns their changes into
snapshots for the board. An apply whose steps all settle on their own commands' answers opens
no stream at all. The steps tell the feeds what their commands did (`note`, `forget`,
`note_health`, `relist`), so a snapshot never misses a result whose event is still on its way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ankplan.executors.apply_state import Board, Snapshot
from ankplan.executors.events import EventFeeds
from ankplan.executors.transport import TransportPool
from ankplan.model import Node, ObservedContainer
from ankplan.planner.identity import adopt_ids


class Observer:
    """The involved nodes' containers for the steps that wait on them."""

    def __init__(self, pool: TransportPool, nodes: Sequence[Node], *, project: str,
                 adopted: tuple[str, ...], board: Board, timeout: float, poll_interval: float,
                 on_modes: Callable[[dict[str, str]], None] | None = None) -> None:
        self.node_names = tuple(sorted(node.name for node in nodes))  # the nodes observed
        self._pool, self._nodes, self._project, self._adopted = pool, nodes, project, adopted
        self._timeout, self._poll_interval = timeout, poll_interval
        self._board, self._on_modes = board, on_modes
        self._feeds: EventFeeds | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._modes: dict[str, str] = {}
        self.snapshot: Snapshot | None = None

    @property
    def observations(self) -> int:
        """`podman ps` listings run so far over every node (none before the first demand)."""
        return self._feeds.listings() if self._feeds is not None else 0

    @contextmanager
    def demand(self) -> Iterator[None]:
        """Observe the nodes: the first demand starts the feeds, which then run until `stop`."""
        with self._board.changed:
            if self._feeds is None and not self._stop.is_set():
                # Containers adopted from an older ankplan carry their old project label:
                # follow every container's events then, not the project's alone.
                self._feeds = EventFeeds(self._pool, self._nodes, project=self._project,
                                         timeout=self._timeout,
                                         poll_interval=self._poll_interval,
                                         every_container=bool(self._adopted))
                self._thread = threading.Thread(target=self._loop, args=(self._feeds,),
                                                name="apply-observer", daemon=True)
                self._feeds.start()
                self._thread.start()
        yield

    def kick(self) -> None:
        """Take a snapshot now (a step's command just changed a container)."""
        if self._feeds is not None:
            self._feeds.changed.set()

    def stop(self) -> None:
        """End the streams and the snapshot thread."""
        with self._board.changed:
            self._stop.set()
            feeds, thread = self._feeds, self._thread
        if feeds is not None:
            feeds.close()
            feeds.changed.set()
        if thread is not None:
            thread.join()

    def modes(self) -> dict[str, str]:
        """node -> "events", "polling (why)" or "unreachable (why)"; {} before any demand."""
        return self._feeds.modes() if self._feeds is not None else {}

    # --- what the steps' commands did ---------------------------------------------------------

    def mark(self, node_name: str) -> int:
        """Take before a command whose result is noted (see EventFeeds.mark)."""
        return self._feeds.mark(node_name) if self._feeds is not None else 0

    def note(self, node_name: str, container: ObservedContainer, since: int) -> None:
        """A bring-up's container, running as its command returned (see NodeFeed.note)."""
        if self._feeds is not None:
            self._feeds.note(node_name, container, since)

    def forget(self, node_name: str, container_id: str) -> None:
        """A container a teardown removed."""
        if self._feeds is not None:
            self._feeds.forget(node_name, container_id)

    def note_health(self, node_name: str, container_id: str, health: str) -> None:
        """The health a `podman healthcheck run` of this apply told."""
        if self._feeds is not None:
            self._feeds.note_health(node_name, container_id, health)

    def relist(self, node_name: str) -> None:
        """A result that cannot be noted (`kube play`'s pods): list the node afresh."""
        if self._feeds is not None:
            self._feeds.relist(node_name)

    # --- the thread ----------------------------------------------------------------------------

    def _loop(self, feeds: EventFeeds) -> None:
        """A snapshot after every change of a feed (bursts fold into one), never on a timer."""
        while not self._stop.is_set():
            feeds.changed.wait()
            feeds.changed.clear()
            if self._stop.is_set():
                return
            taken = time.monotonic()
            synced = feeds.synced_at(taken)
            live = adopt_ids(feeds.observe(), self._project, self._adopted)
            with self._board.changed:
                seq = self.snapshot.seq + 1 if self.snapshot else 1
                self.snapshot = Snapshot(live=live, seq=seq, taken_at=taken,
                                         node_taken_at=synced)
                self._board.wake_held()
            self._report_modes(feeds)

    def _report_modes(self, feeds: EventFeeds) -> None:
        """Tell each node's mode once it was listed (or tried), and whenever it changes."""
        modes = {name: mode for name, mode in feeds.modes().items()
                 if feeds.feeds[name].listings}
        if modes != self._modes and self._on_modes is not None:
            self._on_modes(modes)
        self._modes = modes
