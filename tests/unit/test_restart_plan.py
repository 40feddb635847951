"""The pure plan of `ankplan restart`: which containers restart, in which order, and why."""

from __future__ import annotations

import json

from ankplan.cli.views.plan import render_plan_json, render_plan_text
from ankplan.model import (
    LABEL_PROJECT,
    LABEL_WORKLOAD,
    ActionKind,
    AddCondition,
    Dependency,
    Inventory,
    LiveState,
    Manifest,
    Node,
    NodeObservation,
    ObservedContainer,
    PodmanConfig,
    Project,
    Workload,
)
from ankplan.planner.restart import restart_plan, unknown_names

INVENTORY = Inventory(nodes=(Node(name="n1"), Node(name="n2")),
                      agents=(("a1", "n1"), ("a2", "n2")))


def workload(name: str, agent: str, *needs: str) -> Workload:
    return Workload(name=name, agent=agent, runtime="podman", runtime_config_text=name,
                    runtime_config=PodmanConfig(image="localhost/img:1"),
                    dependencies=tuple(Dependency(workload_name=n, condition=AddCondition.RUNNING)
                                       for n in needs))


# db (n1) <- api (n2) <- web (n2); tool (n1) alone; job (n1) never applied, depends on api
MANIFEST = Manifest(api_version="v1", workloads=(
    workload("api", "a2", "db"), workload("db", "a1"), workload("job", "a1", "api"),
    workload("tool", "a1"), workload("web", "a2", "api")))


def container(name: str, node: str, state: str = "running", project: str = "p",
              exit_code: int = 0) -> ObservedContainer:
    return ObservedContainer(id=f"{name}-id".ljust(64, "0"), name=name, node_name=node,
                             image="localhost/img:1", state=state, exit_code=exit_code,
                             labels=((LABEL_PROJECT, project), (LABEL_WORKLOAD, name)))


def live(*containers: ObservedContainer, down: str = "") -> LiveState:
    nodes = []
    for node in ("n1", "n2"):
        if node == down:
            nodes.append(NodeObservation(node_name=node, error="connection refused"))
        else:
            nodes.append(NodeObservation(node_name=node, containers=tuple(
                c for c in containers if c.node_name == node)))
    return LiveState(nodes=tuple(nodes))


ALL = live(container("db", "n1"), container("tool", "n1"), container("api", "n2"),
           container("web", "n2"))


def test_only_the_named_workload_restarts_and_its_dependents_keep_running() -> None:
    plan = restart_plan(MANIFEST, INVENTORY, ALL, project="p", names=["api"])
    assert plan.errors == ()
    (step,) = plan.steps
    action = step.action
    assert (action.kind, action.address, action.container_id) == (
        ActionKind.RESTART, "n2/api", "api-id".ljust(64, "0"))
    assert action.details == ("restart requested (container api-id000000, running)",
                              "web depends on it and keeps running")  # job does not run
    text = render_plan_text(plan)
    assert "  ~ n2/api will be restarted" in text and "Plan: 1 to restart." in text
    document = json.loads(render_plan_json(plan))
    assert document["summary"] == {"create": 0, "replace": 0, "start": 0, "update": 0,
                                   "remove": 0, "noop": 0, "restart": 1}
    assert document["actions"][0]["action"] == "restart"


def test_with_dependents_in_dependency_order() -> None:
    plan = restart_plan(MANIFEST, INVENTORY, ALL, project="p", names=["db"],
                        with_dependents=True)
    assert plan.errors == ()
    assert [(s.id, s.action.workload_name, s.depends_on) for s in plan.steps] == [
        (1, "db", ()), (2, "api", (1,)), (3, "web", (2,))]  # job has no container: left out
    assert plan.steps[1].action.details == (
        "depends on db (--with-dependents; container api-id000000, running)",)


def test_an_exited_container_is_started_again() -> None:
    state = live(container("db", "n1"), container("tool", "n1", "exited", exit_code=137))
    (step,) = restart_plan(MANIFEST, INVENTORY, state, project="p", names=["tool"]).steps
    words = "restart requested (container tool-id00000, exited with code 137)"
    assert step.action.details == (words,)


def test_a_dependency_that_does_not_run_is_named() -> None:
    state = live(container("db", "n1", "exited", exit_code=1), container("api", "n2"))
    (step,) = restart_plan(MANIFEST, INVENTORY, state, project="p", names=["api"]).steps
    assert any(line.startswith("before it starts again: ") and "db" in line
               for line in step.action.details), step.action.details


def test_named_workload_without_a_container_of_this_project_is_an_error() -> None:
    others = live(container("api", "n2", project="other"), container("db", "n1"))
    plan = restart_plan(MANIFEST, INVENTORY, others, project="p", names=["api", "db"])
    assert plan.errors == ("workload api has no container of project 'p' on n2: apply it first",)
    assert [s.action.workload_name for s in plan.steps] == ["db"]


def test_unreachable_node_is_an_error() -> None:
    plan = restart_plan(MANIFEST, INVENTORY, live(container("db", "n1"), down="n2"),
                        project="p", names=["api"])
    assert plan.errors == ("node n2 (workload api) could not be observed: connection refused",)
    assert plan.steps == ()


def test_unknown_names_with_suggestions() -> None:
    assert unknown_names(MANIFEST, ["apy", "api", "zzz"]) == (
        ("apy", "did you mean 'api'?"), ("zzz", ""))


def test_a_container_an_older_ankplan_made_for_the_project_is_restarted() -> None:
    """Labelled with the folder's name by the previous release: adopted as `plan` adopts it."""
    old = container("api", "n2", project="folder")
    identity = Project(name="folder-1a2b3c4d", legacy_name="folder",
                       legacy_workloads=MANIFEST.names())
    plan = restart_plan(MANIFEST, INVENTORY, live(container("db", "n1"), old),
                        project=identity, names=["api"])
    assert plan.errors == () and plan.project == "folder-1a2b3c4d"
    assert [s.action.container_id for s in plan.steps] == [old.id]
    assert plan.adopted == (old.id,)
    other = restart_plan(MANIFEST, INVENTORY, live(old), project="folder-1a2b3c4d",
                         names=["api"])  # a bare name adopts nothing
    assert other.steps == () and other.adopted == ()
