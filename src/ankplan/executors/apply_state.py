"""Shared state of one apply run: its options, events and results, the board of step progress,
and the snapshots of the nodes that waiting steps read (taken by apply_observe.Observer).

Does I/O only in `Run.podman`. Everything else is in-memory bookkeeping guarded by one
condition variable, which every change notifies, so waiting steps wake on any news.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ankplan.errors import AnkplanError
from ankplan.executors.transport import CommandResult, TransportPool

if TYPE_CHECKING:  # the observer reads the board: it lives in its own module
    from ankplan.executors.apply_observe import Observer
from ankplan.model import (
    ActionKind,
    ExecutionState,
    Inventory,
    LiveState,
    Manifest,
    Node,
    Plan,
    PlanStep,
)

INITIAL = "Pending(Initial)"


class Outcome(str, enum.Enum):
    """How one plan step ended; values are stable (JSON output)."""

    DONE = "done"  # the action happened and the container reached its goal state
    FAILED = "failed"  # a podman command failed, timed out, or the container failed
    SKIPPED = "skipped"  # not tried: something it depends on failed or was not started
    STANDING_BY = "standing-by"  # a fallback (ADD_COND_FAILED) whose primary runs: success
    NOT_STARTED = "not-started"  # its dependency condition can never hold, or timed out
    CANCELLED = "cancelled"  # the run was interrupted before or while doing it

    @property
    def ok(self) -> bool:
        """True for outcomes that count as converged."""
        return self in (Outcome.DONE, Outcome.STANDING_BY)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyEvent:
    """A step changed state; for progress displays and NDJSON output."""

    time: float  # unix seconds
    node: str
    workload: str
    from_state: str  # e.g. "Pending(WaitingToStart: zenoh-router)"
    to_state: str  # e.g. "Running(Ok)"
    message: str = ""  # the reason or detail, one line
    kind: str = ""  # the step's action kind, e.g. "create"
    elapsed: float = 0.0  # seconds since the step began
    outcome: str = ""  # set on the step's last event: an Outcome value
    # What people are shown the step acts on: `node/workload`, or a duplicate container as
    # `node/name (id)` (Action.subject); "" means `node/workload`.
    subject: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyOptions:
    """How apply runs; the defaults follow Terraform (parallelism) and the guide (stop 10 s)."""

    parallelism: int = 10  # podman commands running at once, over all nodes
    timeout: float = 120.0  # seconds, bounds every wait and every podman command
    stop_timeout: int = 10  # seconds between SIGTERM and SIGKILL (`podman stop -t`)
    # seconds between `podman ps` of a node that cannot stream its events, while something
    # waits; also how often waiting steps look at the clock (timeouts, due health checks)
    poll_interval: float = 0.25
    log_lines: int = 5  # last log lines shown for a container that failed


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    """How one step of the plan ended."""

    step_id: int
    kind: ActionKind
    node_name: str
    workload_name: str
    outcome: Outcome
    state: str  # last display state, e.g. "Running(Ok)"
    reason: str  # why, one or more lines
    elapsed: float  # seconds from the start of the run to the end of this step
    container_id: str = ""
    subject: str = ""  # Action.subject: a duplicate container is named as itself

    @property
    def address(self) -> str:
        """`node/workload`."""
        return f"{self.node_name}/{self.workload_name}"

    @property
    def shown(self) -> str:
        """What the summary names: the subject, else the address."""
        return self.subject or self.address


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyResult:
    """Every step's result, in plan order."""

    results: tuple[StepResult, ...]
    elapsed: float
    cancelled: bool = False
    # `podman ps` listings the observer ran (one per node when its events stream opens or
    # reopens, and one per poll of a node that cannot stream; none while streams run), plus 1
    # for the confirming round (a `podman ps` per node where a step finished on its answer)
    observations: int = 0

    @property
    def converged(self) -> bool:
        """True when every step is done or standing by and the run was not interrupted."""
        return not self.cancelled and all(r.outcome.ok for r in self.results)

    def count(self, outcome: Outcome) -> int:
        """How many steps ended with `outcome`."""
        return sum(1 for r in self.results if r.outcome is outcome)


@dataclass
class StepProgress:
    """Mutable progress of one step; only the Board changes it, under its lock."""

    step: PlanStep
    state: str = INITIAL  # display state, Ankaios style
    outcome: Outcome | None = None
    reason: str = ""
    container_id: str = ""  # the container this step runs (after create/replace/start)
    torn_down: bool = False  # the old container is stopped and removed (RESTART: stopped)
    execution: ExecutionState | None = None  # the container's state the step ended on
    # When `execution` was known from the step's own podman command (time.monotonic() of its
    # return), not from an observation; 0.0 otherwise. An observation begun later wins.
    known_at: float = 0.0
    began: float = field(default_factory=time.monotonic)
    ended: float = 0.0

    @property
    def kind(self) -> ActionKind:
        """The step's action kind."""
        return self.step.action.kind

    @property
    def workload_name(self) -> str:
        """The step's workload name."""
        return self.step.action.workload_name

    @property
    def node_name(self) -> str:
        """The node the step acts on."""
        return self.step.action.node_name

    @property
    def tears_down(self) -> bool:
        """True when the step stops (and, but for RESTART, removes) a container first."""
        return self.kind in (ActionKind.REMOVE, ActionKind.REPLACE, ActionKind.RESTART)

    @property
    def brings_up(self) -> bool:
        """True when the step ends with a running (or finished) container."""
        return self.kind in (ActionKind.CREATE, ActionKind.REPLACE, ActionKind.START,
                             ActionKind.RESTART)

    @property
    def elapsed(self) -> float:
        """Seconds from the start of the run to the end of the step (or until now)."""
        return (self.ended or time.monotonic()) - self.began


class Board:
    """Progress of every step of a run; thread-safe; emits an ApplyEvent on every change."""

    def __init__(self, steps: Sequence[PlanStep], on_event: Callable[[ApplyEvent], None]) -> None:
        self.changed = threading.Condition()
        self._changes = 0  # counts the wake-ups of `changed`: see `wait`
        self._on_event = on_event
        self._progress = {step.id: StepProgress(step=step) for step in steps}
        self._bringups = {p.workload_name: p for p in self._progress.values() if p.brings_up}

    def all(self) -> tuple[StepProgress, ...]:
        """Every step's progress, in plan order."""
        return tuple(self._progress.values())

    def get(self, step_id: int) -> StepProgress | None:
        """The progress of step `step_id`, or None when the plan has no such changing step."""
        return self._progress.get(step_id)

    def bringup_of(self, workload_name: str) -> StepProgress | None:
        """The step of this run that creates, replaces or starts `workload_name`, or None."""
        return self._bringups.get(workload_name)

    @property
    def changes(self) -> int:
        """How many changes the board has told of; read it before judging the board, and
        pass it to `wait`."""
        return self._changes

    def wait(self, timeout: float, since: int | None = None) -> None:
        """Sleep until anything changes (a step, an observation) or `timeout` passes. With
        `since` (`changes` read before the caller judged the board), return at once when a
        change came after it: one that came while the caller judged is not slept through."""
        with self.changed:
            if since is None:
                self.changed.wait(timeout)
            else:
                self.changed.wait_for(lambda: self._changes != since, timeout)

    def await_outcomes(self) -> None:
        """Block until every step has its outcome (every step's thread records one, also
        when it fails); work a step does after its outcome (recording its start) may go on."""
        with self.changed:
            self.changed.wait_for(lambda: all(p.outcome is not None
                                              for p in self._progress.values()))

    def notify(self) -> None:
        """Wake every waiter."""
        with self.changed:
            self.wake_held()

    def wake_held(self) -> None:
        """Count a change and wake every waiter; the caller holds `changed`."""
        self._changes += 1
        self.changed.notify_all()

    def set_state(self, progress: StepProgress, state: str, message: str = "") -> None:
        """Change a step's display state; emits an event and wakes the waiters when it differs
        (waking them for an unchanged state made every waiting step wake the others again, a
        busy loop that burnt a core while steps waited)."""
        with self.changed:
            if state != progress.state:
                self._emit(progress, state, message)
                progress.state = state
                self.wake_held()

    def update(self, progress: StepProgress, *, container_id: str | None = None,
               torn_down: bool | None = None) -> None:
        """Record a step's container or the end of its teardown."""
        with self.changed:
            if container_id is not None:
                progress.container_id = container_id
            if torn_down is not None:
                progress.torn_down = torn_down
            self.wake_held()

    def finish(self, progress: StepProgress, outcome: Outcome, reason: str,
               state: str | None = None, execution: ExecutionState | None = None,
               known_at: float = 0.0) -> None:
        """End a step with its outcome (and the container state it ended on, which decisions
        read instead of the display string, known at `known_at` when the step's own command
        told it); the first call wins."""
        with self.changed:
            if progress.outcome is not None:
                return
            progress.execution, progress.known_at = execution, known_at
            final_state = state or {Outcome.SKIPPED: "Skipped",
                                    Outcome.STANDING_BY: "StandingBy",
                                    Outcome.NOT_STARTED: "NotStarted",
                                    Outcome.CANCELLED: "Cancelled"}.get(outcome, progress.state)
            progress.outcome, progress.reason, progress.ended = outcome, reason, time.monotonic()
            self._emit(progress, final_state, reason, outcome=outcome.value)
            progress.state = final_state
            self.wake_held()

    def revise(self, progress: StepProgress, reason: str, state: str,
               execution: ExecutionState) -> None:
        """Turn a step that finished DONE on its own command's answer into FAILED: the
        confirming observation found its container failed. Emits the step's new last event."""
        with self.changed:
            if progress.outcome is not Outcome.DONE:
                return
            progress.outcome, progress.reason = Outcome.FAILED, reason
            progress.execution, progress.known_at = execution, 0.0
            self._emit(progress, state, reason, outcome=Outcome.FAILED.value)
            progress.state = state
            self.wake_held()

    def _emit(self, progress: StepProgress, to_state: str, message: str,
              outcome: str = "") -> None:
        self._on_event(ApplyEvent(
            time=time.time(), node=progress.node_name, workload=progress.workload_name,
            from_state=progress.state, to_state=to_state, message=message,
            kind=progress.kind.value, elapsed=round(progress.elapsed, 3), outcome=outcome,
            subject=progress.step.action.subject))


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """One observation of the involved nodes."""

    live: LiveState
    seq: int  # 1, 2, ...: increases with every observation
    taken_at: float  # time.monotonic() when the observation began
    # node name -> when that node's observation began (nodes are observed at their own pace)
    node_taken_at: Mapping[str, float] = field(default_factory=dict)

    def began(self, node_name: str) -> float:
        """Up to when (time.monotonic()) this snapshot holds everything ankplan's own commands
        did on `node_name`, which the waits compare with when a step's command returned.

        For a node followed by `podman events` that is when the snapshot was taken: every
        command's result is noted into the node's feed before its step takes the time it
        returned, and the node's own doings (an exit, a health status) come by events, a
        fraction of a second late, like a poll's. For a polled node (or one whose last listing
        may predate a noted result) it is when the listing shown began, as with `podman ps`.
        """
        return self.node_taken_at.get(node_name, self.taken_at)


class Run:
    """What every step thread shares."""

    def __init__(self, plan: Plan, pool: TransportPool, inventory: Inventory, manifest: Manifest,
                 options: ApplyOptions, board: Board, observer: Observer,
                 cancel: threading.Event) -> None:
        self.plan, self.pool, self.inventory, self.manifest = plan, pool, inventory, manifest
        self.options, self.board, self.observer, self.cancel = options, board, observer, cancel
        self._slots = threading.Semaphore(max(1, options.parallelism))

    def node(self, node_name: str) -> Node:
        """The inventory node called `node_name`."""
        node = self.inventory.node(node_name)
        if node is None:
            raise AnkplanError(f"node {node_name} is not in the inventory")
        return node

    def lost(self, node_name: str) -> str:
        """Why `node_name` is out of reach for the rest of this run ("" when it is not)."""
        return self.pool.lost(node_name)

    def lost_nodes(self) -> dict[str, str]:
        """Every involved node out of reach, with why."""
        return {name: why for name in self.observer.node_names if (why := self.lost(name))}

    def finish_if_lost(self, progress: StepProgress) -> bool:
        """End the step as failed when its node is lost; True when it did."""
        why = self.lost(progress.node_name)
        if why:
            self.board.finish(progress, Outcome.FAILED, f"node {progress.node_name}: {why}",
                              state="Failed(Unknown)")
        return bool(why)

    def slot(self) -> threading.Semaphore:
        """Held while podman commands run: at most `parallelism` at once."""
        return self._slots

    def podman(self, node: Node, argv: tuple[str, ...], timeout: float, *,
               stdin: str | None = None) -> CommandResult:
        """Run one podman command, waiting for a free slot (`parallelism`)."""
        with self._slots:
            return self.pool.get(node).run(argv, timeout=timeout, stdin=stdin)
