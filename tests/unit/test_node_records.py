"""The pure decisions behind issue 11: restart policy on apply, in-place fields, `--rm` jobs
that ran, node stops and reboots, unsupported runtimes, and the node folder's commands."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ankplan.errors import AnkplanError
from ankplan.model import (
    Action,
    ActionKind,
    AddCondition,
    AppliedRecord,
    Dependency,
    ExecutionState,
    Inventory,
    LiveState,
    Manifest,
    Node,
    NodeObservation,
    ObservedContainer,
    PodmanConfig,
    Reason,
    RestartPolicy,
    RunRecord,
    Workload,
    WorkloadFile,
)
from ankplan.planner.conditions import Verdict, condition_status
from ankplan.planner.hashing import labels_for, spec_hash
from ankplan.planner.inplace import inplace_changes
from ankplan.planner.liveindex import NodeLookup, index_live
from ankplan.planner.node_restart import (
    latest_stop,
    ran_and_vanished,
    rebooted_since_start,
    removes_itself,
    stopped_by_node,
)
from ankplan.planner.plan import plan, removes_folder
from ankplan.planner.restarts import restarts_on
from ankplan.planner.runtimes import starting_failed_lines, unsupported_runtime
from ankplan.planner.starts import policy_start, restart_action
from ankplan.planner.workload_status import is_settled, workload_status
from ankplan.podman import execution_state, nodestore

NODE = Node(name="n1")
INVENTORY = Inventory(nodes=(NODE,), agents=(("a", "n1"),))


def wl(name: str, *options: str, policy: RestartPolicy = RestartPolicy.NEVER,
       runtime: str = "podman", needs: tuple[str, ...] = (),
       tags: tuple[tuple[str, str], ...] = ()) -> Workload:
    return Workload(name=name, agent="a", runtime=runtime, runtime_config_text=name,
                    runtime_config=PodmanConfig(image="localhost/x:1", command_options=options),
                    restart_policy=policy, tags=tags,
                    dependencies=tuple(Dependency(workload_name=n,
                                                  condition=AddCondition.RUNNING)
                                       for n in needs))


def box(name: str, *, state: str = "exited", code: int = 0, started: float = 100.0,
        finished: float = 0.0, workload: Workload | None = None) -> ObservedContainer:
    labels = tuple(sorted(labels_for(workload, "p").items())) if workload else ()
    return ObservedContainer(id=f"id-{name}", name=name, node_name="n1", image="x", state=state,
                             exit_code=code, started_at=started, finished_at=finished,
                             labels=labels)


def run_of(workload: Workload, container_id: str = "", boot: str = "b1") -> RunRecord:
    return RunRecord(project="p", workload=workload.name, spec_hash=spec_hash(workload),
                     container_id=container_id or f"id-{workload.name}", boot_id=boot)


# --- restart policy: the one decision apply (plan) and watch share -----------------------------


@pytest.mark.parametrize(("policy", "code", "restarts"), [
    (RestartPolicy.ALWAYS, 0, True), (RestartPolicy.ALWAYS, 137, True),
    (RestartPolicy.ON_FAILURE, 0, False), (RestartPolicy.ON_FAILURE, 137, True),
    (RestartPolicy.NEVER, 0, False), (RestartPolicy.NEVER, 137, False),
])
def test_plan_starts_an_exited_container_exactly_when_its_policy_restarts_it(
        policy: RestartPolicy, code: int, restarts: bool) -> None:
    workload = wl("w", policy=policy)
    live = LiveState(nodes=(NodeObservation(node_name="n1", containers=(
        box("w", code=code, finished=200.0, workload=workload),)),))
    (step,) = plan(Manifest(api_version="v1", workloads=(workload,)), INVENTORY, live,
                   project="p").steps
    state = execution_state(live.nodes[0].containers[0])
    assert restarts_on(policy, state) is restarts  # watch's rule (planner/restarts.py)
    if restarts:
        assert (step.action.kind, step.action.reason) == (ActionKind.START, Reason.EXITED)
        assert step.action.details == (f"exited {code}, restartPolicy {policy.value}",)
    else:
        assert step.action.kind is ActionKind.NOOP


def _watch_restart(workload: Workload, container: ObservedContainer,
                   manifest_workload: Workload | None = None) -> ActionKind:
    """The kind of action watch restarts `container` with, given the plan's step for it."""
    live = LiveState(nodes=(NodeObservation(node_name="n1", containers=(container,)),))
    desired = manifest_workload or workload
    steps = plan(Manifest(api_version="v1", workloads=(desired,)), INVENTORY, live,
                 project="p").steps
    planned = next((s.action for s in steps if policy_start(s.action)), None)
    action = restart_action(desired, container, "n1", planned, "ON_FAILURE restarts it")
    assert (action.container_id, action.reason, action.details) == (
        container.id, Reason.EXITED, ("ON_FAILURE restarts it",))
    return action.kind


def test_watch_restarts_the_same_container_exactly_when_the_plan_would_start_it() -> None:
    workload = wl("w", policy=RestartPolicy.ON_FAILURE)
    crashed = box("w", code=1, finished=200.0, workload=workload)
    assert _watch_restart(workload, crashed) is ActionKind.START  # podman start, same id
    changed = wl("w", "--env", "A=1", policy=RestartPolicy.ON_FAILURE)
    assert _watch_restart(workload, crashed, changed) is ActionKind.REPLACE  # new spec
    unhealthy = box("w", state="running", workload=workload)  # the plan starts no running one
    assert _watch_restart(workload, unhealthy) is ActionKind.REPLACE
    job = wl("w", "--rm", policy=RestartPolicy.ON_FAILURE)  # about to vanish: run anew
    assert _watch_restart(job, box("w", code=1, finished=200.0, workload=job)) is (
        ActionKind.REPLACE)
    pods = dataclasses.replace(crashed, id="pods:p1")  # podman-kube: played again
    assert _watch_restart(workload, pods) is ActionKind.REPLACE
    elsewhere = Action(kind=ActionKind.START, node_name="n1", workload_name="w",
                       reason=Reason.EXITED, container_id="id-other")
    assert restart_action(workload, crashed, "n1", elsewhere, "").kind is ActionKind.REPLACE
    assert restart_action(workload, crashed, "n1", None, "").kind is ActionKind.REPLACE


def test_the_recorded_restart_count_counts_for_its_own_container_only() -> None:
    workload = wl("w", policy=RestartPolicy.ON_FAILURE)
    labelled = dataclasses.replace(box("w", state="running", workload=workload),
                                   restart_count=2)
    manifest = Manifest(api_version="v1", workloads=(workload,))

    def count(run: RunRecord) -> int:
        live = LiveState(nodes=(NodeObservation(node_name="n1", containers=(labelled,),
                                                runs=(run,)),))
        return workload_status(workload, manifest, INVENTORY, live, project="p").restart_count

    assert count(dataclasses.replace(run_of(workload), restart_count=5)) == 5  # started again
    assert count(dataclasses.replace(run_of(workload), restart_count=1)) == 2  # the label's
    assert count(dataclasses.replace(run_of(workload, "id-old"), restart_count=9)) == 2


def test_the_run_record_carries_the_restart_count_or_keeps_the_recorded_one() -> None:
    argv, stdin = nodestore.record_start_argv(NODE, "p", "w", "v1:x", "c1", 3)
    assert argv[5:] == ("p", "w", "c1", "3", "") and "c1" not in argv[2]  # "": no applied
    assert json.loads(stdin.strip()[:-1] + "}")["container"] == "c1"
    kept, _ = nodestore.record_start_argv(NODE, "p", "w", "v1:x", "c1")
    assert kept[5:] == ("p", "w", "c1", "", "")  # the node keeps the count of the container
    line = json.dumps({"kind": "run", "project": "p", "workload": "w", "container": "c1",
                       "restartCount": 4})
    assert nodestore.parse_records([line])[1][0].restart_count == 4
    for bad in ('"4"', "true", "-2"):
        assert nodestore.parse_records([line.replace("4}", bad + "}")])[1][0].restart_count == 0


# --- in-place fields ---------------------------------------------------------------------------


def test_in_place_changes_against_the_record() -> None:
    workload = wl("web", policy=RestartPolicy.ON_FAILURE, needs=("db",),
                  tags=(("owner", "b"),))
    same = AppliedRecord(project="p", workload="web", restart_policy="ON_FAILURE",
                         dependencies=(("db", "ADD_COND_RUNNING"),), tags=(("owner", "b"),))
    assert inplace_changes(same, workload) == ()
    assert inplace_changes(None, workload) == ()  # no record: nothing to compare
    old = AppliedRecord(project="p", workload="web", restart_policy="ALWAYS",
                        dependencies=(("db", "ADD_COND_SUCCEEDED"),), tags=(("team", "x"),))
    assert inplace_changes(old, workload) == (
        "restartPolicy: ALWAYS -> ON_FAILURE",
        "dependencies: db ADD_COND_SUCCEEDED -> ADD_COND_RUNNING",
        "tags: +owner (b), -team (x)")


def test_an_in_place_change_updates_and_a_recorded_one_is_no_change() -> None:
    workload = wl("web", policy=RestartPolicy.ON_FAILURE)
    container = box("web", state="running", workload=workload)
    manifest = Manifest(api_version="v1", workloads=(workload,))
    for recorded, kind in (("ALWAYS", ActionKind.UPDATE), ("ON_FAILURE", ActionKind.NOOP)):
        record = AppliedRecord(project="p", workload="web", restart_policy=recorded)
        live = LiveState(nodes=(NodeObservation(node_name="n1", containers=(container,),
                                                applied=(record,)),))
        (step,) = plan(manifest, INVENTORY, live, project="p").steps
        assert step.action.kind is kind


# --- --rm jobs that ran ------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "expected"), [
    (("--rm",), True), (("--rm=true",), True), (("--rm=false",), False),
    (("-e", "--rm"), False), ((), False), (("--name", "x", "--rm"), True),
])
def test_removes_itself(options: tuple[str, ...], expected: bool) -> None:
    assert removes_itself(wl("j", *options)) is expected


def test_ran_and_vanished_needs_rm_a_start_and_the_same_spec() -> None:
    job = wl("j", "--rm")
    assert ran_and_vanished(job, run_of(job))
    assert not ran_and_vanished(job, None)
    assert not ran_and_vanished(wl("j"), run_of(wl("j")))  # no --rm: re-created
    changed = wl("j", "--rm", "--cpus=2")
    assert not ran_and_vanished(changed, run_of(job))  # a new spec runs again


def test_a_vanished_rm_job_is_lost_and_settled_not_recreated() -> None:
    job = wl("j", "--rm")
    manifest = Manifest(api_version="v1", workloads=(job,))
    live = LiveState(nodes=(NodeObservation(node_name="n1", boot_id="b1",
                                            runs=(run_of(job),)),))
    (step,) = plan(manifest, INVENTORY, live, project="p").steps
    assert (step.action.kind, step.action.reason) == (ActionKind.NOOP, Reason.LOST)
    status = workload_status(job, manifest, INVENTORY, live, project="p")
    assert str(status.state) == "Failed(Lost)" and is_settled(status)
    rebooted = LiveState(nodes=(NodeObservation(node_name="n1", boot_id="b2",
                                                runs=(run_of(job),)),))
    (step,) = plan(manifest, INVENTORY, rebooted, project="p").steps
    assert (step.action.kind, step.action.reason) == (ActionKind.CREATE,
                                                      Reason.NODE_RESTARTED)


def test_only_a_workload_leaving_its_node_loses_its_folder() -> None:
    remove = Action(kind=ActionKind.REMOVE, node_name="n1", workload_name="w",
                    reason=Reason.NOT_IN_MANIFEST)
    assert removes_folder(remove)
    assert not removes_folder(Action(kind=ActionKind.REMOVE, node_name="n1", workload_name="w",
                                     reason=Reason.DUPLICATE))
    assert not removes_folder(Action(kind=ActionKind.REPLACE, node_name="n1",
                                     workload_name="w", reason=Reason.SPEC_CHANGED))


# --- node stops and reboots --------------------------------------------------------------------


def node(*containers: ObservedContainer) -> NodeObservation:
    return NodeObservation(node_name="n1", containers=containers)


def test_a_stop_of_everything_is_found() -> None:
    stop = latest_stop(node(box("a", finished=5000), box("b", code=137, finished=5009),
                            box("job", finished=1002)))
    assert stop is not None and stop.container_ids == {"id-a", "id-b"}
    # handlers exit together at the SIGTERM; a job that ended 3 s before is not the node's
    stop = latest_stop(node(box("job", finished=4997), box("a", finished=5000),
                            box("c", finished=5001), box("b", code=137, finished=5010)))
    assert stop is not None and stop.container_ids == {"id-a", "id-b", "id-c"}
    assert stop.describe() == ("the node stopped all 3 containers at 01:23:20 UTC "
                               "(podman stop -a or a shutdown)")


@pytest.mark.parametrize("containers", [
    # clean exits only: jobs that ended together look the same, so no
    (box("a", finished=5000), box("b", finished=5001)),
    # one container alone: a manual stop
    (box("a", code=137, finished=5000),),
    # something that ran before still runs: not the whole node
    (box("a", finished=5000), box("b", code=143, finished=5001),
     box("c", state="running", started=100)),
    # too far apart to be one stop
    (box("a", finished=5000), box("b", code=137, finished=5100)),
    # each killed by hand (`podman kill`: SIGKILL only, no SIGTERM first)
    (box("a", code=137, finished=5000), box("b", code=137, finished=5001)),
])
def test_what_is_not_a_stop_of_everything(containers: tuple[ObservedContainer, ...]) -> None:
    assert latest_stop(node(*containers)) is None


def test_the_stop_keeps_its_time_while_its_containers_come_back() -> None:
    """app, stopped cleanly with the others, runs again; its last exit (Podman keeps it) still
    dates the stop, so the job that ended 7 s earlier is not taken for stopped."""
    app_again = box("app", state="running", started=5030, finished=5024)
    stop = latest_stop(node(box("init", finished=5017), app_again, box("web", finished=5024),
                            box("viewer", code=137, finished=5026)))
    assert stop is not None and stop.container_ids == {"id-app", "id-web", "id-viewer"}
    # once every SIGTERM'd one runs again, the SIGKILLed rest alone proves no stop (watch
    # remembers the stop it saw; apply starts them all in one run)
    assert latest_stop(node(box("init", finished=5017), app_again,
                            box("viewer", code=137, finished=5026))) is None


def test_a_container_started_again_after_the_stop_is_no_survivor() -> None:
    again = box("a", state="running", started=5002, finished=5000)
    stop = latest_stop(node(again, box("b", finished=5001), box("c", code=137,
                                                                    finished=5003)))
    assert stop is not None and stop.container_ids == {"id-a", "id-b", "id-c"}
    assert stopped_by_node(again, None, "b1", stop) == ""  # it runs: nothing to bring back


def test_reboot_is_told_by_the_boot_id() -> None:
    job = wl("j")
    exited = box("j", finished=10)
    assert rebooted_since_start(exited, run_of(job), "b2")
    assert not rebooted_since_start(exited, run_of(job), "b1")
    assert not rebooted_since_start(exited, run_of(job), "")  # boot ID unknown
    assert not rebooted_since_start(exited, run_of(job, container_id="other"), "b2")
    assert "boot ID changed" in stopped_by_node(exited, run_of(job), "b2", None)
    running = box("j", state="running")
    assert stopped_by_node(running, run_of(job), "b2", None) == ""


# --- unsupported runtimes ----------------------------------------------------------------------


def test_unsupported_runtime_fails_alone_with_its_dependents() -> None:
    nerd = wl("nerd", runtime="containerd")
    client, viewer, web = wl("client", needs=("nerd",)), wl("viewer", needs=("client",)), wl(
        "web")
    assert unsupported_runtime(wl("x")) == "" and unsupported_runtime(wl(
        "k", runtime="podman-kube")) == ""
    assert unsupported_runtime(nerd).startswith("Unsupported Runtime 'containerd'")
    manifest = Manifest(api_version="v1", workloads=(client, nerd, viewer, web))
    live = LiveState(nodes=(NodeObservation(node_name="n1"),))
    lines, dependents = starting_failed_lines(
        manifest, NodeLookup(INVENTORY, index_live(manifest, live, "p")),
        frozenset(manifest.names()))
    assert dependents == {"nerd": {"client", "viewer"}}
    assert lines == (("n1/nerd: Unsupported Runtime 'containerd' (ankplan runs podman and "
                      "podman-kube): it stays Pending(StartingFailed); so do its dependents "
                      "client, viewer"),)
    result = plan(manifest, INVENTORY, live, project="p")
    assert not result.errors and result.starting_failed == lines
    assert {s.action.workload_name for s in result.changes()} == {"client", "viewer", "web"}
    status = workload_status(client, manifest, INVENTORY, live, project="p")
    assert str(status.state) == "Pending(StartingFailed)" and is_settled(status)
    assert str(workload_status(nerd, manifest, INVENTORY, live, project="p").state) == (
        "Pending(StartingFailed)")


def test_a_dependency_that_cannot_start_is_never_met() -> None:
    state = ExecutionState(state="Pending", sub_state="StartingFailed",
                           info="Unsupported Runtime 'x'")
    status = condition_status(AddCondition.RUNNING, state, dependency_workload=None,
                              healthy=None, dependency_name="nerd")
    assert status.verdict is Verdict.NEVER and "cannot start" in status.reason


# --- the node folder's commands ----------------------------------------------------------------


def test_prepare_sends_names_as_arguments_and_contents_on_stdin() -> None:
    files = (WorkloadFile(mount_point="/etc/app.conf", data="a 'b' $(c)\n"),
             WorkloadFile(mount_point="/hello", binary_data="SGVsbG8sIFdvcmxkIQ=="))
    workload = Workload(name="w", agent="a", runtime="podman", runtime_config_text="",
                        runtime_config=PodmanConfig(image="i"), files=files)
    argv, stdin = nodestore.prepare_argv(Node(name="n", podman=("sudo", "podman")), "p",
                                         workload, new_container=True)
    assert argv[:3] == ("sudo", "sh", "-c") and argv[4:] == (
        "sh", "podman", "p", "w", "new", "etc/app.conf", "hello")
    record, first, second = stdin.splitlines()
    assert json.loads(record)["restartPolicy"] == "NEVER"
    assert first == "YSAnYicgJChjKQo=" and second == "SGVsbG8sIFdvcmxkIQ=="
    assert "$(c)" not in argv[3]
    _, kept = nodestore.prepare_argv(NODE, "p", workload, new_container=False)
    assert len(kept.splitlines()) == 1  # only the applied record: files stay as they are
    with pytest.raises(AnkplanError, match="only a-z"):
        nodestore.prepare_argv(NODE, "../etc", workload, new_container=True)


def test_file_mounts_are_read_only_binds_from_the_folder() -> None:
    files = (WorkloadFile(mount_point="/second/hello", data="x"),)
    assert nodestore.file_mounts("/var/lib/ankplan/default/p/w/", files) == (
        ("--mount=type=bind,source=/var/lib/ankplan/default/p/w/files/second/hello,"
         "destination=/second/hello,readonly=true"),)
    with pytest.raises(AnkplanError, match="comma"):
        nodestore.file_mounts("/d", (WorkloadFile(mount_point="/a,b", data=""),))


def test_parse_store_keeps_the_projects_records_only() -> None:
    text = "\n".join([
        "ankplan-store 1 /var/lib/ankplan/default", "boot 1234-abcd",
        json.dumps({"kind": "applied", "project": "p", "workload": "w",
                    "restartPolicy": "ALWAYS", "dependencies": {"d": "ADD_COND_RUNNING"},
                    "tags": {}}),
        json.dumps({"kind": "run", "project": "p", "workload": "w", "specHash": "v1:x",
                    "container": "c1", "bootId": "1234-abcd", "startedAt": 17}),
        json.dumps({"kind": "run", "project": "other", "workload": "w", "container": "c9"}),
        '{"kind": "run", "project": "p", "workl',  # half-written: skipped
    ])
    view = nodestore.parse_store(text, "p")
    assert view.folder == "/var/lib/ankplan/default" and view.boot_id == "1234-abcd"
    assert view.applied == (AppliedRecord(project="p", workload="w", restart_policy="ALWAYS",
                                          dependencies=(("d", "ADD_COND_RUNNING"),)),)
    assert view.runs == (RunRecord(project="p", workload="w", spec_hash="v1:x",
                                   container_id="c1", boot_id="1234-abcd", started_at=17.0),)
    assert nodestore.parse_store("", "p") == nodestore.StoreView()
    with pytest.raises(AnkplanError, match="could not be read"):
        nodestore.parse_store("bash: sh: not found\n", "p")
