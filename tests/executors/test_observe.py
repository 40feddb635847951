"""observe_nodes / observe_node_info with a FakeTransport replaying recorded output."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ankplan.errors import ConnectError
from ankplan.executors.observe import observe_node_info, observe_nodes
from ankplan.executors.transport import CommandResult, StreamHandle, TransportPool
from ankplan.model import Node

FIXTURES = Path(__file__).parent.parent / "podman" / "fixtures" / "4.3.1"
PS = (FIXTURES / "ps.json").read_text()
INFO = (FIXTURES / "info.json").read_text()
IMAGES = (FIXTURES / "images.json").read_text()
STATS = (FIXTURES / "stats.json").read_text()


class FakeTransport:
    """Answers `ps` and `info` from recorded output; records argv; can be slow or failing."""

    def __init__(self, node: Node, *, delay: float = 0.0, exit_code: int = 0,
                 stderr: str = "") -> None:
        self.node = node
        self.delay = delay
        self.exit_code = exit_code
        self.stderr = stderr
        self.calls: list[tuple[str, ...]] = []
        self.failing: set[str] = set()  # podman subcommands that fail (exit 125)

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        self.calls.append(tuple(argv))
        time.sleep(self.delay)
        stdout = {"info": INFO, "images": IMAGES, "stats": STATS}.get(argv[1], PS)
        failing = self.exit_code or argv[1] in self.failing
        return CommandResult(exit_code=(self.exit_code or 125) if failing else 0,
                             stdout="" if failing else stdout, stderr=self.stderr,
                             duration=self.delay)

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> StreamHandle:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Fleet:
    """A connector handing out FakeTransports; some nodes fail to connect."""

    def __init__(self, *, unreachable: Sequence[str] = (), delay: float = 0.0,
                 broken_podman: Sequence[str] = ()) -> None:
        self.unreachable = set(unreachable)
        self.broken_podman = set(broken_podman)
        self.delay = delay
        self.transports: dict[str, FakeTransport] = {}
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def __call__(self, node: Node, *, accept_new_host_keys: bool) -> FakeTransport:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.delay)
        with self.lock:
            self.active -= 1
        if node.name in self.unreachable:
            raise ConnectError(node.name, "connection refused by h:22", "is sshd running?")
        broken = node.name in self.broken_podman
        transport = FakeTransport(node, exit_code=127 if broken else 0,
                                  stderr="bash: podman-nope: command not found" if broken else "")
        self.transports[node.name] = transport
        return transport


def nodes(count: int) -> list[Node]:
    return [Node(name=f"node{i}") for i in range(1, count + 1)]


def test_one_ps_per_node_and_every_container_parsed() -> None:
    fleet = Fleet()
    with TransportPool(connector=fleet) as pool:
        live = observe_nodes(pool, nodes(3))
    assert [o.node_name for o in live.nodes] == ["node1", "node2", "node3"]
    for transport in fleet.transports.values():
        assert transport.calls == [("podman", "ps", "--all", "--format", "json")]
    node2 = live.node("node2")
    assert node2 is not None and node2.reachable
    assert len(node2.containers) == 8
    assert {c.node_name for c in node2.containers} == {"node2"}
    assert {c.name for c in live.owned_containers("demo")} == {"fx-running", "fx-exit1",
                                                              "fx-created"}


class PodsTransport(FakeTransport):
    """A node running pods: `ps` and `pod ps` answered from recorded podman 4.3.1 output."""

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        self.calls.append(tuple(argv))
        name = "pod-ps.json" if "pod" in argv else "ps-pods.json"
        return CommandResult(exit_code=0, stdout=(FIXTURES / name).read_text(), stderr="",
                             duration=0.0)


def test_pods_on_a_node_add_one_pod_ps_and_fold_ankplan_pods() -> None:
    transport = PodsTransport(Node(name="node1"))
    with TransportPool(connector=lambda node, **_: transport) as pool:
        live = observe_nodes(pool, nodes(1))
    assert transport.calls == [("podman", "ps", "--all", "--format", "json"),
                               ("podman", "pod", "ps", "--format", "json")]
    owned = live.owned_containers("demo")
    assert sorted(c.name for c in owned) == ["bad,web", "crash"]
    assert all(c.id.startswith("pods:") and c.node_name == "node1" for c in owned)


def test_failing_nodes_do_not_hide_others() -> None:
    fleet = Fleet(unreachable=["node2"], broken_podman=["node3"])
    bad_podman = Node(name="node3", podman=("podman-nope",))
    with TransportPool(connector=fleet) as pool:
        live = observe_nodes(pool, [*nodes(2), bad_podman])
    node1, node2, node3 = live.nodes
    assert node1.reachable and len(node1.containers) == 8
    assert (node2.error, node2.hint) == ("connection refused by h:22", "is sshd running?")
    assert node2.containers == ()
    assert node3.error == "podman not installed (or wrong podman command 'podman-nope')"
    assert "inventory" in node3.hint


def test_nodes_observed_in_parallel_bounded_by_forks() -> None:
    fleet = Fleet(delay=0.2)
    started = time.monotonic()
    with TransportPool(connector=fleet) as pool:
        observe_nodes(pool, nodes(6), forks=3)
    elapsed = time.monotonic() - started
    assert fleet.peak == 3
    assert 0.35 < elapsed < 1.0  # two waves of 0.2 s, not six


def test_duplicate_nodes_observed_once() -> None:
    fleet = Fleet()
    with TransportPool(connector=fleet) as pool:
        live = observe_nodes(pool, [Node(name="a"), Node(name="a")])
    assert len(live.nodes) == 1
    assert len(fleet.transports["a"].calls) == 1


def test_observe_node_info() -> None:
    fleet = Fleet(unreachable=["node2"])
    with TransportPool(connector=fleet) as pool:
        infos = observe_node_info(pool, nodes(2))
    ok, failed = infos
    assert ok.ok and ok.reachable and ok.podman is not None
    assert (ok.podman.version, ok.podman.oci_runtime, ok.podman.rootless) == ("4.3.1", "runc",
                                                                              False)
    assert ok.owned_containers == 3
    assert fleet.transports["node1"].calls[0][1] == "info"
    assert not failed.ok and not failed.reachable and failed.podman is None
    assert failed.error == "connection refused by h:22"
    with TransportPool(connector=Fleet()) as pool:
        (other,) = observe_node_info(pool, nodes(1), project="other")
    assert other.owned_containers == 0


# --- images and stats beside ps --------------------------------------------------------------


def test_images_and_stats_read_beside_ps_in_one_round() -> None:
    fleet = Fleet()
    with TransportPool(connector=fleet) as pool:
        live = observe_nodes(pool, nodes(2), images=True, stats=True)
    for transport in fleet.transports.values():
        assert sorted(call[1] for call in transport.calls) == ["images", "ps", "stats"]
    node1 = live.node("node1")
    assert node1 is not None and len(node1.containers) == 8 and node1.warnings == ()
    assert node1.image_id("localhost/fx-app:v2").startswith("6613353211cf")
    assert node1.stats is not None and {s.id for s in node1.stats} >= {"11bbad06afa4"}


def test_extras_only_when_asked() -> None:
    fleet = Fleet()
    with TransportPool(connector=fleet) as pool:
        live = observe_nodes(pool, nodes(1))
    assert fleet.transports["node1"].calls == [("podman", "ps", "--all", "--format", "json")]
    assert live.nodes[0].images is None and live.nodes[0].stats is None


def test_extras_run_in_parallel_with_ps() -> None:
    class Slow(Fleet):
        def __call__(self, node: Node, *, accept_new_host_keys: bool) -> FakeTransport:
            transport = super().__call__(node, accept_new_host_keys=accept_new_host_keys)
            transport.delay = 0.3
            return transport

    with TransportPool(connector=Slow()) as pool:
        started = time.monotonic()
        observe_nodes(pool, nodes(1), images=True, stats=True)
        elapsed = time.monotonic() - started
    assert elapsed < 0.55  # three calls of 0.3 s at once, not 0.9 s one after the other


def test_failed_stats_is_a_warning_not_a_node_error() -> None:
    class StatsBroken(Fleet):
        def __call__(self, node: Node, *, accept_new_host_keys: bool) -> FakeTransport:
            transport = super().__call__(node, accept_new_host_keys=accept_new_host_keys)
            transport.failing = {"stats"}
            transport.stderr = "Error: unable to load cgroup at /sys/fs/cgroup/x: no such file"
            return transport

    with TransportPool(connector=StatsBroken()) as pool:
        live = observe_nodes(pool, nodes(1), images=True, stats=True)
    node1 = live.nodes[0]
    assert node1.reachable and len(node1.containers) == 8 and node1.images
    assert node1.stats is None
    (warning,) = node1.warnings
    assert warning.startswith("podman stats failed, so no resource use is shown: ")
    assert "unable to load cgroup" in warning
