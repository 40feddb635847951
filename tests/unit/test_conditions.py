"""Exhaustive tests of the add-condition verdicts (planner/conditions.py)."""

from __future__ import annotations

import itertools

import pytest

from ankplan.model import AddCondition, ExecutionState, PodmanConfig, RestartPolicy, Workload
from ankplan.planner.conditions import ConditionStatus, Verdict, condition_status, has_health_check

RUN, SUC, FAIL = AddCondition.RUNNING, AddCondition.SUCCEEDED, AddCondition.FAILED
NEVER_P, ON_FAILURE_P = RestartPolicy.NEVER, RestartPolicy.ON_FAILURE
ALWAYS_P = RestartPolicy.ALWAYS
MET, WAIT, NEVER, STANDBY = Verdict.MET, Verdict.WAITING, Verdict.NEVER, Verdict.STANDING_BY

STATES = {
    "initial": ExecutionState(state="Pending", sub_state="Initial"),
    "waiting": ExecutionState(state="Pending", sub_state="WaitingToStart"),
    "starting": ExecutionState(state="Pending", sub_state="Starting", info="created"),
    "running": ExecutionState(state="Running", sub_state="Ok"),
    "succeeded": ExecutionState(state="Succeeded", sub_state="Ok"),
    "exec_failed": ExecutionState(state="Failed", sub_state="ExecFailed", info="Exit code: '1'"),
    "lost": ExecutionState(state="Failed", sub_state="Lost"),
    "unknown": ExecutionState(state="Failed", sub_state="Unknown", info="paused"),
    "stopping": ExecutionState(state="Stopping", sub_state="Stopping"),
    "not_scheduled": ExecutionState(state="NotScheduled"),
}


def workload(policy: RestartPolicy = NEVER_P, *, agent: str = "agent_A",
             options: tuple[str, ...] = ()) -> Workload:
    return Workload(name="dep", agent=agent, runtime="podman", runtime_config_text="x",
                    runtime_config=PodmanConfig(image="img", command_options=options),
                    restart_policy=policy)


# (condition, state, restart policy) -> verdict, for a dependency in the manifest without a
# health check. Every combination is listed: the test below checks the table is complete.
EXPECTED: dict[tuple[AddCondition, str, RestartPolicy], Verdict] = {}
for policy in RestartPolicy:
    for state in ("initial", "waiting", "starting", "stopping", "unknown"):
        for cond in AddCondition:
            EXPECTED[(cond, state, policy)] = WAIT
    for cond in AddCondition:
        EXPECTED[(cond, "lost", policy)] = NEVER
        EXPECTED[(cond, "not_scheduled", policy)] = NEVER
    EXPECTED[(RUN, "running", policy)] = MET
    EXPECTED[(SUC, "running", policy)] = WAIT
    EXPECTED[(FAIL, "running", policy)] = STANDBY
    EXPECTED[(SUC, "succeeded", policy)] = MET
    EXPECTED[(FAIL, "exec_failed", policy)] = MET
# RUNNING on a dependency that exited: only a restart can bring it back.
EXPECTED.update({
    (RUN, "succeeded", NEVER_P): NEVER, (RUN, "succeeded", ON_FAILURE_P): NEVER,
    (RUN, "succeeded", ALWAYS_P): WAIT,
    (RUN, "exec_failed", NEVER_P): NEVER, (RUN, "exec_failed", ON_FAILURE_P): WAIT,
    (RUN, "exec_failed", ALWAYS_P): WAIT,
    # SUCCEEDED on a failed dependency: a restart might still succeed.
    (SUC, "exec_failed", NEVER_P): NEVER, (SUC, "exec_failed", ON_FAILURE_P): WAIT,
    (SUC, "exec_failed", ALWAYS_P): WAIT,
    # FAILED on a succeeded dependency: only ALWAYS runs it again (and it may fail then).
    (FAIL, "succeeded", NEVER_P): NEVER, (FAIL, "succeeded", ON_FAILURE_P): NEVER,
    (FAIL, "succeeded", ALWAYS_P): WAIT,
})


def test_table_covers_every_combination() -> None:
    assert set(EXPECTED) == set(itertools.product(AddCondition, STATES, RestartPolicy))


@pytest.mark.parametrize(("condition", "state_name", "policy"), sorted(
    EXPECTED, key=lambda key: (key[0].value, key[1], key[2].value)))
def test_verdict_table(condition: AddCondition, state_name: str, policy: RestartPolicy) -> None:
    status = condition_status(condition, STATES[state_name],
                              dependency_workload=workload(policy), healthy=None)
    assert status.verdict is EXPECTED[(condition, state_name, policy)]
    assert "dep" in status.reason


@pytest.mark.parametrize("condition", list(AddCondition))
@pytest.mark.parametrize("state_name", sorted(STATES))
def test_empty_agent_is_never(condition: AddCondition, state_name: str) -> None:
    status = condition_status(condition, STATES[state_name],
                              dependency_workload=workload(agent=""), healthy=None)
    assert status.verdict is NEVER
    assert "NotScheduled" in status.reason


@pytest.mark.parametrize("condition", list(AddCondition))
def test_dependency_missing_everywhere_is_never(condition: AddCondition) -> None:
    status = condition_status(condition, STATES["lost"], dependency_workload=None,
                              healthy=None, dependency_name="ghost")
    assert status.verdict is NEVER
    assert status.reason == "ghost is not in the manifest and not running on any node"


def test_dependency_outside_manifest_but_running_meets_running() -> None:
    status = condition_status(RUN, STATES["running"], dependency_workload=None, healthy=None,
                              dependency_name="outside")
    assert status.verdict is MET


@pytest.mark.parametrize(("state_name", "verdict"), [
    ("succeeded", NEVER), ("exec_failed", NEVER), ("running", MET), ("starting", WAIT)])
def test_dependency_outside_manifest_uses_never_policy(state_name: str, verdict: Verdict) -> None:
    status = condition_status(RUN, STATES[state_name], dependency_workload=None, healthy=None,
                              dependency_name="outside")
    assert status.verdict is verdict


@pytest.mark.parametrize(("healthy", "verdict"), [(True, MET), (False, WAIT), (None, WAIT)])
def test_running_with_health_check_needs_healthy(healthy: bool | None, verdict: Verdict) -> None:
    dep = workload(options=("--health-cmd", "true", "--health-interval", "1s"))
    status = condition_status(RUN, STATES["running"], dependency_workload=dep, healthy=healthy)
    assert status.verdict is verdict
    assert "health" in status.reason


def test_observed_health_counts_even_without_manifest_check() -> None:
    status = condition_status(RUN, STATES["running"], dependency_workload=None, healthy=False,
                              dependency_name="outside")
    assert status.verdict is WAIT


@pytest.mark.parametrize("healthy", [True, False, None])
def test_health_does_not_matter_for_failed_condition(healthy: bool | None) -> None:
    dep = workload(options=("--health-cmd=true",))
    status = condition_status(FAIL, STATES["running"], dependency_workload=dep, healthy=healthy)
    assert status.verdict is STANDBY
    assert status.final and not status.met


def test_reasons_are_specific() -> None:
    never = condition_status(RUN, STATES["succeeded"], dependency_workload=workload(),
                             healthy=None)
    assert never.reason == ("dep is Succeeded(Ok) and restartPolicy NEVER does not restart it; "
                            "ADD_COND_RUNNING can no longer hold")
    failed = condition_status(SUC, STATES["exec_failed"], dependency_workload=workload(),
                              healthy=None)
    assert "(Exit code: '1')" in failed.reason
    waiting = condition_status(RUN, STATES["starting"], dependency_workload=workload(),
                               healthy=None)
    assert waiting == ConditionStatus(verdict=WAIT,
                                      reason="waiting for dep to be running: it is "
                                             "Pending(Starting)")
    assert not waiting.final


@pytest.mark.parametrize(("options", "expected"), [
    ((), False), (("--health-cmd", "true"), True), (("--health-cmd=curl x",), True),
    (("--health-cmd=none",), False), (("--health-interval", "1s"), False),
    (("-p", "80:80"), False)])
def test_has_health_check(options: tuple[str, ...], expected: bool) -> None:
    assert has_health_check(workload(options=options)) is expected
    assert has_health_check(None) is False
