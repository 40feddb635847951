"""Restart decisions, restart backoff and health-check bookkeeping for `ankplan watch`.

Pure: no I/O and no clock; the caller passes `now` (seconds, monotonic or wall, but one clock).
Policies follow Ankaios (ON_FAILURE: non-zero exit; ALWAYS: any exit; NEVER: never); unlike
Ankaios and Podman, restarts back off, by default on the guide's schedule 0, 5, 10, 20, 30 s.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Protocol

from ankplan.model import ExecutionState, RestartPolicy, State, SubState, Workload

VALUE = {"frozen": True, "slots": True, "kw_only": True}

# The guide's schedule (section 6.1): 1st restart at once, then 5 s, 10 s, 20 s, then 30 s.
DEFAULT_DELAYS: tuple[float, ...] = (0.0, 5.0, 10.0, 20.0, 30.0)
DEFAULT_RESET_AFTER = 60.0  # seconds of clean running that forget earlier crashes

UNHEALTHY_INFO = "unhealthy"  # prefix of ExecutionState.info for a failing health check


@dataclass(**VALUE)
class BackoffPolicy:
    """How long to wait before each restart of a crash-looping workload, and when to give up."""

    # Delay before the n-th restart of a streak (n = 0, 1, ...); the last one repeats (the cap).
    delays: tuple[float, ...] = DEFAULT_DELAYS
    reset_after: float = DEFAULT_RESET_AFTER  # clean running that resets the streak
    max_restarts: int | None = None  # restarts allowed per workload in one run; None = no limit

    def delay(self, streak: int) -> float:
        """The delay before a restart when `streak` restarts happened since the last reset."""
        if not self.delays:
            return 0.0
        return self.delays[min(max(streak, 0), len(self.delays) - 1)]


@dataclass(**VALUE)
class RestartHistory:
    """What watch remembers about one workload between ticks (in memory only)."""

    restarts: int = 0  # restarts issued by this run (what --max-restarts counts)
    streak: int = 0  # restarts since the workload last ran cleanly for `reset_after`
    failed_at: float | None = None  # when the current exit was first seen
    running_since: float | None = None  # when it was first seen running cleanly, this time
    last_restart_at: float | None = None  # when this run last issued a restart


class RestartVerdict(str, enum.Enum):
    """What to do about a workload now; values are stable (used in JSON events)."""

    RESTART = "restart"  # issue the restart now
    WAIT = "wait"  # crash-looping: restart at `RestartDecision.at`
    NONE = "none"  # nothing to do (running, or the policy does not restart this state)
    GIVE_UP = "give-up"  # --max-restarts exhausted; leave it as it is


@dataclass(**VALUE)
class RestartDecision:
    """The verdict for one workload, when it applies, and why, for events and the live table."""

    verdict: RestartVerdict
    reason: str = ""
    at: float | None = None  # WAIT: when the restart becomes due; RESTART: now
    delay: float = 0.0  # the backoff delay that applies to this restart


def retry_after_failure(failures: int, failed_at: float, policy: BackoffPolicy) -> float:
    """When an action that failed `failures` times in a row (a create or start: missing image,
    name in use), the last time at `failed_at`, may be tried again.

    The restart schedule without its first, immediate step: 5, 10, 20, 30, 30, ... s with the
    guide's delays (Ankaios backs off 0.5 s x 2^n up to 300 s). A failed action is not a crash:
    it never counts against --max-restarts.
    """
    return failed_at + policy.delay(max(1, failures))


def restarts_on(policy: RestartPolicy, state: ExecutionState) -> bool:
    """True when `policy` restarts a workload in `state`, as Ankaios decides it.

    ON_FAILURE: Failed(ExecFailed) only. ALWAYS: Succeeded(Ok) or Failed(ExecFailed), which
    includes a container stopped by hand (it exits). NEVER: never. Failed(Lost) (container
    gone) and Failed(Unknown) are never restarts: watch re-creates a missing container instead.
    """
    failed = (state.state, state.sub_state) == (State.FAILED, SubState.EXEC_FAILED)
    if policy is RestartPolicy.ON_FAILURE:
        return failed
    if policy is RestartPolicy.ALWAYS:
        return failed or state.state == State.SUCCEEDED
    return False


def note_state(history: RestartHistory, state: ExecutionState, now: float,
               policy: BackoffPolicy) -> RestartHistory:
    """`history` updated with the state observed at `now` (call once per tick, before deciding).

    Running cleanly for `policy.reset_after` seconds resets the backoff streak; the first tick
    that sees an exit records when the failure began, which the backoff delay counts from.
    """
    if state.state == State.RUNNING:
        since = history.running_since if history.running_since is not None else now
        streak = 0 if now - since >= policy.reset_after else history.streak
        return replace(history, running_since=since, streak=streak, failed_at=None)
    if state.state in (State.FAILED, State.SUCCEEDED):
        failed_at = history.failed_at if history.failed_at is not None else now
        return replace(history, failed_at=failed_at, running_since=None)
    return replace(history, running_since=None)


def note_restart(history: RestartHistory, now: float) -> RestartHistory:
    """`history` after watch issued a restart at `now`."""
    return replace(history, restarts=history.restarts + 1, streak=history.streak + 1,
                   failed_at=None, running_since=None, last_restart_at=now)


def decide_restart(workload: Workload, state: ExecutionState, history: RestartHistory,
                   now: float, policy: BackoffPolicy) -> RestartDecision:
    """Whether to restart `workload`, observed in `state` at `now`, given its history.

    The n-th restart of a streak is due `policy.delay(n)` seconds after the exit was first seen
    (`history.failed_at`, or `now` when the caller did not note the state yet).
    """
    if not restarts_on(workload.restart_policy, state):
        return RestartDecision(verdict=RestartVerdict.NONE, reason=_no_restart_reason(
            workload.restart_policy, state))
    if policy.max_restarts is not None and history.restarts >= policy.max_restarts:
        return RestartDecision(
            verdict=RestartVerdict.GIVE_UP,
            reason=f"gave up after {history.restarts} restart(s) (--max-restarts "
                   f"{policy.max_restarts})")
    delay = policy.delay(history.streak)
    failed_at = history.failed_at if history.failed_at is not None else now
    due = failed_at + delay
    why = _restart_reason(workload.restart_policy, state)
    if now >= due:
        return RestartDecision(verdict=RestartVerdict.RESTART, reason=why, at=now, delay=delay)
    return RestartDecision(verdict=RestartVerdict.WAIT, at=due, delay=delay,
                           reason=f"{why}; crash-looping, back-off {delay:g}s")


def _restart_reason(policy: RestartPolicy, state: ExecutionState) -> str:
    detail = f": {state.info}" if state.info else ""
    return f"{policy.value} restarts {state}{detail}"


def _no_restart_reason(policy: RestartPolicy, state: ExecutionState) -> str:
    if (state.state, state.sub_state) == (State.FAILED, SubState.LOST):
        return "container missing: re-created by the plan, not restarted"
    if state.state in (State.FAILED, State.SUCCEEDED):
        return f"restart policy {policy.value} does not restart {state}"
    return ""


# --- health checks ---------------------------------------------------------------------------


class HealthCheckSpec(Protocol):
    """What watch needs of a parsed Podman health check (executors.podman.HealthCheck):
    seconds between checks, consecutive failures that mean unhealthy, and the seconds after a
    start during which failures do not count."""

    @property
    def interval(self) -> float: ...

    @property
    def retries(self) -> int: ...

    @property
    def start_period(self) -> float: ...


@dataclass(**VALUE)
class HealthRecord:
    """Health-check results of the current run of one workload's container."""

    container_id: str = ""  # the container these results belong to
    started_at: float = 0.0  # when it started (a restart with `podman start` keeps the id)
    failures: int = 0  # consecutive failed checks (not counting the start period)
    last_check_at: float | None = None
    first_seen_at: float | None = None  # when watch first saw this container running
    last_output: str = ""  # output of the last failed check, for events


def health_due(record: HealthRecord, check: HealthCheckSpec, now: float) -> bool:
    """True when the next health check of this container should run at `now`."""
    if record.last_check_at is None:
        return True
    return now - record.last_check_at >= max(check.interval, 0.0)


def for_container(record: HealthRecord, container_id: str, now: float,
                  started_at: float = 0.0) -> HealthRecord:
    """`record`, or a fresh one when the workload now runs in another container, or in the
    same one started again (`started_at` changed): earlier failures and the start period
    belong to the earlier run."""
    if record.container_id == container_id and record.started_at == started_at:
        return record
    return HealthRecord(container_id=container_id, started_at=started_at, first_seen_at=now)


def note_health(record: HealthRecord, check: HealthCheckSpec, passed: bool, now: float,
                output: str = "", started_at: float | None = None) -> HealthRecord:
    """`record` after a check at `now`; failures in the start period do not count.

    `started_at` is when the container started on the same clock as `now`; without it, the
    start period counts from when watch first saw the container.
    """
    if passed:
        return replace(record, failures=0, last_check_at=now, last_output="")
    begin = started_at if started_at is not None else record.first_seen_at
    in_start_period = begin is not None and now - begin < check.start_period
    failures = record.failures if in_start_period else record.failures + 1
    return replace(record, failures=failures, last_check_at=now, last_output=output.strip())


def is_unhealthy(record: HealthRecord, check: HealthCheckSpec) -> bool:
    """True when the check failed `retries` consecutive times (at least once)."""
    return record.failures >= max(check.retries, 1)


def effective_state(state: ExecutionState, record: HealthRecord | None,
                    check: HealthCheckSpec | None) -> ExecutionState:
    """The state decisions use: a running but unhealthy workload counts as Failed(ExecFailed)."""
    if state.state != State.RUNNING or record is None or check is None:
        return state
    if not is_unhealthy(record, check):
        return state
    info = f"{UNHEALTHY_INFO}: health check failed {record.failures} consecutive times"
    if record.last_output:
        info += f" ({record.last_output.splitlines()[-1][:120]})"
    return ExecutionState(state=State.FAILED, sub_state=SubState.EXEC_FAILED, info=info)
