"""Which runtimes ankplan runs, and the state of a workload it cannot start.

Pure: no I/O. As in Ankaios, a workload whose runtime the node does not offer fails alone:
it is `Pending(StartingFailed)` ('Unsupported Runtime'), the rest of the manifest is applied,
and its dependents cannot start either (their condition can never hold).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from ankplan.model import Action, ActionKind, ExecutionState, Manifest, State, SubState, Workload
from ankplan.planner.liveindex import NodeLookup

SUPPORTED_RUNTIMES = ("podman", "podman-kube")


def unsupported_runtime(workload: Workload) -> str:
    """Why the workload cannot start because of its runtime, or "" when ankplan runs it."""
    if workload.runtime in SUPPORTED_RUNTIMES:
        return ""
    supported = " and ".join(SUPPORTED_RUNTIMES)
    return f"Unsupported Runtime {workload.runtime!r} (ankplan runs {supported})"


def starting_failed(info: str) -> ExecutionState:
    """`Pending(StartingFailed)` with `info`."""
    return ExecutionState(state=State.PENDING, sub_state=SubState.STARTING_FAILED, info=info)


def is_starting_failed(state: ExecutionState) -> bool:
    """True for `Pending(StartingFailed)`: the workload cannot start without a new manifest."""
    return (state.state, state.sub_state) == (State.PENDING, SubState.STARTING_FAILED)


def _dependents(manifest: Manifest, names: Collection[str]) -> dict[str, set[str]]:
    """name -> every workload that depends on it, directly or through others."""
    direct: dict[str, set[str]] = {}
    for workload in manifest.workloads:
        for dependency in workload.dependency_names():
            direct.setdefault(dependency, set()).add(workload.name)
    closure: dict[str, set[str]] = {}
    for name in names:
        seen: set[str] = set()
        todo = list(direct.get(name, ()))
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(direct.get(current, ()))
        closure[name] = seen
    return closure


def starting_failed_lines(manifest: Manifest, nodes: NodeLookup, selected: frozenset[str]
                     ) -> tuple[tuple[str, ...], dict[str, set[str]]]:
    """Lines for the workloads that cannot start (unsupported runtime), and each one's
    dependents, which cannot start either."""
    failing = {w.name: (w, why) for w in manifest.workloads
               if w.name in selected and w.agent and (why := unsupported_runtime(w))
               and nodes.node_for_agent(w.agent) is not None}
    dependents = _dependents(manifest, failing)
    lines = []
    for name, (workload, why) in sorted(failing.items()):
        node = nodes.node_for_agent(workload.agent)
        after = sorted(dependents[name])
        tail = f"; so do its dependents {', '.join(after)}" if after else ""
        lines.append(f"{node.name if node else '?'}/{name}: {why}: it stays "
                     f"Pending(StartingFailed){tail}")
    return tuple(lines), dependents


def note_failed_dependencies(actions: list[Action],
                              dependents: dict[str, set[str]]) -> list[Action]:
    """Say on each bring-up of a dependent that it will not start (its dependency cannot)."""
    blocked: dict[str, list[str]] = {}
    for failed, names in dependents.items():
        for name in names:
            blocked.setdefault(name, []).append(failed)
    noted = []
    for action in actions:
        if action.kind in (ActionKind.CREATE, ActionKind.REPLACE, ActionKind.START) and (
                action.workload_name in blocked):
            causes = ", ".join(sorted(blocked[action.workload_name]))
            action = replace(action, details=action.details + (
                f"will not start: it depends on {causes}, which cannot start",))
        noted.append(action)
    return noted
