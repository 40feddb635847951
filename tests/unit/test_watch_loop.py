"""The watch loop against a FakeTransport that simulates podman on a fake clock.

Each fake node keeps containers whose behaviour comes from their command args: `serve` runs
forever, `job S CODE` exits CODE after S seconds. Health checks answer from `FakeNode.healthy`.
The loop's sleep advances the fake clock after letting in-flight actions finish.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from ankplan.errors import ConnectError
from ankplan.executors.transport import CommandResult, TransportPool
from ankplan.executors.watch import Watch, WatchEvent, WatchOptions, WatchResult, _shows
from ankplan.executors.watch_act import Job
from ankplan.model import (
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
    RestartPolicy,
    Workload,
)
from ankplan.planner.restarts import BackoffPolicy
from ankplan.podman import nodestore

PROJECT = "demo"
IMAGE = "localhost/img:1"
_ids = itertools.count(1)


class FakeClock:
    """Monotonic and wall clock in one; thread-safe reads."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeContainer:
    id: str
    name: str
    labels: dict[str, str]
    args: tuple[str, ...]
    started: float
    stopped: float | None = None  # podman stop at this time (exit 0, the stub traps TERM)
    stop_code: int = 0  # exit code when stopped (137: killed after the stop timeout)

    def state(self, now: float) -> tuple[str, int, float]:
        """(podman state, exit code, exited at)."""
        if self.stopped is not None:
            return "exited", self.stop_code, self.stopped
        mode, *rest = self.args or ("serve",)
        if mode == "job" and now - self.started >= float(rest[0]):
            return "exited", int(rest[1]), self.started + float(rest[0])
        return "running", 0, 0.0


@dataclass
class FakeNode:
    node: Node
    clock: FakeClock
    containers: dict[str, FakeContainer] = field(default_factory=dict)
    calls: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)
    healthy: dict[str, bool] = field(default_factory=dict)  # container name -> check passes
    records: dict[str, dict[str, object]] = field(default_factory=dict)  # workload -> run.json
    lock: threading.Lock = field(default_factory=threading.Lock)
    gate: threading.Event | None = None  # when set up, `podman run` returns only once it is set

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        argv = tuple(argv)
        with self.lock:
            now = self.clock()
            self.calls.append((now, argv))
            result = self._answer(argv[1], argv, now, stdin)
        if argv[1] == "run" and self.gate is not None:
            self.gate.wait(timeout=5)  # the container exists, the command has not returned
        return result

    def _answer(self, command: str, argv: tuple[str, ...], now: float,
                stdin: str | None = None) -> CommandResult:
        if argv[0] == "sh":
            return self._store(argv, stdin or "")
        if command == "ps":
            return ok(json.dumps([self._ps_entry(c, now) for c in self.containers.values()]))
        if command == "run":
            return self._run(argv, now)
        container = self.containers.get(argv[-1])
        if command == "stop" and container and container.state(now)[0] == "running":
            container.stopped = now
        elif command == "rm":
            self.containers.pop(argv[-1], None)
        elif command == "start" and container:
            container.started, container.stopped = now, None
        elif command == "healthcheck" and container:
            passed = self.healthy.get(container.name, True)
            return CommandResult(exit_code=0 if passed else 1, duration=0.0, stderr="",
                                 stdout="healthy\n" if passed else "unhealthy\n")
        return ok("")

    def _store(self, argv: tuple[str, ...], stdin: str) -> CommandResult:
        """The workload folders' run records (podman/nodestore.py); other writes succeed."""
        if argv[2] == nodestore.RECORD_START_SCRIPT:
            workload, container_id, count = argv[6:9]
            kept = self.records.get(workload, {})
            if not count and kept.get("container") == container_id:
                count = str(kept.get("restartCount", 0))
            self.records[workload] = {**json.loads(stdin.strip()[:-1] + "}"),
                                      "restartCount": int(count or 0)}
        elif argv[2] == nodestore.READ_SCRIPT:
            return ok(f"{nodestore.STORE_HEADER} /store\nboot b1\n" + "".join(
                json.dumps(record) + "\n" for record in self.records.values()))
        return ok("")

    def _ps_entry(self, container: FakeContainer, now: float) -> dict[str, object]:
        state, code, exited = container.state(now)
        return {"Id": container.id, "Names": [container.name], "Image": IMAGE, "State": state,
                "ExitCode": code, "StartedAt": int(container.started), "ExitedAt": int(exited),
                "Labels": container.labels, "Status": state}

    def _run(self, argv: tuple[str, ...], now: float) -> CommandResult:
        words = list(argv[argv.index("run") + 1:])
        name = words[words.index("--name") + 1]
        labels = dict(w[len("--label="):].partition("=")[::2] for w in words
                      if w.startswith("--label="))
        args = tuple(words[words.index(IMAGE) + 1:])
        if args[:1] == ("badimage",):
            return CommandResult(exit_code=125, stdout="", duration=0.0,
                                 stderr="Error: localhost/nope: image not known")
        if any(c.name == name for c in self.containers.values()):
            return CommandResult(exit_code=125, stdout="", duration=0.0,
                                 stderr=f'Error: the container name "{name}" is already in use')
        container_id = f"{next(_ids):064x}"
        self.containers[container_id] = FakeContainer(id=container_id, name=name, labels=labels,
                                                      args=args, started=now)
        return ok(container_id + "\n")

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> object:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # --- what tests read -----------------------------------------------------------------------

    def container(self, name: str) -> FakeContainer | None:
        return next((c for c in self.containers.values() if c.name == name), None)

    def runs_of(self, name: str) -> list[float]:
        return [when for when, argv in self.calls if argv[1] == "run" and name in argv]

    def bringups_of(self, name: str) -> list[float]:
        """When the workload's container was run, or started again (by its id)."""
        ids = {c.id for c in self.containers.values() if c.name == name}
        return [when for when, argv in self.calls if (argv[1] == "run" and name in argv)
                or (argv[1] == "start" and argv[-1] in ids)]

    def restart_count(self, name: str) -> int:
        """The workload's restart count as `get` reads it: label or run record, the higher."""
        container = self.container(name)
        assert container is not None
        record = self.records.get(name, {})
        recorded = record.get("restartCount", 0) if record.get("container") == container.id \
            else 0
        return max(int(container.labels["ankplan.restart-count"]), int(str(recorded)))

    def count(self, command: str) -> int:
        return sum(1 for _, argv in self.calls if argv[1] == command)


def ok(stdout: str) -> CommandResult:
    return CommandResult(exit_code=0, stdout=stdout, stderr="", duration=0.0)


def wl(name: str, *args: str, agent: str = "agent_A", policy: RestartPolicy = RestartPolicy.NEVER,
       needs: dict[str, AddCondition] | None = None, options: tuple[str, ...] = ()) -> Workload:
    config = PodmanConfig(image=IMAGE, command_options=options, command_args=args)
    deps = tuple(Dependency(workload_name=k, condition=v) for k, v in sorted((needs or {}).items()))
    return Workload(name=name, agent=agent, runtime="podman", runtime_config_text=name,
                    runtime_config=config, restart_policy=policy, dependencies=deps)


@dataclass
class Bed:
    """Fake nodes n1 (agent_A) and n2 (agent_B), a fake clock, and the events seen."""

    clock: FakeClock = field(default_factory=FakeClock)
    nodes: dict[str, FakeNode] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    events: list[WatchEvent] = field(default_factory=list)
    watch: Watch | None = None

    def __post_init__(self) -> None:
        for name in ("n1", "n2"):
            self.nodes[name] = FakeNode(node=Node(name=name), clock=self.clock)
        self.inventory = Inventory(nodes=tuple(n.node for n in self.nodes.values()),
                                   agents=(("agent_A", "n1"), ("agent_B", "n2")))

    def connect(self, node: Node, **_: object) -> FakeNode:
        if node.name in self.down:
            raise ConnectError(node.name, "connection refused", hint="is sshd running?")
        return self.nodes[node.name]

    def sleep(self, seconds: float) -> None:
        assert self.watch is not None
        for tracked in self.watch.tracked.values():
            if tracked.job is not None and tracked.job.future is not None:
                tracked.job.future.result(timeout=5)
        self.clock.now += max(seconds, 0.001)

    def make(self, *workloads: Workload, **options: object) -> Watch:
        manifest = Manifest(api_version="v1", workloads=tuple(sorted(workloads,
                                                                     key=lambda w: w.name)))
        pool = TransportPool(connector=self.connect)
        defaults: dict[str, object] = {"project": PROJECT, "duration": 30.0, "tick": 0.5}
        defaults.update(options)
        self.watch = Watch(manifest, self.inventory, pool, WatchOptions(**defaults),  # type: ignore[arg-type]
                           clock=self.clock, wall=self.clock, sleep=self.sleep,
                           on_event=self.events.append)
        return self.watch

    def run(self, *workloads: Workload, **options: object) -> WatchResult:
        return self.make(*workloads, **options).run()

    def kinds(self, workload: str) -> list[str]:
        return [e.kind for e in self.events if e.workload == workload]

    def events_of(self, workload: str, kind: str) -> list[WatchEvent]:
        return [e for e in self.events if e.workload == workload and e.kind == kind]


# --- restart policies -------------------------------------------------------------------------


def test_on_failure_exit_1_is_restarted_with_its_count() -> None:
    """The unchanged container is started again (same id, no rm + run); its restart count
    goes to the run record on the node (its label cannot change)."""
    bed = Bed()
    result = bed.run(wl("bridge", "job", "2", "1", policy=RestartPolicy.ON_FAILURE),
                     duration=3.0)
    node = bed.nodes["n1"]
    bringups = node.bringups_of("bridge")
    assert len(bringups) == 2  # created, then restarted once (the next crash is 2 s later)
    assert bringups[1] - 1002.0 <= 0.5  # crash at t=2 s: restart issued within one tick
    assert node.count("run") == 1 and node.count("start") == 1 and node.count("rm") == 0
    restarts = bed.events_of("bridge", "restart")
    assert len(restarts) == 1 and "ON_FAILURE restarts Failed(ExecFailed)" in restarts[0].reason
    assert "(restart #1)" in restarts[0].reason
    assert node.container("bridge").labels["ankplan.restart-count"] == "0"
    assert node.restart_count("bridge") == 1 and bed.watch.views()[0].restarts == 1
    assert result.restarts == 1 and not result.gave_up


def test_a_changed_spec_is_restarted_by_replacing() -> None:
    """A crashed container whose spec no longer matches the manifest is re-created with the
    new spec (rm + run), with the next restart count in its label."""
    bed = Bed()
    watch = bed.make(wl("bridge", "job", "1", "1", policy=RestartPolicy.ON_FAILURE),
                     backoff=BackoffPolicy(delays=(0, 60)), duration=30.0)
    watch.tick()
    bed.sleep(1.5)
    watch.tick()  # sees the exit: started again
    bed.sleep(1.5)
    node = bed.nodes["n1"]
    first = node.container("bridge").id
    assert node.count("start") == 1 and node.restart_count("bridge") == 1
    changed = bed.make(wl("bridge", "job", "9", "1", policy=RestartPolicy.ON_FAILURE),
                       backoff=BackoffPolicy(delays=(0,)), duration=30.0)
    changed.tick()
    bed.sleep(0.5)
    now = node.container("bridge")
    assert now.id != first and node.count("rm") == 1 and node.count("start") == 1
    assert now.args == ("job", "9", "1") and now.labels["ankplan.restart-count"] == "2"
    assert node.restart_count("bridge") == 2


def test_on_failure_exit_0_is_left_succeeded_and_stable() -> None:
    bed = Bed()
    result = bed.run(wl("batch", "job", "1", "0", policy=RestartPolicy.ON_FAILURE),
                     until_stable=True, settle=2.0, duration=30.0)
    assert len(bed.nodes["n1"].runs_of("batch")) == 1
    assert result.stable and result.elapsed < 5.0
    assert bed.events_of("batch", "state")[-1].to_state == "Succeeded(Ok)"


def test_always_restarts_after_clean_exit_and_after_stop() -> None:
    bed = Bed()
    watch = bed.make(wl("router", "serve", policy=RestartPolicy.ALWAYS), duration=4.0)
    watch.tick()  # creates it
    bed.sleep(0.5)
    watch.tick()
    node = bed.nodes["n1"]
    node.run(("podman", "stop", "--", node.container("router").id), timeout=5)  # by hand
    first = node.container("router").id
    watch.run()
    assert len(node.bringups_of("router")) == 2 and node.container("router").id == first
    restart = bed.events_of("router", "restart")[0]
    assert restart.from_state == "Succeeded(Ok)" and "ALWAYS" in restart.reason


def test_never_is_left_alone() -> None:
    bed = Bed()
    result = bed.run(wl("setup", "job", "1", "3"), until_stable=True, settle=1.0)
    assert len(bed.nodes["n1"].runs_of("setup")) == 1
    assert result.stable and result.restarts == 0
    assert bed.events_of("setup", "state")[-1].to_state == "Failed(ExecFailed)"


# --- back-off and giving up ---------------------------------------------------------------------


def test_crash_loop_backs_off_on_schedule() -> None:
    bed = Bed()
    bed.run(wl("flaky", "job", "0", "1", policy=RestartPolicy.ON_FAILURE),
            backoff=BackoffPolicy(delays=(0, 1, 2, 3)), duration=20.0)
    runs = bed.nodes["n1"].bringups_of("flaky")
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(runs)]
    # each container dies at once; the crash is seen on the next tick (0.5 s), then the delay
    assert gaps[:5] == [0.5, 1.5, 2.5, 3.5, 3.5]
    backoffs = bed.events_of("flaky", "backoff")
    assert backoffs and "crash-looping" in backoffs[0].reason and "next restart in" in (
        backoffs[0].reason)


def test_live_view_shows_next_restart() -> None:
    bed = Bed()
    watch = bed.make(wl("flaky", "job", "0", "1", policy=RestartPolicy.ALWAYS),
                     backoff=BackoffPolicy(delays=(0, 10)))
    for _ in range(4):
        watch.tick()
        bed.sleep(0.5)
    view = watch.views()[0]
    assert view.state == "Failed(ExecFailed)" and view.restarts == 1
    assert view.next_restart_in is not None and 8.0 <= view.next_restart_in <= 10.0


def test_max_restarts_gives_up() -> None:
    bed = Bed()
    result = bed.run(wl("flaky", "job", "0", "1", policy=RestartPolicy.ON_FAILURE),
                     backoff=BackoffPolicy(delays=(0,), max_restarts=2), until_stable=True,
                     settle=1.0)
    assert result.gave_up == ("flaky",) and result.restarts == 2
    assert len(bed.nodes["n1"].bringups_of("flaky")) == 3
    assert "gave up after 2 restart(s)" in bed.events_of("flaky", "give-up")[0].reason


# --- plan-driven actions ------------------------------------------------------------------------


def test_container_removed_by_hand_is_recreated_with_its_count() -> None:
    bed = Bed()
    watch = bed.make(wl("cam", "job", "1", "1", policy=RestartPolicy.ON_FAILURE), duration=3.0)
    for _ in range(4):
        watch.tick()
        bed.sleep(0.5)
    node = bed.nodes["n1"]
    assert node.restart_count("cam") == 1  # started again: counted in its run record
    node.containers.clear()  # podman rm -f by hand
    watch.tick()
    assert bed.events_of("cam", "state")[-1].to_state == "Failed(Lost)"
    assert bed.events_of("cam", "create")[-1].reason.startswith("no container")
    bed.sleep(0.5)
    watch.tick()
    assert node.container("cam").labels["ankplan.restart-count"] == "1"


def test_dependents_start_in_order_across_nodes() -> None:
    bed = Bed()
    router = wl("router", "serve", policy=RestartPolicy.ALWAYS)
    bridge = wl("bridge", "serve", agent="agent_B", needs={"router": AddCondition.RUNNING})
    result = bed.run(router, bridge, until_stable=True, settle=1.0)
    assert result.stable
    assert bed.nodes["n1"].runs_of("router")[0] < bed.nodes["n2"].runs_of("bridge")[0]
    create = bed.events_of("bridge", "create")[0]
    assert "router is Running(Ok)" in create.reason


def test_fallback_started_when_primary_fails() -> None:
    bed = Bed()
    primary = wl("primary", "job", "2", "1")
    fallback = wl("fallback", "serve", agent="agent_B", needs={"primary": AddCondition.FAILED})
    result = bed.run(primary, fallback, until_stable=True, settle=3.0)
    runs = bed.nodes["n2"].runs_of("fallback")
    assert len(runs) == 1 and runs[0] >= 1002.0
    assert "primary is Failed(ExecFailed)" in bed.events_of("fallback", "create")[0].reason
    assert result.stable


def test_fallback_stands_by_while_primary_runs() -> None:
    bed = Bed()
    primary = wl("primary", "serve")
    fallback = wl("fallback", "serve", agent="agent_B", needs={"primary": AddCondition.FAILED})
    result = bed.run(primary, fallback, until_stable=True, settle=1.0)
    assert result.stable and not bed.nodes["n2"].runs_of("fallback")
    view = {v.workload: v for v in bed.watch.views()}["fallback"]
    assert view.state == "Pending(WaitingToStart)" and "stands by" in view.info


def test_router_restart_leaves_dependents_alone() -> None:
    bed = Bed()
    router = wl("router", "serve", policy=RestartPolicy.ALWAYS)
    bridge = wl("bridge", "serve", agent="agent_B", policy=RestartPolicy.ON_FAILURE,
                needs={"router": AddCondition.RUNNING})
    watch = bed.make(router, bridge, duration=5.0)
    for _ in range(4):
        watch.tick()
        bed.sleep(0.5)
    bridge_id = bed.nodes["n2"].container("bridge").id
    router_node = bed.nodes["n1"]
    router_node.containers[router_node.container("router").id].args = ("job", "0", "137")
    watch.run()
    assert len(router_node.bringups_of("router")) == 2
    assert bed.nodes["n2"].container("bridge").id == bridge_id
    assert "restart" not in bed.kinds("bridge")


# --- health -------------------------------------------------------------------------------------


def test_failing_health_check_leads_to_restart() -> None:
    bed = Bed()
    options = ("--health-cmd", "stub health-file /tmp/ok", "--health-interval", "1s",
               "--health-retries", "2")
    watch = bed.make(wl("web", "serve", policy=RestartPolicy.ON_FAILURE, options=options),
                     duration=6.0)
    for _ in range(3):
        watch.tick()
        bed.sleep(0.5)
    node = bed.nodes["n1"]
    node.healthy["web"] = False
    failing_since = bed.clock.now
    watch.run()
    restart = bed.events_of("web", "restart")[0]
    assert "unhealthy: health check failed 2 consecutive times (unhealthy)" in restart.reason
    assert restart.time - failing_since <= 2.5  # two checks 1 s apart, then the next tick
    first_id = next(argv[-1] for _, argv in node.calls if argv[1] == "healthcheck")
    checks = [when for when, argv in node.calls if argv[1] == "healthcheck" and first_id in argv]
    assert len(checks) >= 3 and all(b - a >= 1.0 for a, b in itertools.pairwise(checks))


# --- nodes, stability, interruption, cost -------------------------------------------------------


def test_unreachable_node_shows_agent_disconnected_and_nothing_runs_there() -> None:
    bed = Bed()
    bed.down.add("n2")
    result = bed.run(wl("a", "serve"), wl("b", "serve", agent="agent_B"), until_stable=True,
                     duration=3.0, settle=1.0)
    assert not result.stable  # a node that cannot be seen is never stable
    views = {v.workload: v for v in bed.watch.views()}
    assert views["b"].state == "AgentDisconnected"
    assert views["b"].info == "node unreachable: connection refused"
    assert bed.nodes["n1"].runs_of("a") and not bed.nodes["n2"].calls


def test_not_stable_before_duration() -> None:
    bed = Bed()
    result = bed.run(wl("flaky", "job", "0", "1", policy=RestartPolicy.ALWAYS),
                     until_stable=True, duration=4.0)
    assert not result.stable and 4.0 <= result.elapsed < 5.0


def test_cancel_ends_the_loop_and_leaves_containers() -> None:
    bed = Bed()
    cancel = threading.Event()
    watch = bed.make(wl("a", "serve"), duration=None)
    watch.cancel = cancel
    ticks = []
    watch.on_tick = lambda views: (ticks.append(1), len(ticks) >= 3 and cancel.set())
    result = watch.run()
    assert result.interrupted and result.ticks == 3
    node = bed.nodes["n1"]
    assert node.container("a") is not None and node.count("stop") == 0 and node.count("rm") == 0


def test_one_ps_per_node_per_tick() -> None:
    bed = Bed()
    result = bed.run(wl("a", "serve"), wl("b", "serve", agent="agent_B"), duration=5.0)
    for node in bed.nodes.values():
        assert node.count("ps") == result.ticks


def test_event_json_shape() -> None:
    event = WatchEvent(time=1.23456, node="n1", workload="a", from_state="",
                       to_state="Running(Ok)", reason="", kind="state")
    assert event.as_json() == {"time": 1.235, "node": "n1", "workload": "a", "from": None,
                               "to": "Running(Ok)", "reason": "", "kind": "state"}


def test_stable_once_a_slow_action_ends_after_its_container_was_seen() -> None:
    bed = Bed()
    node = bed.nodes["n1"]
    node.gate = threading.Event()
    watch = bed.make(wl("a", "serve"), until_stable=True, settle=1.0)
    watch.tick()  # submits the create; podman run hangs after making the container
    bed.clock.now += 0.5
    watch.tick()  # sees the container running while the action is still in flight
    assert watch.views()[0].state == "Running(Ok)" and not watch.is_stable()
    bed.clock.now += 0.1
    node.gate.set()  # podman run returns now, after that observation began
    bed.sleep(0.4)
    for _ in range(4):  # same state, same container from here on
        watch.tick()
        bed.sleep(0.5)
    assert watch.is_stable()


def test_failing_create_backs_off_instead_of_retrying_every_tick() -> None:
    bed = Bed()
    bed.run(wl("broken", "badimage"), duration=20.0)
    attempts = [when - 1000.0 for when in bed.nodes["n1"].runs_of("broken")]
    assert len(attempts) == 3, attempts  # at 0, 5 and 15 s (guide: 5, 10, 20, 30 s apart)
    assert attempts[1] - attempts[0] >= 5.0 and attempts[2] - attempts[1] >= 10.0
    errors = bed.events_of("broken", "error")
    assert "image not known (failure #1; next try in 4.5s)" in errors[0].reason  # seen 0.5 s on
    assert not bed.events_of("broken", "restart")  # a failed create is not a crash


def test_half_made_pods_do_not_count_as_the_finished_action() -> None:
    """An observation begun while `kube play` ran may show the pods created but not started:
    the workload stays busy (no spurious `start`); a plain container counts as before."""
    def seen(container_id: str, state: str) -> bool:
        job = Job(action=Action(kind=ActionKind.CREATE, node_name="n", workload_name="w",
                                reason=Reason.NOT_FOUND), container_id=container_id)
        entry = ObservedContainer(id=container_id, name="w", node_name="n", image="i",
                                  state=state)
        return _shows(LiveState(nodes=(NodeObservation(node_name="n", containers=(entry,)),)),
                      job)

    assert not seen("pods:p1", "created")
    assert seen("pods:p1", "running") and seen("pods:p1", "exited")
    assert seen("c1", "created") and seen("c1", "running")


# --- a node that stopped everything -------------------------------------------------------------


def test_node_stop_brings_everything_back_in_order_whatever_the_policy() -> None:
    """`podman stop -a`: router (ALWAYS) is killed (137), app (ON_FAILURE) and viewer (NEVER)
    exit 0. All three come back with `podman start`, each after what it depends on, even
    once router runs again and the rest no longer looks stopped by the node."""
    bed = Bed()
    watch = bed.make(wl("router", "serve", policy=RestartPolicy.ALWAYS),
                     wl("app", "serve", policy=RestartPolicy.ON_FAILURE,
                        needs={"router": AddCondition.RUNNING}),
                     wl("viewer", "serve", needs={"app": AddCondition.RUNNING}), duration=None)
    for _ in range(6):
        watch.tick()
        bed.sleep(0.5)
    node = bed.nodes["n1"]
    assert [s for s in (v.state for v in watch.views())] == ["Running(Ok)"] * 3
    bed.clock.now += 100  # running for a while, then the node stops everything at once
    for container in node.containers.values():
        container.stopped = bed.clock.now
        container.stop_code = 137 if container.name == "router" else 0
    stop_at = len(node.calls)
    for _ in range(12):
        watch.tick()
        bed.sleep(0.5)
    starts = [(when, argv[-1]) for when, argv in node.calls[stop_at:] if argv[1] == "start"]
    names = {c.id: c.name for c in node.containers.values()}
    assert [names[container] for _, container in starts] == ["router", "app", "viewer"]
    assert starts[0][0] < starts[1][0] < starts[2][0]  # each after its dependency runs
    assert node.count("run") == 3 and node.count("rm") == 0  # started again, not replaced
    assert [v.state for v in watch.views()] == ["Running(Ok)"] * 3
    assert not bed.events_of("router", "restart")  # the node's stop, not router's policy
    assert "the node stopped all 3 containers" in bed.events_of("viewer", "start")[0].reason


def test_a_plan_start_by_policy_keeps_watchs_back_off() -> None:
    """The plan starts an exited ON_FAILURE container (apply's rule); watch does not take that
    step as it comes, it restarts by its own back-off (the same rule, planner/restarts.py),
    with the plan's `podman start` of the same container."""
    bed = Bed()
    bed.run(wl("flaky", "job", "0", "1", policy=RestartPolicy.ON_FAILURE),
            backoff=BackoffPolicy(delays=(0, 3)), duration=6.0)
    node = bed.nodes["n1"]
    assert node.count("run") == 1 and node.count("rm") == 0
    starts = node.bringups_of("flaky")
    assert [round(b - a, 1) for a, b in itertools.pairwise(starts)][:2] == [0.5, 3.5]
