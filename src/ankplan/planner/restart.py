"""The plan of `ankplan restart NAME...`: restart the named workloads' own containers.

Pure: no I/O. Each step is a RESTART: stop the container gracefully, then start the same one
(same id, same spec); the apply engine does it under the node lock, stopping dependents before
what they depend on and starting dependencies first, each start waiting for its dependency
conditions. As in Ankaios, a workload's dependents keep running unless `with_dependents` asks
to restart them too. Only this project's containers are ever named.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ankplan.errors import did_you_mean
from ankplan.model import (
    LABEL_UNIT,
    Action,
    ActionKind,
    Inventory,
    LiveState,
    Manifest,
    ObservedContainer,
    Plan,
    Project,
    Reason,
    Workload,
)
from ankplan.planner import graph
from ankplan.planner.conditions import Verdict
from ankplan.planner.identity import adopt_legacy
from ankplan.planner.order import order_steps
from ankplan.planner.workload_status import dependency_statuses, find_container


@dataclass(frozen=True, slots=True, kw_only=True)
class _Scope:
    """What every per-workload decision of one restart plan needs."""

    manifest: Manifest
    inventory: Inventory
    live: LiveState
    project: str
    named: frozenset[str]  # the workloads named on the command line (in the manifest)
    chosen: frozenset[str]  # named, plus their dependents with --with-dependents


def unknown_names(manifest: Manifest, names: Collection[str]) -> tuple[tuple[str, str], ...]:
    """(name, "did you mean 'x'?" or "") for every name that is not a workload of the manifest."""
    known = manifest.names()
    return tuple((name, did_you_mean(name, known)) for name in sorted(set(names))
                 if manifest.workload(name) is None)


def _container_words(container: ObservedContainer) -> str:
    state = (f"exited with code {container.exit_code}" if container.state == "exited"
             else container.state)
    return f"container {container.id[:12]}, {state}"


def _details(scope: _Scope, workload: Workload, container: ObservedContainer
             ) -> tuple[str, ...]:
    """Why the workload restarts, what its start will wait for, which dependents stay up."""
    if workload.name in scope.named:
        lines = [f"restart requested ({_container_words(container)})"]
    else:
        causes = ", ".join(sorted(set(workload.dependency_names()) & scope.chosen))
        lines = [f"depends on {causes} (--with-dependents; {_container_words(container)})"]
    for judged in dependency_statuses(workload, scope.manifest, scope.inventory, scope.live,
                                      scope.project, {}):
        if judged.dependency.workload_name not in scope.chosen and (
                judged.status.verdict is not Verdict.MET):
            lines.append(f"before it starts again: {judged.status.reason}")
    staying = sorted(other.name for other in scope.manifest.workloads
                     if workload.name in other.dependency_names()
                     and other.name not in scope.chosen and _runs(scope, other))
    lines += [f"{name} depends on it and keeps running" for name in staying]
    return tuple(lines)


def _runs(scope: _Scope, workload: Workload) -> bool:
    """True when the workload's container on its node is running."""
    node = scope.inventory.node_for_agent(workload.agent) if workload.agent else None
    if node is None:
        return False
    container, _ = find_container(scope.live, scope.project, workload.name, node.name)
    return container is not None and container.state == "running"


def _locate(scope: _Scope, workload: Workload,
            errors: list[str]) -> tuple[str, ObservedContainer] | None:
    """(node name, container) of the workload, or None (with an error for a named one)."""
    inventory, live, project = scope.inventory, scope.live, scope.project
    node = inventory.node_for_agent(workload.agent) if workload.agent else None
    must = workload.name in scope.named
    if node is None:
        if must:
            errors.append(f"workload {workload.name} runs on no node (agent "
                          f"{workload.agent!r} is empty or not in the inventory)")
        return None
    observation = live.node(node.name)
    if observation is None or not observation.reachable:
        reason = observation.error if observation is not None else "not observed"
        errors.append(f"node {node.name} (workload {workload.name}) could not be observed: "
                      f"{reason}")
        return None
    container, _ = find_container(live, project, workload.name, node.name)
    if container is None:  # a dependent that has no container has nothing to restart
        if must:
            errors.append(f"workload {workload.name} has no container of project {project!r} "
                          f"on {node.name}: apply it first")
        return None
    return node.name, container


def restart_plan(manifest: Manifest, inventory: Inventory, live: LiveState, *,
                 project: str | Project, names: Collection[str],
                 with_dependents: bool = False) -> Plan:
    """RESTART steps for the named workloads (and, with `with_dependents`, every workload
    that depends on them, directly or not), dependencies first.

    A named workload without a container, node or observation is a plan error; a dependent
    without a container is left out. Names must be workloads of the manifest (see
    `unknown_names`); others are ignored here. A `Project` also counts what an older ankplan
    made for it (planner/identity.py), as `plan` does.
    """
    identity = project if isinstance(project, Project) else Project(name=project)
    live, adopted = adopt_legacy(live, identity)
    project = identity.name
    named = frozenset(name for name in names if manifest.workload(name) is not None)
    chosen = graph.with_dependents(manifest.workloads, named) if with_dependents else named
    scope = _Scope(manifest=manifest, inventory=inventory, live=live, project=project,
                   named=named, chosen=frozenset(chosen))
    errors: list[str] = []
    actions = []
    for workload in manifest.workloads:
        if workload.name not in chosen:
            continue
        found = _locate(scope, workload, errors)
        if found is None:
            continue
        node_name, container = found
        actions.append(Action(
            kind=ActionKind.RESTART, node_name=node_name, workload_name=workload.name,
            reason=Reason.RESTART_REQUESTED, workload=workload, container_id=container.id,
            # a container a systemd unit runs restarts through its unit
            unit=container.label(LABEL_UNIT), container_unit=container.label(LABEL_UNIT),
            details=_details(scope, workload, container)))
    return Plan(project=project, steps=order_steps(manifest, live, project, actions),
                errors=tuple(sorted(set(errors))), adopted=adopted)
