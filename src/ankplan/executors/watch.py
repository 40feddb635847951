"""The `watch` loop: observe -> plan + restart decisions -> act, once per tick, with events.

Does I/O (one `podman ps` per node per tick, health checks, podman run/stop/rm in threads);
clock and sleep are injected so tests drive it with a fake clock. Every decision comes from the
planner (`plan` re-creates and starts, `restarts` applies policies, back-off and health).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from ankplan.executors.actions import project_name
from ankplan.executors.events import EventFeeds
from ankplan.executors.lock import LockKeeper
from ankplan.executors.observe import NodeObserver
from ankplan.executors.transport import TransportPool
from ankplan.executors.watch_act import (
    HealthTarget,
    Job,
    Restores,
    action_reason,
    execute_job,
    health_check_of,
    run_health_checks,
)
from ankplan.model import (
    LABEL_UNIT,
    Action,
    ActionKind,
    ExecutionState,
    Inventory,
    LiveState,
    Manifest,
    ObservedContainer,
    Project,
    Reason,
    State,
    SubState,
    Supervisor,
)
from ankplan.planner.plan import NEVER_STARTED, plan
from ankplan.planner.restarts import (
    BackoffPolicy,
    HealthRecord,
    RestartDecision,
    RestartHistory,
    RestartVerdict,
    decide_restart,
    effective_state,
    note_restart,
    note_state,
    retry_after_failure,
)
from ankplan.planner.starts import policy_start, restart_action
from ankplan.planner.workload_status import WorkloadStatus, is_settled, workload_statuses
from ankplan.podman import is_unit

VALUE = {"frozen": True, "slots": True, "kw_only": True}


@dataclass(**VALUE)
class WatchOptions:
    """How the loop runs; durations in seconds."""

    project: str | Project  # a Project also adopts and labels as projects.md says
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    tick: float = 0.5  # a crash is seen and its restart issued within about a second
    duration: float | None = None  # end after this long (None: until interrupted or stable)
    until_stable: bool = False  # end once every workload settled for `settle` seconds
    settle: float = 5.0
    forks: int = 10  # nodes observed in parallel
    timeout: float = 30.0  # bound of each podman command
    stop_timeout: int = 10  # seconds between SIGTERM and SIGKILL when stopping a container
    # Follow each node's `podman events` (executors/events.py) instead of a `podman ps` per
    # node per tick; a tick then costs no podman call and an event starts the next tick at once.
    events: bool = False


@dataclass(**VALUE)
class WatchEvent:
    """Something changed; one line of text output or one NDJSON object."""

    time: float  # unix seconds
    node: str
    workload: str
    from_state: str  # "" when first seen
    to_state: str
    reason: str = ""
    kind: str = "state"  # state, restart, create, start, replace, remove, backoff, give-up, error
    action: str = ""  # what was carried out (ActionKind value); a restart: start or replace

    def as_json(self) -> dict[str, object]:
        """The NDJSON form: {time, node, workload, from, to, reason, kind}."""
        return {"time": round(self.time, 3), "node": self.node, "workload": self.workload,
                "from": self.from_state or None, "to": self.to_state, "reason": self.reason,
                "kind": self.kind}


@dataclass(**VALUE)
class WorkloadView:
    """One row of the live table."""

    workload: str
    node: str
    state: str
    info: str = ""
    restarts: int = 0
    next_restart_in: float | None = None  # crash-looping: seconds until the next restart
    gave_up: bool = False


@dataclass(**VALUE)
class WatchResult:
    """How the loop ended."""

    stable: bool  # every workload settled for the settle time (checked with until_stable)
    gave_up: tuple[str, ...]  # workloads that exhausted --max-restarts
    interrupted: bool
    ticks: int
    elapsed: float
    restarts: int  # restarts issued


@dataclass
class _Tracked:
    """What the loop remembers of one workload between ticks."""

    history: RestartHistory = field(default_factory=RestartHistory)
    health: HealthRecord | None = None
    shown: str = ""  # last state reported in an event
    decision: RestartDecision | None = None
    announced_wait: float | None = None  # `at` of the last back-off event
    gave_up: bool = False
    last_count: int = 0  # restart-count label last seen
    had_container: bool = False
    job: Job | None = None
    failures: int = 0  # actions that failed in a row (create or start refused by podman)
    retry_at: float | None = None  # when the next action may be tried after a failure


OBSERVE_BUDGET = 0.5  # seconds a tick waits for the nodes' answers before going on without one


class Watch:
    """The supervision loop; `run()` until the duration, stability, or `cancel`."""

    def __init__(self, manifest: Manifest, inventory: Inventory, pool: TransportPool,
                 options: WatchOptions, *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], object] | None = None,
                 cancel: threading.Event | None = None,
                 on_event: Callable[[WatchEvent], None] = lambda event: None,
                 on_tick: Callable[[tuple[WorkloadView, ...]], None] = lambda views: None,
                 locks: LockKeeper | None = None) -> None:
        self.manifest, self.inventory, self.pool, self.options = manifest, inventory, pool, options
        self.clock, self.wall = clock, wall
        self.cancel = cancel or threading.Event()
        self.sleep = sleep or self.cancel.wait
        self.on_event, self.on_tick = on_event, on_tick
        self.locks = locks  # None: act without a lock (tests of the loop alone)
        self.tracked = {w.name: _Tracked() for w in manifest.workloads}
        self.checks = {w.name: health_check_of(w)
                       for w in manifest.workloads}
        self.statuses: tuple[WorkloadStatus, ...] = ()
        self.ticks = self.restarts = 0
        self._stable_since: float | None = None
        self._signature: tuple[tuple[str, str, str], ...] = ()
        self._errors_seen: set[str] = set()
        self._restoring = Restores()  # what the node stopped, until started again
        self._observed_wall = 0.0  # wall time when the current tick's observation began
        self._executor = ThreadPoolExecutor(max_workers=max(4, options.forks),
                                            thread_name_prefix="watch-act")
        self._checks = ThreadPoolExecutor(max_workers=max(4, options.forks),
                                          thread_name_prefix="watch-health")
        # Each node observed at its own pace: a cut-off node must not stall the others' ticks.
        self._observer = NodeObserver(pool, inventory.nodes, forks=options.forks,
                                      timeout=options.timeout,
                                      project=project_name(options.project))
        self._feeds: EventFeeds | None = None
        self._polling: dict[str, str] = {}  # node -> why it is polled, as last reported
        if options.events:
            label = (options.project.name if isinstance(options.project, Project)
                     else options.project)  # events are filtered on the project's label
            self._feeds = EventFeeds(pool, inventory.nodes, project=label,
                                     timeout=options.timeout, poll_interval=options.tick)

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> WatchResult:
        """Tick until the duration passes, everything settled (until_stable) or cancelled."""
        began = self.clock()
        stable = False
        if self._feeds is not None:
            self._feeds.start()
            self._feeds.wait_first(min(self.options.timeout, 10.0))
        try:
            while not self.cancel.is_set():
                tick_began = self.clock()
                self.tick()
                stable = self.is_stable()
                elapsed = self.clock() - began
                if self.options.until_stable and stable:
                    break
                if self.options.duration is not None and elapsed >= self.options.duration:
                    break
                self._pause(max(0.0, self.options.tick - (self.clock() - tick_began)),
                            self.options.duration - elapsed if self.options.duration else None)
        finally:
            if self._feeds is not None:
                self._feeds.close()
            self._observer.close()
            self._executor.shutdown(wait=True)
            self._checks.shutdown(wait=True)
        gave_up = tuple(sorted(n for n, t in self.tracked.items() if t.gave_up))
        return WatchResult(stable=stable, gave_up=gave_up, interrupted=self.cancel.is_set(),
                           ticks=self.ticks, elapsed=self.clock() - began,
                           restarts=self.restarts)

    def _pause(self, seconds: float, left: float | None) -> None:
        """Wait for the next tick; with events, any change (an event, an action's end) ends
        the wait at once, so a crash is acted on when its event arrives, not a tick later."""
        if left is not None:
            seconds = min(seconds, max(0.0, left))
        if self._feeds is None:
            self.sleep(seconds)
            return
        self._feeds.changed.wait(seconds)
        self._feeds.changed.clear()

    def tick(self) -> None:
        """One round: observe, judge health, report changes, decide, act."""
        self.ticks += 1
        observed_at, self._observed_wall = self.clock(), self.wall()
        live, stale_nodes = self._observe()
        self._report_modes()
        busy = self._busy(observed_at, live) | self._on_nodes(stale_nodes)
        first = workload_statuses(self.manifest, self.inventory, live,
                                  project=self.options.project)
        self._check_health(first, busy, observed_at)
        overrides = self._overrides(first, busy)
        self.statuses = workload_statuses(self.manifest, self.inventory, live,
                                          project=self.options.project, states=overrides)
        self._report_states(busy)
        self._check_locks()
        self._decide(live, busy, observed_at)
        self._track_stability(busy, observed_at)
        self.on_tick(self.views())

    # --- observe -------------------------------------------------------------------------------

    def _observe(self) -> tuple[LiveState, set[str]]:
        """Every node's latest observation, and the nodes whose observation is older than this
        tick (still busy answering): nothing is decided for their workloads this tick. A node
        that has not answered for a while shows as unreachable instead (that is reported)."""
        if self._feeds is not None:
            return self._feeds.observe(), set()
        asked = time.monotonic()
        live, began = self._observer.observe(budget=max(OBSERVE_BUDGET, self.options.tick))
        return live, {name for name, at in began.items()
                      if at < asked and (seen := live.node(name)) is not None and seen.reachable}

    def observation_modes(self) -> dict[str, str]:
        """node -> "events", "polling (why)" or "unreachable (why)": how each node is observed
        now (for --debug)."""
        if self._feeds is not None:
            return self._feeds.modes()
        return {node.name: "polling (events off: one `podman ps` per node per tick)"
                for node in self.inventory.nodes}

    def _report_modes(self) -> None:
        """Say when a node is polled because it cannot stream its events (and when it can
        again): its changes are then seen a tick late, and it costs a `podman ps` per tick."""
        if self._feeds is None:
            return
        for node_name, feed in self._feeds.feeds.items():
            if feed.polling != self._polling.get(node_name, ""):
                self._polling[node_name] = feed.polling
                self._emit(node_name, "", "", "", f"polling: {feed.polling}" if feed.polling
                           else "following podman events again", kind="observe")

    def _on_nodes(self, node_names: set[str]) -> set[str]:
        """The workloads that run on these nodes."""
        if not node_names:
            return set()
        return {w.name for w in self.manifest.workloads
                if (node := self.inventory.node_for_agent(w.agent)) is not None
                and node.name in node_names}

    def _busy(self, observed_at: float, live: LiveState) -> set[str]:
        """Workloads whose action is running, or ended after this observation began (unless
        the observation already shows the container it made)."""
        busy = set()
        for name, tracked in self.tracked.items():
            job = tracked.job
            if job is None:
                continue
            if not job.done or (job.finished_at > observed_at and (
                    job.action.kind is ActionKind.START or not _shows(live, job))):
                busy.add(name)
                continue
            self._note_outcome(tracked, job)
            tracked.job = None
        return busy

    def _note_outcome(self, tracked: _Tracked, job: Job) -> None:
        """Count failed actions in a row and say when the next try is (back-off)."""
        if not job.error:
            tracked.failures, tracked.retry_at = 0, None
            return
        tracked.failures += 1
        tracked.retry_at = retry_after_failure(tracked.failures, job.finished_at,
                                               self.options.backoff)
        wait = max(0.0, tracked.retry_at - self.clock())
        self._emit(job.action.node_name, job.action.workload_name, tracked.shown, tracked.shown,
                   f"{job.error} (failure #{tracked.failures}; next try in {wait:.1f}s)",
                   kind="error")

    def _check_health(self, statuses: tuple[WorkloadStatus, ...], busy: set[str],
                      now: float) -> None:
        """Run the health checks that are due (in parallel) and record their results."""
        targets = [HealthTarget(workload_name=status.name, node_name=status.node_name,
                                container_id=status.container.id, check=check,
                                started_at=status.container.started_at,
                                record=self.tracked[status.name].health)
                   for status in statuses
                   if (check := self.checks[status.name]) is not None
                   and status.container is not None and status.container.state == "running"
                   and status.name not in busy]
        if not targets:
            return
        results = run_health_checks(self.pool, self.inventory, targets, now=now,
                                    timeout=self.options.timeout, executor=self._checks)
        for name, record in results.items():
            self.tracked[name].health = record

    def _overrides(self, statuses: tuple[WorkloadStatus, ...],
                   busy: set[str]) -> dict[str, ExecutionState]:
        """Unhealthy counts as Failed(ExecFailed); a container that vanished is Failed(Lost)."""
        overrides: dict[str, ExecutionState] = {}
        for status in statuses:
            tracked = self.tracked[status.name]
            if status.container is not None:
                tracked.had_container, tracked.last_count = True, status.restart_count
                state = effective_state(status.state, tracked.health, self.checks[status.name])
                if state is not status.state:
                    overrides[status.name] = state
            elif tracked.had_container and status.name not in busy and status.node_name and (
                    status.state.state == State.PENDING):
                overrides[status.name] = ExecutionState(state=State.FAILED, sub_state=SubState.LOST,
                                                        info="the container is gone")
        return overrides

    def _report_states(self, busy: set[str]) -> None:
        for status in self.statuses:
            tracked = self.tracked[status.name]
            shown = str(status.state)
            if shown != tracked.shown and status.name not in busy:
                self._emit(status.node_name, status.name, tracked.shown, shown,
                           status.state.info, at=self._observed_wall)
                tracked.shown = shown

    # --- decide and act ------------------------------------------------------------------------

    def _check_locks(self) -> None:
        """Re-take lost locks in the background; report nodes another writer holds."""
        if self.locks is None:
            return
        self.locks.refresh()
        for node_name, message in self.locks.problems():
            self._emit(node_name, "", "", "", message, kind="error")

    def _may_act(self, node_name: str) -> bool:
        """True when this watch holds the node's writer lock (or runs without locks)."""
        return self.locks is None or self.locks.held(node_name)

    def _decide(self, live: LiveState, busy: set[str], now: float) -> None:
        """The plan first (it says what the node stopped), restart decisions for the rest,
        then the plan's other steps whose conditions hold."""
        acting = set(busy)
        result = plan(self.manifest, self.inventory, live, project=self.options.project,
                      prune=False)
        for error in (*result.errors, *result.starting_failed):
            if error not in self._errors_seen:
                self._errors_seen.add(error)
                self._emit("", "", "", "", error, kind="error")
        by_name = {status.name: status for status in self.statuses}
        busy_nodes = {by_name[name].node_name for name in busy if name in by_name}
        todo = self._restoring.update(result, by_name, busy_nodes) + [
            s.action for s in result.changes() if not policy_start(s.action)
            and s.action.reason is not Reason.NODE_RESTARTED]
        starts = {s.action.workload_name: s.action for s in result.changes() if policy_start(s.action)}
        todo = [action for action in todo if not (action.unit or action.container_unit)]
        acting |= self._systemd_supervised()
        for status in self.statuses:
            if status.name in acting or status.container is None or (
                    status.name in self._restoring) or not self._may_act(status.node_name):
                continue
            if self._decide_restart(status, starts.get(status.name), now):
                acting.add(status.name)
        pending = {action.workload_name for action in todo}
        for action in todo:
            step_status = by_name.get(action.workload_name)
            waits = (acting | pending) - {action.workload_name}
            if action.workload_name in acting or self._held_back(action, step_status, waits) or (
                    not self._may_act(action.node_name)):
                continue
            acting.add(action.workload_name)
            count = 0 if step_status is None else (
                step_status.restart_count if step_status.container
                else self.tracked[step_status.name].last_count)
            self._submit(action, count, action_reason(action, step_status))

    def _systemd_supervised(self) -> set[str]:
        """Workloads systemd keeps up on their node (their container runs under a unit, or
        their node's supervisor is systemd): watch reports them and never acts on them, so
        it does not fight systemd's restarts."""
        supervised = set()
        for status in self.statuses:
            node = self.inventory.node(status.node_name) if status.node_name else None
            if (status.container is not None and status.container.label(LABEL_UNIT)) or (
                    node is not None and node.supervisor is Supervisor.SYSTEMD):
                supervised.add(status.name)
        return supervised

    def _decide_restart(self, status: WorkloadStatus, start: Action | None, now: float) -> bool:
        """Apply the restart policy to a workload with a container (restarting by the plan's
        `start` of it, if any: planner/starts.py); True when acting on it."""
        tracked = self.tracked[status.name]
        policy = self.options.backoff
        tracked.history = note_state(tracked.history, status.state, now, policy)
        if tracked.gave_up:
            return False
        decision = decide_restart(status.workload, status.state, tracked.history, now, policy)
        tracked.decision = decision
        if decision.verdict is RestartVerdict.GIVE_UP:
            tracked.gave_up = True
            self._emit(status.node_name, status.name, str(status.state), str(status.state),
                       decision.reason, kind="give-up")
        elif decision.verdict is RestartVerdict.WAIT and tracked.announced_wait != decision.at:
            tracked.announced_wait = decision.at
            wait = (decision.at or now) - now
            self._emit(status.node_name, status.name, str(status.state), str(status.state),
                       f"{decision.reason}; next restart in {wait:.1f}s", kind="backoff")
        elif decision.verdict is RestartVerdict.RESTART and status.container is not None:
            action = restart_action(status.workload, status.container, status.node_name,
                                    start, decision.reason)
            tracked.history = note_restart(tracked.history, now)
            self.restarts += 1
            count = status.restart_count + 1
            reason = f"{decision.reason} (restart #{count}" + (
                f", after {decision.delay:g}s back-off)" if decision.delay else ")")
            self._submit(action, count, reason, kind="restart",
                         exited=status.container.state == "exited")
            return True
        return False

    def _held_back(self, action: Action, status: WorkloadStatus | None,
                   busy: set[str]) -> bool:
        """True when a plan step must wait: a given-up workload, conditions not met, or a
        dependency whose own action is in flight or still to come (its state is not the one
        that counts yet)."""
        if status is None:
            return action.kind is not ActionKind.REMOVE
        tracked = self.tracked[status.name]
        if tracked.gave_up or (tracked.retry_at is not None and self.clock() < tracked.retry_at):
            return True
        if action.kind is ActionKind.REMOVE:
            return False
        return not all(dependency.status.met and dependency.dependency.workload_name not in busy
                       for dependency in status.dependencies)

    def _submit(self, action: Action, restart_count: int, reason: str, *,
                kind: str = "", exited: bool = False) -> None:
        """Report the action and run it in a thread; its result is read on a later tick."""
        tracked = self.tracked.get(action.workload_name)
        shown = tracked.shown if tracked else ""
        to_state = {ActionKind.REMOVE: "Removed", ActionKind.UPDATE: shown}.get(
            action.kind, "Pending(Starting)")
        self._emit(action.node_name, action.workload_name, shown, to_state, reason,
                   kind=kind or action.kind.value, action=action.kind.value)
        job = Job(action=action, restart_count=restart_count, exited=exited,
                  mark=self._feeds.mark(action.node_name) if self._feeds else 0)
        if tracked is not None:
            tracked.job, tracked.decision, tracked.announced_wait = job, None, None
            tracked.shown = to_state  # the next observed state is reported as a change
        future: Future[None] = self._executor.submit(
            execute_job, job, pool=self.pool, inventory=self.inventory,
            project=self.options.project, timeout=self.options.timeout,
            stop_timeout=self.options.stop_timeout, clock=self.clock,
            on_result=None if self._feeds is None else self._note_result)
        job.future = future

    def _note_result(self, job: Job, removed: str, made: ObservedContainer | None) -> None:
        """What a finished action did, recorded as observed (before its events arrive)."""
        assert self._feeds is not None
        node_name = job.action.node_name
        if removed:
            self._feeds.forget(node_name, removed)
        if made is not None:
            self._feeds.note(node_name, made, since=job.mark)
        self._feeds.refresh_records(node_name)  # what it wrote in the workload's folder

    # --- stability and views -------------------------------------------------------------------

    def _track_stability(self, busy: set[str], now: float) -> None:
        signature = tuple((s.name, str(s.state), s.container.id if s.container else "")
                          for s in self.statuses)
        settled = all(status.name not in busy and self.tracked[status.name].job is None
                      and is_settled(status, gave_up=self.tracked[status.name].gave_up)
                      for status in self.statuses)
        if not settled:
            self._stable_since = None
        elif signature != self._signature or self._stable_since is None:
            self._stable_since = now
        self._signature = signature

    def is_stable(self) -> bool:
        """True when every workload has been settled, unchanged, for the settle time."""
        return self._stable_since is not None and (
            self.clock() - self._stable_since >= self.options.settle)

    def views(self) -> tuple[WorkloadView, ...]:
        """The live table's rows, in manifest order."""
        now = self.clock()
        rows = []
        for status in self.statuses:
            tracked = self.tracked[status.name]
            decision = tracked.decision
            waiting = decision is not None and decision.verdict is RestartVerdict.WAIT
            rows.append(WorkloadView(
                workload=status.name, node=status.node_name, state=str(status.state),
                info=status.state.info, restarts=tracked.last_count, gave_up=tracked.gave_up,
                next_restart_in=max(0.0, (decision.at or now) - now) if waiting and decision
                else None))
        return tuple(rows)

    def _emit(self, node: str, workload: str, from_state: str, to_state: str, reason: str,
              *, kind: str = "state", at: float | None = None, action: str = "") -> None:
        """Report an event; a state change carries the time its observation began."""
        self.on_event(WatchEvent(time=self.wall() if at is None else at, node=node,
                                 workload=workload, from_state=from_state, to_state=to_state,
                                 reason=reason, kind=kind, action=action))


def _shows(live: LiveState, job: Job) -> bool:
    """True when `live` has the container `job` made on its node.

    Pods count only once past being created: an observation that began while `kube play` ran
    can show them half made (pods created, containers not all started yet).
    """
    observation = live.node(job.action.node_name)
    return bool(job.container_id) and observation is not None and any(
        container.id == job.container_id
        and not (is_unit(container) and container.state in NEVER_STARTED)
        for container in observation.containers)
