"""planner.graph: edges, cycles, topological order, waves, critical path, closures."""

from __future__ import annotations

import itertools
import random
import sys

import pytest

from ankplan.errors import DependencyCycleError
from ankplan.model import AddCondition, Dependency, Workload
from ankplan.planner import graph

RUN, OK, FAIL = AddCondition.RUNNING, AddCondition.SUCCEEDED, AddCondition.FAILED


def workload(name: str, *deps: str | tuple[str, AddCondition]) -> Workload:
    pairs = [(dep, RUN) if isinstance(dep, str) else dep for dep in deps]
    return Workload(name=name, agent="a", runtime="podman", runtime_config_text="image: x",
                    runtime_config=None,
                    dependencies=tuple(Dependency(workload_name=dep, condition=condition)
                                       for dep, condition in sorted(pairs)))


POLICE = [
    workload("zenoh-router"),
    workload("carla-spawner", "zenoh-router"),
    workload("kuksa-bridge", "zenoh-router", "carla-spawner"),
    workload("camera-bridge", "zenoh-router", "carla-spawner"),
    workload("camera-websocket", "camera-bridge"),
    workload("police-websocket", "kuksa-bridge"),
]


def test_dependency_graph_edges_run_from_dependency_to_dependent() -> None:
    result = graph.dependency_graph([workload("app", ("db", OK), "ghost"), workload("db")])
    assert sorted(result.nodes) == ["app", "db"]
    assert list(result.edges(data="condition")) == [("db", "app", OK)]


def test_police_waves_follow_the_guide() -> None:
    assert graph.start_waves(POLICE) == (
        ("zenoh-router",), ("carla-spawner",), ("camera-bridge", "kuksa-bridge"),
        ("camera-websocket", "police-websocket"))


def test_topological_order_is_dependencies_first_and_by_name() -> None:
    assert graph.topological_order(POLICE) == (
        "zenoh-router", "carla-spawner", "camera-bridge", "camera-websocket", "kuksa-bridge",
        "police-websocket")
    assert graph.topological_order([workload("b"), workload("a"), workload("c")]) == (
        "a", "b", "c")


def test_critical_path_ties_go_to_smaller_names() -> None:
    assert graph.critical_path(POLICE) == ("zenoh-router", "carla-spawner", "camera-bridge",
                                           "camera-websocket")
    assert graph.critical_path([]) == ()
    assert graph.critical_path([workload("b"), workload("a")]) == ("a",)


def test_find_cycle_is_deterministic_and_shortest() -> None:
    workloads = [workload("a", "b"), workload("b", "c", "a"), workload("c", "a")]
    assert graph.find_cycle(workloads) == ("a", "b", "a")
    for order in itertools.permutations(workloads):
        assert graph.find_cycle(list(order)) == ("a", "b", "a")
    assert graph.find_cycle(POLICE) is None
    assert graph.find_cycle([workload("s", "s")]) == ("s", "s")


def test_three_cycle_reads_as_depends_on() -> None:
    assert graph.find_cycle([workload("a", "b"), workload("b", "c"), workload("c", "a")]) == (
        "a", "b", "c", "a")


def test_cycle_raises_from_order_waves_and_critical_path() -> None:
    workloads = [workload("a", "b"), workload("b", "a")]
    for function in (graph.topological_order, graph.start_waves, graph.critical_path):
        with pytest.raises(DependencyCycleError) as raised:
            function(workloads)
        assert raised.value.cycle == ("a", "b", "a")
        assert str(raised.value) == "dependency cycle: a -> b -> a"


def test_closures() -> None:
    assert graph.with_dependencies(POLICE, ["police-websocket"]) == {
        "police-websocket", "kuksa-bridge", "carla-spawner", "zenoh-router"}
    assert graph.with_dependents(POLICE, ["kuksa-bridge"]) == {"kuksa-bridge", "police-websocket"}
    assert graph.with_dependents(POLICE, ["unknown"]) == {"unknown"}


def test_unknown_dependencies_are_not_nodes() -> None:
    workloads = [workload("app", "ghost")]
    assert graph.start_waves(workloads) == (("app",),)
    assert graph.with_dependencies(workloads, ["app"]) == {"app"}


def test_large_random_dag_matches_brute_force_properties() -> None:
    rng = random.Random(7)
    names = [f"w{index:03d}" for index in range(300)]
    workloads = [workload(name, *rng.sample(names[:index], min(index, rng.randint(0, 3))))
                 for index, name in enumerate(names)]
    order = graph.topological_order(workloads)
    position = {name: index for index, name in enumerate(order)}
    for item in workloads:
        assert all(position[dep] < position[item.name] for dep in item.dependency_names())
    waves = graph.start_waves(workloads)
    wave_of = {name: index for index, wave in enumerate(waves) for name in wave}
    for item in workloads:
        expected = max((wave_of[dep] + 1 for dep in item.dependency_names()), default=0)
        assert wave_of[item.name] == expected
    assert len(graph.critical_path(workloads)) == len(waves)


def test_long_chain_has_no_recursion_limit() -> None:
    count = sys.getrecursionlimit() + 500
    workloads = [workload("w0")] + [workload(f"w{i}", f"w{i - 1}") for i in range(1, count)]
    assert len(graph.critical_path(workloads)) == count
    ring = workloads[1:] + [workload("w0", f"w{count - 1}")]
    cycle = graph.find_cycle(ring)
    assert cycle is not None and len(cycle) == count + 1


def test_only_graph_imports_networkx() -> None:
    from pathlib import Path
    source = Path(graph.__file__).resolve().parents[1]
    importers = [str(path.relative_to(source)) for path in source.rglob("*.py")
                 if "import networkx" in path.read_text() or "from networkx" in path.read_text()]
    assert importers == ["planner/graph.py"]
