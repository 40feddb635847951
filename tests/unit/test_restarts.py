"""Restart decisions, backoff schedule and health bookkeeping (pure, injected clock)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from ankplan.model import ExecutionState, PodmanConfig, RestartPolicy, Workload
from ankplan.planner.restarts import (
    BackoffPolicy,
    HealthRecord,
    RestartHistory,
    RestartVerdict,
    decide_restart,
    effective_state,
    for_container,
    health_due,
    is_unhealthy,
    note_health,
    note_restart,
    note_state,
    restarts_on,
)

RUNNING = ExecutionState(state="Running", sub_state="Ok")
SUCCEEDED = ExecutionState(state="Succeeded", sub_state="Ok")
EXEC_FAILED = ExecutionState(state="Failed", sub_state="ExecFailed", info="Exit code: '1'")
LOST = ExecutionState(state="Failed", sub_state="Lost")
UNKNOWN = ExecutionState(state="Failed", sub_state="Unknown", info="paused")
STARTING = ExecutionState(state="Pending", sub_state="Starting", info="created")
STOPPING = ExecutionState(state="Stopping", sub_state="Stopping", info="stopping")
WAITING = ExecutionState(state="Pending", sub_state="WaitingToStart")
ALL_STATES = (RUNNING, SUCCEEDED, EXEC_FAILED, LOST, UNKNOWN, STARTING, STOPPING, WAITING)


def workload(policy: RestartPolicy) -> Workload:
    return Workload(name="kuksa-bridge", agent="agent_A", runtime="podman",
                    runtime_config_text="image: x", runtime_config=PodmanConfig(image="x"),
                    restart_policy=policy)


# --- which states restart under which policy (Ankaios semantics + the guide's table 6.4) ------

EXPECTED = {
    RestartPolicy.NEVER: set(),
    RestartPolicy.ON_FAILURE: {EXEC_FAILED},
    RestartPolicy.ALWAYS: {EXEC_FAILED, SUCCEEDED},
}


@pytest.mark.parametrize("policy", list(RestartPolicy))
@pytest.mark.parametrize("state", ALL_STATES, ids=str)
def test_restarts_on_every_policy_and_state(policy: RestartPolicy, state: ExecutionState) -> None:
    assert restarts_on(policy, state) is (state in EXPECTED[policy])


@pytest.mark.parametrize("policy", list(RestartPolicy))
@pytest.mark.parametrize("state", ALL_STATES, ids=str)
def test_decide_matches_policy_on_first_exit(policy: RestartPolicy, state: ExecutionState) -> None:
    decision = decide_restart(workload(policy), state, RestartHistory(), 100.0, BackoffPolicy())
    expected = RestartVerdict.RESTART if state in EXPECTED[policy] else RestartVerdict.NONE
    assert decision.verdict is expected
    if expected is RestartVerdict.RESTART:
        assert decision.at == 100.0 and decision.delay == 0.0


def test_lost_container_is_recreated_not_restarted() -> None:
    decision = decide_restart(workload(RestartPolicy.ALWAYS), LOST, RestartHistory(), 0.0,
                              BackoffPolicy())
    assert decision.verdict is RestartVerdict.NONE
    assert "re-created" in decision.reason


def test_exit_zero_under_on_failure_explains_why_not() -> None:
    decision = decide_restart(workload(RestartPolicy.ON_FAILURE), SUCCEEDED, RestartHistory(),
                              0.0, BackoffPolicy())
    assert decision.verdict is RestartVerdict.NONE
    assert "ON_FAILURE does not restart Succeeded(Ok)" in decision.reason


def test_restart_reason_names_policy_and_exit_code() -> None:
    decision = decide_restart(workload(RestartPolicy.ON_FAILURE), EXEC_FAILED, RestartHistory(),
                              0.0, BackoffPolicy())
    assert decision.reason == "ON_FAILURE restarts Failed(ExecFailed): Exit code: '1'"


# --- backoff ------------------------------------------------------------------------------------


def test_default_policy_is_the_guides_schedule() -> None:
    policy = BackoffPolicy()
    assert [policy.delay(n) for n in range(8)] == [0, 5, 10, 20, 30, 30, 30, 30]
    assert policy.reset_after == 60 and policy.max_restarts is None


def test_empty_delays_mean_immediate() -> None:
    assert BackoffPolicy(delays=()).delay(3) == 0.0


@dataclass
class Clock:
    now: float = 1000.0

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def crash_loop(policy: BackoffPolicy, crash_after: float, restarts: int) -> list[float]:
    """Simulate watch ticks of 0.25 s (exact in binary) on a workload that crashes `crash_after` s after each start.

    Returns the times at which restarts were issued.
    """
    clock, history, issued = Clock(), RestartHistory(), []
    wl = workload(RestartPolicy.ALWAYS)
    started = clock.now
    while len(issued) < restarts:
        state = RUNNING if clock.now - started < crash_after else EXEC_FAILED
        history = note_state(history, state, clock.now, policy)
        decision = decide_restart(wl, state, history, clock.now, policy)
        if decision.verdict is RestartVerdict.RESTART:
            issued.append(clock.now)
            history = note_restart(history, clock.now)
            started = clock.now
        clock.advance(0.25)
    return issued


def test_crash_loop_follows_schedule_then_caps() -> None:
    policy = BackoffPolicy()
    issued = crash_loop(policy, crash_after=1.0, restarts=7)
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(issued)]
    # each gap = time to crash (1 s) + the delay before the next restart
    assert gaps == [6.0, 11.0, 21.0, 31.0, 31.0, 31.0]


def test_custom_schedule() -> None:
    issued = crash_loop(BackoffPolicy(delays=(0, 1, 2, 3)), crash_after=0.5, restarts=6)
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(issued)]
    assert gaps == [1.5, 2.5, 3.5, 3.5, 3.5]


def test_wait_reports_when_the_restart_is_due() -> None:
    policy = BackoffPolicy()
    history = note_restart(RestartHistory(), 10.0)  # streak 1 -> next delay 5 s
    history = note_state(history, EXEC_FAILED, 12.0, policy)
    decision = decide_restart(workload(RestartPolicy.ON_FAILURE), EXEC_FAILED, history, 13.0,
                              policy)
    assert decision.verdict is RestartVerdict.WAIT
    assert decision.at == 17.0 and decision.delay == 5.0
    assert "crash-looping" in decision.reason
    later = decide_restart(workload(RestartPolicy.ON_FAILURE), EXEC_FAILED, history, 17.0, policy)
    assert later.verdict is RestartVerdict.RESTART


def test_clean_running_resets_the_streak() -> None:
    policy = BackoffPolicy(reset_after=60)
    history = RestartHistory(streak=3, restarts=3)
    history = note_state(history, RUNNING, 0.0, policy)
    history = note_state(history, RUNNING, 59.9, policy)
    assert history.streak == 3
    history = note_state(history, RUNNING, 60.0, policy)
    assert history.streak == 0 and history.restarts == 3
    history = note_state(history, EXEC_FAILED, 61.0, policy)
    decision = decide_restart(workload(RestartPolicy.ALWAYS), EXEC_FAILED, history, 61.0, policy)
    assert decision.verdict is RestartVerdict.RESTART and decision.delay == 0


def test_running_interrupted_before_reset_keeps_streak() -> None:
    policy = BackoffPolicy(reset_after=60)
    history = note_state(RestartHistory(streak=2), RUNNING, 0.0, policy)
    history = note_state(history, EXEC_FAILED, 30.0, policy)
    history = note_state(history, RUNNING, 31.0, policy)
    history = note_state(history, RUNNING, 80.0, policy)
    assert history.streak == 2  # ran 49 s since the last start, not 60


def test_failed_at_is_the_first_sighting() -> None:
    policy = BackoffPolicy()
    history = note_state(RestartHistory(), EXEC_FAILED, 5.0, policy)
    history = note_state(history, EXEC_FAILED, 7.0, policy)
    assert history.failed_at == 5.0


def test_note_restart_counts_and_clears_failure() -> None:
    history = note_restart(RestartHistory(failed_at=3.0, streak=1, restarts=4), 9.0)
    assert (history.restarts, history.streak, history.failed_at, history.last_restart_at) == (
        5, 2, None, 9.0)


def test_pending_state_clears_running_since() -> None:
    history = note_state(RestartHistory(running_since=1.0), STARTING, 2.0, BackoffPolicy())
    assert history.running_since is None


# --- give up ------------------------------------------------------------------------------------


def test_max_restarts_gives_up() -> None:
    policy = BackoffPolicy(max_restarts=2)
    wl = workload(RestartPolicy.ON_FAILURE)
    assert decide_restart(wl, EXEC_FAILED, RestartHistory(restarts=1), 0.0,
                          policy).verdict is not RestartVerdict.GIVE_UP
    decision = decide_restart(wl, EXEC_FAILED, RestartHistory(restarts=2), 0.0, policy)
    assert decision.verdict is RestartVerdict.GIVE_UP
    assert "--max-restarts 2" in decision.reason


def test_max_restarts_zero_gives_up_at_first_failure_but_not_while_running() -> None:
    policy = BackoffPolicy(max_restarts=0)
    wl = workload(RestartPolicy.ALWAYS)
    assert decide_restart(wl, RUNNING, RestartHistory(), 0.0, policy).verdict is (
        RestartVerdict.NONE)
    assert decide_restart(wl, SUCCEEDED, RestartHistory(), 0.0, policy).verdict is (
        RestartVerdict.GIVE_UP)


def test_never_policy_never_gives_up() -> None:
    decision = decide_restart(workload(RestartPolicy.NEVER), EXEC_FAILED, RestartHistory(),
                              0.0, BackoffPolicy(max_restarts=0))
    assert decision.verdict is RestartVerdict.NONE


# --- health -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    interval: float = 2.0
    retries: int = 3
    start_period: float = 0.0


def test_health_due_at_interval() -> None:
    record = HealthRecord(container_id="c1")
    assert health_due(record, Check(), 0.0)
    record = note_health(record, Check(), True, 10.0)
    assert not health_due(record, Check(), 11.9)
    assert health_due(record, Check(), 12.0)


def test_three_consecutive_failures_make_it_unhealthy() -> None:
    check, record = Check(), HealthRecord(container_id="c1", first_seen_at=0.0)
    for now in (2.0, 4.0):
        record = note_health(record, check, False, now, output="no file")
        assert not is_unhealthy(record, check)
    record = note_health(record, check, False, 6.0, output="no file")
    assert is_unhealthy(record, check)
    state = effective_state(RUNNING, record, check)
    assert (state.state, state.sub_state) == ("Failed", "ExecFailed")
    assert state.info == "unhealthy: health check failed 3 consecutive times (no file)"
    assert restarts_on(RestartPolicy.ON_FAILURE, state)


def test_a_pass_resets_consecutive_failures() -> None:
    check, record = Check(), HealthRecord(container_id="c1")
    record = note_health(record, check, False, 1.0)
    record = note_health(record, check, False, 2.0)
    record = note_health(record, check, True, 3.0)
    record = note_health(record, check, False, 4.0)
    assert record.failures == 1 and not is_unhealthy(record, check)


def test_failures_in_start_period_do_not_count() -> None:
    check = Check(start_period=10.0)
    record = HealthRecord(container_id="c1", first_seen_at=100.0)
    record = note_health(record, check, False, 105.0)
    assert record.failures == 0
    record = note_health(record, check, False, 111.0)
    assert record.failures == 1
    started = note_health(HealthRecord(container_id="c1", first_seen_at=100.0), check, False,
                          105.0, started_at=90.0)
    assert started.failures == 1  # container started 15 s ago: start period is over


def test_new_container_gets_fresh_record() -> None:
    record = HealthRecord(container_id="c1", failures=3, last_check_at=5.0)
    assert for_container(record, "c1", 9.0) is record
    fresh = for_container(record, "c2", 9.0)
    assert fresh == HealthRecord(container_id="c2", first_seen_at=9.0)


def test_the_same_container_started_again_gets_a_fresh_record() -> None:
    """watch restarts an unchanged container with `podman start`: same id, a new run whose
    start period begins again and which inherits no failures."""
    record = HealthRecord(container_id="c1", started_at=50.0, failures=1, first_seen_at=50.5)
    assert for_container(record, "c1", 60.0, started_at=50.0) is record
    again = for_container(record, "c1", 60.0, started_at=59.5)
    assert again == HealthRecord(container_id="c1", started_at=59.5, first_seen_at=60.0)
    grace = Check(start_period=5.0)
    assert note_health(again, grace, False, 61.0).failures == 0  # in the new start period
    assert note_health(record, grace, False, 61.0).failures == 2  # what keeping it would do


def test_effective_state_leaves_others_alone() -> None:
    unhealthy = HealthRecord(container_id="c1", failures=5)
    assert effective_state(SUCCEEDED, unhealthy, Check()) is SUCCEEDED
    assert effective_state(RUNNING, None, None) is RUNNING
    assert effective_state(RUNNING, HealthRecord(failures=2), Check()) is RUNNING


def test_retries_zero_means_one_failure() -> None:
    record = note_health(HealthRecord(), Check(retries=0), False, 1.0)
    assert is_unhealthy(record, Check(retries=0))


def test_restarts_module_is_pure() -> None:
    import ankplan.planner.restarts as module

    with open(module.__file__, encoding="utf-8") as stream:
        source = stream.read()
    for forbidden in ("import time", "import os", "subprocess", "paramiko"):
        assert forbidden not in source
