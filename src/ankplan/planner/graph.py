"""The workloads' dependency graph: cycles, topological order, start waves and critical path.

Pure: no I/O. The only module that imports networkx, lazily, for `dependency_graph` and what
builds on it; acyclicity, topological order and closures are plain Python, so `validate` and
`plan` never pay for importing networkx. Edges run from a dependency to its dependent (start
order); dependencies on names that are not workloads are left out of the graph.
"""

from __future__ import annotations

import heapq
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
    depends = _dependencies(workloads)
    dependents = _dependents(depends)
    waiting = {name: len(dependencies) for name, dependencies in depends.items()}
    ready = [name for name, count in waiting.items() if count == 0]
    done = 0
    while ready:
        name = ready.pop()
        done += 1
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    return done == len(depends)


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


def _dependencies(workloads: Sequence[Workload]) -> dict[str, set[str]]:
    """Workload name -> the names it depends on that are workloads (the graph's in-edges)."""
    names = {workload.name for workload in workloads}
    depends: dict[str, set[str]] = {name: set() for name in names}
    for workload in workloads:
        depends[workload.name].update(dep.workload_name for dep in workload.dependencies
                                      if dep.workload_name in names)
    return depends


def _dependents(depends: dict[str, set[str]]) -> dict[str, set[str]]:
    """The in-edges of `_dependencies` turned around: name -> the names that depend on it."""
    dependents: dict[str, set[str]] = {name: set() for name in depends}
    for name, dependencies in depends.items():
        for dependency in dependencies:
            dependents[dependency].add(name)
    return dependents


def topological_order(workloads: Sequence[Workload]) -> tuple[str, ...]:
    """Every workload name, dependencies first, ties broken by name.

    The lexicographically smallest topological order (what networkx's
    lexicographical_topological_sort gives), computed in plain Python: `plan` needs it and
    should not pay for importing networkx. Raises DependencyCycleError on a cycle.
    """
    cycle = find_cycle(workloads)
    if cycle is not None:
        raise DependencyCycleError(cycle)
    depends = _dependencies(workloads)
    dependents = _dependents(depends)
    waiting = {name: len(dependencies) for name, dependencies in depends.items()}
    ready = [name for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    return tuple(order)


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


def _closure(start: Iterable[str], edges: dict[str, set[str]]) -> frozenset[str]:
    """`start` plus everything reachable from it along `edges`."""
    chosen = set(start)
    stack = [name for name in chosen if name in edges]
    while stack:
        for following in edges[stack.pop()]:
            if following not in chosen:
                chosen.add(following)
                stack.append(following)
    return frozenset(chosen)


def with_dependencies(workloads: Sequence[Workload], names: Iterable[str]) -> frozenset[str]:
    """`names` plus every workload they depend on, transitively."""
    return _closure(names, _dependencies(workloads))


def with_dependents(workloads: Sequence[Workload], names: Iterable[str]) -> frozenset[str]:
    """`names` plus every workload that depends on them, transitively."""
    return _closure(names, _dependents(_dependencies(workloads)))
