"""Which observed containers belong to a project, and which related ones a plan keeps.

Pure: no I/O. A container belongs to project P when it carries `ankplan.project=P`. Two more
cases are decided here, once per plan, so every later check stays a plain label comparison:
containers the previous release made for this project under its old name are adopted (relabelled
in the observed state, and their ids recorded in the plan), and containers of related projects
(the same folder name elsewhere, or old containers the manifests do not define) are listed as
kept, with the way to adopt them. docs/projects.md tells the whole story.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ankplan.model import (
    LABEL_PROJECT,
    LABEL_SOURCE,
    KeptContainer,
    LiveState,
    NodeObservation,
    ObservedContainer,
    Project,
)

# A name derived from the manifests' location: "<folder>-<8 hex digits>".
DERIVED_SUFFIX = re.compile(r"-[0-9a-f]{8}")


def is_legacy_member(container: ObservedContainer, project: Project,
                     workloads: frozenset[str] | None = None) -> bool:
    """True for a container the previous release made for this project: it has the old name,
    no source label, and runs a workload the manifests define (`workloads`: those names as a
    set, when the caller asks many times)."""
    names = frozenset(project.legacy_workloads) if workloads is None else workloads
    return (bool(project.legacy_name) and container.project == project.legacy_name
            and not container.label(LABEL_SOURCE) and container.workload_name in names)


def _relabelled(container: ObservedContainer, name: str) -> ObservedContainer:
    labels = tuple((key, name if key == LABEL_PROJECT else value)
                   for key, value in container.labels)
    return replace(container, labels=labels)


def adopt_legacy(live: LiveState, project: Project) -> tuple[LiveState, tuple[str, ...]]:
    """`live` with the previous release's containers of this project labelled with its current
    name, and their ids (sorted). Unchanged when the project's name was given explicitly."""
    if not project.legacy_name:
        return live, ()
    adopted: list[str] = []
    nodes: list[NodeObservation] = []
    workloads = frozenset(project.legacy_workloads)
    for observation in live.nodes:
        containers = []
        for container in observation.containers:
            if is_legacy_member(container, project, workloads):
                adopted.append(container.id)
                container = _relabelled(container, project.name)
            containers.append(container)
        nodes.append(replace(observation, containers=tuple(containers)))
    return (replace(live, nodes=tuple(nodes)) if adopted else live), tuple(sorted(adopted))


def adopt_ids(live: LiveState, project_name: str, ids: tuple[str, ...]) -> LiveState:
    """`live` with the containers `ids` (adopted when the plan was made) labelled with
    `project_name`, so observations during apply see them as the plan did."""
    if not ids:
        return live
    wanted = set(ids)
    return replace(live, nodes=tuple(
        replace(observation, containers=tuple(
            _relabelled(container, project_name) if container.id in wanted else container
            for container in observation.containers))
        for observation in live.nodes))


def is_related(container: ObservedContainer, project: Project) -> bool:
    """True for a container of another project with this project's folder name: the previous
    release's name for it, or a name derived for another location of the same folder name."""
    legacy = project.legacy_name
    if not legacy:
        return False
    other = container.project
    if not other or other == project.name:
        return False
    return other == legacy or (other.startswith(legacy)
                               and DERIVED_SUFFIX.fullmatch(other[len(legacy):]) is not None)


def kept_containers(live: LiveState, project: Project) -> tuple[KeptContainer, ...]:
    """Related projects' containers on the reachable nodes, which the plan leaves alone."""
    kept = [KeptContainer(node_name=observation.node_name, container_name=container.name,
                          container_id=container.id, project=container.project,
                          workload_name=container.workload_name,
                          source=container.label(LABEL_SOURCE))
            for observation in live.nodes if observation.reachable
            for container in observation.containers if is_related(container, project)]
    return tuple(sorted(kept, key=lambda k: (k.node_name, k.container_name, k.container_id)))


def kept_reason(kept: KeptContainer) -> str:
    """`created from host:/path/m.yaml (project app-1a2b3c4d)`, or for an old container
    `made by an older ankplan for project app`."""
    if kept.source:
        return f"created from {kept.source} (project {kept.project})"
    return f"made by an older ankplan for project {kept.project}"
