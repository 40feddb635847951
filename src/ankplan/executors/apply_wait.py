"""Whether a workload may start now: its dependencies' conditions, judged on the run's board
and the latest shared observation.

No I/O: reads the Board (steps of this run) and a Snapshot (observed containers). A dependency
this run acts on is judged by its step until that step settles; any other dependency by the
one judgement get and watch use too (planner/workload_status.judge_dependency). A
step that settled on its own command's answer (`podman run` returned: Running) is judged on that
answer for ADD_COND_RUNNING until an observation begun after it shows the container; the other
conditions wait for such an observation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ankplan.executors.apply_state import Board, Outcome, Snapshot, StepProgress
from ankplan.model import (
    AddCondition,
    Dependency,
    ExecutionState,
    Inventory,
    Manifest,
    Plan,
    State,
    SubState,
    Workload,
)
from ankplan.planner.conditions import ConditionStatus, Verdict, condition_status
from ankplan.planner.workload_status import judge_dependency

# A manifest workload with no container that this run does not create: nothing will.
LOST = ExecutionState(state=State.FAILED, sub_state=SubState.LOST)


@dataclass(frozen=True, slots=True, kw_only=True)
class Gate:
    """The combined answer for all of a workload's dependencies."""

    go: bool  # every condition is met
    outcome: Outcome | None  # set when the workload must not start (skip, never, standing by)
    reason: str
    waiting_on: str = ""  # "a, b": dependencies not yet met
    in_progress: bool = False  # some dependency is still being acted on by this run
    lost: bool = False  # skipped only because a dependency's node is lost
    observe: bool = False  # some dependency waits on an observation of the nodes


@dataclass(frozen=True, slots=True, kw_only=True)
class _Judged:
    name: str
    status: ConditionStatus
    skip: bool = False  # the dependency's own step failed or was not started
    in_progress: bool = False
    lost: bool = False  # the dependency's node is lost
    observe: bool = False  # judged on (or waiting for) an observation of the nodes


def dependency_gate(board: Board, snapshot: Snapshot | None, *, manifest: Manifest,
                    inventory: Inventory, project: str, workload: Workload,
                    lost: Mapping[str, str] | None = None) -> Gate:
    """Judge every dependency of `workload` and combine: skip/never > standing by > waiting.

    `lost` maps the nodes out of reach for the rest of the run to why: a dependency there can
    never be judged, so its dependents are skipped at once instead of waiting out --timeout.
    """
    judged = [_judge(board, snapshot, manifest, inventory, project, dependency, lost or {})
              for dependency in workload.dependencies]
    for item in sorted(judged, key=lambda item: item.lost):  # a failed dependency first
        if item.skip:
            return Gate(go=False, outcome=Outcome.SKIPPED, reason=item.status.reason,
                        lost=item.lost)
    for item in judged:
        if item.status.verdict is Verdict.NEVER:
            return Gate(go=False, outcome=Outcome.NOT_STARTED, reason=item.status.reason)
    for item in judged:
        if item.status.verdict is Verdict.STANDING_BY:
            return Gate(go=False, outcome=Outcome.STANDING_BY, reason=item.status.reason)
    waiting = [item for item in judged if item.status.verdict is Verdict.WAITING]
    if not waiting:
        return Gate(go=True, outcome=None,
                    reason="; ".join(item.status.reason for item in judged))
    return Gate(go=False, outcome=None, reason="; ".join(i.status.reason for i in waiting),
                waiting_on=", ".join(item.name for item in waiting),
                in_progress=any(item.in_progress for item in waiting),
                observe=any(item.observe for item in waiting))


def _judge(board: Board, snapshot: Snapshot | None, manifest: Manifest, inventory: Inventory,
           project: str, dependency: Dependency, lost: Mapping[str, str]) -> _Judged:
    name = dependency.workload_name
    step = board.bringup_of(name)
    if step is not None and not _settled_with_container(step):
        return _judge_step(name, step)
    defined = manifest.workload(name)
    node = inventory.node_for_agent(defined.agent) if defined and defined.agent else None
    if node is not None and node.name in lost:
        return _Judged(name=name, skip=True, lost=True, status=ConditionStatus(
            verdict=Verdict.NEVER, reason=f"dependency {name} cannot be judged: node "
                                          f"{node.name} is lost: {lost[node.name]}"))
    if step is not None and step.known_at and step.execution is not None and (
            _held_when_answered(dependency, step.execution)
            or snapshot is None or snapshot.began(step.node_name) < step.known_at):
        return _judge_known(name, step.execution, dependency, defined)
    if snapshot is None:
        return _Judged(name=name, in_progress=True, observe=True, status=ConditionStatus(
            verdict=Verdict.WAITING, reason=f"waiting for {name}: observing the nodes"))
    judged = judge_dependency(dependency, manifest, inventory, snapshot.live, project,
                              container_id=step.container_id if step else "", missing=LOST)
    if judged.unobserved:  # its node's `podman ps` failed: say which node and why, keep waiting
        return _Judged(name=name, observe=True, status=ConditionStatus(
            verdict=Verdict.WAITING, reason=f"waiting for {name}: {judged.unobserved}"))
    return _Judged(name=name, observe=True, status=judged.status)


def _held_when_answered(dependency: Dependency, state: ExecutionState) -> bool:
    """ADD_COND_RUNNING held when the dependency's own command of this run answered Running:
    its dependents start on that, as Ankaios starts a dependent on its dependency's change to
    Running and compose on `service_started`, also when the dependency dies right after (the
    confirming observation then fails the dependency's step). Judged on a later observation
    instead, the outcome would hang on whether the `died` event came before the dependent was
    judged."""
    return dependency.condition is AddCondition.RUNNING and state.state == State.RUNNING


def _judge_known(name: str, state: ExecutionState, dependency: Dependency,
                 defined: Workload | None) -> _Judged:
    """A dependency judged on its step's own command's answer (Running when `podman run`
    returned): enough for ADD_COND_RUNNING; SUCCEEDED and FAILED wait for an observation."""
    if dependency.condition is AddCondition.RUNNING:
        return _Judged(name=name, status=condition_status(
            dependency.condition, state, dependency_workload=defined, healthy=None,
            dependency_name=name))
    return _Judged(name=name, in_progress=True, observe=True, status=ConditionStatus(
        verdict=Verdict.WAITING, reason=f"waiting for {name}: it is {state}; observing it"))


def _settled_with_container(step: StepProgress) -> bool:
    """True when the step ended with a container whose state the conditions can judge: it
    is done, or it failed by exiting non-zero (which an ADD_COND_FAILED dependent wants)."""
    if step.outcome is Outcome.DONE:
        return bool(step.container_id)
    return (step.outcome is Outcome.FAILED and bool(step.container_id)
            and step.execution is not None and step.execution.state == State.FAILED
            and step.execution.sub_state == SubState.EXEC_FAILED)


def _judge_step(name: str, step: StepProgress) -> _Judged:
    """A dependency this run acts on that has not settled, or ended with no container."""
    if step.outcome is None:
        return _Judged(name=name, in_progress=True, status=ConditionStatus(
            verdict=Verdict.WAITING, reason=f"waiting for {name}: it is {step.state}"))
    if step.outcome is Outcome.STANDING_BY:
        return _Judged(name=name, status=ConditionStatus(
            verdict=Verdict.STANDING_BY, reason=f"{name} stands by: {step.reason}"))
    verb = "failed" if step.outcome is Outcome.FAILED else "was not started"
    return _Judged(name=name, skip=True, status=ConditionStatus(
        verdict=Verdict.NEVER, reason=f"dependency {name} {verb}: {step.reason}"))


def involved_nodes(plan: Plan, inventory: Inventory, manifest: Manifest) -> tuple[str, ...]:
    """Nodes of the plan's steps and of the dependencies of what it starts, sorted.

    A dependency the manifest does not define may run anywhere: then every node is involved.
    """
    names = {step.action.node_name for step in plan.changes()}
    for step in plan.changes():
        workload = step.action.workload
        for dependency in workload.dependencies if workload else ():
            defined = manifest.workload(dependency.workload_name)
            node = inventory.node_for_agent(defined.agent) if defined and defined.agent else None
            if node is not None:
                names.add(node.name)
            elif defined is None:
                names.update(node.name for node in inventory.nodes)
    return tuple(sorted(names))
