"""Lookups into the live state and inventory, built once per `plan` call.

Pure: no I/O. The model's own lookups (`LiveState.node`, `Inventory.node_for_agent`,
`Manifest.workload`) scan tuples; called once per workload they make planning quadratic in the
fleet's size. These indexes keep `plan` linear (tests/unit/test_scale.py measures it).
"""

from __future__ import annotations

from dataclasses import dataclass

from ankplan.model import (
    AppliedRecord,
    Inventory,
    LiveState,
    Manifest,
    Node,
    NodeObservation,
    ObservedContainer,
    RunRecord,
    Workload,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveIndex:
    """The live state and manifest by name; lists keep the observed order."""

    nodes: dict[str, NodeObservation]  # node name -> its (first) observation
    workloads: dict[str, Workload]  # workload name -> workload of the manifest
    # (node name, container name) -> the first container of that name on the node
    by_name: dict[tuple[str, str], ObservedContainer]
    # (node name, workload name) -> the project's containers of it there, in observed order
    owned: dict[tuple[str, str], list[ObservedContainer]]
    # workload name -> the reachable nodes holding a container of it for the project
    owned_nodes: dict[str, set[str]]
    # node name -> (image name -> id), for the nodes whose images were observed
    images: dict[str, dict[str, str]]
    # (node name, workload name) -> what the node recorded for the project (nodestore)
    applied: dict[tuple[str, str], AppliedRecord]
    runs: dict[tuple[str, str], RunRecord]


def index_live(manifest: Manifest, live: LiveState, project: str) -> LiveIndex:
    """Index `live` by node, container name and (node, workload) for `project`."""
    nodes: dict[str, NodeObservation] = {}
    by_name: dict[tuple[str, str], ObservedContainer] = {}
    owned: dict[tuple[str, str], list[ObservedContainer]] = {}
    owned_nodes: dict[str, set[str]] = {}
    for observation in live.nodes:
        nodes.setdefault(observation.node_name, observation)
        for container in observation.containers:
            by_name.setdefault((observation.node_name, container.name), container)
            if container.project != project:
                continue
            workload_name = container.workload_name
            owned.setdefault((observation.node_name, workload_name), []).append(container)
            if observation.reachable:
                owned_nodes.setdefault(workload_name, set()).add(container.node_name)
    workloads: dict[str, Workload] = {}
    for workload in manifest.workloads:
        workloads.setdefault(workload.name, workload)
    images = {name: dict(observation.images) for name, observation in nodes.items()
              if observation.images is not None}
    applied = {(o.node_name, r.workload): r for o in live.nodes for r in o.applied
               if r.project == project}
    runs = {(o.node_name, r.workload): r for o in live.nodes for r in o.runs
            if r.project == project}
    return LiveIndex(nodes=nodes, workloads=workloads, by_name=by_name, owned=owned,
                     owned_nodes=owned_nodes, images=images, applied=applied, runs=runs)


class NodeLookup:
    """`Inventory.node_for_agent`, memoised per agent, and observations by node name."""

    def __init__(self, inventory: Inventory, index: LiveIndex) -> None:
        self.inventory = inventory
        self._index = index
        self._agents: dict[str, Node | None] = {}

    def node_for_agent(self, agent: str) -> Node | None:
        """The node that runs `agent`, or None when the inventory does not know the agent."""
        if agent not in self._agents:
            self._agents[agent] = self.inventory.node_for_agent(agent)
        return self._agents[agent]

    def observation(self, node_name: str) -> NodeObservation | None:
        """The observation of `node_name`, or None when it was not observed."""
        return self._index.nodes.get(node_name)
