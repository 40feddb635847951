"""Whether a dependency's add condition holds, may still hold, or can no longer hold.

Pure: no I/O. Semantics follow Ankaios (§4.5 of the reference): RUNNING is met by Running(Ok)
(and, where the dependency has a health check, also healthy), SUCCEEDED by Succeeded(Ok), FAILED
by Failed(ExecFailed) only. ankplan adds a verdict Ankaios lacks, NEVER, so apply can report a
condition that cannot be met at once instead of waiting forever, and STANDING_BY for a fallback
(FAILED condition) whose primary runs, which counts as success.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ankplan.errors import PlanError
from ankplan.model import AddCondition, ExecutionState, RestartPolicy, State, SubState, Workload
from ankplan.planner.restarts import restarts_on
from ankplan.podman import parse_health_check


class Verdict(str, enum.Enum):
    """The answer for one condition; values are stable (they appear in JSON events)."""

    MET = "met"  # the dependent may start now
    WAITING = "waiting"  # not yet; may still hold later in this apply
    NEVER = "never"  # can no longer hold during this apply: do not start, say why at once
    STANDING_BY = "standing-by"  # FAILED condition while the primary runs: fallback not needed


@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionStatus:
    """A verdict and the human reason behind it, e.g. "zenoh-router is Pending(Starting)"."""

    verdict: Verdict
    reason: str

    @property
    def met(self) -> bool:
        """True when the dependent may start."""
        return self.verdict is Verdict.MET

    @property
    def final(self) -> bool:
        """True when waiting longer cannot change the answer (NEVER or STANDING_BY)."""
        return self.verdict in (Verdict.NEVER, Verdict.STANDING_BY)


# What each condition wants to see, as (state, sub_state).
_WANTED: dict[AddCondition, tuple[State, SubState]] = {
    AddCondition.RUNNING: (State.RUNNING, SubState.OK),
    AddCondition.SUCCEEDED: (State.SUCCEEDED, SubState.OK),
    AddCondition.FAILED: (State.FAILED, SubState.EXEC_FAILED),
}

_WORDS: dict[AddCondition, str] = {
    AddCondition.RUNNING: "running",
    AddCondition.SUCCEEDED: "succeeded",
    AddCondition.FAILED: "failed",
}


def condition_status(condition: AddCondition, dependency_state: ExecutionState, *,
                     dependency_workload: Workload | None,
                     healthy: bool | None, dependency_name: str = "") -> ConditionStatus:
    """Judge `condition` on a dependency now in `dependency_state`.

    `dependency_workload` is the dependency as the manifest defines it (None when the manifest
    does not have it): its agent and restart policy decide whether a terminal state is final,
    and its podman options whether a health check exists. `healthy` is the observed health:
    None when no health check ran or none exists, else True/False. `dependency_name` names
    the dependency in reasons (default: the workload's name).
    """
    name = dependency_name or (dependency_workload.name if dependency_workload else "dependency")
    state = dependency_state
    if dependency_workload is not None and dependency_workload.agent == "":
        return _never(f"{name} has agent \"\" (NotScheduled) and never runs")
    if state.state == State.NOT_SCHEDULED:
        return _never(f"{name} is NotScheduled and never runs")
    if (state.state, state.sub_state) == (State.FAILED, SubState.LOST):
        return _lost(name, dependency_workload)
    if (state.state, state.sub_state) == (State.PENDING, SubState.STARTING_FAILED):
        return _never(f"{name} cannot start ({state.info or state}); "
                      f"ADD_COND_{condition.name} can never hold")
    if (state.state, state.sub_state) == _WANTED[condition]:
        return _wanted_state(condition, name, dependency_workload, healthy)
    if condition is AddCondition.FAILED and state.state == State.RUNNING:
        return ConditionStatus(verdict=Verdict.STANDING_BY,
                               reason=f"{name} is Running(Ok): the fallback stands by")
    if _is_terminal(state):
        return _terminal(condition, name, state, dependency_workload)
    return _waiting(f"waiting for {name} to be {_WORDS[condition]}: it is {state}")


def has_health_check(workload: Workload | None) -> bool:
    """True when the workload's podman options define a health check (`--health-cmd`)."""
    if workload is None or workload.podman is None:
        return False
    try:
        return parse_health_check(workload.podman.command_options) is not None
    except PlanError:
        return True  # a health command with a malformed interval is still a health check


def _wanted_state(condition: AddCondition, name: str, workload: Workload | None,
                  healthy: bool | None) -> ConditionStatus:
    """The dependency is in the wanted state; RUNNING also needs health where checked."""
    if condition is AddCondition.RUNNING and (has_health_check(workload) or healthy is not None):
        if healthy is not True:
            word = "unhealthy" if healthy is False else "not yet healthy"
            return _waiting(f"waiting for {name} to be healthy: it is Running(Ok), {word}")
        return _met(f"{name} is Running(Ok) and healthy")
    state, sub_state = _WANTED[condition]
    return _met(f"{name} is {state}({sub_state})")


def _terminal(condition: AddCondition, name: str, state: ExecutionState,
              workload: Workload | None) -> ConditionStatus:
    """The dependency ended in a state the condition does not want: final unless restarted."""
    policy = workload.restart_policy if workload is not None else RestartPolicy.NEVER
    if restarts_on(policy, state):
        return _waiting(f"waiting for {name} to be {_WORDS[condition]}: it is {state} and "
                        f"restartPolicy {policy.value} restarts it")
    if workload is None:
        policy_text = "it is not in the manifest, so nothing restarts it"
    else:
        policy_text = f"restartPolicy {policy.value} does not restart it"
    return _never(f"{name} is {state}{_info(state)} and {policy_text}; "
                  f"ADD_COND_{condition.name} can no longer hold")


def _lost(name: str, workload: Workload | None) -> ConditionStatus:
    """No container for the dependency: with no manifest entry nothing will ever create one."""
    if workload is None:
        return _never(f"{name} is not in the manifest and not running on any node")
    return _never(f"{name} has no container (Failed(Lost)) and this apply does not create it")


def _is_terminal(state: ExecutionState) -> bool:
    """Succeeded or Failed(ExecFailed): the container exited."""
    return state.state == State.SUCCEEDED or (
        (state.state, state.sub_state) == (State.FAILED, SubState.EXEC_FAILED))


def _info(state: ExecutionState) -> str:
    return f" ({state.info})" if state.info else ""


def _met(reason: str) -> ConditionStatus:
    return ConditionStatus(verdict=Verdict.MET, reason=reason)


def _waiting(reason: str) -> ConditionStatus:
    return ConditionStatus(verdict=Verdict.WAITING, reason=reason)


def _never(reason: str) -> ConditionStatus:
    return ConditionStatus(verdict=Verdict.NEVER, reason=reason)
