"""The plan under `supervisor: systemd`: every step names the unit the workload runs under,
says which dependencies the node enforces after apply, switching supervisor is a replacement,
and a changed restart policy an in-place update of the unit."""

from __future__ import annotations

from dataclasses import replace

from ankplan.model import (
    LABEL_UNIT,
    ActionKind,
    AddCondition,
    AppliedRecord,
    Dependency,
    Inventory,
    KubeConfig,
    LiveState,
    Manifest,
    Node,
    NodeObservation,
    ObservedContainer,
    PodmanConfig,
    Reason,
    RestartPolicy,
    Supervisor,
    UnitFlavour,
    Workload,
)
from ankplan.planner.hashing import labels_for
from ankplan.planner.plan import plan
from ankplan.podman.systemd_unit import unit_name

PROJECT = "demo"


def workload(name: str, agent: str = "a1", policy: RestartPolicy = RestartPolicy.ON_FAILURE,
             deps: tuple[tuple[str, AddCondition], ...] = ()) -> Workload:
    return Workload(name=name, agent=agent, runtime="podman", runtime_config_text="",
                    runtime_config=PodmanConfig(image="localhost/x:1"), restart_policy=policy,
                    dependencies=tuple(Dependency(workload_name=d, condition=c)
                                       for d, c in deps))


def inventory(node1: Supervisor = Supervisor.SYSTEMD,
              node2: Supervisor = Supervisor.WATCH) -> Inventory:
    return Inventory(nodes=(Node(name="node1", supervisor=node1),
                            Node(name="node2", supervisor=node2)),
                     agents=(("a1", "node1"), ("a2", "node2")))


MANIFEST = Manifest(api_version="v1", workloads=(
    workload("db", policy=RestartPolicy.ALWAYS),
    workload("far", agent="a2"),
    workload("web", deps=(("db", AddCondition.RUNNING), ("far", AddCondition.RUNNING),
                          ("init", AddCondition.SUCCEEDED))),
    workload("init", policy=RestartPolicy.NEVER)))


def container(wl: Workload, node_name: str, unit: str = "") -> ObservedContainer:
    labels = {**labels_for(wl, PROJECT), **({LABEL_UNIT: unit} if unit else {})}
    return ObservedContainer(id=f"{wl.name}-id", name=wl.name, node_name=node_name,
                             image="img", state="running", started_at=1.0,
                             labels=tuple(sorted(labels.items())))


def live(*containers: ObservedContainer, applied: tuple[AppliedRecord, ...] = ()) -> LiveState:
    return LiveState(nodes=tuple(
        NodeObservation(node_name=name, applied=applied if name == "node1" else (),
                        containers=tuple(c for c in containers if c.node_name == name))
        for name in ("node1", "node2")))


def step(result, workload_name: str):  # type: ignore[no-untyped-def]
    return next(s.action for s in result.steps if s.action.workload_name == workload_name)


def test_creates_name_their_units_and_what_the_node_enforces() -> None:
    result = plan(MANIFEST, inventory(), live(), project=PROJECT)
    web = step(result, "web")
    assert web.kind is ActionKind.CREATE and web.unit == unit_name(PROJECT, "web")
    assert web.unit_requires == (unit_name(PROJECT, "db"),)
    assert f"the node starts it after {unit_name(PROJECT, 'db')} (Requires=/After=)" in \
        web.details
    assert "after apply the node does not enforce: far (on node2), init " \
           "(ADD_COND_SUCCEEDED)" in web.details
    assert any(d.startswith(f"systemd unit {web.unit} (unit file): Restart=on-failure after 5 s,")
               for d in web.details)
    assert web.unit_flavour is UnitFlavour.UNIT and not web.unit_backoff
    assert step(result, "far").unit == ""  # node2 is supervised by watch
    assert any("no restarts" in d for d in step(result, "init").details)


def test_a_node_with_podman_4_4_or_later_gets_quadlet_files() -> None:
    observed = replace(live(), nodes=tuple(
        replace(o, podman_version="5.4.2", systemd_version=257) if o.node_name == "node1" else o
        for o in live().nodes))
    web = step(plan(MANIFEST, inventory(), observed, project=PROJECT), "web")
    assert web.unit_flavour is UnitFlavour.QUADLET and web.unit_backoff
    assert any(d.startswith(f"systemd unit {web.unit} (Quadlet file {web.unit[:-8]}.container): "
                            "Restart=on-failure after 5 s, growing to 30 s,") for d in web.details)
    on_43 = replace(observed, nodes=tuple(replace(o, podman_version="4.3.1", systemd_version=252)
                                          for o in observed.nodes))
    web = step(plan(MANIFEST, inventory(), on_43, project=PROJECT), "web")
    assert web.unit_flavour is UnitFlavour.UNIT and not web.unit_backoff


def test_a_podman_kube_workload_stays_with_watch() -> None:
    kube = Workload(name="pods", agent="a1", runtime="podman-kube", runtime_config_text="",
                    runtime_config=KubeConfig(manifest="apiVersion: v1\nkind: Pod\n"
                                                       "metadata: {name: p}\n"))
    result = plan(Manifest(api_version="v1", workloads=(kube,)), inventory(), live(),
                  project=PROJECT)
    assert step(result, "pods").unit == ""


def test_unit_run_containers_that_match_are_no_changes() -> None:
    containers = [container(w, "node2" if w.agent == "a2" else "node1",
                            "" if w.agent == "a2" else unit_name(PROJECT, w.name))
                  for w in MANIFEST.workloads]
    result = plan(MANIFEST, inventory(), live(*containers), project=PROJECT)
    assert result.is_empty(), [s.action for s in result.changes()]
    assert step(result, "db").unit == unit_name(PROJECT, "db")


def test_switching_supervisor_replaces_the_container() -> None:
    db = MANIFEST.workloads[0]
    to_systemd = plan(MANIFEST, inventory(), live(container(db, "node1")), project=PROJECT,
                      targets=("db",))
    action = step(to_systemd, "db")
    assert (action.kind, action.reason) == (ActionKind.REPLACE, Reason.SUPERVISOR_CHANGED)
    assert action.details[0] == f"supervisor: watch -> systemd ({unit_name(PROJECT, 'db')})"
    assert action.container_unit == "" and action.unit == unit_name(PROJECT, "db")
    unit_run = container(db, "node1", unit_name(PROJECT, "db"))
    to_watch = plan(MANIFEST, inventory(node1=Supervisor.WATCH), live(unit_run),
                    project=PROJECT, targets=("db",))
    action = step(to_watch, "db")
    assert (action.kind, action.reason) == (ActionKind.REPLACE, Reason.SUPERVISOR_CHANGED)
    assert action.container_unit == unit_name(PROJECT, "db") and action.unit == ""


def test_a_changed_restart_policy_updates_the_unit_in_place() -> None:
    db = MANIFEST.workloads[0]
    record = AppliedRecord(project=PROJECT, workload="db", restart_policy="ON_FAILURE")
    result = plan(MANIFEST, inventory(), live(container(db, "node1", unit_name(PROJECT, "db")),
                                              applied=(record,)),
                  project=PROJECT, targets=("db",))
    action = step(result, "db")
    assert (action.kind, action.reason) == (ActionKind.UPDATE, Reason.POLICY_CHANGED)
    assert action.unit == unit_name(PROJECT, "db")
    assert any("Restart=always" in d for d in action.details)


def test_removal_names_the_unit_of_the_container() -> None:
    db = MANIFEST.workloads[0]
    gone = replace(MANIFEST, workloads=MANIFEST.workloads[1:])
    result = plan(gone, inventory(), live(container(db, "node1", unit_name(PROJECT, "db"))),
                  project=PROJECT, targets=("db",))
    action = step(result, "db")
    assert action.kind is ActionKind.REMOVE and action.container_unit == unit_name(PROJECT, "db")


def test_an_exited_unit_container_is_started_and_the_plan_says_systemd_would_too() -> None:
    web = MANIFEST.workloads[2]
    exited = replace(container(web, "node1", unit_name(PROJECT, "web")), state="exited",
                     exit_code=137)
    result = plan(MANIFEST, inventory(), live(exited), project=PROJECT, targets=("web",))
    action = step(result, "web")
    assert (action.kind, action.reason) == (ActionKind.START, Reason.EXITED)
    assert action.unit == unit_name(PROJECT, "web")
    assert "its unit restarts it by itself 5 s after the exit; apply starts it now" in \
        action.details
