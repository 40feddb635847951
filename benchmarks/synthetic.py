"""Synthetic manifests, inventories and live state of any size, for the planner's scale tests.

Pure: no I/O. Builds ankplan's model objects directly (no YAML), with containers labelled
exactly as ankplan labels them (`hashing.labels_for`), so the planner sees realistic input.
Used by tests/unit/test_scale.py and benchmarks/bench_scale.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ankplan.model import (
    AddCondition,
    Connection,
    Dependency,
    Inventory,
    LiveState,
    Manifest,
    Node,
    NodeObservation,
    ObservedContainer,
    PodmanConfig,
    Workload,
)
from ankplan.planner.hashing import labels_for

PROJECT = "scale"
IMAGE = "localhost/ankplan-demo:latest"
CHAIN = 5  # workloads per dependency chain: w0 <- w1 <- ... <- w4 (on one node or across two)

# What the live state holds for workload i, by i % 10 (so every size has the same mix):
#   0-4 converged (running, current spec)     5 changed (older image: replace)
#   6   missing (no container: create)        7 created, never started (start)
#   8   exited with the current spec (noop)   9 missing here, but runs on the next node (moved)
# plus one orphan per 10 workloads (a container of a workload no longer in the manifest, remove)
# and one foreign container per node (no ankplan labels, never touched).
CONVERGED, CHANGED, MISSING, NEVER_STARTED, EXITED, MOVED = (
    range(5), 5, 6, 7, 8, 9)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One synthetic planning problem and the plan counts it must produce."""

    manifest: Manifest
    inventory: Inventory
    live: LiveState
    expected: dict[str, int]  # action kind value -> count


def workload(index: int, nodes: int, image: str = IMAGE) -> Workload:
    """Workload `w<index>` on agent `a<index % nodes>`, depending on the previous one of its chain."""
    dependencies = ()
    if index % CHAIN:
        condition = AddCondition.SUCCEEDED if index % CHAIN == 4 else AddCondition.RUNNING
        dependencies = (Dependency(workload_name=_name(index - 1), condition=condition),)
    # Chains are spread so that consecutive workloads sit on different nodes: dependencies
    # cross nodes, as they do in a fleet.
    return Workload(
        name=_name(index), agent=f"a{index % nodes}", runtime="podman",
        runtime_config_text=f"image: {image}",
        runtime_config=PodmanConfig(image=image, command_options=("--network", "host"),
                                    command_args=("stub", "serve", str(10000 + index))),
        dependencies=dependencies, tags=(("tier", f"t{index % 3}"),))


def _name(index: int) -> str:
    return f"w{index:06d}"


def _container(item: Workload, node_name: str, state: str, *, project: str = PROJECT,
               labels: dict[str, str] | None = None, exit_code: int = 0) -> ObservedContainer:
    labels = labels if labels is not None else labels_for(item, project)
    return ObservedContainer(
        id=hashlib.sha256(f"{node_name}/{item.name}/{state}".encode()).hexdigest(), name=item.name, node_name=node_name,
        image=item.podman.image if item.podman else "", state=state, exit_code=exit_code,
        started_at=1_700_000_000.0, labels=tuple(sorted(labels.items())))


def _live_for(index: int, item: Workload, nodes: int) -> tuple[str, ObservedContainer] | None:
    """(node name, container) the live state holds for workload `index`, or None."""
    node_name = f"n{index % nodes}"
    kind = index % 10
    if kind in CONVERGED:
        return node_name, _container(item, node_name, "running")
    if kind == CHANGED:
        old = workload(index, nodes, image="localhost/ankplan-demo:old")
        return node_name, _container(item, node_name, "running", labels=labels_for(old, PROJECT))
    if kind == NEVER_STARTED:
        return node_name, _container(item, node_name, "created")
    if kind == EXITED:
        return node_name, _container(item, node_name, "exited", exit_code=0)
    if kind == MOVED:
        other = f"n{(index + 1) % nodes}"
        return other, _container(item, other, "running")
    return None  # MISSING


def scenario(size: int, nodes: int = 100) -> Scenario:
    """`size` workloads over `nodes` nodes with the mix described at the top of this module."""
    workloads = tuple(workload(index, nodes) for index in range(size))
    per_node: dict[str, list[ObservedContainer]] = {f"n{i}": [] for i in range(nodes)}
    for index, item in enumerate(workloads):
        found = _live_for(index, item, nodes)
        if found:
            per_node[found[0]].append(found[1])
    orphans = 0
    for index in range(size, size + size // 10):
        gone = workload(index, nodes)
        node_name = f"n{index % nodes}"
        per_node[node_name].append(_container(gone, node_name, "running"))
        orphans += 1
    for node_name, containers in per_node.items():
        foreign = workload(10**6, nodes)
        containers.append(_container(foreign, node_name, "running", labels={"app": "other"}))
    live = LiveState(nodes=tuple(
        NodeObservation(node_name=name, containers=tuple(sorted(found, key=lambda c: (c.name, c.id))))
        for name, found in sorted(per_node.items())))
    inventory = Inventory(
        nodes=tuple(sorted((Node(name=f"n{i}", connection=Connection.LOCAL) for i in range(nodes)),
                           key=lambda n: n.name)),
        agents=tuple(sorted((f"a{i}", f"n{i}") for i in range(nodes))))
    manifest = Manifest(api_version="v1", workloads=workloads)
    return Scenario(manifest=manifest, inventory=inventory, live=live,
                    expected=_expected(size, orphans))


def _expected(size: int, orphans: int) -> dict[str, int]:
    kinds = [index % 10 for index in range(size)]
    return {
        "noop": sum(1 for k in kinds if k in CONVERGED or k == EXITED),
        "replace": kinds.count(CHANGED),
        "create": kinds.count(MISSING) + kinds.count(MOVED),
        "start": kinds.count(NEVER_STARTED),
        "remove": orphans + kinds.count(MOVED),
    }
