"""Orders a plan's actions into steps: removals dependents-first, then the rest deps-first.

Pure: no I/O. Dependencies come from the manifest and, for workloads no longer in it, from the
`ankplan.dependencies` label their containers carry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ankplan.errors import AnkplanError
from ankplan.model import (
    Action,
    ActionKind,
    AddCondition,
    Dependency,
    LiveState,
    Manifest,
    PlanStep,
    Workload,
)
from ankplan.planner import graph
from ankplan.planner.hashing import LABEL_DEPENDENCIES, parse_dependencies_label

Dependencies = Mapping[str, tuple[str, ...]]  # workload name -> names it depends on


def dependency_map(manifest: Manifest, live: LiveState, project: str) -> dict[str, tuple[str, ...]]:
    """Dependencies of every workload of the manifest, and of every one with a container.

    The manifest wins; a workload it no longer has keeps the dependencies its container's
    label recorded (the first container by node and id that has the label).
    """
    depends: dict[str, tuple[str, ...]] = {}
    owned = sorted(live.owned_containers(project), key=lambda c: (c.node_name, c.id))
    for container in owned:
        label = container.label(LABEL_DEPENDENCIES)
        if label and container.workload_name not in depends:
            depends[container.workload_name] = tuple(
                name for name, _ in parse_dependencies_label(label))
    for workload in manifest.workloads:
        depends[workload.name] = workload.dependency_names()
    return depends


def _ranks(names: Iterable[str], depends: Dependencies) -> dict[str, int]:
    """Position of each name in dependency order (dependencies first, ties by name).

    Only edges inside `names` count. Should the recorded edges form a cycle (labels from
    different manifests), the order falls back to names alone rather than failing the plan.
    """
    members = sorted(set(names))
    inside = set(members)
    workloads = [
        Workload(name=name, agent="", runtime="", runtime_config_text="", runtime_config=None,
                 dependencies=tuple(Dependency(workload_name=dep, condition=AddCondition.RUNNING)
                                    for dep in sorted(set(depends.get(name, ())) & inside)))
        for name in members
    ]
    try:
        order = list(graph.topological_order(workloads))
    except AnkplanError:
        order = members
    ordered = set(order)
    order += [name for name in members if name not in ordered]
    return {name: index for index, name in enumerate(order)}


def _sorted_removals(removals: Sequence[Action], depends: Dependencies) -> list[Action]:
    ranks = _ranks((a.workload_name for a in removals), depends)
    return sorted(removals, key=lambda a: (-ranks[a.workload_name], a.workload_name,
                                           a.node_name, a.container_id))


def _sorted_forward(forward: Sequence[Action], manifest: Manifest,
                    depends: Dependencies) -> list[Action]:
    ranks = _ranks(list(manifest.names()) + [a.workload_name for a in forward], depends)
    return sorted(forward, key=lambda a: (ranks[a.workload_name], a.workload_name, a.node_name))


def _ids_by_workload(numbered: Sequence[tuple[int, Action]]) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {}
    for step_id, action in numbered:
        if action.kind is not ActionKind.NOOP:
            ids.setdefault(action.workload_name, []).append(step_id)
    return ids


def _dependents(depends: Dependencies) -> dict[str, list[str]]:
    """Workload name -> the names that depend on it, in `depends` order (inverted once, so
    ordering stays linear in the number of edges)."""
    dependents: dict[str, list[str]] = {}
    for name, deps in depends.items():
        for dependency in dict.fromkeys(deps):
            dependents.setdefault(dependency, []).append(name)
    return dependents


def _removal_waits(action: Action, dependents: Mapping[str, list[str]],
                   removal_ids: Mapping[str, list[int]]) -> tuple[int, ...]:
    """A dependency is removed after every dependent being removed (dependents first)."""
    names = dependents.get(action.workload_name, ())
    return tuple(sorted(i for name in names for i in removal_ids.get(name, ())))


def _forward_waits(action: Action, depends: Dependencies, removal_ids: Mapping[str, list[int]],
                   forward_ids: Mapping[str, list[int]]) -> tuple[int, ...]:
    """The changing steps of the workload's dependencies, and the removal of its old copies."""
    if action.kind is ActionKind.NOOP:
        return ()
    waits = [i for dep in depends.get(action.workload_name, ()) for i in forward_ids.get(dep, ())]
    waits += removal_ids.get(action.workload_name, [])
    return tuple(sorted(set(waits)))


def order_steps(manifest: Manifest, live: LiveState, project: str,
                actions: Sequence[Action]) -> tuple[PlanStep, ...]:
    """Number the actions: removals in reverse dependency order first, then creates, replaces,
    starts and no-ops in dependency order; ties by workload, node and container id.

    `depends_on` lists, for a removal, the removals of its dependents; for a create, replace or
    start, the changing steps of its dependencies and the removals of its own old containers
    (moved or duplicate). The executor waits on dependency conditions, not on these ids; they
    are kept for display.
    """
    depends = dependency_map(manifest, live, project)
    removals = _sorted_removals([a for a in actions if a.kind is ActionKind.REMOVE], depends)
    forward = _sorted_forward([a for a in actions if a.kind is not ActionKind.REMOVE],
                              manifest, depends)
    numbered = list(enumerate(removals + forward, start=1))
    removal_ids = _ids_by_workload(numbered[: len(removals)])
    forward_ids = _ids_by_workload(numbered[len(removals):])
    dependents = _dependents(depends)
    steps = []
    for step_id, action in numbered:
        if action.kind is ActionKind.REMOVE:
            waits = _removal_waits(action, dependents, removal_ids)
        else:
            waits = _forward_waits(action, depends, removal_ids, forward_ids)
        steps.append(PlanStep(id=step_id, action=action, depends_on=waits))
    return tuple(steps)
