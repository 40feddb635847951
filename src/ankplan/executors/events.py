"""Live state of the nodes kept from Podman's own events instead of polling: per node one listing
(`podman ps`, with the node's clock) and then one `podman events` stream over the node's kept
connection, from that clock on, so nothing between the two is missed.

Does I/O: one thread per node reads its stream (a second channel of the node's SSH connection,
or a local process). A stream that breaks is opened again after a fresh listing; a node whose
Podman cannot stream (the command ends at once, twice) is polled alone every `poll_interval`,
and `modes()` says so. A podman command ankplan ran successfully is itself an observation:
`note` and `forget` record its result at once, without waiting for its event (`relist` asks
for a fresh listing where a result cannot be noted). A podman-kube workload's containers (their
events carry their pod) are folded into one entry, as `observe_node` does. `synced_at` says up
to when a node's state includes what ankplan's own commands did (see NodeFeed.synced_at).
The project's records in the workload folders (podman/nodestore.py) are read with every
listing, and again by `refresh_records` after ankplan wrote them (watch holds the writer lock:
no one else does).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence

from ankplan.errors import AnkplanError
from ankplan.executors.observe import error_reason
from ankplan.executors.transport import StreamHandle, Transport, TransportPool, check_result
from ankplan.model import LiveState, Node, NodeObservation, ObservedContainer
from ankplan.podman import fold_pods, nodestore, parse_ps, pod_ids
from ankplan.podman.events import (
    apply_event,
    events_argv,
    parse_event,
    split_timed_ps,
    timed_ps_argv,
)

RETRY_AFTER = 1.0  # seconds before a node that could not be reached is tried again
QUICK_END = 2.0  # a stream that ends within this many seconds, without an event, failed
FAILED_STREAMS = 2  # quick ends in a row after which a node is polled instead
MAX_RELISTS = 3  # listings in a row for results noted while a listing was under way


class NodeFeed:
    """One node's containers, kept current by its event stream (or by polling)."""

    def __init__(self, pool: TransportPool, node: Node, *, project: str, timeout: float,
                 poll_interval: float, on_change: Callable[[], None],
                 every_container: bool = False) -> None:
        self.pool, self.node, self.project = pool, node, project
        self.every_container = every_container  # follow every container's events, not the
        # project's alone (apply: containers adopted from an older ankplan carry another label)
        self.timeout, self.poll_interval, self.on_change = timeout, poll_interval, on_change
        self.guard = threading.Lock()
        self.containers: dict[str, ObservedContainer] = {}
        self.removed: set[str] = set()  # ids known gone: late events must not bring them back
        self.stored = nodestore.StoreView()  # the project's records, as last read
        self.error: str | None = "not observed yet"
        self.hint = ""
        self.polling = ""  # why this node is polled instead of streamed ("" = streamed)
        self.streams_opened = 0
        self.events_seen = 0
        # Counts what changed the containers from the node's side (an event, a listing), so a
        # command's result noted later never undoes what the node said after it began.
        self.version = 0
        self.listed = 0  # `version` at the last listing
        self.touched: dict[str, int] = {}  # container id -> `version` of its last event change
        self.listings = 0  # `podman ps` listings run: the first, one per new stream, each poll
        self.listed_began = 0.0  # time.monotonic() when the listing shown began (0: none yet)
        # A result noted while a listing was under way (or a `relist` request): the listing
        # shown may predate it until a listing begun after this time (time.monotonic()) is in.
        self.doubt_since: float | None = None
        self.relist_since: float | None = None  # the same for `relist` requests
        self._listing = False  # a listing is under way
        self._during: dict[str, ObservedContainer | None] = {}  # noted (None: forgotten) meanwhile
        self._wake = threading.Event()  # ends a polled node's pause
        self._stopped = threading.Event()
        self._handle: StreamHandle | None = None
        self.thread = threading.Thread(target=self._run, name=f"events-{node.name}", daemon=True)

    # --- what the engine reads and tells -------------------------------------------------------

    def observation(self) -> NodeObservation:
        """The node's containers now, or why it cannot be observed."""
        with self.guard:
            if self.error is not None:
                return NodeObservation(node_name=self.node.name, error=self.error, hint=self.hint)
            containers = tuple(sorted(self.containers.values(), key=lambda c: (c.name, c.id)))
            stored = self.stored
        if any(container.pod_id for container in containers):
            containers = fold_pods(containers, (), self.node.name)  # podman-kube workloads
        return NodeObservation(node_name=self.node.name, containers=containers,
                               boot_id=stored.boot_id, applied=stored.applied, runs=stored.runs)

    def note(self, container: ObservedContainer, since: int | None = None) -> None:
        """A command made or started `container`: known now, before its events arrive. With
        `since` (a `version` taken before the command), nothing is noted when the node already
        told more since (a crash at once: its `died` came before the command's result)."""
        with self.guard:
            known = self.containers.get(container.id)
            newer = since is not None and (self.touched.get(container.id, -1) > since or (
                self.listed > since and known is not None))  # a later listing shows it
            if known is not None:  # started again: podman keeps its labels as they were
                container = dataclasses.replace(known, state=container.state, exit_code=0,
                                                started_at=container.started_at)
            if not newer:
                self.containers[container.id] = container
                self._doubt_listing(container.id, container)
        self.on_change()

    def note_health(self, container_id: str, health: str) -> None:
        """A `podman healthcheck run` ankplan ran told the container's health (Podman 4.3's
        own `health_status` event tells the status from before that check)."""
        with self.guard:
            known = self.containers.get(container_id)
            if known is not None:
                self.containers[container_id] = dataclasses.replace(known, health=health)
        self.on_change()

    def relist(self) -> None:
        """List the node afresh (a command's result that cannot be noted: `kube play`'s
        pods); until that listing is in, `synced_at` stays at the listing before."""
        with self.guard:
            if self.relist_since is None:
                self.relist_since = time.monotonic()
        self._wake.set()
        handle = self._handle
        if handle is not None:
            handle.close()
        self.on_change()

    def synced_at(self, now: float) -> float:
        """Up to when (time.monotonic()) the node's state includes what ankplan's commands on
        it did: `now` for a streamed node (its results are noted when they return, the node's
        own doings follow by events), the start of the last listing for a polled node or
        while a listing may predate a noted result; 0.0 before the first listing."""
        with self.guard:
            if self.error is not None:  # out of reach: observed as such now (once tried)
                return now if self.listings else 0.0
            if self.polling or self.doubt_since is not None or self.relist_since is not None:
                return self.listed_began
            return now

    def _doubt_listing(self, container_id: str, container: ObservedContainer | None) -> None:
        """Under `guard`: a result noted while a listing is under way is kept over it (unless
        the listing shows the container) and listed again."""
        if self._listing:
            self._during[container_id] = container
            if self.doubt_since is None:
                self.doubt_since = time.monotonic()

    def forget(self, container_id: str) -> None:
        """A command removed the container (or a podman-kube workload's pods, all of their
        containers, infra ones included, which no event would report gone)."""
        pods = set(pod_ids(container_id))
        with self.guard:
            gone = {container_id} | {key for key, container in self.containers.items()
                                     if pods and container.pod_id in pods}
            for key in gone:
                self.containers.pop(key, None)
                self._doubt_listing(key, None)
            self.removed |= gone
        self.on_change()

    def refresh_records(self) -> None:
        """Read the project's records again (after ankplan wrote them). When that fails the
        stream is ended, so the node is listed and read afresh before anything relies on it."""
        try:
            stored = self._read_records(self.pool.get(self.node))
        except AnkplanError as error:
            self._fail(error_reason(self.node, error), error.hint)
            handle = self._handle
            if handle is not None:
                handle.close()
            return
        with self.guard:
            self.stored = stored
        self.on_change()

    def _read_records(self, transport: Transport) -> nodestore.StoreView:
        argv = nodestore.read_argv(self.node, self.project)
        result = check_result(self.node, argv, transport.run(argv, timeout=self.timeout))
        return nodestore.parse_store(result.stdout, self.project)

    def close(self) -> None:
        """End the stream and the thread (the stream's command ends with its channel)."""
        self._stopped.set()
        self._wake.set()
        handle = self._handle
        if handle is not None:
            handle.close()

    # --- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        quick_ends = 0
        while not self._stopped.is_set():
            try:
                transport = self.pool.get(self.node)
                since = self._list(transport)
                relists = 0
                while not self.polling and not self._stopped.is_set() and (
                        self.relist_since is not None
                        or (self.doubt_since is not None and relists < MAX_RELISTS)):
                    since = self._list(transport)  # results noted while it ran: once more
                    relists += 1
                if not self.polling and self.doubt_since is not None:
                    self._trust()
                if self.polling:
                    self._wake.wait(self.poll_interval)
                    self._wake.clear()
                    continue
                began, events = time.monotonic(), self.events_seen
                self._follow(transport, since)
            except AnkplanError as error:
                self._fail(error_reason(self.node, error), error.hint)
                self._stopped.wait(RETRY_AFTER)
                continue
            if self.relist_since is not None:  # ended on purpose: not a stream that failed
                continue
            quick = time.monotonic() - began < QUICK_END and self.events_seen == events
            quick_ends = quick_ends + 1 if quick and not self.pool.lost(self.node.name) else 0
            if quick_ends >= FAILED_STREAMS:
                self.polling = "`podman events` ends at once on this node"
            if self.pool.lost(self.node.name):
                self._fail(self.pool.lost(self.node.name), "is the node up and reachable?")

    def _trust(self) -> None:
        """Stop doubting after MAX_RELISTS listings in a row: what was noted meanwhile is
        kept over them, and the stream replays every event since the last one began."""
        with self.guard:
            self.doubt_since = None
        self.on_change()

    def _list(self, transport: Transport) -> float | None:
        """A fresh listing of every container; the node's clock when it began."""
        argv = timed_ps_argv(self.node)
        with self.guard:
            self._listing, self._during = True, {}
            asked = time.monotonic()
        try:
            result = check_result(self.node, argv, transport.run(argv, timeout=self.timeout))
            since, listing = split_timed_ps(result.stdout)
            containers = {c.id: c for c in parse_ps(listing, self.node.name)}
            stored = self._read_records(transport)
        except BaseException:
            with self.guard:
                self._listing = False
                self.listings += 1
            raise
        with self.guard:
            self._listing = False
            self.listings += 1
            for key, noted in self._during.items():  # noted while it ran, which it may predate
                if noted is None:
                    containers.pop(key, None)
                elif key not in containers:
                    containers[key] = noted
            self.containers = containers
            self.stored = stored
            self.removed.clear()
            self.version += 1
            self.listed, self.listed_began = self.version, asked
            if self.doubt_since is not None and self.doubt_since < asked:
                self.doubt_since = None  # this listing began after every result in doubt
            if self.relist_since is not None and self.relist_since < asked:
                self.relist_since = None
            self.error, self.hint = None, ""
        self.on_change()
        return since

    def _follow(self, transport: Transport, since: float | None) -> None:
        """Read the event stream until it ends (broken, killed, or closed by `close`)."""
        project = None if self.every_container else self.project
        handle = transport.open_stream(events_argv(self.node, project=project, since=since),
                                       timeout=self.timeout)
        self._handle = handle
        self.streams_opened += 1
        try:
            if self._stopped.is_set() or self.relist_since is not None:
                return
            for line in handle.lines():
                self.take(line)
        finally:
            handle.close()
            self._handle = None

    def take(self, line: str) -> None:
        """One line of the node's event stream, applied to its containers."""
        event = parse_event(line)
        if event is None:
            return
        with self.guard:
            if event.container_id in self.removed:
                return
            known = self.containers.get(event.container_id)
            self.containers = apply_event(self.containers, event, self.node.name)
            self.events_seen += 1
            if self.containers.get(event.container_id) is not known:
                self.version += 1
                self.touched[event.container_id] = self.version
        self.on_change()

    def _fail(self, reason: str, hint: str) -> None:
        with self.guard:
            changed = self.error != reason
            self.error, self.hint = reason, hint
        if changed:
            self.on_change()


class EventFeeds:
    """The live state of several nodes, each kept by its NodeFeed; wakes a waiter on changes."""

    def __init__(self, pool: TransportPool, nodes: Sequence[Node], *, project: str,
                 timeout: float = 30.0, poll_interval: float = 0.5,
                 every_container: bool = False) -> None:
        self.changed = threading.Event()
        unique = {node.name: node for node in nodes}
        self.feeds = {name: NodeFeed(pool, node, project=project, timeout=timeout,
                                     poll_interval=poll_interval, on_change=self.changed.set,
                                     every_container=every_container)
                      for name, node in sorted(unique.items())}

    def start(self) -> None:
        """Start every node's thread; returns at once."""
        for feed in self.feeds.values():
            feed.thread.start()

    def wait_first(self, timeout: float) -> None:
        """Wait until every node was listed once or failed (at most `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
                feed.error == "not observed yet" for feed in self.feeds.values()):
            self.changed.wait(0.05)
            self.changed.clear()
        self.changed.set()

    def observe(self) -> LiveState:
        """Every node's containers now."""
        return LiveState(nodes=tuple(feed.observation() for feed in self.feeds.values()))

    def mark(self, node_name: str) -> int:
        """What the node told so far, to take before a command whose result is noted later."""
        feed = self.feeds.get(node_name)
        return feed.version if feed is not None else 0

    def note(self, node_name: str, container: ObservedContainer,
             since: int | None = None) -> None:
        """Record what a successful command made (see NodeFeed.note)."""
        if node_name in self.feeds:
            self.feeds[node_name].note(container, since)

    def forget(self, node_name: str, container_id: str) -> None:
        """Record a container a successful command removed."""
        if node_name in self.feeds:
            self.feeds[node_name].forget(container_id)

    def note_health(self, node_name: str, container_id: str, health: str) -> None:
        """Record the health a `podman healthcheck run` told (see NodeFeed.note_health)."""
        if node_name in self.feeds:
            self.feeds[node_name].note_health(container_id, health)

    def relist(self, node_name: str) -> None:
        """List a node afresh (see NodeFeed.relist)."""
        if node_name in self.feeds:
            self.feeds[node_name].relist()

    def synced_at(self, now: float) -> dict[str, float]:
        """node -> up to when its state includes ankplan's own commands (NodeFeed.synced_at)."""
        return {name: feed.synced_at(now) for name, feed in self.feeds.items()}

    def listings(self) -> int:
        """`podman ps` listings run over every node so far (each poll of a polled node too)."""
        return sum(feed.listings for feed in self.feeds.values())

    def refresh_records(self, node_name: str) -> None:
        """Read a node's records of the project again (see NodeFeed.refresh_records)."""
        if node_name in self.feeds:
            self.feeds[node_name].refresh_records()

    def modes(self) -> dict[str, str]:
        """node -> "events", "polling (why)" or "unreachable (why)"."""
        return {name: ("unreachable (" + feed.error + ")" if feed.error
                       else f"polling ({feed.polling})" if feed.polling else "events")
                for name, feed in self.feeds.items()}

    def close(self) -> None:
        """Stop every stream."""
        for feed in self.feeds.values():
            feed.close()
