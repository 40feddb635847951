"""The one dependency judgement (planner/workload_status.judge_dependency) that get, watch and
apply share: what each mode passes differs, the rule does not."""

from __future__ import annotations

from ankplan.model import (
    LABEL_PROJECT,
    LABEL_WORKLOAD,
    AddCondition,
    Dependency,
    ExecutionState,
    Inventory,
    LiveState,
    Manifest,
    Node,
    NodeObservation,
    ObservedContainer,
    PodmanConfig,
    State,
    SubState,
    Workload,
)
from ankplan.planner.conditions import Verdict
from ankplan.planner.workload_status import judge_dependency

INVENTORY = Inventory(nodes=(Node(name="n1"), Node(name="n2")),
                      agents=(("a1", "n1"), ("a2", "n2")))
DB = Workload(name="db", agent="a1", runtime="podman", runtime_config_text="db",
              runtime_config=PodmanConfig(image="localhost/img:1"))
MANIFEST = Manifest(api_version="v1", workloads=(DB,))
NEEDS_DB = Dependency(workload_name="db", condition=AddCondition.RUNNING)
LOST = ExecutionState(state=State.FAILED, sub_state=SubState.LOST)


def container(cid: str, state: str = "running", exit_code: int = 0) -> ObservedContainer:
    return ObservedContainer(id=cid.ljust(64, "0"), name="db", node_name="n1",
                             image="localhost/img:1", state=state, exit_code=exit_code,
                             labels=((LABEL_PROJECT, "p"), (LABEL_WORKLOAD, "db")))


def live(*containers: ObservedContainer, n1_error: str = "") -> LiveState:
    return LiveState(nodes=(NodeObservation(node_name="n1", containers=containers,
                                            error=n1_error or None),
                            NodeObservation(node_name="n2")))


def test_a_running_dependency_meets_running() -> None:
    judged = judge_dependency(NEEDS_DB, MANIFEST, INVENTORY, live(container("a")), "p")
    assert (judged.status.verdict, str(judged.state), judged.unobserved) == (
        Verdict.MET, "Running(Ok)", "")


def test_no_container_waits_where_it_will_be_made_and_never_holds_where_not() -> None:
    watch = judge_dependency(NEEDS_DB, MANIFEST, INVENTORY, live(), "p")
    apply = judge_dependency(NEEDS_DB, MANIFEST, INVENTORY, live(), "p", missing=LOST)
    assert (watch.status.verdict, str(watch.state)) == (Verdict.WAITING, "Pending(Initial)")
    assert (apply.status.verdict, str(apply.state)) == (Verdict.NEVER, "Failed(Lost)")


def test_the_container_a_run_started_stands_for_the_workload() -> None:
    observed = live(container("old", "exited", 1), container("new"))
    judged = judge_dependency(NEEDS_DB, MANIFEST, INVENTORY, observed, "p",
                              container_id="old".ljust(64, "0"))
    assert str(judged.state) == "Failed(ExecFailed)"


def test_an_unreadable_node_is_named_and_never_taken_for_a_missing_container() -> None:
    judged = judge_dependency(NEEDS_DB, MANIFEST, INVENTORY, live(n1_error="refused"), "p",
                              missing=LOST)
    assert judged.unobserved == "node n1 cannot be observed: refused"
    assert judged.status.verdict is Verdict.WAITING


def test_an_override_replaces_the_observed_state() -> None:
    unhealthy = ExecutionState(state=State.FAILED, sub_state=SubState.EXEC_FAILED, info="x")
    judged = judge_dependency(NEEDS_DB, MANIFEST, INVENTORY, live(container("a")), "p",
                              override=unhealthy)
    assert judged.status.verdict is Verdict.NEVER  # restartPolicy NEVER: it stays failed
