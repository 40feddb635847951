"""Planner behaviour beyond the golden cases: edge cases, ordering, and properties that must
hold for any observed state (total, deterministic, never touches what it does not own)."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ankplan.model import (
    LABEL_PROJECT,
    LABEL_SPEC,
    LABEL_SPEC_HASH,
    LABEL_WORKLOAD,
    Action,
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
    Reason,
    Workload,
)
from ankplan.planner.graph import with_dependencies
from ankplan.planner.hashing import LABEL_DEPENDENCIES, canonical_json, labels_for, spec_hash
from ankplan.planner.order import dependency_map, order_steps
from ankplan.planner.plan import container_name, plan

PROJECT = "demo"


def workload(name: str, *, agent: str = "agent_A", image: str = "localhost/x:1",
             deps: tuple[tuple[str, AddCondition], ...] = (), options: tuple[str, ...] = (),
             runtime: str = "podman") -> Workload:
    return Workload(name=name, agent=agent, runtime=runtime, runtime_config_text="",
                    runtime_config=PodmanConfig(image=image, command_options=options),
                    dependencies=tuple(Dependency(workload_name=d, condition=c)
                                       for d, c in deps))


def manifest(*workloads: Workload) -> Manifest:
    return Manifest(api_version="v1", workloads=tuple(sorted(workloads, key=lambda w: w.name)))


INVENTORY = Inventory(nodes=(Node(name="node1"), Node(name="node2")),
                      agents=(("agent_A", "node1"), ("agent_B", "node2")), source="inv.yaml")


def owned(wl: Workload, node_name: str, *, cid: str | None = None, state: str = "running",
          name: str | None = None, project: str = PROJECT, started_at: float = 100.0,
          **label_changes: str) -> ObservedContainer:
    labels = {**labels_for(wl, project), **label_changes}
    return ObservedContainer(id=cid or f"{wl.name}-{node_name}-id", name=name or wl.name,
                             node_name=node_name, image="img", state=state,
                             started_at=started_at,
                             labels=tuple(sorted((k, v) for k, v in labels.items() if v)))


def live(node1: tuple[ObservedContainer, ...] = (), node2: tuple[ObservedContainer, ...] = (),
         *, node2_error: str | None = None) -> LiveState:
    return LiveState(nodes=(NodeObservation(node_name="node1", containers=node1),
                            NodeObservation(node_name="node2", containers=node2,
                                            error=node2_error)))


def kinds(result_steps: tuple[object, ...]) -> list[tuple[str, str, str]]:
    return [(s.action.kind.value, s.action.address, s.action.reason.value)  # type: ignore[attr-defined]
            for s in result_steps]


# --- single decisions ------------------------------------------------------------------------


def test_empty_everything_is_an_empty_plan() -> None:
    result = plan(manifest(), INVENTORY, LiveState(), project=PROJECT)
    assert result.steps == () and result.errors == () and result.is_empty()


def test_create_carries_the_workload_and_start_the_container() -> None:
    web = workload("web")
    result = plan(manifest(web), INVENTORY, live(), project=PROJECT)
    (step,) = result.steps
    assert step.action == Action(kind=ActionKind.CREATE, node_name="node1", workload_name="web",
                                 reason=Reason.NOT_FOUND, workload=web)
    started = plan(manifest(web), INVENTORY, live((owned(web, "node1", state="created"),)),
                   project=PROJECT)
    assert started.steps[0].action.kind is ActionKind.START
    assert started.steps[0].action.container_id == "web-node1-id"
    assert started.steps[0].action.workload == web


@pytest.mark.parametrize("state", ["configured", "initialized", "created"])
def test_never_started_states_are_started(state: str) -> None:
    web = workload("web")
    result = plan(manifest(web), INVENTORY, live((owned(web, "node1", state=state),)),
                  project=PROJECT)
    assert result.steps[0].action.kind is ActionKind.START


@pytest.mark.parametrize("state", ["running", "exited", "paused", "stopping", "unknown"])
def test_other_states_with_current_spec_are_noops(state: str) -> None:
    web = workload("web")
    result = plan(manifest(web), INVENTORY, live((owned(web, "node1", state=state),)),
                  project=PROJECT)
    assert result.steps[0].action.kind is ActionKind.NOOP and result.is_empty()


def test_replace_of_an_exited_container_with_a_changed_spec() -> None:
    old, new = workload("web"), workload("web", image="localhost/x:2")
    result = plan(manifest(new), INVENTORY, live((owned(old, "node1", state="exited"),)),
                  project=PROJECT)
    assert result.steps[0].action.kind is ActionKind.REPLACE
    assert result.steps[0].action.details == ("image: localhost/x:1 -> localhost/x:2",)


def test_missing_spec_label_still_replaces_with_an_explanation() -> None:
    old, new = workload("web"), workload("web", image="localhost/x:2")
    container = owned(old, "node1", **{LABEL_SPEC: ""})
    result = plan(manifest(new), INVENTORY, live((container,)), project=PROJECT)
    assert result.steps[0].action.details == (
        "spec changed (the container has no readable spec label)",)


def test_missing_spec_hash_label_replaces() -> None:
    web = workload("web")
    container = owned(web, "node1", **{LABEL_SPEC_HASH: ""})
    (step,) = plan(manifest(web), INVENTORY, live((container,)), project=PROJECT).steps
    assert step.action.kind is ActionKind.REPLACE
    assert step.action.details == ("spec-hash changed: (none)",)


def test_custom_container_name_is_used_for_conflicts() -> None:
    web = workload("web", options=("--name", "custom"))
    assert container_name(web) == "custom"
    assert container_name(workload("w", options=("--name=x", "--cpus", "1"))) == "x"
    assert container_name(workload("w", options=("--name",))) == "w"
    squatter = ObservedContainer(id="f" * 64, name="custom", node_name="node1", image="x",
                                 state="running")
    result = plan(manifest(web), INVENTORY, live((squatter,)), project=PROJECT)
    assert result.steps == ()
    assert result.errors == (("name conflict: node1/custom is held by a container ankplan does "
                             "not own (id ffffffffffff); ankplan leaves it alone"),)


def test_name_held_by_another_workload_of_the_same_project() -> None:
    web, api = workload("web"), workload("api")
    renamed = owned(api, "node1", name="web")
    result = plan(manifest(web, api), INVENTORY, live((renamed,)), project=PROJECT)
    assert "held by the container of workload 'api'" in result.errors[0]
    assert kinds(result.steps) == [("noop", "node1/api", "up-to-date")]


def test_podman_runtime_without_parsed_config_is_an_error() -> None:
    broken = replace(workload("web"), runtime_config=None)
    result = plan(manifest(broken), INVENTORY, live(), project=PROJECT)
    assert result.errors == ("workload web: its podman runtimeConfig could not be read",)


def test_node_missing_from_the_observation_is_an_error() -> None:
    result = plan(manifest(workload("web", agent="agent_B")), INVENTORY,
                  LiveState(nodes=(NodeObservation(node_name="node1"),)), project=PROJECT)
    assert result.errors == ("workload web: node node2 was not observed",)


def test_default_node_takes_unlisted_agents() -> None:
    inventory = Inventory(nodes=(Node(name="local"),), agents=(), default_node="local")
    result = plan(manifest(workload("web", agent="anything")), inventory,
                  LiveState(nodes=(NodeObservation(node_name="local"),)), project=PROJECT)
    assert kinds(result.steps) == [("create", "local/web", "not-found")]


def test_project_container_without_workload_label_is_a_warning_not_removed() -> None:
    """A stray with the project's label does not stop the plan: the rest is still applied."""
    stray = ObservedContainer(id="s" * 64, name="stray", node_name="node1", image="x",
                              state="running", labels=((LABEL_PROJECT, PROJECT),))
    result = plan(manifest(workload("web")), INVENTORY, live((stray,)), project=PROJECT)
    assert kinds(result.steps) == [("create", "node1/web", "not-found")]
    assert result.errors == ()
    assert result.warnings == (("node1: container stray (ssssssssssss) has the label of project "
                                "'demo' but no ankplan.workload label; ankplan leaves it alone"),)


def test_blocked_workloads_keep_their_containers_elsewhere() -> None:
    """An unknown agent must not turn the workload's running container into a removal."""
    web = workload("web", agent="agent_Z")
    result = plan(manifest(web), INVENTORY, live((owned(web, "node1"),)), project=PROJECT)
    assert result.steps == ()
    assert result.errors == ("workload web: agent 'agent_Z' is not in the inventory (inv.yaml)",)


def test_unreachable_node_blocks_only_its_workloads() -> None:
    web, job = workload("web"), workload("job", agent="agent_B")
    result = plan(manifest(web, job), INVENTORY, live(node2_error="timed out"), project=PROJECT)
    assert kinds(result.steps) == [("create", "node1/web", "not-found")]
    assert result.errors == ("node node2: timed out",)
    assert dict(result.fingerprints)["node2"] == "unreachable"


def test_moving_to_an_unreachable_node_removes_nothing() -> None:
    job = workload("job", agent="agent_B")
    moved_from = owned(replace(job, agent="agent_A"), "node1")
    result = plan(manifest(job), INVENTORY, live((moved_from,), node2_error="down"),
                  project=PROJECT)
    assert result.steps == ()


def test_prune_false_keeps_orphans_but_still_fixes_moves_and_duplicates() -> None:
    web = workload("web", agent="agent_B")
    observed = live((owned(workload("gone"), "node1"), owned(web, "node1")),
                    (owned(web, "node2"), owned(web, "node2", cid="dup", name="web2",
                                               started_at=1.0)))
    result = plan(manifest(web), INVENTORY, observed, project=PROJECT, prune=False)
    assert sorted(kinds(result.changes())) == [("remove", "node1/web", "moved-node"),
                                               ("remove", "node2/web", "duplicate")]


def test_other_projects_are_invisible() -> None:
    web = workload("web")
    theirs = owned(web, "node1", project="other", name="web-other")
    result = plan(manifest(web), INVENTORY, live((theirs,)), project=PROJECT)
    assert kinds(result.steps) == [("create", "node1/web", "not-found")]
    assert plan(manifest(), INVENTORY, live((theirs,)), project=PROJECT).steps == ()


# --- dependents and targets ------------------------------------------------------------------


def test_running_dependents_are_noted_not_replaced() -> None:
    db = workload("db")
    app = workload("app", deps=(("db", AddCondition.RUNNING),))
    report = workload("report", deps=(("db", AddCondition.SUCCEEDED),))
    new_db = replace(db, runtime_config=PodmanConfig(image="localhost/x:2"))
    observed = live((owned(db, "node1"), owned(app, "node1"), owned(report, "node1")))
    result = plan(manifest(new_db, app, report), INVENTORY, observed, project=PROJECT)
    replaced = [s for s in result.steps if s.action.kind is ActionKind.REPLACE]
    assert [s.action.workload_name for s in replaced] == ["db"]
    assert replaced[0].action.details == ("image: localhost/x:1 -> localhost/x:2",
                                          "app depends on it (ADD_COND_RUNNING) and keeps running")


def test_targets_pull_in_dependencies_only() -> None:
    db = workload("db")
    app = workload("app", deps=(("db", AddCondition.RUNNING),))
    ui = workload("ui", deps=(("app", AddCondition.RUNNING),))
    result = plan(manifest(db, app, ui), INVENTORY, live(), project=PROJECT, targets=("app",))
    assert [s.action.workload_name for s in result.steps] == ["db", "app"]


def test_targets_never_prune_other_workloads() -> None:
    db = workload("db")
    observed = live((owned(workload("gone"), "node1"),))
    result = plan(manifest(db), INVENTORY, observed, project=PROJECT, targets=("db",))
    assert kinds(result.steps) == [("create", "node1/db", "not-found")]


# --- ordering --------------------------------------------------------------------------------


def test_creates_in_dependency_order_with_waits() -> None:
    a = workload("a")
    b = workload("b", agent="agent_B", deps=(("a", AddCondition.RUNNING),))
    c = workload("c", deps=(("b", AddCondition.SUCCEEDED), ("a", AddCondition.RUNNING)))
    result = plan(manifest(c, b, a), INVENTORY, live(), project=PROJECT)
    assert [(s.id, s.action.workload_name, s.depends_on) for s in result.steps] == [
        (1, "a", ()), (2, "b", (1,)), (3, "c", (1, 2))]


def test_noop_dependencies_are_not_waited_on() -> None:
    a = workload("a")
    b = workload("b", deps=(("a", AddCondition.RUNNING),))
    result = plan(manifest(a, b), INVENTORY, live((owned(a, "node1"),)), project=PROJECT)
    assert [(s.action.kind.value, s.depends_on) for s in result.steps] == [
        ("noop", ()), ("create", ())]


def test_removals_go_dependents_first_using_labels_of_gone_workloads() -> None:
    base, mid, top = workload("base"), workload("mid"), workload("top")
    observed = live((
        owned(base, "node1"),
        owned(mid, "node1", **{LABEL_DEPENDENCIES: canonical_json({"base": "ADD_COND_RUNNING"})}),
        owned(top, "node1", **{LABEL_DEPENDENCIES: canonical_json({"mid": "ADD_COND_RUNNING"})}),
    ))
    result = plan(manifest(), INVENTORY, observed, project=PROJECT)
    assert [(s.id, s.action.workload_name, s.depends_on) for s in result.steps] == [
        (1, "top", ()), (2, "mid", (1,)), (3, "base", (2,))]


def test_cyclic_dependency_labels_fall_back_to_name_order() -> None:
    one, two = workload("one"), workload("two")
    observed = live((
        owned(one, "node1", **{LABEL_DEPENDENCIES: canonical_json({"two": "ADD_COND_RUNNING"})}),
        owned(two, "node1", **{LABEL_DEPENDENCIES: canonical_json({"one": "ADD_COND_RUNNING"})}),
    ))
    result = plan(manifest(), INVENTORY, observed, project=PROJECT)
    assert [s.action.workload_name for s in result.steps] == ["two", "one"]


def test_dependency_map_prefers_the_manifest() -> None:
    app = workload("app", deps=(("db", AddCondition.RUNNING),))
    stale_label = owned(app, "node1", **{LABEL_DEPENDENCIES: canonical_json({"x": "y"})})
    gone = owned(workload("gone"), "node2",
                 **{LABEL_DEPENDENCIES: canonical_json({"app": "ADD_COND_RUNNING"})})
    depends = dependency_map(manifest(app), live((stale_label,), (gone,)), PROJECT)
    assert depends == {"app": ("db",), "gone": ("app",)}


def test_order_steps_of_nothing() -> None:
    assert order_steps(manifest(), LiveState(), PROJECT, []) == ()


# --- properties ------------------------------------------------------------------------------

NAMES = ("a", "b", "c", "d")
STATES = ("running", "exited", "created", "paused", "stopping")


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Manifest, LiveState, tuple[str, ...], bool]:
    workloads = []
    for index, name in enumerate(NAMES):
        if draw(st.booleans()):
            deps = tuple((dep, draw(st.sampled_from(list(AddCondition))))
                         for dep in NAMES[:index] if draw(st.booleans()))
            workloads.append(workload(name, agent=draw(st.sampled_from(
                ["agent_A", "agent_B", "agent_Z", ""])), image=draw(st.sampled_from(
                    ["i:1", "i:2"])), deps=deps, runtime=draw(st.sampled_from(
                        ["podman", "podman", "containerd"]))))
    nodes = []
    for node_name in ("node1", "node2"):
        containers = {}
        for _ in range(draw(st.integers(0, 5))):
            name = draw(st.sampled_from(NAMES + ("x",)))
            source = workload(name, agent=draw(st.sampled_from(["agent_A", "agent_B"])),
                              image=draw(st.sampled_from(["i:1", "i:2"])))
            project = draw(st.sampled_from([PROJECT, PROJECT, "other", ""]))
            container_id = f"{node_name}-{len(containers)}"
            container = owned(source, node_name, cid=container_id, project=project,
                              state=draw(st.sampled_from(STATES)),
                              name=draw(st.sampled_from([name, name + "-2"])),
                              **({LABEL_SPEC_HASH: draw(st.sampled_from(
                                  ["", "v9:x", spec_hash(source)]))}))
            if project == "":
                container = replace(container, labels=())
            containers.setdefault(container.name, container)
        nodes.append(NodeObservation(node_name=node_name,
                                     containers=tuple(sorted(containers.values(),
                                                             key=lambda c: (c.name, c.id))),
                                     error=draw(st.sampled_from([None, None, "down"]))))
    targets = tuple(draw(st.lists(st.sampled_from(NAMES + ("x",)), max_size=2)))
    return manifest(*workloads), LiveState(nodes=tuple(nodes)), targets, draw(st.booleans())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plan_is_total_deterministic_and_safe(
        scenario: tuple[Manifest, LiveState, tuple[str, ...], bool]) -> None:
    observed_manifest, observed, targets, prune = scenario
    result = plan(observed_manifest, INVENTORY, observed, project=PROJECT, targets=targets,
                  prune=prune)
    assert result == plan(observed_manifest, INVENTORY, observed, project=PROJECT,
                          targets=targets, prune=prune)
    assert [s.id for s in result.steps] == list(range(1, len(result.steps) + 1))
    ids = {s.id for s in result.steps}
    assert all(set(s.depends_on) <= ids - {s.id} for s in result.steps)
    kinds_in_order = [s.action.kind is ActionKind.REMOVE for s in result.steps]
    assert kinds_in_order == sorted(kinds_in_order, reverse=True)  # removals first
    assert list(result.errors) == sorted(set(result.errors))
    by_id = {c.id: c for n in observed.nodes for c in n.containers}
    unreachable = {n.node_name for n in observed.nodes if n.error}
    for step in result.steps:
        action = step.action
        assert action.node_name not in unreachable
        if action.container_id:  # only ever this project's containers
            container = by_id[action.container_id]
            assert container.label(LABEL_PROJECT) == PROJECT
            assert container.label(LABEL_WORKLOAD) == action.workload_name
        if action.kind is not ActionKind.REMOVE:
            assert action.workload is not None and action.workload.runtime == "podman"
    forward = [(s.action.workload_name) for s in result.steps
               if s.action.kind is not ActionKind.REMOVE]
    assert len(forward) == len(set(forward))  # one place per workload
    if targets:  # nothing outside the targets and their dependencies is touched
        chosen = with_dependencies(observed_manifest.workloads, targets)
        assert all(s.action.workload_name in chosen for s in result.steps)


# --- purity ----------------------------------------------------------------------------------

SRC = Path(__file__).resolve().parents[2] / "src" / "ankplan"
# The functional core: every module in these rooms is pure (STYLE.md 1.3). `yaml_reader` is the
# manifests' one reader of files, so only it may touch the file system.
PURE_MODULES = sorted(
    [SRC / "model.py", SRC / "errors.py"]
    + [path for room in ("podman", "planner", "planfile", "manifests", "schemas")
       for path in (SRC / room).glob("*.py") if path.name != "yaml_reader.py"]
    + [SRC / "cli" / "views" / "plan.py"])
IO_MODULES = {"os", "subprocess", "time", "paramiko", "socket", "threading", "pathlib"}


@pytest.mark.parametrize("path", PURE_MODULES, ids=lambda path: path.relative_to(SRC).as_posix())
def test_pure_modules_import_nothing_that_does_io(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = {alias.name for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name.split(".")[0] for name in imported} & IO_MODULES
    assert not [name for name in imported
                if name.startswith(("ankplan.executors", "ankplan.cli"))]


def test_importing_the_planner_loads_no_io_module() -> None:
    code = ("import sys, ankplan.planner.plan, ankplan.planfile.savedplan, "
            "ankplan.cli.views.plan, ankplan.planfile.livejson; "
            "print(sorted(m for m in ('paramiko', 'subprocess', 'ankplan.executors') "
            "if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert output.strip() == "[]"


# --- convergence: applying a plan yields a plan with no changes ------------------------------


def apply_steps(result_steps: tuple[object, ...], observed: LiveState) -> LiveState:
    """A stand-in executor: what the nodes would hold after every step ran as planned."""
    nodes = {n.node_name: {c.id: c for c in n.containers} for n in observed.nodes}
    for step in result_steps:
        action: Action = step.action  # type: ignore[attr-defined]
        containers = nodes[action.node_name]
        if action.kind in (ActionKind.REMOVE, ActionKind.REPLACE):
            del containers[action.container_id]
        if action.kind in (ActionKind.CREATE, ActionKind.REPLACE):
            assert action.workload is not None
            new = owned(action.workload, action.node_name, cid=f"new-{step.id}",  # type: ignore[attr-defined]
                        name=container_name(action.workload))
            containers[new.id] = new
        if action.kind is ActionKind.START:
            containers[action.container_id] = replace(containers[action.container_id],
                                                      state="running")
    return LiveState(nodes=tuple(
        replace(n, containers=tuple(sorted(nodes[n.node_name].values(),
                                           key=lambda c: (c.name, c.id))))
        for n in observed.nodes))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_applying_an_error_free_plan_converges(
        scenario: tuple[Manifest, LiveState, tuple[str, ...], bool]) -> None:
    observed_manifest, observed, _, prune = scenario
    first = plan(observed_manifest, INVENTORY, observed, project=PROJECT, prune=prune)
    if first.errors:
        return
    after = apply_steps(first.steps, observed)
    second = plan(observed_manifest, INVENTORY, after, project=PROJECT, prune=prune)
    assert second.errors == ()
    assert second.is_empty(), [s.action for s in second.changes()]


def test_convergence_of_a_full_cycle_by_hand() -> None:
    a = workload("a")
    b = workload("b", agent="agent_B", deps=(("a", AddCondition.RUNNING),))
    observed = live((owned(workload("gone"), "node1"),
                     owned(replace(b, agent="agent_A"), "node1")))
    first = plan(manifest(a, b), INVENTORY, observed, project=PROJECT)
    assert sorted(kinds(first.steps)) == [("create", "node1/a", "not-found"),
                                          ("create", "node2/b", "moved-node"),
                                          ("remove", "node1/b", "moved-node"),
                                          ("remove", "node1/gone", "not-in-manifest")]
    second = plan(manifest(a, b), INVENTORY, apply_steps(first.steps, observed), project=PROJECT)
    assert second.is_empty() and len(second.steps) == 2
