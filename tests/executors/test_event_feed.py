"""executors/events.py's NodeFeed: events applied to a node's containers, and a command's
result noted before its events without undoing what the node said after the command began.
No I/O: lines of `podman events --format json` are fed in by hand."""

from __future__ import annotations

import json

from ankplan.executors.events import NodeFeed
from ankplan.executors.transport import TransportPool
from ankplan.model import LABEL_PROJECT, LABEL_WORKLOAD, Node, ObservedContainer

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
