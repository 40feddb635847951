"""executors/events.py's NodeFeed: events applied to a node's containers, and a command's
result noted before its events without undoing what the node said after the command began.
No I/O: lines of `podman events --format json` are fed in by hand, listings come from a stub."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from ankplan.executors.events import NodeFeed
from ankplan.executors.transport import CommandResult, TransportPool
from ankplan.model import LABEL_PROJECT, LABEL_WORKLOAD, Node, ObservedContainer
from ankplan.podman.events import TIMED_PS_SCRIPT

NODE = Node(name="node1")
LABELS = ((LABEL_PROJECT, "demo"), (LABEL_WORKLOAD, "web"))


def event(status: str, time: str, code: int = 0) -> str:
    return json.dumps({"ID": "c1", "Name": "web", "Status": status, "Type": "container",
                       "Time": f"2026-11-29T19:00:{time}Z", "ContainerExitCode": code,
                       "Image": "i", "Attributes": dict(LABELS)})


def feed_with_exited() -> NodeFeed:
    feed = NodeFeed(TransportPool(), NODE, project="demo", timeout=1.0, poll_interval=0.1,
                    on_change=lambda: None)
    feed.error = None
    feed.containers = {"c1": ObservedContainer(id="c1", name="web", node_name="node1",
                                               image="i", state="exited", exit_code=1,
                                               labels=LABELS)}
    return feed


def started() -> ObservedContainer:
    return ObservedContainer(id="c1", name="web", node_name="node1", image="i",
                             state="running", started_at=1.0, labels=LABELS)


def test_a_start_is_noted_before_its_events() -> None:
    feed = feed_with_exited()
    mark = feed.version
    feed.take(event("cleanup", "01.5"))  # the last exit's cleanup changes nothing
    feed.note(started(), since=mark)
    assert feed.containers["c1"].state == "running"
    feed.take(event("start", "02.0"))
    feed.take(event("died", "02.1", code=1))
    assert (feed.containers["c1"].state, feed.containers["c1"].exit_code) == ("exited", 1)


def test_a_crash_seen_before_the_commands_result_is_not_undone() -> None:
    """`podman start` of a job that dies at once: its `start` and `died` events arrive before
    the command's result is noted; noting it then would show it running for good."""
    feed = feed_with_exited()
    mark = feed.version
    feed.take(event("start", "02.0"))
    feed.take(event("died", "02.1", code=1))
    feed.note(started(), since=mark)
    assert (feed.containers["c1"].state, feed.containers["c1"].exit_code) == ("exited", 1)
    feed.note(started())  # without a mark: noted as before
    assert feed.containers["c1"].state == "running"


class Listings:
    """A transport whose timed `ps` lists `listed` (ps JSON entries), after calling `during`
    (to note a result while the listing runs); every other command answers empty."""

    def __init__(self) -> None:
        self.listed: list[dict[str, object]] = []
        self.during: Callable[[], None] = lambda: None

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        if argv[0] == "sh" and argv[2] == TIMED_PS_SCRIPT:
            self.during()
            return CommandResult(exit_code=0, stdout="100.0\n" + json.dumps(self.listed),
                                 stderr="", duration=0.0)
        return CommandResult(exit_code=0, stdout="", stderr="", duration=0.0)

    def close(self) -> None:
        pass


def listed_feed() -> tuple[NodeFeed, Listings]:
    transport = Listings()
    feed = NodeFeed(TransportPool(connector=lambda node, **_: transport), NODE,
                    project="demo", timeout=1.0, poll_interval=0.1, on_change=lambda: None)
    return feed, transport


def test_a_result_noted_during_a_listing_is_kept_and_doubted_until_a_later_listing() -> None:
    """A listing that began before a start returned may not show it: the note is kept over
    it, and `synced_at` stays at that listing's start until one begun later is in."""
    feed, transport = listed_feed()
    assert feed.synced_at(50.0) == 0.0  # never listed
    transport.during = lambda: feed.note(started(), since=feed.version)
    feed._list(transport)
    assert feed.containers["c1"].state == "running" and feed.doubt_since is not None
    assert feed.synced_at(1e9) == feed.listed_began
    transport.during = lambda: None
    feed._list(transport)
    assert feed.doubt_since is None and feed.synced_at(1e9) == 1e9
    assert feed.listings == 2


def test_a_listing_that_shows_the_container_wins_over_a_note_taken_before_it() -> None:
    """A job that died before the listing began: its `died` is older than the stream's
    --since, so only the listing tells; the start noted after it must not undo that."""
    feed, transport = listed_feed()
    transport.listed = [{"Id": "c1", "Names": ["web"], "Image": "i", "State": "exited",
                         "ExitCode": 3, "Labels": dict(LABELS)}]
    mark = feed.version
    feed._list(transport)
    feed.note(started(), since=mark)
    assert (feed.containers["c1"].state, feed.containers["c1"].exit_code) == ("exited", 3)


def test_relist_and_a_checks_pass_are_told_to_the_feed() -> None:
    feed, transport = listed_feed()
    feed._list(transport)
    feed.note(started())
    feed.note_health("c1", "healthy")
    assert feed.containers["c1"].health == "healthy"
    feed.relist()  # a result only a listing shows (kube play's pods)
    assert feed.synced_at(1e9) == feed.listed_began
    feed._list(transport)
    assert feed.relist_since is None and feed.synced_at(1e9) == 1e9
    feed.polling = "`podman events` ends at once on this node"
    assert feed.synced_at(1e9) == feed.listed_began  # a polled node: as of its last listing
