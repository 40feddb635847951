"""How a started step of apply ends: on its own podman command's answer, or by observing it.

Does I/O (podman ps, healthcheck run, logs through the run's transports). A `podman run -d` or
`podman start` that returned 0 is itself an observation: the container was Running then. A
workload without a health check therefore finishes at once, and before apply returns one
confirming `podman ps` per node turns those whose container meanwhile exited non-zero into
failures. A health-checked workload, and a podman-kube workload's pods, are observed (through
the run's observer: events, or polling where a node cannot stream) until they run (and are
healthy) or end; apply runs their health checks itself and notes a pass into the observer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ankplan import podman
from ankplan.errors import AnkplanError
from ankplan.executors.actions import STOP_SLACK
from ankplan.executors.apply_state import Outcome, Run, StepProgress
from ankplan.executors.observe import observe_nodes
from ankplan.model import ExecutionState, LiveState, Node, State, SubState

RUNNING_OK = ExecutionState(state=State.RUNNING, sub_state=SubState.OK)


def settles_on_answer(progress: StepProgress, container_id: str) -> bool:
    """True when the start command's answer settles the step: a container (no pods) without a
    health check, which ran when `podman run` or `podman start` returned 0."""
    return (bool(container_id) and _health_check(progress) is None
            and not podman.pod_ids(container_id))


def _health_check(progress: StepProgress) -> podman.HealthCheck | None:
    workload = progress.step.action.workload
    return podman.parse_health_check(workload.podman.command_options) if (
        workload and workload.podman) else None


def finish_on_answer(run: Run, progress: StepProgress, returned: float) -> None:
    """End the step as done in Running(Ok), as of `returned` (time.monotonic()) when its
    command returned; `confirm` checks it before apply returns."""
    run.board.finish(progress, Outcome.DONE, "running", state=str(RUNNING_OK),
                     execution=RUNNING_OK, known_at=returned)


def confirm(run: Run, progresses: Sequence[StepProgress]) -> bool:
    """One `podman ps` per node (in parallel) of the steps that finished on their command's
    answer: a container that exited non-zero since fails its step, with its last log lines.
    A node lost meanwhile is not asked (as a step observed running before its node was lost,
    the step stays done). True when it observed anything."""
    early = [p for p in progresses if p.outcome is Outcome.DONE and p.known_at
             and not run.lost(p.node_name)]  # a lost node cannot answer; its answer stands
    if not early:
        return False
    nodes = [run.node(name) for name in sorted({p.node_name for p in early})]
    live = observe_nodes(run.pool, nodes, forks=max(1, run.options.parallelism),
                         timeout=run.options.timeout)
    for progress in early:
        _confirm_step(run, progress, live)
    return True


def _confirm_step(run: Run, progress: StepProgress, live: LiveState) -> None:
    observation = live.node(progress.node_name)
    if observation is None or not observation.reachable:
        return  # its own command said Running; an unanswered ps does not undo that
    container = next((c for c in observation.containers if c.id == progress.container_id),
                     None)
    state = podman.execution_state(container)
    if (state.state, state.sub_state) == (State.FAILED, SubState.EXEC_FAILED):
        node = run.node(progress.node_name)
        run.board.revise(progress, _failure_text(run, node, progress, state), str(state), state)


def observe_until_settled(run: Run, progress: StepProgress, container_id: str,
                          after: float) -> None:
    """Wait until the started container runs (and is healthy, if checked) or ends, as seen in
    observations begun `after` its command returned."""
    node, check = run.node(progress.node_name), _health_check(progress)
    deadline = after + run.options.timeout
    next_check = 0.0
    with run.observer.demand():
        run.observer.kick()
        while True:
            seen = run.board.changes
            if run.finish_if_lost(progress):
                return
            state, health = _observed(run, node.name, container_id, after)
            if state is not None and _settled(run, progress, node, state, health, check):
                return
            if state is not None and check and state.state == State.RUNNING and (
                    time.monotonic() >= next_check):
                _check_health(run, node, container_id, check)
                next_check = time.monotonic() + check.interval
            if run.cancel.is_set():
                run.board.finish(progress, Outcome.CANCELLED,
                                 f"started; stopped waiting at {progress.state}")
                return
            if time.monotonic() > deadline:
                why = f": {state.info}" if state is not None and state.info else ""
                run.board.finish(progress, Outcome.FAILED,
                                 f"timed out after {run.options.timeout:g} s waiting for "
                                 f"Running: it is {progress.state}{why}")
                return
            run.board.wait(run.options.poll_interval, since=seen)


def _check_health(run: Run, node: Node, container_id: str, check: podman.HealthCheck) -> None:
    """Run the container's health check once (nodes may have no systemd timer to do it); a
    pass is noted into the node's feed at once: Podman 4.3's `health_status` event of a check
    tells the status from before it, so the event would say "healthy" one check late."""
    result = run.podman(node, podman.healthcheck_run_argv(node, container_id),
                        timeout=check.timeout + STOP_SLACK)
    if result.exit_code == podman.HEALTH_PASSED:
        run.observer.note_health(node.name, container_id, "healthy")


def _observed(run: Run, node_name: str, container_id: str,
              after: float) -> tuple[ExecutionState | None, str]:
    """The container's state in an observation begun after `after`, else (None, "")."""
    snapshot = run.observer.snapshot
    if snapshot is None or snapshot.began(node_name) < after:
        return None, ""
    observation = snapshot.live.node(node_name)
    if observation is None or not observation.reachable:
        reason = observation.error if observation is not None else "not observed"
        return ExecutionState(state=State.FAILED, sub_state=SubState.UNKNOWN,
                              info=f"node {node_name} cannot be observed: {reason}"), ""
    container = next((c for c in observation.containers if c.id == container_id), None)
    return podman.execution_state(container), container.health if container else ""


def _settled(run: Run, progress: StepProgress, node: Node, state: ExecutionState,
             health: str, check: podman.HealthCheck | None) -> bool:
    """Record the observed state; True (and finished) once it is final for this apply."""
    shown = str(state)
    if state.state == State.RUNNING and (check is None or health == "healthy"):
        run.board.finish(progress, Outcome.DONE, "running" + (" and healthy" if check else ""),
                         state=shown)
    elif state.state == State.SUCCEEDED:
        run.board.finish(progress, Outcome.DONE, "exited with code 0", state=shown)
    elif state.state == State.FAILED and state.sub_state in (SubState.EXEC_FAILED, SubState.LOST):
        run.board.finish(progress, Outcome.FAILED, _failure_text(run, node, progress, state),
                         state=shown, execution=state)
    else:
        waiting = check is not None and state.state == State.RUNNING
        run.board.set_state(progress, shown + (f" [health: {health or 'starting'}]"
                                               if waiting else ""), state.info)
        return False
    return True


def _failure_text(run: Run, node: Node, progress: StepProgress, state: ExecutionState) -> str:
    """The state, and the container's last log lines, for a container that failed."""
    text = f"container {state}" + (f": {state.info}" if state.info else "")
    if state.sub_state == SubState.LOST:
        return text + " (it vanished: removed by someone else, or run with --rm)"
    subjects = _log_subjects(run, node.name, progress.container_id)
    if not subjects:
        return text
    argv = podman.logs_argv(node, subjects, tail=run.options.log_lines)
    try:
        logs = run.podman(node, argv, timeout=30.0)
    except AnkplanError:
        return text
    lines = (logs.stdout + logs.stderr).strip().splitlines()[-run.options.log_lines:]
    return "\n".join([text, *(f"| {line}" for line in lines)]) if lines else text


def _log_subjects(run: Run, node_name: str, container_id: str) -> tuple[str, ...]:
    """The containers whose logs explain a failure: the container, or a podman-kube
    workload's containers as the latest observation shows them."""
    if not podman.pod_ids(container_id):
        return (container_id,)
    snapshot = run.observer.snapshot
    observation = snapshot.live.node(node_name) if snapshot is not None else None
    found = next((c for c in observation.containers if c.id == container_id), None) \
        if observation is not None else None
    return podman.log_subjects(found) if found is not None else ()
