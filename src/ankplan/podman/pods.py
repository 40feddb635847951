"""podman-kube workloads as observed: `podman pod ps` parsed, a workload's pods folded into one
observed entry, and that entry's Ankaios execution state. Pure: no I/O.

Ankaios reads the state of a podman-kube workload from the containers of its pods and keeps the
*least* of them in the order Failed < Starting < Unknown < Running < Stopping < Succeeded < Lost;
`pod_state` does the same. ankplan folds the containers that carry its labels, which are all of
them but the pods' infra containers (they carry no pod labels, and `podman events` filtered on
the project's label never reports them, so watch could not keep their state current). On
Podman 4.3 `kube play` pods stop their infra container with their last container, so the
infra container adds nothing to the least state but in the moment a pod stops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ankplan.model import (
    LABEL_PROJECT,
    LABEL_RESTART_COUNT,
    LABEL_SPEC_HASH,
    LABEL_WORKLOAD,
    ExecutionState,
    ObservedContainer,
    State,
    SubState,
)
from ankplan.podman.parsers import PodmanOutputError, load_json

UNIT_PREFIX = "pods:"  # id of a folded entry: "pods:<pod id>,<pod id>..." (sorted)

_STARTING = frozenset({"created", "configured", "initialized"})
_STOPPING = frozenset({"stopping", "stopped", "removing"})
_HEALTH_ORDER = ("unhealthy", "starting", "healthy")  # worst first


@dataclass(frozen=True, slots=True, kw_only=True)
class PodInfo:
    """One pod as `podman pod ps --format json` reports it."""

    id: str
    name: str
    labels: tuple[tuple[str, str], ...] = ()  # sorted

    def label(self, key: str) -> str:
        """The value of label `key`, or ""."""
        return dict(self.labels).get(key, "")


def unit_id(pod_ids: Iterable[str]) -> str:
    """The id of the entry that folds these pods."""
    return UNIT_PREFIX + ",".join(sorted(pod_ids))


def pod_ids(container_id: str) -> tuple[str, ...]:
    """The pod ids of a folded entry's id; () for the id of a plain container."""
    if not container_id.startswith(UNIT_PREFIX):
        return ()
    return tuple(part for part in container_id[len(UNIT_PREFIX):].split(",") if part)


def is_unit(container: ObservedContainer) -> bool:
    """True for a podman-kube workload's folded pods."""
    return container.id.startswith(UNIT_PREFIX)


def log_subjects(container: ObservedContainer) -> tuple[str, ...]:
    """The container ids whose logs are the workload's logs."""
    return container.members if is_unit(container) else (container.id,)


def parse_pod_ps(text: str, node_name: str) -> tuple[PodInfo, ...]:
    """Pods from `podman pod ps --format json`, sorted by name then id."""
    data = load_json(text, f"node {node_name}: podman pod ps")
    if data is None:
        return ()
    if not isinstance(data, list):
        raise PodmanOutputError(f"node {node_name}: podman pod ps: expected a JSON list")
    pods = (_pod(entry) for entry in data if isinstance(entry, dict))
    return tuple(sorted(pods, key=lambda pod: (pod.name, pod.id)))


def _pod(entry: Mapping[str, Any]) -> PodInfo:
    labels = entry.get("Labels") or {}
    return PodInfo(id=str(entry.get("Id") or ""), name=str(entry.get("Name") or ""),
                   labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())))


# --- folding a workload's pods ---------------------------------------------------------------


def fold_pods(containers: Sequence[ObservedContainer], pods: Sequence[PodInfo],
              node_name: str) -> tuple[ObservedContainer, ...]:
    """`containers` with the containers of ankplan's pods replaced by one entry per workload.

    A pod is ankplan's when the pod (`pods`, from `podman pod ps`; may be empty) or one of its
    containers carries the project label. Its pods are grouped by (project, workload, spec
    hash), so two generations of one workload stay two entries (the planner then removes the
    extra). Foreign pods' containers stay as they are.
    """
    by_id = {pod.id: pod for pod in pods}
    owned: dict[str, tuple[tuple[str, str], ...]] = {}  # pod id -> identity labels
    for pod in pods:
        if pod.label(LABEL_PROJECT):
            owned[pod.id] = pod.labels
    for container in containers:
        if container.pod_id and container.owned and container.pod_id not in owned:
            owned[container.pod_id] = container.labels
    groups: dict[tuple[str, str, str], list[str]] = {}
    for pod_id, labels in owned.items():
        named = dict(labels)
        key = (named.get(LABEL_PROJECT, ""), named.get(LABEL_WORKLOAD, ""),
               named.get(LABEL_SPEC_HASH, ""))
        groups.setdefault(key, []).append(pod_id)
    kept = [c for c in containers if c.pod_id not in owned]
    units = [_unit(group, by_id, owned[group[0]], containers, node_name)
             for group in groups.values()]
    return tuple(sorted(kept + units, key=lambda c: (c.name, c.id)))


def _unit(group: list[str], by_id: Mapping[str, PodInfo], labels: tuple[tuple[str, str], ...],
          containers: Sequence[ObservedContainer], node_name: str) -> ObservedContainer:
    """One entry for the pods `group` (ids) of one workload, from their labelled containers."""
    apps = sorted((c for c in containers if c.pod_id in group and c.owned),
                  key=lambda c: (c.name, c.id))
    winner = min(apps, key=_order, default=None)
    started = [c.started_at for c in apps if c.started_at]
    finished = [c.finished_at for c in apps if c.finished_at]
    names = sorted(by_id[pod].name if pod in by_id else pod[:12] for pod in group)
    restart = dict(labels).get(LABEL_RESTART_COUNT, "0")
    return ObservedContainer(
        id=unit_id(group), name=",".join(names), node_name=node_name,
        image=", ".join(sorted({c.image for c in apps})),
        state=winner.state if winner else "unknown",
        exit_code=winner.exit_code if winner else 0,
        started_at=min(started, default=0.0), finished_at=max(finished, default=0.0),
        health=next((h for h in _HEALTH_ORDER if any(c.health == h for c in apps)), ""),
        labels=labels, restart_count=int(restart) if restart.isdigit() else 0,
        pods=tuple(names), members=tuple(c.id for c in apps))


def _order(container: ObservedContainer) -> tuple[int, str]:
    """Ankaios's order of container states: the least one is the workload's state.

    Failed ones compare by their text ("Exit code: '1'" < "Exit code: '137'") as Ankaios's
    derived ordering does.
    """
    state = container.state
    if state == "exited" and container.exit_code != 0:
        return 0, _exit_text(container.exit_code)
    if state in _STARTING:
        return 1, ""
    if state == "running":
        return 3, ""
    if state in _STOPPING:
        return 4, ""
    if state == "exited":
        return 5, ""
    return 2, ""  # paused, unknown and anything else


def _exit_text(exit_code: int) -> str:
    return f"Exit code: '{exit_code}'"


def pod_state(unit: ObservedContainer) -> ExecutionState:
    """The Ankaios execution state of a folded entry, from the state `fold_pods` kept."""
    rank, text = _order(unit)
    if rank == 0:
        return ExecutionState(state=State.FAILED, sub_state=SubState.EXEC_FAILED, info=text)
    return {
        1: ExecutionState(state=State.PENDING, sub_state=SubState.STARTING,
                          info="starting container"),
        2: ExecutionState(state=State.FAILED, sub_state=SubState.UNKNOWN,
                          info="unknown container state"),
        3: ExecutionState(state=State.RUNNING, sub_state=SubState.OK),
        4: ExecutionState(state=State.STOPPING, sub_state=SubState.STOPPING,
                          info="stopping container"),
        5: ExecutionState(state=State.SUCCEEDED, sub_state=SubState.OK),
    }[rank]
