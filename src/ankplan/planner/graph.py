"""The workloads' dependency graph: cycles, topological order, start waves and critical path.

Pure: no I/O. The only module that imports networkx (lazily: checking an acyclic manifest does
not need it, which keeps `ankplan validate` quick). Edges run from a dependency to its dependent
(start order); dependencies on names that are not workloads are left out of the graph.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ankplan.errors import DependencyCycleError
from ankplan.model import Workload

if TYPE_CHECKING:
    import networkx as nx  # type: ignore[import-untyped]


def _networkx() -> Any:
    import networkx

    return networkx


def dependency_graph(workloads: Sequence[Workload]) -> nx.DiGraph:
    """Directed graph dependency -> dependent; edge attribute `condition` is the AddCondition."""
    graph = _networkx().DiGraph()
    ordered = sorted(workloads, key=lambda workload: workload.name)
    graph.add_nodes_from(workload.name for workload in ordered)
    for workload in ordered:
        for dependency in workload.dependencies:
            if dependency.workload_name in graph:
                graph.add_edge(dependency.workload_name, workload.name,
                               condition=dependency.condition)
    return graph


def find_cycles(workloads: Sequence[Workload]) -> tuple[tuple[str, ...], ...]:
    """One cycle per group of mutually dependent workloads, each as find_cycle gives it."""
    if _is_acyclic(workloads):
        return ()
    graph = dependency_graph(workloads)
    cycles = []
    for component in _networkx().strongly_connected_components(graph):
        start = min(component)
        if len(component) > 1 or graph.has_edge(start, start):
            cycles.append(_shortest_cycle(graph, start, component))
    return tuple(sorted(cycles))


def find_cycle(workloads: Sequence[Workload]) -> tuple[str, ...] | None:
    """A dependency cycle such as ("a", "b", "c", "a") (a depends on b, ...), or None.

    Deterministic: starts at the smallest name on any cycle and takes the shortest way back.
    """
    cycles = find_cycles(workloads)
    return cycles[0] if cycles else None


def _is_acyclic(workloads: Sequence[Workload]) -> bool:
    """Kahn's algorithm in plain Python: True when every workload can be ordered."""
    names = {workload.name for workload in workloads}
    waiting = {workload.name: {dep.workload_name for dep in workload.dependencies
                               if dep.workload_name in names} for workload in workloads}
    dependents: dict[str, list[str]] = {name: [] for name in names}
    for name, dependencies in waiting.items():
        for dependency in dependencies:
            dependents[dependency].append(name)
    ready = [name for name, dependencies in waiting.items() if not dependencies]
    done = 0
    while ready:
        name = ready.pop()
        done += 1
        for dependent in dependents[name]:
            waiting[dependent].discard(name)
            if not waiting[dependent]:
                ready.append(dependent)
    return done == len(names)


def _shortest_cycle(graph: nx.DiGraph, start: str, component: set[str]) -> tuple[str, ...]:
    """Breadth-first along "depends on" (edges backwards) from `start` back to itself."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        name = queue.popleft()
        for dependency in sorted(graph.predecessors(name)):
            if dependency == start:
                chain = [name]
                while chain[-1] != start:
                    chain.append(parent[chain[-1]])
                return (start, *reversed(chain[:-1]), start) if name != start else (start, start)
            if dependency in component and dependency not in parent:
                parent[dependency] = name
                queue.append(dependency)
    raise AssertionError("component has no cycle")  # pragma: no cover - callers check


def topological_order(workloads: Sequence[Workload]) -> tuple[str, ...]:
    """Every workload name, dependencies first, ties broken by name.

    Raises DependencyCycleError when the dependencies form a cycle.
    """
    graph = dependency_graph(workloads)
    cycle = find_cycle(workloads)
    if cycle is not None:
        raise DependencyCycleError(cycle)
    return tuple(_networkx().lexicographical_topological_sort(graph))


def start_waves(workloads: Sequence[Workload]) -> tuple[tuple[str, ...], ...]:
    """Workloads grouped by how many dependency levels precede them; wave 0 has none."""
    graph = dependency_graph(workloads)
    level: dict[str, int] = {}
    for name in topological_order(workloads):
        level[name] = max((level[dep] + 1 for dep in graph.predecessors(name)), default=0)
    waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name, wave in level.items():
        waves[wave].append(name)
    return tuple(tuple(sorted(wave)) for wave in waves)


def critical_path(workloads: Sequence[Workload]) -> tuple[str, ...]:
    """The longest dependency chain, first dependency first; ties go to the smaller names."""
    graph = dependency_graph(workloads)
    best: dict[str, tuple[str, ...]] = {}
    for name in topological_order(workloads):
        chains = [best[dep] for dep in graph.predecessors(name)]
        longest = max((len(chain) for chain in chains), default=0)
        prefix = min((chain for chain in chains if len(chain) == longest), default=())
        best[name] = (*prefix, name)
    if not best:
        return ()
    longest = max(len(chain) for chain in best.values())
    return min(chain for chain in best.values() if len(chain) == longest)


def with_dependencies(workloads: Sequence[Workload], names: Iterable[str]) -> frozenset[str]:
    """`names` plus every workload they depend on, transitively."""
    graph = dependency_graph(workloads)
    chosen = set(names)
    for name in list(chosen):
        if name in graph:
            chosen |= _networkx().ancestors(graph, name)
    return frozenset(chosen)


def with_dependents(workloads: Sequence[Workload], names: Iterable[str]) -> frozenset[str]:
    """`names` plus every workload that depends on them, transitively."""
    graph = dependency_graph(workloads)
    chosen = set(names)
    for name in list(chosen):
        if name in graph:
            chosen |= _networkx().descendants(graph, name)
    return frozenset(chosen)
