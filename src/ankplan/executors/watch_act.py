"""Carry out one watch action (restart, re-create, start, update, remove), run health checks,
say why an action runs, and keep the plan's starts of what the node stopped until done.

Does I/O: podman stop/rm/run/start (pod stop/rm/start and `kube play` for podman-kube), the
workload folder writes and `podman healthcheck run` through the transport pool.
No decisions: the action and its restart count come from the watch loop, which got them from
the planner; this is apply's teardown + start without apply's waits (the loop observes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

from ankplan import podman
from ankplan.errors import AnkplanError
from ankplan.executors.actions import (
    RM_TIMEOUT,
    STOP_SLACK,
    bringup_command,
    bringup_labels,
    discard_argv,
    forget_folder,
    podman_error,
    prepare_folder,
    record_start,
    remove_container,
    remove_unit,
    started_container,
    started_observation,
    unit_to_remove,
)
from ankplan.executors.transport import Transport, TransportPool
from ankplan.model import (
    Action,
    ActionKind,
    Inventory,
    Node,
    ObservedContainer,
    Plan,
    Project,
    Reason,
    Workload,
)
from ankplan.planner.restarts import HealthRecord, for_container, health_due, note_health
from ankplan.planner.workload_status import WorkloadStatus


@dataclass
class Job:
    """One action in flight; the thread running it fills in the outcome."""

    action: Action
    restart_count: int = 0  # the restart count: a new container's label, and run.json's
    done: bool = False
    finished_at: float = 0.0  # clock time when the last podman command returned
    error: str = ""  # why it failed, one line
    container_id: str = ""  # the new container
    exited: bool = False  # the old container was seen exited: remove it without a stop
    removed: str = ""  # the old container, once stopped and removed
    labels: dict[str, str] = field(default_factory=dict)  # the new container's labels
    mark: int = 0  # what the node's event feed had told when the action was submitted
    future: Future[None] | None = None


def _node(inventory: Inventory, node_name: str) -> Node:
    node = inventory.node(node_name)
    if node is None:
        raise AnkplanError(f"node {node_name} is not in the inventory")
    return node


def execute_action(job: Job, *, pool: TransportPool, inventory: Inventory,
                   project: str | Project, timeout: float = 30.0,
                   stop_timeout: int = 10) -> None:
    """Stop and remove the old container (replace, remove), then run or start the workload,
    with the same podman commands and folder writes as apply (executors/actions.py); an
    in-place update only records its fields on the node.

    Records on `job` the old container once removed (`removed`) and the new one's id
    (`container_id`, none for remove and update); raises AnkplanError when podman or the node
    fails. A new container carries `job.restart_count` in its restart-count label; the run
    record on the node carries it too (a START keeps the container and its label).
    """
    action = job.action
    node = _node(inventory, action.node_name)
    transport = pool.get(node)
    if action.container_id and action.kind in (ActionKind.REPLACE, ActionKind.REMOVE):
        _remove_old(job, transport, node, stop_timeout, project)
    if action.kind is ActionKind.REMOVE:
        forgotten = forget_folder(transport, node, action, project, timeout=timeout)
        if forgotten is not None and not forgotten.ok:
            raise AnkplanError(f"{action.address}: cannot remove its folder on the node: "
                               f"{forgotten.stderr.strip() or forgotten.exit_code}")
        return
    if action.workload is None:
        raise AnkplanError(f"{action.address}: the action carries no workload")
    # A START keeps the container, its mounts and files: its in-place fields are recorded
    # once it runs again, one round trip less on the way to the restart.
    same = action.kind is ActionKind.START
    folder = "" if same else prepare_folder(transport, node, action, project, timeout=timeout)
    if action.kind is ActionKind.UPDATE:
        return
    job.labels = bringup_labels(action, project, job.restart_count)
    command = bringup_command(action, node, job.labels, folder)
    result = transport.run(command.argv, timeout=timeout, stdin=command.stdin)
    if not result.ok:
        forget_folder(transport, node, action, project, failed_run=True, timeout=timeout)
        raise AnkplanError(f"{action.address}: {podman_error(command.verb, result)}")
    job.container_id = started_container(action, result)
    if same:
        prepare_folder(transport, node, action, project, timeout=timeout)
    record_start(transport, node, action, project, job.container_id, timeout=timeout,
                 restart_count=job.restart_count)


def _remove_old(job: Job, transport: Transport, node: Node, stop_timeout: int,
                project: str | Project) -> None:
    """Stop and remove the container the action replaces or removes (an exited one without
    a stop: one podman call less on the way to the restart), and the systemd unit running it;
    notes it on `job.removed`."""
    action = job.action
    unit = unit_to_remove(action, node, project)
    if unit:
        result = remove_unit(transport, unit, project)
        if not result.ok:
            raise AnkplanError(f"{action.address}: {podman_error('systemctl disable', result)}")
    if job.exited:
        result = transport.run(discard_argv(node, action.container_id), timeout=RM_TIMEOUT)
    else:
        result = remove_container(transport, node, action.container_id, stop_timeout)
    if not result.ok:
        raise AnkplanError(f"{action.address}: {podman_error('remove', result)}")
    job.removed = action.container_id


def execute_job(job: Job, *, pool: TransportPool, inventory: Inventory, project: str | Project,
                timeout: float, stop_timeout: int, clock: Callable[[], float],
                on_result: Callable[[Job, str, ObservedContainer | None], None] | None = None,
                ) -> None:
    """Run `job.action` and record how it ended on the job; never raises.

    `on_result(job, removed container id, container made or started)` hears what the
    commands that succeeded did, before the job counts as done.
    """
    try:
        execute_action(job, pool=pool, inventory=inventory, project=project,
                       timeout=timeout, stop_timeout=stop_timeout)
    except AnkplanError as error:
        job.error = error.summary
    except Exception as error:  # noqa: BLE001 - a broken action must not end the loop
        job.error = f"internal error: {type(error).__name__}: {error}"
    finally:
        if on_result is not None:
            on_result(job, job.removed, made_container(job, clock_wall=time.time()))
        job.finished_at = clock()
        job.done = True


def made_container(job: Job, *, clock_wall: float) -> ObservedContainer | None:
    """The container a successful bring-up left running, as `podman ps` would show it."""
    if job.error:
        return None
    return started_observation(job.action, job.container_id, job.labels,
                               started_at=clock_wall, restart_count=job.restart_count)


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthTarget:
    """A running container with a health check, and what is known of its health so far."""

    workload_name: str
    node_name: str
    container_id: str
    check: podman.HealthCheck
    record: HealthRecord | None
    started_at: float = 0.0  # when the container (last) started


def _check_once(pool: TransportPool, inventory: Inventory, target: HealthTarget,
                record: HealthRecord, now: float, timeout: float) -> HealthRecord:
    """Run the check once; an error of podman itself (not the check) counts as nothing."""
    node = _node(inventory, target.node_name)
    try:
        result = pool.get(node).run(podman.healthcheck_run_argv(node, target.container_id),
                                    timeout=min(timeout, target.check.timeout + STOP_SLACK))
    except AnkplanError:
        return record
    if result.exit_code not in (podman.HEALTH_PASSED, podman.HEALTH_FAILED):
        return record
    output = (result.stdout + result.stderr).strip()
    return note_health(record, target.check, result.exit_code == podman.HEALTH_PASSED, now,
                       output=output)


def run_health_checks(pool: TransportPool, inventory: Inventory,
                      targets: Sequence[HealthTarget], *, now: float, timeout: float,
                      executor: Executor) -> dict[str, HealthRecord]:
    """The health record of every target after running the checks that are due, in parallel."""
    records: dict[str, HealthRecord] = {}
    futures: dict[str, Future[HealthRecord]] = {}
    for target in targets:
        record = for_container(target.record or HealthRecord(), target.container_id, now,
                               target.started_at)
        if health_due(record, target.check, now):
            futures[target.workload_name] = executor.submit(
                _check_once, pool, inventory, target, record, now, timeout)
        records[target.workload_name] = record
    for name, future in futures.items():
        records[name] = future.result()
    return records


# --- describing actions ---------------------------------------------------------------------

_REASON_WORDS = {Reason.NOT_FOUND: "no container", Reason.SPEC_CHANGED: "spec changed",
                 Reason.MOVED_NODE: "moved to another node", Reason.NOT_RUNNING: "never started",
                 Reason.DUPLICATE: "duplicate container",
                 Reason.NODE_RESTARTED: "stopped by the node",
                 Reason.POLICY_CHANGED: "updated in place"}


def action_reason(action: Action, status: WorkloadStatus | None) -> str:
    """Why a plan step runs, for its event: the plan's reason, details and met conditions."""
    parts = [_REASON_WORDS.get(action.reason, action.reason.value), *action.details]
    if status is not None and action.kind is not ActionKind.REMOVE:
        parts += [dependency.status.reason for dependency in status.dependencies]
    return "; ".join(part for part in parts if part)


def health_check_of(workload: Workload) -> podman.HealthCheck | None:
    """The workload's health check; an invalid one is reported by plan/apply, not here."""
    try:
        return podman.parse_health_check(workload.podman.command_options if workload.podman
                                         else ())
    except AnkplanError:
        return None


# --- what the node stopped ------------------------------------------------------------------


class Restores:
    """The workloads the node stopped (plan: START, NODE_RESTARTED) that are not started again
    yet. Kept from the tick that saw the stop until each container started again: once some run
    again, the rest no longer look stopped by the node, but still are."""

    def __init__(self) -> None:
        # workload -> (the START, the container's started_at when the stop was seen)
        self._pending: dict[str, tuple[Action, float]] = {}

    def __contains__(self, workload_name: object) -> bool:
        return workload_name in self._pending

    def update(self, result: Plan, by_name: Mapping[str, WorkloadStatus],
               busy_nodes: Collection[str]) -> list[Action]:
        """Note this tick's plan and statuses; the STARTs still to do, in plan order.

        A stop is not taken from a node where this watch is acting: a container it is stopping
        itself (a replace) would count as stopped by the node.
        """
        for step in result.changes():
            action, status = step.action, by_name.get(step.action.workload_name)
            if action.reason is Reason.NODE_RESTARTED and action.kind is ActionKind.START and (
                    status is not None and status.container is not None) and (
                    action.node_name not in busy_nodes):
                self._pending[action.workload_name] = (action, status.container.started_at)
        for name, (action, started_at) in list(self._pending.items()):
            status = by_name.get(name)
            current = status.container if status is not None else None
            if current is None or current.id != action.container_id or (
                    current.started_at != started_at):
                del self._pending[name]  # started again (or gone): done
        return [action for action, _ in self._pending.values()]
