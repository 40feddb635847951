"""Scale of the pure planner and graph: 5,000 workloads over 100 nodes, growth up to 10,000;
and the plain-Python graph functions the planner uses, checked against networkx.

The bounds are generous (this runs on a shared 2-core machine) but still catch a quadratic
step: one scan of all containers per workload makes 10k/1k about 100x, and 5k take seconds.
benchmarks/bench_scale.py prints the actual figures.
"""

from __future__ import annotations

import gc
import importlib.util
import random
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from ankplan.cli.views.plan import render_plan_json, render_plan_text
from ankplan.errors import DependencyCycleError
from ankplan.model import ActionKind, AddCondition, Dependency, Reason, Workload
from ankplan.planner import graph
from ankplan.planner.plan import plan

SYNTHETIC = Path(__file__).resolve().parents[2] / "benchmarks" / "synthetic.py"


def _load_synthetic() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ankplan_bench_synthetic", SYNTHETIC)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


synthetic = _load_synthetic()


def best_time(work: Callable[[], object], repeat: int = 3) -> float:
    """Fastest of `repeat` runs: the least disturbed by other work on the machine."""
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


@pytest.fixture(scope="module")
def fleet_5k():  # type: ignore[no-untyped-def]
    return synthetic.scenario(5000, 100)


def test_5k_workloads_over_100_nodes_plan_correctly_and_quickly(fleet_5k) -> None:  # type: ignore[no-untyped-def]
    case = fleet_5k
    result = plan(case.manifest, case.inventory, case.live, project=synthetic.PROJECT)
    assert result.errors == ()
    assert dict(Counter(step.action.kind.value for step in result.steps)) == case.expected
    moved = [s.action for s in result.steps if s.action.reason is Reason.MOVED_NODE]
    assert len(moved) == 2 * 500  # 500 moved workloads: a create here and a removal there
    # The foreign container on every node is never in the plan.
    assert not any(s.action.workload_name == "" for s in result.steps)
    elapsed = best_time(lambda: plan(case.manifest, case.inventory, case.live,
                                     project=synthetic.PROJECT), repeat=2)
    assert elapsed < 3.0, f"planning 5,000 workloads took {elapsed:.2f} s"


def test_5k_plan_is_deterministic_and_ordered(fleet_5k) -> None:  # type: ignore[no-untyped-def]
    case = fleet_5k
    first = plan(case.manifest, case.inventory, case.live, project=synthetic.PROJECT)
    second = plan(case.manifest, case.inventory, case.live, project=synthetic.PROJECT)
    assert first == second
    kinds = [step.action.kind for step in first.steps]
    last_removal = max(i for i, kind in enumerate(kinds) if kind is ActionKind.REMOVE)
    assert all(kind is ActionKind.REMOVE for kind in kinds[: last_removal + 1])
    position = {step.id: index for index, step in enumerate(first.steps)}
    assert all(position[dep] < position[step.id] for step in first.steps
               for dep in step.depends_on)


def test_5k_plan_memory_is_modest(fleet_5k) -> None:  # type: ignore[no-untyped-def]
    case = fleet_5k
    gc.collect()
    tracemalloc.start()
    try:
        plan(case.manifest, case.inventory, case.live, project=synthetic.PROJECT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100e6, f"planning 5,000 workloads peaked at {peak / 1e6:.0f} MB"


def test_5k_graph_and_rendering_are_quick(fleet_5k) -> None:  # type: ignore[no-untyped-def]
    case = fleet_5k
    workloads = case.manifest.workloads
    started = time.perf_counter()
    assert graph.find_cycles(workloads) == ()
    assert len(graph.topological_order(workloads)) == 5000
    assert len(graph.start_waves(workloads)) == synthetic.CHAIN
    assert len(graph.critical_path(workloads)) == synthetic.CHAIN
    result = plan(case.manifest, case.inventory, case.live, project=synthetic.PROJECT)
    text = render_plan_text(result, color=False)
    assert "Plan: " in text
    assert render_plan_json(result).startswith("{")
    elapsed = time.perf_counter() - started
    assert elapsed < 6.0, f"graph, plan and rendering of 5,000 workloads took {elapsed:.2f} s"


def test_planning_grows_about_linearly() -> None:
    small, large = synthetic.scenario(1000, 100), synthetic.scenario(10000, 100)

    def timed(case: object) -> float:
        return best_time(lambda: plan(case.manifest, case.inventory, case.live,  # type: ignore[attr-defined]
                                      project=synthetic.PROJECT))

    ratio = timed(large) / timed(small)
    assert ratio < 25, f"10x the workloads took {ratio:.1f}x the time (linear ~10x)"


def test_many_orphans_and_moves_stay_linear() -> None:
    """Every workload gone from the manifest (all removals) or moved: the paths that once
    scanned every container per workload."""
    case = synthetic.scenario(4000, 100)
    empty = type(case.manifest)(api_version="v1", workloads=())
    started = time.perf_counter()
    result = plan(empty, case.inventory, case.live, project=synthetic.PROJECT)
    elapsed = time.perf_counter() - started
    owned = sum(1 for o in case.live.nodes for c in o.containers if c.project)
    assert result.count(ActionKind.REMOVE) == owned
    assert elapsed < 3.0, f"removing {owned} containers planned in {elapsed:.2f} s"


# --- the plain-Python graph functions the planner uses agree with networkx -------------------


def _random_workloads(rng: random.Random, count: int) -> list[Workload]:
    """A random DAG (edges only to earlier names), some dependencies on unknown names, and a
    duplicated name now and then."""
    names = [f"w{rng.randrange(10 * count):04d}" for _ in range(count)]
    workloads = []
    for index, name in enumerate(names):
        earlier = names[:index]
        picks = set(rng.sample(earlier, min(len(earlier), rng.randrange(4))))
        if rng.random() < 0.1:
            picks.add("ghost")
        workloads.append(Workload(
            name=name, agent="a", runtime="podman", runtime_config_text="", runtime_config=None,
            dependencies=tuple(Dependency(workload_name=dep, condition=AddCondition.RUNNING)
                               for dep in sorted(picks))))
    return workloads


def test_topological_order_and_closures_match_networkx() -> None:
    import networkx

    rng = random.Random(11)
    for _ in range(200):
        workloads = _random_workloads(rng, rng.randrange(1, 40))
        digraph = graph.dependency_graph(workloads)
        if networkx.is_directed_acyclic_graph(digraph):
            assert graph.topological_order(workloads) == tuple(
                networkx.lexicographical_topological_sort(digraph))
        else:  # a duplicated name can close a cycle
            with pytest.raises(DependencyCycleError):
                graph.topological_order(workloads)
        names = rng.sample(sorted(digraph.nodes), min(3, len(digraph))) + ["ghost"]
        ancestors = set(names).union(*(networkx.ancestors(digraph, n) for n in names
                                       if n in digraph))
        descendants = set(names).union(*(networkx.descendants(digraph, n) for n in names
                                         if n in digraph))
        assert graph.with_dependencies(workloads, names) == ancestors
        assert graph.with_dependents(workloads, names) == descendants
