"""The Ankaios execution state of every workload of a manifest, judged from observed containers.

Pure: no I/O and no clock. Shared by `ankplan get` and `ankplan watch`: a workload is looked for
on its agent's node only (by its labels, never by name); an unreachable node gives
`AgentDisconnected`, a missing container `Pending(...)` or `Failed(Lost)` as Ankaios would say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ankplan.model import (
    Dependency,
    ExecutionState,
    Inventory,
    LiveState,
    Manifest,
    ObservedContainer,
    Project,
    RestartPolicy,
    RunRecord,
    State,
    SubState,
    Workload,
)
from ankplan.planner.conditions import ConditionStatus, Verdict, condition_status
from ankplan.planner.identity import adopt_legacy
from ankplan.planner.node_restart import ran_and_vanished, rebooted_since_start
from ankplan.planner.runtimes import is_starting_failed, starting_failed, unsupported_runtime
from ankplan.podman import execution_state

VALUE = {"frozen": True, "slots": True, "kw_only": True}

HEALTH = {"healthy": True, "unhealthy": False}  # ps health -> condition_status(healthy=)
NO_CONTAINER = ExecutionState(state=State.PENDING, sub_state=SubState.INITIAL,
                              info="no container yet")
# A `--rm` workload that ran and vanished: final, as in Ankaios; ankplan does not run it again.
RAN_AND_GONE = ExecutionState(state=State.FAILED, sub_state=SubState.LOST,
                              info="ran with --rm and its container is gone; not run again")
# Which container stands for a workload when several exist: running first, then newest.
_STATE_RANK = {"running": 0, "exited": 1}


@dataclass(**VALUE)
class DependencyStatus:
    """One dependency of a workload: its condition, the dependency's state and the verdict."""

    dependency: Dependency
    state: ExecutionState  # the dependency's current state
    status: ConditionStatus
    unobserved: str = ""  # no container found because a node could not be read: why

    @property
    def word(self) -> str:
        """`OK` when met, `STANDING BY`, `NEVER` or `WAITING`, as in the guide's view."""
        return {Verdict.MET: "OK", Verdict.STANDING_BY: "STANDING BY",
                Verdict.NEVER: "NEVER"}.get(self.status.verdict, "WAITING")


@dataclass(**VALUE)
class WorkloadStatus:
    """Where a workload runs and in which Ankaios execution state."""

    workload: Workload
    node_name: str  # "" when the agent is empty or unknown to the inventory
    state: ExecutionState
    container: ObservedContainer | None = None
    dependencies: tuple[DependencyStatus, ...] = ()
    waiting_for: tuple[str, ...] = ()  # dependencies not met yet (pending workloads)

    @property
    def name(self) -> str:
        """The workload's name."""
        return self.workload.name

    @property
    def restart_count(self) -> int:
        """Restarts done by watch: the container's label, or the count recorded on its node
        when higher (0 without a container)."""
        return self.container.restart_count if self.container else 0

    @property
    def exit_code(self) -> int | None:
        """The last exit code, or None when the container has not exited."""
        if self.container is None or self.container.state != "exited":
            return None
        return self.container.exit_code

    def uptime(self, now: float) -> float | None:
        """Seconds since the running container started, None when not running."""
        if self.container is None or self.container.state != "running":
            return None
        started = self.container.started_at
        return max(0.0, now - started) if started else None


def find_container(live: LiveState, project: str, workload_name: str,
                   node_name: str | None, *,
                   container_id: str = "") -> tuple[ObservedContainer | None, bool]:
    """The container that stands for `workload_name`, and whether its node could not be read.

    With `node_name` only that node is searched; with None every node (a dependency the
    manifest does not define may run anywhere, as in Ankaios). With `container_id` only that
    container stands for it (the one a run just started).
    """
    observations = [o for o in live.nodes if node_name is None or o.node_name == node_name]
    candidates = [c for o in observations if o.reachable for c in o.containers
                  if (c.id == container_id if container_id else
                      c.project == project and c.workload_name == workload_name)]
    if not candidates:
        return None, any(not o.reachable for o in observations)
    return representative(candidates), False


def representative(candidates: Sequence[ObservedContainer]) -> ObservedContainer:
    """Which of several containers of one workload stands for it: running ones first, then
    exited ones, the latest started first; ties broken by id. The one rule apply and watch
    (and get) use."""
    return min(candidates, key=lambda c: (_STATE_RANK.get(c.state, 2), -c.started_at, c.id))


def _placed_state(workload: Workload, inventory: Inventory, live: LiveState,
                  project: str) -> tuple[str, ExecutionState | None, ObservedContainer | None]:
    """(node, state, container); state None when only the dependencies can tell (no container)."""
    if not workload.agent:
        return "", ExecutionState(state=State.NOT_SCHEDULED), None
    node = inventory.node_for_agent(workload.agent)
    if node is None:
        return "", ExecutionState(state=State.PENDING, sub_state=SubState.STARTING_FAILED,
                                  info=f"agent {workload.agent!r} is not in the inventory"), None
    observation = live.node(node.name)
    if observation is None:
        return node.name, ExecutionState(state=State.PENDING, sub_state=SubState.INITIAL,
                                         info="node not observed"), None
    if not observation.reachable:
        return node.name, ExecutionState(state=State.AGENT_DISCONNECTED,
                                         info=f"node unreachable: {observation.error}"), None
    if unsupported_runtime(workload):
        return node.name, starting_failed(unsupported_runtime(workload)), None
    container, _ = find_container(live, project, workload.name, node.name)
    run = next((r for r in observation.runs if r.workload == workload.name), None)
    if container is None:
        if ran_and_vanished(workload, run) and not rebooted_since_start(
                None, run, observation.boot_id):
            return node.name, RAN_AND_GONE, None
        return node.name, None, None
    container = with_recorded_restarts(container, run)
    return node.name, execution_state(container), container


def with_recorded_restarts(container: ObservedContainer,
                           run: RunRecord | None) -> ObservedContainer:
    """`container` with the restart count recorded on its node when that one is higher: watch
    restarts an unchanged container with `podman start`, which keeps its restart-count label,
    and records the count in run.json (podman/nodestore.py)."""
    if run is None or run.container_id != container.id or (
            run.restart_count <= container.restart_count):
        return container
    return replace(container, restart_count=run.restart_count)


def _dependency_state(defined: Workload | None, container: ObservedContainer | None,
                      ps_failed: bool, missing: ExecutionState) -> ExecutionState:
    """A manifest workload with no container yet is `missing`; one outside the manifest
    without a container is Failed(Lost), as Ankaios sees it."""
    if defined is not None and defined.agent and unsupported_runtime(defined):
        return starting_failed(unsupported_runtime(defined))
    if container is None and not ps_failed and defined is not None and defined.agent:
        return missing
    return execution_state(container, ps_failed=ps_failed)


def judge_dependency(dependency: Dependency, manifest: Manifest, inventory: Inventory,
                     live: LiveState, project: str, *, container_id: str = "",
                     missing: ExecutionState = NO_CONTAINER,
                     override: ExecutionState | None = None) -> DependencyStatus:
    """The one dependency judgement of get, watch and apply: the dependency's state (its
    container's, on its agent's node, or `override`) judged against the condition.

    `container_id` names the container that stands for it (one a run just started).
    `missing` is the state of a manifest workload without a container: Pending(Initial)
    where something will still create it (get, watch), Failed(Lost) in an apply that does
    not. When no container was found because a node could not be read, `unobserved` says so.
    """
    name = dependency.workload_name
    defined = manifest.workload(name)
    node = inventory.node_for_agent(defined.agent) if defined and defined.agent else None
    node_name = node.name if node else None
    container, ps_failed = find_container(live, project, name, node_name,
                                          container_id=container_id)
    state = override or _dependency_state(defined, container, ps_failed, missing)
    healthy = HEALTH.get(container.health) if container else None
    status = condition_status(dependency.condition, state, dependency_workload=defined,
                              healthy=healthy, dependency_name=name)
    unobserved = "" if container is not None else _unobserved(live, node_name)
    return DependencyStatus(dependency=dependency, state=state, status=status,
                            unobserved=unobserved)


def _unobserved(live: LiveState, node_name: str | None) -> str:
    """Why a node where the dependency may run could not be read ("" when every one was)."""
    observations = [o for o in live.nodes if node_name is None or o.node_name == node_name]
    failed = [o for o in observations if not o.reachable]
    if failed:
        return f"node {failed[0].node_name} cannot be observed: {failed[0].error}"
    return "" if observations else f"node {node_name or '?'} is not observed"


def dependency_statuses(workload: Workload, manifest: Manifest, inventory: Inventory,
                        live: LiveState, project: str,
                        states: Mapping[str, ExecutionState]) -> tuple[DependencyStatus, ...]:
    """Judge each dependency of `workload`; `states` overrides observed ones (e.g. unhealthy)."""
    return tuple(judge_dependency(dependency, manifest, inventory, live, project,
                                  override=states.get(dependency.workload_name))
                 for dependency in workload.dependencies)


def _pending_state(dependencies: tuple[DependencyStatus, ...]) -> tuple[ExecutionState,
                                                                        tuple[str, ...]]:
    """The state of a workload with no container yet, from its dependencies' verdicts."""
    not_met = [d for d in dependencies if not d.status.met]
    if not not_met:
        info = "no container yet" + ("; dependencies met" if dependencies else "")
        return ExecutionState(state=State.PENDING, sub_state=SubState.INITIAL, info=info), ()
    first = next((d for d in not_met if d.status.final), not_met[0])
    names = tuple(d.dependency.workload_name for d in not_met)
    if is_starting_failed(first.state):  # as its dependency: it cannot start either
        return starting_failed(first.status.reason), names
    return ExecutionState(state=State.PENDING, sub_state=SubState.WAITING_TO_START,
                          info=first.status.reason), names


def workload_status(workload: Workload, manifest: Manifest, inventory: Inventory,
                    live: LiveState, *, project: str,
                    states: Mapping[str, ExecutionState] | None = None) -> WorkloadStatus:
    """The status of one workload; `states` (name -> state) overrides observed states."""
    overrides = states or {}
    node_name, state, container = _placed_state(workload, inventory, live, project)
    dependencies = dependency_statuses(workload, manifest, inventory, live, project, overrides)
    waiting: tuple[str, ...] = ()
    if state is None:
        state, waiting = _pending_state(dependencies)
    if workload.name in overrides:
        state = overrides[workload.name]
    return WorkloadStatus(workload=workload, node_name=node_name, state=state,
                          container=container, dependencies=dependencies, waiting_for=waiting)


def workload_statuses(manifest: Manifest, inventory: Inventory, live: LiveState, *,
                      project: str | Project, states: Mapping[str, ExecutionState] | None = None
                      ) -> tuple[WorkloadStatus, ...]:
    """Every workload of the manifest, sorted by name; a `Project` also counts what an older
    ankplan made for it (planner/identity.py)."""
    if isinstance(project, Project):
        live, _ = adopt_legacy(live, project)
        project = project.name
    return tuple(workload_status(workload, manifest, inventory, live, project=project,
                                 states=states) for workload in manifest.workloads)


def is_settled(status: WorkloadStatus, *, gave_up: bool = False) -> bool:
    """True when supervision has nothing left to do for the workload: it runs, it ended in a
    state its restart policy keeps, it can never start or stands by, or watch gave up on it.
    Pending, crash-looping, missing, and unreachable workloads are not settled."""
    state, policy = status.state, status.workload.restart_policy
    if gave_up or state.state in (State.RUNNING, State.NOT_SCHEDULED):
        return True
    if state.state == State.SUCCEEDED:
        return policy is not RestartPolicy.ALWAYS
    if (state.state, state.sub_state) == (State.FAILED, SubState.EXEC_FAILED):
        return policy is RestartPolicy.NEVER
    if (state.state, state.sub_state) == (State.PENDING, SubState.WAITING_TO_START):
        return any(d.status.final for d in status.dependencies)
    return is_starting_failed(state) or state == RAN_AND_GONE
