"""Execute a Plan across nodes: per-workload scheduling on dependency conditions, no decisions.

Does I/O (podman commands through the transport pool). Each changing step runs in its own
thread: teardown (stop, then rm) after the steps it depends on have torn down; then, for
create/replace/start, a wait until ITS OWN dependencies' conditions hold (judged on the steps
of this run and, where those do not tell, on one shared observer), the podman command, and its
end (apply_settle.py: on the command's own answer, else observed). The observer
(apply_observe.py) follows the nodes' `podman events` from the first step that waits on observed
state; every command's result is noted into it. Podman commands are bounded by `parallelism`;
every wait by `timeout`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ankplan import podman
from ankplan.errors import AnkplanError
from ankplan.executors.actions import (
    RM_TIMEOUT,
    STARTS_EXISTING,
    bringup_command,
    bringup_labels,
    discard_argv,
    forget_folder,
    podman_error,
    prepare_folder,
    record_start,
    remove_container,
    remove_unit,
    rewrite_unit,
    started_container,
    started_observation,
    stop_container,
    unit_to_remove,
    writes_folder_first,
)
from ankplan.executors.apply_observe import Observer
from ankplan.executors.apply_settle import (
    confirm,
    finish_on_answer,
    observe_until_settled,
    settles_on_answer,
)
from ankplan.executors.apply_state import (
    ApplyEvent,
    ApplyOptions,
    ApplyResult,
    Board,
    Outcome,
    Run,
    StepProgress,
    StepResult,
)
from ankplan.executors.apply_wait import Gate, dependency_gate, involved_nodes
from ankplan.executors.observe import observe_node
from ankplan.executors.transport import TransportPool
from ankplan.model import (
    LABEL_PROJECT,
    LABEL_SPEC_HASH,
    LABEL_WORKLOAD,
    Action,
    ActionKind,
    Inventory,
    Manifest,
    Node,
    Plan,
    Project,
    Workload,
)
from ankplan.planner.plan import NEVER_STARTED

__all__ = ["ApplyEvent", "ApplyOptions", "ApplyResult", "Outcome", "StepResult", "apply_plan",
           "podman_error"]

log = logging.getLogger(__name__)
DEFAULT_OPTIONS = ApplyOptions()
# How apply observes every node it involves until a step waits on observed state (--debug);
# from then on each node's mode is reported as EventFeeds.modes() words it, as for watch.
POLLED = ("polling (apply judges a started step by its own podman command's answer, confirmed "
          "by one `podman ps` per node; once a step waits on observed state, it follows "
          "`podman events` like watch, and each node's mode is named again)")
STEP_THREADS = 32  # steps in progress at once (waiting ones included); podman calls: parallelism


def apply_plan(plan: Plan, *, pool: TransportPool, inventory: Inventory, manifest: Manifest,
               options: ApplyOptions = DEFAULT_OPTIONS,
               on_event: Callable[[ApplyEvent], None] = lambda event: None,
               cancel: threading.Event | None = None,
               on_modes: Callable[[dict[str, str]], None] | None = None) -> ApplyResult:
    """Carry out every changing step of `plan` and report how each ended.

    Never raises for a failing step; the result says what happened. `cancel` (set by the CLI
    on SIGINT/SIGTERM) stops new work: running podman commands finish, nothing new starts.
    `on_modes` hears how each node is observed whenever that changes (--debug).
    """
    began = time.monotonic()
    cancel = cancel or threading.Event()
    board = Board(plan.changes(), on_event)
    node_names = involved_nodes(plan, inventory, manifest)
    nodes = [node for name in node_names if (node := inventory.node(name)) is not None]
    # Containers the plan adopted from an older ankplan are relabelled in every snapshot, so
    # dependency waits find them as the plan did.
    observer = Observer(pool, nodes, project=plan.project, adopted=plan.adopted, board=board,
                        timeout=options.timeout, poll_interval=options.poll_interval,
                        on_modes=on_modes)
    run = Run(plan, pool, inventory, manifest, options, board, observer, cancel)
    progresses = board.all()
    confirmed = False
    try:
        if progresses:
            with ThreadPoolExecutor(max_workers=step_threads(run, progresses),
                                    thread_name_prefix="apply") as executor:
                futures = [executor.submit(_run_step, run, p) for p in progresses]
                board.await_outcomes()
                confirmed = confirm(run, progresses)  # while the last starts are recorded
                for future in futures:
                    future.result()
    finally:
        observer.stop()
    results = tuple(_result(p) for p in progresses)
    cancelled = any(r.outcome is Outcome.CANCELLED for r in results)
    return ApplyResult(results=results, elapsed=time.monotonic() - began, cancelled=cancelled,
                       observations=observer.observations + confirmed)


def observation_modes(plan: Plan, inventory: Inventory, manifest: Manifest) -> dict[str, str]:
    """node -> how `apply_plan` observes it before any step waits on observed state (then
    `on_modes` tells each node's mode as EventFeeds.modes() words it for watch)."""
    return {name: POLLED for name in involved_nodes(plan, inventory, manifest)}


def step_threads(run: Run, progresses: tuple[StepProgress, ...]) -> int:
    """How many steps run at once: at most STEP_THREADS, unless a replace must wait for the
    teardown of a step that comes later in the plan (a replaced dependent), then one each.

    Steps are submitted in plan order, which is topological: every step waits only for
    earlier ones, so the earliest unfinished step always holds a thread and moves on, and a
    bounded pool cannot deadlock. A replace waits for its replaced dependents' teardowns,
    which come later: with those, every step gets its own thread, as before.
    """
    backward = any(progress.kind is ActionKind.REPLACE and _teardown_prerequisites(run, progress)
                   for progress in progresses)
    return len(progresses) if backward else max(1, min(len(progresses), STEP_THREADS))


def _result(progress: StepProgress) -> StepResult:
    return StepResult(step_id=progress.step.id, kind=progress.kind, node_name=progress.node_name,
                      workload_name=progress.workload_name,
                      outcome=progress.outcome or Outcome.CANCELLED, state=progress.state,
                      reason=progress.reason, elapsed=round(progress.elapsed, 3),
                      container_id=progress.container_id, subject=progress.step.action.subject)


# --- one step ----------------------------------------------------------------------------------


def _run_step(run: Run, progress: StepProgress) -> None:
    """Walk one step to its end; every way out records an outcome."""
    try:
        _walk(run, progress)
    except AnkplanError as error:
        run.board.finish(progress, Outcome.FAILED, error.summary)
    except Exception as error:  # noqa: BLE001 - one broken step must not hide the others
        run.board.finish(progress, Outcome.FAILED,
                         f"internal error: {type(error).__name__}: {error}")
    finally:  # every path above records an outcome; this only guards against a gap
        run.board.finish(progress, Outcome.FAILED, "internal error: the step ended unrecorded")


def _walk(run: Run, progress: StepProgress) -> None:
    """Teardown (remove, replace), then bring-up (create, replace, start); or an update."""
    if progress.kind is ActionKind.UPDATE:
        _update(run, progress)
        return
    if progress.tears_down:
        if not _await_teardowns(run, progress, _teardown_prerequisites(run, progress),
                                "Stopping(WaitingToStop: {})"):
            return
        if not _teardown(run, progress):
            return
        if progress.kind is ActionKind.REMOVE:
            run.board.finish(progress, Outcome.DONE, "stopped and removed", state="Removed")
            return
    if not _await_teardowns(run, progress, _bringup_prerequisites(run, progress),
                            "Pending(WaitingToStart: {})"):
        return
    folder = _prepare_ahead(run, progress)
    if not _await_conditions(run, progress):
        if folder is not None:
            _forget_unused(run, progress)
        return
    started = _start(run, progress, folder)
    if started is None:
        return
    container, returned = started
    if settles_on_answer(progress, container):
        finish_on_answer(run, progress, returned)  # its dependents go on while it is recorded
        _record_after_finish(run, progress, container)
    else:
        _record(run, progress, container)
        observe_until_settled(run, progress, container, returned)


def _prepare_ahead(run: Run, progress: StepProgress) -> str | None:
    """Write a new workload's files on its node while its dependencies are still pending, so
    that only `podman run` is left once they hold; the folder, or None (nothing to write
    before the start, or done at the start: no dependencies, or a container exists, whose
    records stay until it is replaced)."""
    action = progress.step.action
    if (progress.kind is not ActionKind.CREATE or action.workload is None
            or not action.workload.dependencies or not writes_folder_first(action)):
        return None
    node = run.node(progress.node_name)
    with run.slot():
        return prepare_folder(run.pool.get(node), node, progress.step.action, run.plan.project,
                              timeout=run.options.timeout)


def _forget_unused(run: Run, progress: StepProgress) -> None:
    """Remove a folder written ahead for a workload that is not started after all."""
    node = run.node(progress.node_name)
    with run.slot():
        forget_folder(run.pool.get(node), node, progress.step.action, run.plan.project,
                      failed_run=True, timeout=run.options.timeout)


def _teardown_prerequisites(run: Run, progress: StepProgress) -> list[StepProgress]:
    """Teardowns that must end first: dependents go before what they depend on.

    A removal waits for the removals the plan lists in depends_on (its dependents'); a
    replace or restart waits for the teardown of every replaced or restarted dependent.
    """
    if progress.kind is ActionKind.REMOVE:
        return [p for i in progress.step.depends_on
                if (p := run.board.get(i)) is not None and p.tears_down]
    name = progress.workload_name
    return [p for p in run.board.all() if p is not progress
            and p.kind in (ActionKind.REPLACE, ActionKind.RESTART)
            and p.step.action.workload is not None
            and name in p.step.action.workload.dependency_names()]


def _bringup_prerequisites(run: Run, progress: StepProgress) -> list[StepProgress]:
    """Removals of the workload's own old containers (moved, duplicate) that the plan orders
    first; the plan's other depends_on ids are for display, conditions decide the rest."""
    return [p for i in progress.step.depends_on
            if (p := run.board.get(i)) is not None and p.kind is ActionKind.REMOVE]


def _await_teardowns(run: Run, progress: StepProgress, prerequisites: list[StepProgress],
                     state_format: str) -> bool:
    """Wait until every prerequisite has torn down; False (and finished) when one cannot."""
    while True:
        seen = run.board.changes
        pending = [p for p in prerequisites if not p.torn_down and p.outcome is None]
        broken = [p for p in prerequisites if not p.torn_down and p.outcome is not None]
        if broken:
            first = broken[0]
            run.board.finish(progress, Outcome.SKIPPED,
                             f"{first.workload_name} on {first.node_name} must be removed "
                             f"first but was not: {first.reason}")
            return False
        if not pending:
            return True
        if run.cancel.is_set():
            run.board.finish(progress, Outcome.CANCELLED, "not started: apply was interrupted")
            return False
        names = ", ".join(sorted({p.workload_name for p in pending}))
        run.board.set_state(progress, state_format.format(names), f"waiting for {names}")
        run.board.wait(run.options.poll_interval, since=seen)


def _teardown(run: Run, progress: StepProgress) -> bool:
    """Stop gracefully (SIGTERM, SIGKILL after stop_timeout), then remove the old container;
    a RESTART keeps it, to start it again; a workload leaving the node also loses its folder
    there (files, records)."""
    if run.cancel.is_set():
        run.board.finish(progress, Outcome.CANCELLED, "not started: apply was interrupted")
        return False
    action = progress.step.action
    node, container = run.node(progress.node_name), action.container_id
    run.board.set_state(progress, "Stopping(RequestedAtRuntime)", f"stopping {container[:12]}")
    keep = progress.kind is ActionKind.RESTART
    action = progress.step.action
    transport = run.pool.get(node)
    unit = unit_to_remove(action, node, run.plan.project)
    with run.slot():
        result = remove_unit(transport, unit, run.plan.project) if unit else None
        if container and (result is None or result.ok):
            result = (stop_container(transport, node, container, run.options.stop_timeout,
                                     unit=action.container_unit) if keep else
                      remove_container(transport, node, container, run.options.stop_timeout))
        if result is None or result.ok:
            result = forget_folder(transport, node, action, run.plan.project,
                                   timeout=run.options.timeout) or result
    if result is not None and not result.ok:
        run.board.finish(progress, Outcome.FAILED,
                         podman_error("stop" if keep else "remove", result),
                         state="Stopping(DeleteFailed)")
        return False
    if container and not keep:
        run.observer.forget(progress.node_name, container)
    run.board.update(progress, torn_down=True)
    return True


def _update(run: Run, progress: StepProgress) -> None:
    """Record the in-place fields (restartPolicy, dependencies, tags) on the node, and rewrite
    the systemd unit of a workload one runs."""
    node, action = run.node(progress.node_name), progress.step.action
    with run.slot():
        folder = prepare_folder(run.pool.get(node), node, action, run.plan.project,
                                timeout=run.options.timeout)
        if action.unit:  # Restart= and Requires= change with the unit, the container stays
            result = rewrite_unit(run.pool.get(node), node, action, Project(
                name=run.plan.project, source=run.plan.source), folder,
                timeout=run.options.timeout)
            if not result.ok:
                run.board.finish(progress, Outcome.FAILED,
                                 podman_error("systemctl enable", result))
                return
    changed = "; ".join(progress.step.action.details)
    run.board.finish(progress, Outcome.DONE, f"recorded on the node: {changed}",
                     state="Updated")


def _await_conditions(run: Run, progress: StepProgress) -> bool:
    """Wait until the workload's own dependency conditions hold; False when it must not start.

    The timeout starts once no dependency is still being acted on by this run: a dependency
    in progress is bounded by its own waits. The nodes are observed only while a judgement
    needs it: a dependency this run started is judged on its own step while that knows more.
    """
    workload = progress.step.action.workload
    if workload is None or not workload.dependencies:
        return True
    deadline: float | None = None
    demanded = False
    with contextlib.ExitStack() as observing:
        while True:
            seen = run.board.changes
            gate = dependency_gate(run.board, run.observer.snapshot, manifest=run.manifest,
                                   inventory=run.inventory, project=run.plan.project,
                                   workload=workload, lost=run.lost_nodes())
            if gate.observe and not demanded:
                observing.enter_context(run.observer.demand())
                demanded = True
            if run.cancel.is_set():
                run.board.finish(progress, Outcome.CANCELLED,
                                 f"not started: apply was interrupted ({gate.reason})")
                return False
            # A dependency that failed skips the step, wherever it runs; a lost node fails its
            # own steps before their dependencies on it are judged.
            if gate.outcome is not None and not gate.lost:
                return _gate_opens(run, progress, gate)
            if not _ending_on_lost_node(run, workload) and run.finish_if_lost(progress):
                return False
            if gate.outcome is not None:
                return _gate_opens(run, progress, gate)
            if gate.go:
                return _gate_opens(run, progress, gate)
            if deadline is None and not gate.in_progress:
                deadline = time.monotonic() + run.options.timeout
            if deadline is not None and time.monotonic() > deadline:
                run.board.finish(progress, Outcome.NOT_STARTED,
                                 f"timed out after {run.options.timeout:g} s: {gate.reason}")
                return False
            run.board.set_state(progress, f"Pending(WaitingToStart: {gate.waiting_on})",
                                gate.reason)
            run.board.wait(run.options.poll_interval, since=seen)


def _ending_on_lost_node(run: Run, workload: Workload) -> bool:
    """True while a dependency's step of this run is still open on a lost node: it fails in a
    moment, and then its dependents are skipped for it rather than failed for their node."""
    for dependency in workload.dependencies:
        step = run.board.bringup_of(dependency.workload_name)
        if step is not None and step.outcome is None and run.lost(step.node_name):
            return True
    return False


def _gate_opens(run: Run, progress: StepProgress, gate: Gate) -> bool:
    if gate.outcome is None:
        return True
    run.board.finish(progress, gate.outcome, gate.reason)
    return False


def _start(run: Run, progress: StepProgress, folder: str | None) -> tuple[str, float] | None:
    """`podman run` (create, replace) or `podman start` (a new container's files written
    first unless `folder` says where they were); the container id, and when the command
    returned (the container ran then; observations begun later show what since)."""
    if run.cancel.is_set():
        run.board.finish(progress, Outcome.CANCELLED, "not started: apply was interrupted")
        return None
    action, node = progress.step.action, run.node(progress.node_name)
    workload = action.workload
    if workload is None:
        raise AnkplanError(f"{action.address}: the plan step carries no workload")
    run.board.set_state(progress, "Pending(Starting)", "starting")
    labels = bringup_labels(action, Project(name=run.plan.project, source=run.plan.source))
    if folder is None and writes_folder_first(action):
        with run.slot():
            folder = prepare_folder(run.pool.get(node), node, action, run.plan.project,
                                    timeout=run.options.timeout)
    command = bringup_command(action, node, labels, folder or "")
    mark = run.observer.mark(node.name)
    result = run.podman(node, command.argv, timeout=run.options.timeout, stdin=command.stdin)
    if not result.ok:
        note = "" if action.kind in STARTS_EXISTING else _undo_create(run, node, labels)
        with run.slot():
            forget_folder(run.pool.get(node), node, action, run.plan.project, failed_run=True,
                          timeout=run.options.timeout)
        run.board.finish(progress, Outcome.FAILED, podman_error(command.verb, result) + note,
                         state="Pending(StartingFailed)")
        return None
    container = started_container(action, result)
    _tell_observer(run, action, container, labels, mark)
    returned = time.monotonic()  # after the observer knows: snapshots from now show it
    run.board.update(progress, container_id=container)
    return container, returned


def _tell_observer(run: Run, action: Action, container: str, labels: dict[str, str],
                   mark: int) -> None:
    """Note the started container into the node's feed before its events arrive; pods
    (podman-kube), which only a listing shows, have the node listed afresh."""
    made = started_observation(action, container, labels, started_at=time.time())
    if made is not None and not podman.pod_ids(container):
        run.observer.note(action.node_name, made, since=mark)
    else:
        run.observer.relist(action.node_name)


def _record(run: Run, progress: StepProgress, container: str) -> None:
    """Record the start on the node (run.json), with the applied record when nothing was
    written before the start; raises AnkplanError when the node refuses."""
    action, node = progress.step.action, run.node(progress.node_name)
    with run.slot():
        record_start(run.pool.get(node), node, action, run.plan.project, container,
                     timeout=run.options.timeout,
                     with_applied=(not writes_folder_first(action)
                                   and action.kind is not ActionKind.RESTART))


def _record_after_finish(run: Run, progress: StepProgress, container: str) -> None:
    """`_record` for a step already done on its command's answer, so that its dependents
    need not wait for the write. A record that fails leaves the step done, with a warning:
    its container was running when its own command returned (as a step observed running
    before its node was lost stays done), and a node cut off or killed under the write cannot
    always be told from one that refused it. Apply returns only after every record is
    written, also when interrupted (SIGINT/SIGTERM end no command that runs)."""
    try:
        _record(run, progress, container)
    except AnkplanError as error:
        log.warning("%s runs, but its start was not recorded on the node (%s); a reboot of "
                    "the node is not told for it until its next start",
                    progress.step.action.address, error.summary)


def _undo_create(run: Run, node: Node, labels: dict[str, str]) -> str:
    """Remove the never-started container a failed `podman run` may leave (as Ankaios does),
    or the pods a failed `kube play` left (it keeps a pod whose images failed to pull).

    Found by all of its identity labels, never by name: a name held by someone else's
    container is what made some runs fail in the first place.
    """
    with run.slot():
        listing = observe_node(run.pool, node, timeout=run.options.timeout)
    wanted = (labels[LABEL_PROJECT], labels[LABEL_WORKLOAD], labels[LABEL_SPEC_HASH])
    removed = [c.id for c in listing.containers
               if (c.project, c.workload_name, c.spec_hash) == wanted
               and (c.state in NEVER_STARTED or podman.is_unit(c))]
    for container_id in removed:
        run.podman(node, discard_argv(node, container_id), timeout=RM_TIMEOUT)
    return " (what it left behind was removed)" if removed else ""
