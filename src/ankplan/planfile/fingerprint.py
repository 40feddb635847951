"""Per-node snapshots and fingerprints of what a plan was based on, and what changed since.

Pure: no I/O. A snapshot keeps, per node, the facts the planner decided on: this project's
containers and any container holding a workload's name (id, spec hash, state, image id), and
the ids the names of their images point at now. A saved plan stores the snapshots, so a stale
plan can say what changed (a container, or an image rebuilt since), not only that something did.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass

from ankplan.model import NodeObservation, ObservedContainer

VALUE = {"frozen": True, "slots": True, "kw_only": True}
UNREACHABLE = "unreachable"  # fingerprint of a node that could not be observed


@dataclass(**VALUE)
class ContainerFacts:
    """What the planner relied on about one container."""

    name: str
    id: str
    project: str = ""  # "" for a container ankplan does not own
    workload_name: str = ""
    spec_hash: str = ""
    state: str = ""
    exit_code: int = 0  # meaningful only when state is "exited"
    image: str = ""
    image_id: str = ""  # the image the container was created from

    def state_text(self) -> str:
        """`running`, or `exited(1)` with the exit code."""
        return f"{self.state}({self.exit_code})" if self.state == "exited" else self.state


@dataclass(**VALUE)
class NodeSnapshot:
    """The facts of one node; `error` set when the node could not be observed."""

    node_name: str
    containers: tuple[ContainerFacts, ...] = ()  # sorted by name
    error: str | None = None
    # image name of a container above -> the id that name points at now ("" gone), sorted;
    # empty when the node's images were not observed
    images: tuple[tuple[str, str], ...] = ()


def _facts(container: ObservedContainer) -> ContainerFacts:
    return ContainerFacts(
        name=container.name, id=container.id, project=container.project,
        workload_name=container.workload_name, spec_hash=container.spec_hash,
        state=container.state, exit_code=container.exit_code if container.state == "exited"
        else 0, image=container.image, image_id=container.image_id)


def node_snapshot(observation: NodeObservation, project: str,
                  names: Collection[str] = ()) -> NodeSnapshot:
    """The containers of `project` on the node, plus any container named like one of `names`.

    Other projects' and foreign containers are left out unless they hold one of `names`, so
    unrelated activity on a shared node does not make a saved plan stale.
    """
    if observation.error is not None:
        return NodeSnapshot(node_name=observation.node_name, error=observation.error)
    wanted = set(names)
    facts = tuple(sorted((_facts(c) for c in observation.containers
                          if c.project == project or c.name in wanted),
                         key=lambda f: (f.name, f.id)))
    images: tuple[tuple[str, str], ...] = ()
    if observation.images is not None:
        table = dict(observation.images)
        images = tuple(sorted({(f.image, table.get(f.image, "")) for f in facts if f.image}))
    return NodeSnapshot(node_name=observation.node_name, containers=facts, images=images)


def _facts_to_json(facts: ContainerFacts) -> dict[str, object]:
    record: dict[str, object] = {
        "name": facts.name, "id": facts.id, "project": facts.project,
        "workload": facts.workload_name, "spec_hash": facts.spec_hash, "state": facts.state,
        "exit_code": facts.exit_code, "image": facts.image}
    if facts.image_id:  # left out when unknown, so older saved plans keep their fingerprints
        record["image_id"] = facts.image_id
    return record


def snapshot_to_json(snapshot: NodeSnapshot) -> dict[str, object]:
    """A JSON-ready dict of `snapshot`."""
    record: dict[str, object] = {
        "node": snapshot.node_name,
        "error": snapshot.error,
        "containers": [_facts_to_json(f) for f in snapshot.containers],
    }
    if snapshot.images:
        record["images"] = {name: image_id for name, image_id in snapshot.images}
    return record


def snapshot_fingerprint(snapshot: NodeSnapshot) -> str:
    """`sha256:<hex>` of the snapshot's canonical JSON, or `unreachable`."""
    if snapshot.error is not None:
        return UNREACHABLE
    text = json.dumps(snapshot_to_json(snapshot), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def fingerprint(observation: NodeObservation, project: str, names: Collection[str] = ()) -> str:
    """The fingerprint of what the planner sees of `project` on one node."""
    return snapshot_fingerprint(node_snapshot(observation, project, names))


def _short_id(container_id: str) -> str:
    return container_id[:12]


def _short_hash(value: str) -> str:
    version, _, digest = value.partition(":")
    return f"{version}:{digest[:12]}" if digest else value or "(none)"


def _changed_fields(old: ContainerFacts, new: ContainerFacts) -> list[str]:
    fields: list[str] = []
    if old.id != new.id:
        fields.append(f"id {_short_id(old.id)} -> {_short_id(new.id)}")
    if old.spec_hash != new.spec_hash:
        fields.append(f"spec-hash {_short_hash(old.spec_hash)} -> {_short_hash(new.spec_hash)}")
    if old.state_text() != new.state_text():
        fields.append(f"state {old.state_text()} -> {new.state_text()}")
    if (old.project, old.workload_name) != (new.project, new.workload_name):
        fields.append(f"owner {old.project or '(none)'}/{old.workload_name or '(none)'} -> "
                      f"{new.project or '(none)'}/{new.workload_name or '(none)'}")
    if old.image != new.image:
        fields.append(f"image {old.image} -> {new.image}")
    elif old.image_id != new.image_id:
        fields.append(f"image id {_short_id(old.image_id)} -> {_short_id(new.image_id)}")
    return fields


def _image_changes(old: NodeSnapshot, new: NodeSnapshot) -> list[str]:
    """`node1: image localhost/x:latest now names 9c1b... (was 3f2a...)`, per changed name."""
    before, after = dict(old.images), dict(new.images)
    lines = []
    for name in sorted(set(before) & set(after)):
        if before[name] != after[name]:
            lines.append(f"{old.node_name}: image {name} now names "
                         f"{_short_id(after[name]) or 'no image'} (was "
                         f"{_short_id(before[name]) or 'missing'})")
    return lines


def snapshot_changes(old: NodeSnapshot, new: NodeSnapshot) -> tuple[str, ...]:
    """One line per difference, e.g. `node1: container web changed (state running -> exited(1))`."""
    node = old.node_name
    if old.error is not None or new.error is not None:
        if old.error is None:
            return (f"{node}: cannot be observed now: {new.error}",)
        if new.error is None:
            return (f"{node}: could not be observed when the plan was made, and can be now",)
        return ()
    old_by_name = {f.name: f for f in old.containers}
    new_by_name = {f.name: f for f in new.containers}
    lines: list[str] = []
    for name in sorted(set(old_by_name) | set(new_by_name)):
        before, after = old_by_name.get(name), new_by_name.get(name)
        if after is None and before is not None:
            lines.append(f"{node}: container {name} is gone (was id {_short_id(before.id)})")
        elif before is None and after is not None:
            lines.append(f"{node}: container {name} appeared (id {_short_id(after.id)}, "
                         f"{after.state_text()})")
        elif before is not None and after is not None and before != after:
            lines.append(f"{node}: container {name} changed "
                         f"({', '.join(_changed_fields(before, after))})")
    return tuple(lines + _image_changes(old, new))
