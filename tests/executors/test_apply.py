"""Scheduling tests of executors/apply.py against a FakeTransport that simulates podman.

The fake (tests/fakepodman.py) keeps containers per node and answers the podman commands apply
sends, recording every argv with its time; a workload's command args choose its behaviour.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence

import pytest
from fakepodman import FakeContainer, FakeNode, new_id

from ankplan.errors import ConnectError
from ankplan.executors.apply import ApplyOptions, ApplyResult, Outcome, apply_plan
from ankplan.executors.apply_state import ApplyEvent
from ankplan.executors.transport import CommandResult, TransportPool
from ankplan.model import (
    Action,
    ActionKind,
    AddCondition,
    Dependency,
    Inventory,
    Manifest,
    Node,
    Plan,
    PlanStep,
    PodmanConfig,
    Reason,
    RestartPolicy,
    Workload,
    WorkloadFile,
)
from ankplan.podman import nodestore

PROJECT = "test"


# --- building manifests and plans --------------------------------------------------------------


def wl(name: str, agent: str, *args: str, needs: dict[str, AddCondition] | None = None,
       policy: RestartPolicy = RestartPolicy.NEVER, options: tuple[str, ...] = (),
       files: tuple[WorkloadFile, ...] = ()) -> Workload:
    config = PodmanConfig(image="localhost/img:1", command_options=options, command_args=args)
    deps = tuple(Dependency(workload_name=k, condition=v) for k, v in sorted((needs or {}).items()))
    return Workload(name=name, agent=agent, runtime="podman", runtime_config_text=name,
                    runtime_config=config, restart_policy=policy, dependencies=deps,
                    files=files)


CONFIG_FILE = (WorkloadFile(mount_point="/etc/app.conf", data="port: 1"),)


RUNNING, SUCCEEDED, FAILED = AddCondition.RUNNING, AddCondition.SUCCEEDED, AddCondition.FAILED


class Bed:
    """Fake nodes a and b (agents agent_a, agent_b), a pool over them, and a run helper."""

    def __init__(self) -> None:
        self.nodes = {name: FakeNode(Node(name=name)) for name in ("a", "b")}
        self.inventory = Inventory(nodes=tuple(n.node for n in self.nodes.values()),
                                   agents=(("agent_a", "a"), ("agent_b", "b")))
        self.events: list[ApplyEvent] = []
        self.cancel = threading.Event()

    def pool(self) -> TransportPool:
        return TransportPool(connector=lambda node, **_: self.nodes[node.name])

    def apply(self, workloads: Sequence[Workload], steps: Sequence[PlanStep] | None = None,
              **options: object) -> ApplyResult:
        manifest = Manifest(api_version="v1", workloads=tuple(sorted(workloads,
                                                                     key=lambda w: w.name)))
        plan = Plan(project=PROJECT, steps=tuple(steps if steps is not None else creates(
            workloads, self.inventory)))
        opts = ApplyOptions(**{"poll_interval": 0.02, "timeout": 5.0, **options})
        with self.pool() as pool:
            return apply_plan(plan, pool=pool, inventory=self.inventory, manifest=manifest,
                              options=opts, on_event=self.events.append, cancel=self.cancel)


def creates(workloads: Sequence[Workload], inventory: Inventory) -> list[PlanStep]:
    steps = []
    for index, workload in enumerate(workloads, start=1):
        node = inventory.node_for_agent(workload.agent)
        assert node is not None
        steps.append(PlanStep(id=index, action=Action(
            kind=ActionKind.CREATE, node_name=node.name, workload_name=workload.name,
            reason=Reason.NOT_FOUND, workload=workload)))
    return steps


def outcomes(result: ApplyResult) -> dict[str, Outcome]:
    return {r.workload_name: r.outcome for r in result.results}


def reason(result: ApplyResult, name: str) -> str:
    return next(r.reason for r in result.results if r.workload_name == name)


@pytest.fixture
def bed() -> Bed:
    return Bed()


# --- scheduling --------------------------------------------------------------------------------


def test_per_workload_not_waves(bed: Bed) -> None:
    """A slow dependency on node a must not delay an unrelated chain on node b."""
    workloads = [
        wl("slow-dep", "agent_a", "slow", "1.0"),
        wl("after-slow", "agent_a", needs={"slow-dep": RUNNING}),
        wl("router", "agent_b"),
        wl("client", "agent_b", needs={"router": RUNNING}),
    ]
    began = time.monotonic()
    result = bed.apply(workloads)
    assert result.converged, result
    a, b = bed.nodes["a"], bed.nodes["b"]
    # client (level 1 of the graph) starts long before slow-dep (level 0) runs: no waves.
    assert b.first_call("run", "client") - began < 0.6
    assert a.first_call("run", "after-slow") - began >= 1.0
    assert outcomes(result) == dict.fromkeys(["slow-dep", "after-slow", "router", "client"],
                                             Outcome.DONE)


def test_dependency_on_other_node_is_waited_for(bed: Bed) -> None:
    result = bed.apply([wl("router", "agent_a", "slow", "0.4"),
                        wl("client", "agent_b", needs={"router": RUNNING})])
    assert result.converged
    router = next(r for r in result.results if r.workload_name == "router")
    client_run = bed.nodes["b"].first_call("run", "client")
    assert client_run > bed.nodes["a"].first_call("run", "router") + 0.4
    assert router.elapsed <= next(r.elapsed for r in result.results if r.workload_name == "client")
    waiting = [e for e in bed.events if e.workload == "client"
               and e.to_state == "Pending(WaitingToStart: router)"]
    assert waiting and "router" in waiting[0].message


def test_observer_is_shared_one_ps_per_node_per_tick(bed: Bed) -> None:
    workloads = [wl("router", "agent_a", "slow", "0.5")] + [
        wl(f"client{i}", "agent_b", needs={"router": RUNNING}) for i in range(6)]
    result = bed.apply(workloads)
    assert result.converged
    for node in bed.nodes.values():
        assert node.count("ps") == result.observations  # never one ps per waiting workload
    assert result.observations < 0.5 / 0.02 + 20


def test_waiting_steps_do_not_wake_each_other_busily(bed: Bed) -> None:
    """Six steps wait 0.6 s for a slow start: they sleep, they do not burn a core."""
    workloads = [wl("router", "agent_a", "slow", "0.6")] + [
        wl(f"client{i}", "agent_b", needs={"router": RUNNING}) for i in range(6)]
    cpu = time.process_time()
    result = bed.apply(workloads)
    assert result.converged
    assert time.process_time() - cpu < 0.25  # a busy loop spent about 0.6 s here


def test_failure_skips_dependents_not_independent_branches(bed: Bed) -> None:
    result = bed.apply([
        wl("broken", "agent_a", "badimage"),
        wl("child", "agent_b", needs={"broken": RUNNING}),
        wl("grandchild", "agent_b", needs={"child": RUNNING}),
        wl("other", "agent_a"),
        wl("other-child", "agent_b", needs={"other": RUNNING}),
    ])
    assert outcomes(result) == {"broken": Outcome.FAILED, "child": Outcome.SKIPPED,
                                "grandchild": Outcome.SKIPPED, "other": Outcome.DONE,
                                "other-child": Outcome.DONE}
    assert "Error: localhost/nope: image not known" in reason(result, "broken")
    assert reason(result, "child").startswith("dependency broken failed: podman run failed")
    assert reason(result, "grandchild").startswith("dependency child was not started")
    assert not result.converged
    with pytest.raises(AssertionError):
        bed.nodes["b"].first_call("run", "child")
    # the folders written ahead for child and grandchild went with them
    assert {workload for _, workload, _ in bed.nodes["b"].records} == {"other-child"}


def test_a_new_workload_s_files_are_written_while_its_dependency_starts(bed: Bed) -> None:
    result = bed.apply([wl("router", "agent_a", "slow", "0.3"),
                        wl("client", "agent_b", needs={"router": RUNNING}, files=CONFIG_FILE)])
    assert result.converged
    prepared = next(when for when, argv in bed.nodes["b"].calls
                    if argv[2] == nodestore.PREPARE_SCRIPT and argv[6] == "client")
    assert prepared < bed.nodes["a"].first_call("run", "router") + 0.3  # before it returned


def scripts(node: FakeNode, workload_name: str) -> list[str]:
    """What the node was asked for the workload, in order: podman verbs, and the folder
    scripts by name."""
    names = {nodestore.PREPARE_SCRIPT: "prepare", nodestore.RECORD_START_SCRIPT: "record"}
    return [names.get(argv[2], argv[2]) if argv[1] == "-c" else argv[1]
            for _, argv in node.calls
            if (argv[1] == "-c" and argv[6:7] == (workload_name,))
            or (argv[1] == "run" and workload_name in argv)]


def test_a_workload_without_files_writes_its_records_with_the_start(bed: Bed) -> None:
    """Nothing to write before `podman run`: the applied record goes with the run record,
    after the start; a workload with files still has them written first."""
    result = bed.apply([wl("plain", "agent_a"), wl("configured", "agent_a", files=CONFIG_FILE)])
    assert result.converged
    a = bed.nodes["a"]
    assert scripts(a, "plain") == ["run", "record"]
    assert scripts(a, "configured") == ["prepare", "run", "record"]
    for name in ("plain", "configured"):
        applied = json.loads(a.records[PROJECT, name, "applied"])
        assert applied["restartPolicy"] == "NEVER" and (PROJECT, name, "run") in a.records


def test_dependents_start_while_the_start_is_recorded(bed: Bed) -> None:
    """Recording a start on the node is off the critical path: a dependent's `podman run`
    does not wait for it, and apply still returns only once it is written."""
    a = bed.nodes["a"]
    dependent_ran = threading.Event()
    plain = a.run

    def run(argv: tuple[str, ...], *, timeout: float, stdin: str | None = None) -> CommandResult:
        if argv[1] == "run" and "child" in argv:
            dependent_ran.set()
        if argv[1] == "-c" and argv[2] == nodestore.RECORD_START_SCRIPT and argv[6] == "router":
            assert dependent_ran.wait(5.0), "the dependent waited for the record"
        return plain(argv, timeout=timeout, stdin=stdin)

    a.run = run  # type: ignore[method-assign]
    result = bed.apply([wl("router", "agent_a"),
                        wl("child", "agent_a", needs={"router": RUNNING})])
    assert result.converged, result
    assert (PROJECT, "router", "run") in a.records


def test_never_condition_reported_at_once(bed: Bed) -> None:
    once = seed(bed.nodes["a"], "once")  # a job that ran before this apply
    bed.nodes["a"].containers[once].args = ("job", "0", "0")
    workloads = [wl("once", "agent_a", "job", "0", "0"),
                 wl("needs-running", "agent_b", needs={"once": RUNNING}),
                 wl("needs-ghost", "agent_b", needs={"ghost": RUNNING})]
    began = time.monotonic()
    result = bed.apply(workloads, steps=creates(workloads[1:], bed.inventory), timeout=30.0)
    assert time.monotonic() - began < 3.0  # not after the 30 s timeout
    assert outcomes(result) == {"needs-running": Outcome.NOT_STARTED,
                                "needs-ghost": Outcome.NOT_STARTED}
    assert ("once is Succeeded(Ok) and restartPolicy NEVER does not restart it; "
            "ADD_COND_RUNNING can no longer hold") in reason(result, "needs-running")
    assert reason(result, "needs-ghost") == ("ghost is not in the manifest and not running "
                                             "on any node")


def test_succeeded_condition_waits_for_the_job(bed: Bed) -> None:
    result = bed.apply([wl("migration", "agent_a", "job", "0.4", "0"),
                        wl("app", "agent_b", needs={"migration": SUCCEEDED})])
    assert result.converged
    assert (bed.nodes["b"].first_call("run", "app")
            >= bed.nodes["a"].first_call("run", "migration") + 0.4)
    assert reason(result, "migration") == "running"  # done once it runs; app waits on


def test_failed_condition_starts_fallback_when_primary_fails(bed: Bed) -> None:
    result = bed.apply([wl("primary", "agent_a", "crash"),
                        wl("fallback", "agent_b", needs={"primary": FAILED})])
    assert outcomes(result) == {"primary": Outcome.FAILED, "fallback": Outcome.DONE}
    assert "Failed(ExecFailed): Exit code: '1'" in reason(result, "primary")
    assert "| ERROR: lost connection to router:80" in reason(result, "primary")


def test_a_chain_of_running_dependencies_is_not_polled(bed: Bed) -> None:
    """`podman run -d` that returned 0 is an observation: each level costs its start alone,
    and apply takes one confirming `podman ps` per node before it returns."""
    chain = [wl("w0", "agent_a")] + [
        wl(f"w{i}", "agent_b" if i % 2 else "agent_a", needs={f"w{i - 1}": RUNNING})
        for i in range(1, 5)]
    result = bed.apply(chain)
    assert result.converged and result.observations == 1
    assert {name: node.count("ps") for name, node in bed.nodes.items()} == {"a": 1, "b": 1}
    runs = [bed.nodes["b" if i % 2 else "a"].first_call("run", f"w{i}") for i in range(5)]
    assert runs == sorted(runs)
    assert {r.state for r in result.results} == {"Running(Ok)"}


def test_a_container_crashing_after_its_start_fails_before_apply_returns(bed: Bed) -> None:
    """Its dependent started on the run's answer (Running then); the confirming observation
    reports the crash, with the logs, as the step's last event."""
    result = bed.apply([wl("crasher", "agent_a", "crash"),
                        wl("after", "agent_b", needs={"crasher": RUNNING})])
    assert outcomes(result) == {"crasher": Outcome.FAILED, "after": Outcome.DONE}
    assert not result.converged
    assert reason(result, "crasher").startswith("container Failed(ExecFailed): Exit code: '1'")
    assert "| ERROR: lost connection to router:80" in reason(result, "crasher")
    crasher = [e for e in bed.events if e.workload == "crasher"]
    assert [(e.to_state, e.outcome) for e in crasher[-2:]] == [
        ("Running(Ok)", "done"), ("Failed(ExecFailed)", "failed")]


def test_a_running_answer_holds_for_running_dependents_an_observation_for_the_others(
        ) -> None:
    """The step's own answer (Running at its return) holds ADD_COND_RUNNING also when a
    snapshot begun later shows the container exited: its dependents start on it, as Ankaios
    starts them on the change to Running, whenever the `died` event arrives. SUCCEEDED waits
    for a snapshot begun after the answer."""
    from ankplan.executors.apply_state import Board, Snapshot
    from ankplan.executors.apply_wait import dependency_gate
    from ankplan.model import ExecutionState, LiveState, NodeObservation, ObservedContainer

    bed = Bed()
    job, app = wl("job", "agent_a"), wl("app", "agent_b", needs={"job": RUNNING})
    manifest = Manifest(api_version="v1", workloads=(app, job))
    board = Board(creates([job], bed.inventory), lambda event: None)
    (step,) = board.all()
    board.update(step, container_id="c1")
    board.finish(step, Outcome.DONE, "running", state="Running(Ok)",
                 execution=ExecutionState(state="Running", sub_state="Ok"), known_at=10.0)
    exited = ObservedContainer(id="c1", name="job", node_name="a", image="i", state="exited",
                               exit_code=0)

    def gate(workload: Workload, began: float | None) -> tuple[bool, bool]:
        snapshot = None if began is None else Snapshot(live=LiveState(nodes=(
            NodeObservation(node_name="a", containers=(exited,)),)), seq=1, taken_at=began)
        found = dependency_gate(board, snapshot, manifest=manifest, inventory=bed.inventory,
                                project=PROJECT, workload=workload)
        return found.go, found.outcome is None

    assert gate(app, None) == (True, True)
    assert gate(app, 9.0) == (True, True)  # begun before the start returned: the answer wins
    assert gate(app, 11.0) == (True, True)  # exited since: it was Running, which was enough
    later = wl("app", "agent_b", needs={"job": SUCCEEDED})
    assert gate(later, None) == (False, True)  # Running is no answer for SUCCEEDED: observe
    assert gate(later, 11.0) == (True, True)


def test_failed_condition_stands_by_while_primary_runs(bed: Bed) -> None:
    result = bed.apply([wl("primary", "agent_a"),
                        wl("fallback", "agent_b", needs={"primary": FAILED})])
    assert outcomes(result) == {"primary": Outcome.DONE, "fallback": Outcome.STANDING_BY}
    assert result.converged
    assert reason(result, "fallback") == "primary is Running(Ok): the fallback stands by"
    assert bed.nodes["b"].count("run") == 0


def test_container_exiting_at_once_is_failed_with_logs(bed: Bed) -> None:
    result = bed.apply([wl("crasher", "agent_a", "crash")])
    assert outcomes(result) == {"crasher": Outcome.FAILED}
    text = reason(result, "crasher")
    assert text.startswith("container Failed(ExecFailed): Exit code: '1'")
    assert "| line 1" in text


def test_health_check_runs_and_gates_dependents(bed: Bed) -> None:
    result = bed.apply([
        wl("db", "agent_a", options=("--health-cmd=true", "--health-interval=1s")),
        wl("app", "agent_b", needs={"db": RUNNING})])
    assert result.converged
    a = bed.nodes["a"]
    assert a.count("healthcheck") >= 1
    assert bed.nodes["b"].first_call("run", "app") > a.first_call("healthcheck", "db")
    assert reason(result, "db") == "running and healthy"
    assert any("health: starting" in e.to_state for e in bed.events if e.workload == "db")


@pytest.mark.parametrize(("stuck", "why"), [
    (wl("stuck", "agent_a", "hang"), "node a: command timed out after 0.5 s: podman run"),
    (wl("stuck", "agent_a", "sick", options=("--health-cmd=true", "--health-interval=1s")),
     "timed out after 0.5 s waiting for Running: it is Running(Ok) [health: starting]")])
def test_every_wait_is_bounded(bed: Bed, stuck: Workload, why: str) -> None:
    """A podman command that hangs, and a container that never turns healthy."""
    began = time.monotonic()
    result = bed.apply([stuck, wl("after", "agent_b", needs={"stuck": RUNNING})], timeout=0.5)
    assert time.monotonic() - began < 3.0
    assert outcomes(result) == {"stuck": Outcome.FAILED, "after": Outcome.SKIPPED}
    assert reason(result, "stuck").startswith(why)


@pytest.mark.parametrize("parallelism", [1, 3])
def test_parallelism_bounds_podman_commands(bed: Bed, parallelism: int) -> None:
    bed.nodes["a"].run_delay = 0.3
    result = bed.apply([wl(f"w{i}", "agent_a") for i in range(4)], parallelism=parallelism)
    assert result.converged
    assert bed.nodes["a"].max_active == parallelism


def test_cancel_starts_nothing_new(bed: Bed) -> None:
    threading.Timer(0.2, bed.cancel.set).start()
    result = bed.apply([wl("slow-dep", "agent_a", "slow", "1.0"),
                        wl("after", "agent_b", needs={"slow-dep": RUNNING})])
    assert result.cancelled and not result.converged
    assert outcomes(result)["after"] is Outcome.CANCELLED
    assert reason(result, "after").startswith("not started: apply was interrupted")
    assert bed.nodes["b"].count("run") == 0
    assert bed.nodes["a"].count("run") == 1  # the command already running was let finish


def test_events_trace_the_states(bed: Bed) -> None:
    bed.apply([wl("router", "agent_a", "slow", "0.1"),
               wl("client", "agent_b", needs={"router": RUNNING})])
    states = [e.to_state for e in bed.events if e.workload == "client"]
    assert states[0] == "Pending(WaitingToStart: router)"
    assert "Pending(Starting)" in states
    assert states[-1] == "Running(Ok)"
    last = [e for e in bed.events if e.workload == "client"][-1]
    assert last.outcome == "done" and last.node == "b" and last.kind == "create"
    for event in bed.events:
        assert event.from_state != event.to_state or event.outcome  # only the last may repeat


# --- teardown ------------------------------------------------------------------------------------


def seed(node: FakeNode, name: str, depends: str = "") -> str:
    """An owned running container of workload `name` on `node`; returns its id."""
    container_id = new_id()
    labels = {"ankplan.project": PROJECT, "ankplan.workload": name}
    if depends:
        labels["ankplan.dependencies"] = json.dumps({depends: "ADD_COND_RUNNING"})
    node.containers[container_id] = FakeContainer(
        id=container_id, name=name, labels=labels, args=("serve",), health_cmd=False,
        created=time.monotonic(), started=time.monotonic())
    return container_id


def remove_step(step_id: int, node: str, name: str, container_id: str,
                depends_on: tuple[int, ...] = ()) -> PlanStep:
    return PlanStep(id=step_id, depends_on=depends_on, action=Action(
        kind=ActionKind.REMOVE, node_name=node, workload_name=name,
        reason=Reason.NOT_IN_MANIFEST, container_id=container_id))


def test_removals_run_in_reverse_dependency_order(bed: Bed) -> None:
    a, b = bed.nodes["a"], bed.nodes["b"]
    router, client = seed(a, "router"), seed(b, "client", depends="router")
    steps = [remove_step(1, "b", "client", client), remove_step(2, "a", "router", router, (1,))]
    result = bed.apply([], steps=steps, stop_timeout=7)
    assert outcomes(result) == {"client": Outcome.DONE, "router": Outcome.DONE}
    assert a.first_call("stop", router) > b.first_call("rm", client)
    assert ("podman", "stop", "--ignore", "--time", "7", "--", router) in [c for _, c in a.calls]
    assert not a.containers and not b.containers
    assert [r.state for r in result.results] == ["Removed", "Removed"]


def test_replace_stops_and_removes_old_before_running_new(bed: Bed) -> None:
    a = bed.nodes["a"]
    old = seed(a, "web")
    workload = wl("web", "agent_a")
    step = PlanStep(id=1, action=Action(kind=ActionKind.REPLACE, node_name="a",
                                        workload_name="web", reason=Reason.SPEC_CHANGED,
                                        workload=workload, container_id=old))
    result = bed.apply([workload], steps=[step])
    assert result.converged
    commands = [argv[1] for _, argv in a.calls if argv[1] != "ps"]
    # "-c": `sh -c` recording the start (and the applied record: no files) after `run`
    assert commands[:4] == ["stop", "rm", "run", "-c"]
    assert [c.name for c in a.containers.values()] == ["web"]
    assert old not in a.containers


def test_replaced_dependents_are_torn_down_first(bed: Bed) -> None:
    a, b = bed.nodes["a"], bed.nodes["b"]
    old_router, old_client = seed(a, "router"), seed(b, "client", depends="router")
    router, client = wl("router", "agent_a"), wl("client", "agent_b", needs={"router": RUNNING})
    steps = [PlanStep(id=1, action=Action(kind=ActionKind.REPLACE, node_name="a",
                                          workload_name="router", reason=Reason.SPEC_CHANGED,
                                          workload=router, container_id=old_router)),
             PlanStep(id=2, depends_on=(1,), action=Action(
                 kind=ActionKind.REPLACE, node_name="b", workload_name="client",
                 reason=Reason.SPEC_CHANGED, workload=client, container_id=old_client))]
    result = bed.apply([router, client], steps=steps)
    assert result.converged
    assert a.first_call("stop", old_router) > b.first_call("rm", old_client)
    assert b.first_call("run", "client") > a.first_call("run", "router")


def test_start_step_starts_the_existing_container(bed: Bed) -> None:
    a = bed.nodes["a"]
    container_id = seed(a, "web")
    a.containers[container_id].stopped = time.monotonic()  # exited with 0
    workload = wl("web", "agent_a")
    step = PlanStep(id=1, action=Action(kind=ActionKind.START, node_name="a",
                                        workload_name="web", reason=Reason.NOT_RUNNING,
                                        workload=workload, container_id=container_id))
    result = bed.apply([workload], steps=[step])
    assert result.converged
    assert reason(result, "web") == "running"
    assert ("podman", "start", "--", container_id) in [c for _, c in a.calls]


def test_failed_removal_skips_what_must_wait_for_it(bed: Bed) -> None:
    steps = [remove_step(1, "b", "client", "deadbeef"),
             remove_step(2, "a", "router", seed(bed.nodes["a"], "router"), (1,))]
    bed.nodes["b"].run = fail_stop(bed.nodes["b"])  # type: ignore[method-assign]
    result = bed.apply([], steps=steps)
    assert outcomes(result) == {"client": Outcome.FAILED, "router": Outcome.SKIPPED}
    assert "Error: device busy" in reason(result, "client")
    assert reason(result, "router").startswith("client on b must be removed first")


def fail_stop(node: FakeNode):  # type: ignore[no-untyped-def]
    original = node.run

    def run(argv: Sequence[str], *, timeout: float, stdin: str | None = None) -> CommandResult:
        if argv[1] == "stop":
            return CommandResult(exit_code=125, stdout="", stderr="Error: device busy\n",
                                 duration=0.0)
        return original(argv, timeout=timeout, stdin=stdin)
    return run


def test_empty_plan_does_nothing(bed: Bed) -> None:
    result = bed.apply([], steps=[])
    assert result.converged and result.results == () and result.observations == 0


# --- identity: adopted containers and duplicates -----------------------------------------------


def test_a_dependency_adopted_from_an_older_ankplan_is_found_by_its_old_label(bed: Bed) -> None:
    """The previous release labelled router `ankplan.project=app`; the plan (project
    app-1a2b3c4d) adopted it by id, so client's wait finds it; without that it would not."""
    a = bed.nodes["a"]
    router = seed(a, "router")
    a.containers[router].labels["ankplan.project"] = "app"
    client = wl("client", "agent_a", needs={"router": RUNNING})
    manifest = Manifest(api_version="v1", workloads=(client, wl("router", "agent_a")))
    [step] = creates([client], bed.inventory)
    for adopted, expected in (((router,), Outcome.DONE), ((), Outcome.NOT_STARTED)):
        plan = Plan(project="app-1a2b3c4d", steps=(step,), adopted=adopted)
        with bed.pool() as pool:
            result = apply_plan(plan, pool=pool, inventory=bed.inventory, manifest=manifest,
                                options=ApplyOptions(poll_interval=0.02, timeout=1.0))
        assert outcomes(result) == {"client": expected}, result
        for container in list(a.containers.values()):
            if container.name == "client":
                del a.containers[container.id]


def test_a_removed_duplicate_is_named_as_itself_never_as_its_workload(bed: Bed) -> None:
    from ankplan.cli.views.apply import render_summary_text, summary_record

    a = bed.nodes["a"]
    real, forged = seed(a, "web"), seed(a, "evil")
    a.containers[forged].labels["ankplan.workload"] = "web"
    step = PlanStep(id=1, action=Action(kind=ActionKind.REMOVE, node_name="a",
                                        workload_name="web", reason=Reason.DUPLICATE,
                                        container_id=forged, container_name="evil"))
    result = bed.apply([], steps=[step])
    assert list(a.containers) == [real]
    text = render_summary_text(result)
    assert f"a/evil ({forged[:12]})  done" in text and "a/web" not in text
    assert summary_record(result)["results"][0]["subject"] == f"a/evil ({forged[:12]})"
    assert {event.subject for event in bed.events} == {f"a/evil ({forged[:12]})"}


# --- restart (`ankplan restart`) ---------------------------------------------------------------


def restart_step(step_id: int, node: str, workload: Workload, container_id: str) -> PlanStep:
    return PlanStep(id=step_id, action=Action(
        kind=ActionKind.RESTART, node_name=node, workload_name=workload.name,
        reason=Reason.RESTART_REQUESTED, workload=workload, container_id=container_id))


def test_restart_stops_and_starts_the_same_container(bed: Bed) -> None:
    a = bed.nodes["a"]
    container_id = seed(a, "web")
    workload = wl("web", "agent_a")
    result = bed.apply([workload], steps=[restart_step(1, "a", workload, container_id)],
                       stop_timeout=4)
    assert result.converged and reason(result, "web") == "running"
    commands = [argv for _, argv in a.calls if argv[1] != "ps"]
    assert commands[:2] == [("podman", "stop", "--ignore", "--time", "4", "--", container_id),
                            ("podman", "start", "--", container_id)]
    (record,) = commands[2:]  # the start recorded on the node; its files stay as they were
    assert record[2] == nodestore.RECORD_START_SCRIPT
    assert list(a.containers) == [container_id]  # never removed, never a new one


def test_restart_with_dependents_stops_them_first_and_starts_them_last(bed: Bed) -> None:
    a, b = bed.nodes["a"], bed.nodes["b"]
    router_id, client_id = seed(a, "router"), seed(b, "client", depends="router")
    router, client = wl("router", "agent_a"), wl("client", "agent_b", needs={"router": RUNNING})
    steps = [restart_step(1, "a", router, router_id), restart_step(2, "b", client, client_id)]
    result = bed.apply([router, client], steps=steps)
    assert result.converged, result
    assert a.first_call("stop", router_id) > b.first_call("stop", client_id)
    assert b.first_call("start", client_id) > a.first_call("start", router_id)


def test_failed_restart_stop_leaves_the_container_alone(bed: Bed) -> None:
    a = bed.nodes["a"]
    container_id = seed(a, "web")
    a.run = fail_stop(a)  # type: ignore[method-assign]
    workload = wl("web", "agent_a")
    result = bed.apply([workload], steps=[restart_step(1, "a", workload, container_id)])
    assert outcomes(result) == {"web": Outcome.FAILED}
    assert reason(result, "web") == "podman stop failed (exit code 125): Error: device busy"
    assert a.count("start") == 0 and a.count("rm") == 0


def test_many_steps_run_on_a_bounded_number_of_threads(bed: Bed) -> None:
    """200 workloads in chains of 10 converge with at most STEP_THREADS step threads: steps
    come in topological order, so the earliest unfinished one always moves on."""
    from ankplan.executors.apply import STEP_THREADS

    workloads = [wl(f"w{index}", "agent_a" if index % 2 else "agent_b",
                    needs={f"w{index - 2}": RUNNING} if index >= 2 and index % 20 >= 2 else None)
                 for index in range(200)]
    ordered = sorted(workloads, key=lambda w: (int(w.name[1:]) % 20, w.name))  # deps first
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.01):
            peak = max(peak, sum(1 for t in threading.enumerate() if t.name.startswith("apply")))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = bed.apply(ordered, steps=creates(ordered, bed.inventory), parallelism=8)
    finally:
        stop.set()
        sampler.join()
    assert result.converged, [r for r in result.results if r.outcome is not Outcome.DONE][:3]
    assert 0 < peak <= STEP_THREADS + 1  # + the observer thread (also named apply-...)


def refusing_records(node: FakeNode, answer: Callable[[tuple[str, ...]], CommandResult]) -> None:
    """Make `node` answer every start record with `answer(argv)` (or raise from it)."""
    plain = node.run

    def run(argv: tuple[str, ...], *, timeout: float, stdin: str | None = None) -> CommandResult:
        if argv[1] == "-c" and argv[2] == nodestore.RECORD_START_SCRIPT:
            return answer(argv)
        return plain(argv, timeout=timeout, stdin=stdin)

    node.run = run  # type: ignore[method-assign]


def test_a_record_refused_after_the_start_is_a_warning_not_a_failure(
        bed: Bed, caplog: pytest.LogCaptureFixture) -> None:
    """The container runs (its command said so); only the node's bookkeeping is missing."""
    refusing_records(bed.nodes["a"], lambda argv: CommandResult(
        exit_code=1, stdout="", stderr="sh: cannot create run.json: No space left on device",
        duration=0.0))
    result = bed.apply([wl("web", "agent_a"), wl("child", "agent_a", needs={"web": RUNNING})])
    assert outcomes(result) == {"web": Outcome.DONE, "child": Outcome.DONE}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(m.startswith("a/web runs, but its start was not recorded on the node (a/web: "
                            "cannot record the start on the node: sh: cannot create run.json: "
                            "No space left on device)") for m in warnings), warnings


def test_a_node_lost_while_recording_leaves_the_started_step_done(bed: Bed) -> None:
    def lost(argv: tuple[str, ...]) -> CommandResult:
        raise ConnectError("a", "connection lost while running sh")

    refusing_records(bed.nodes["a"], lost)
    result = bed.apply([wl("web", "agent_a")])
    assert outcomes(result) == {"web": Outcome.DONE}


def test_the_confirming_ps_does_not_wait_for_the_last_record(bed: Bed) -> None:
    a = bed.nodes["a"]
    confirming = threading.Event()
    plain = a.run

    def run(argv: tuple[str, ...], *, timeout: float, stdin: str | None = None) -> CommandResult:
        if argv[1] == "ps":
            confirming.set()
        if argv[1] == "-c" and argv[2] == nodestore.RECORD_START_SCRIPT:
            assert confirming.wait(5.0), "the confirming ps waited for the record"
        return plain(argv, timeout=timeout, stdin=stdin)

    a.run = run  # type: ignore[method-assign]
    result = bed.apply([wl("web", "agent_a")])
    assert outcomes(result) == {"web": Outcome.DONE} and result.observations == 1
    assert (PROJECT, "web", "run") in a.records


def test_a_change_while_a_waiter_judges_is_not_slept_through() -> None:
    """A step that judged the board and then waits does not miss a change that came in
    between: it would otherwise sleep a whole poll interval before seeing it."""
    from ankplan.executors.apply_state import Board

    board = Board((), lambda event: None)
    seen = board.changes
    board.notify()  # e.g. a dependency's step finished while the waiter judged
    began = time.monotonic()
    board.wait(5.0, since=seen)
    assert time.monotonic() - began < 1.0
    seen = board.changes
    threading.Timer(0.2, board.notify).start()
    board.wait(5.0, since=seen)  # and one that comes later wakes it too
    assert time.monotonic() - began < 2.0
