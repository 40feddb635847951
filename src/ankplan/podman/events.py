"""Podman's event stream as pure knowledge: the `podman events` and timed `ps` command lines, the
parser of one JSON event line, and how an event changes a node's known containers.

Pure: no I/O. Podman 4.3 prints one JSON object per line, e.g. `{"ID": ..., "Name": "evt1",
"Status": "died", "ContainerExitCode": 3, "Time": "2026-11-29T16:35:03.08Z", "Type":
"container", "Attributes": {<labels>}}`; labels are in `Attributes`, so a `create` event is
enough to know a container ankplan owns.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ankplan.model import LABEL_PROJECT, LABEL_RESTART_COUNT, Node, ObservedContainer
from ankplan.podman.commands import Argv, ps_argv

# Prints the node's clock (unix seconds) on the first line, then the `ps` JSON: the events
# stream started with `--since` that time misses nothing that happened after the listing began.
TIMED_PS_SCRIPT = 'date +%s.%N 2>/dev/null || date +%s; exec "$@"'


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerEvent:
    """One container event: what happened, to which container, when (unix seconds)."""

    status: str  # create, init, start, died, remove, health_status, ...
    container_id: str
    name: str
    image: str
    time: float
    exit_code: int = 0  # set on `died`
    health: str = ""  # set on `health_status`
    labels: tuple[tuple[str, str], ...] = ()  # sorted
    pod_id: str = ""  # the container's pod ("PodID"; podman leaves it out of `died`)


def timed_ps_argv(node: Node) -> Argv:
    """`sh -c TIMED_PS_SCRIPT sh <podman ps ...>`: the node's time, then every container."""
    prefix = tuple(node.podman[:-1])  # the podman prefix (e.g. sudo) runs the shell
    return (*prefix, "sh", "-c", TIMED_PS_SCRIPT, "sh", *ps_argv(node))


def events_argv(node: Node, *, project: str | None, since: float | None = None) -> Argv:
    """Follow the container events of `project` (by its label; every container's with None)
    from `since` (node clock)."""
    since_args = ("--since", f"{since:.3f}") if since is not None else ()
    label_args = ("--filter", f"label={LABEL_PROJECT}={project}") if project is not None else ()
    return (*node.podman, "events", "--format", "json", *since_args, *label_args,
            "--filter", "type=container")


def events_probe_argv(node: Node) -> Argv:
    """Read the last second of events and end: exit 0 when this Podman can give events."""
    return (*node.podman, "events", "--stream=false", "--since", "1s", "--format", "json")


def split_timed_ps(text: str) -> tuple[float | None, str]:
    """(node time, ps JSON) from the output of `timed_ps_argv`; None when no time came."""
    first, _, rest = text.partition("\n")
    try:
        return float(first.strip()), rest
    except ValueError:
        return None, text


def parse_event(line: str) -> ContainerEvent | None:
    """One line of `podman events --format json`; None for anything else (blank, a warning)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("Type", "container") != "container":
        return None
    attributes = data.get("Attributes") or {}
    return ContainerEvent(
        status=str(data.get("Status") or ""), container_id=str(data.get("ID") or ""),
        name=str(data.get("Name") or ""), image=str(data.get("Image") or ""),
        time=_event_time(str(data.get("Time") or "")),
        exit_code=_as_int(data.get("ContainerExitCode")),
        health=str(data.get("health_status") or data.get("HealthStatus") or ""),
        labels=tuple(sorted((str(k), str(v)) for k, v in attributes.items())),
        pod_id=str(data.get("PodID") or ""))


def apply_event(containers: Mapping[str, ObservedContainer], event: ContainerEvent,
                node_name: str) -> dict[str, ObservedContainer]:
    """The node's containers (by id) after `event`. Only moves forward: a `create` of a known
    container (already noted from a command's result) changes nothing."""
    updated = dict(containers)
    known = updated.get(event.container_id)
    if event.status == "remove":
        updated.pop(event.container_id, None)
        return updated
    if known is None:
        if event.status in ("cleanup", "died", "stop", "exec_died"):
            return updated  # the end of a container never seen: nothing to follow
        known = _from_event(event, node_name)
    changed = _changed(known, event)
    if changed is not None:
        updated[event.container_id] = changed
    return updated


def _changed(known: ObservedContainer, event: ContainerEvent) -> ObservedContainer | None:
    if event.status in ("start", "restart", "unpause"):
        return dataclasses.replace(known, state="running", exit_code=0,
                                   started_at=event.time or known.started_at, health=(
                                       "starting" if known.health else ""))
    if event.status == "died":
        return dataclasses.replace(known, state="exited", exit_code=event.exit_code,
                                   finished_at=event.time)
    if event.status == "pause":
        return dataclasses.replace(known, state="paused")
    if event.status == "health_status" and event.health and not (
            event.health == "starting" and known.health in ("healthy", "unhealthy")):
        # Podman 4.3 words a check's event before the check's result: the first check's
        # event says "starting", which would undo a passed check noted from its own answer.
        # Only a restart makes a container "starting" again, and its `start` event says so.
        return dataclasses.replace(known, health=event.health)
    return known if event.status == "create" else None


def _from_event(event: ContainerEvent, node_name: str) -> ObservedContainer:
    labels = dict(event.labels)
    return ObservedContainer(
        id=event.container_id, name=event.name, node_name=node_name, image=event.image,
        state="created", labels=event.labels,
        restart_count=max(0, _as_int(labels.get(LABEL_RESTART_COUNT))), pod_id=event.pod_id)


def _event_time(text: str) -> float:
    """Unix seconds from podman's RFC 3339 time with nanoseconds; 0 when unreadable."""
    if not text:
        return 0.0
    from datetime import datetime  # not at import: observing a node does not need it

    head, _, rest = text.partition(".")
    zone = rest.lstrip("0123456789") if rest else ""
    fraction = rest[:len(rest) - len(zone)] if rest else ""
    try:
        stamp = datetime.fromisoformat(head + (zone.replace("Z", "+00:00") or "+00:00"))
    except ValueError:
        return 0.0
    return stamp.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
