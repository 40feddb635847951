"""Renders the dependency graph of a manifest: start waves, edges with their conditions and the
critical path, as text, Graphviz dot, Mermaid or JSON.

Pure: returns strings; the CLI prints them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ankplan.model import Manifest
from ankplan.planner.graph import critical_path, start_waves

FORMATS = ("text", "dot", "mermaid", "json")
JSON_FORMAT_VERSION = 1


def render_graph(view: GraphView, fmt: str) -> str:
    """The graph in format `fmt`, one of FORMATS."""
    renderers = {"text": render_text, "dot": render_dot, "mermaid": render_mermaid,
                 "json": render_json}
    return renderers[fmt](view)


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphView:
    """What every format shows, computed once."""

    manifest: Manifest
    waves: tuple[tuple[str, ...], ...]
    edges: tuple[tuple[str, str, str], ...]  # (dependency, dependent, ADD_COND_*), sorted
    critical: tuple[str, ...]


def graph_view(manifest: Manifest) -> GraphView:
    """Waves, edges and critical path of a loaded (hence acyclic) manifest."""
    names = set(manifest.names())
    edges = sorted((dependency.workload_name, workload.name, dependency.condition.value)
                   for workload in manifest.workloads for dependency in workload.dependencies
                   if dependency.workload_name in names)
    return GraphView(manifest=manifest, waves=start_waves(manifest.workloads),
                     edges=tuple(edges), critical=critical_path(manifest.workloads))


def _short(condition: str) -> str:
    return condition.removeprefix("ADD_COND_")


def render_text(view: GraphView) -> str:
    """Human-readable waves, dependencies and critical path."""
    workloads = view.manifest.workloads
    counts = (f"{len(workloads)} workloads, {len(view.edges)} dependencies, "
              f"{len(view.waves)} start waves")
    lines = [counts, "", "Start waves:"]
    for index, wave in enumerate(view.waves):
        lines.append(f"  wave {index}: {', '.join(_label(view, name) for name in wave)}")
    lines += ["", "Dependencies (dependency -> dependent, condition):"]
    width = max((len(dep) + len(dependent) for dep, dependent, _ in view.edges), default=0) + 4
    for dep, dependent, condition in view.edges:
        lines.append(f"  {f'{dep} -> {dependent}':<{width}}  {_short(condition)}")
    if not view.edges:
        lines.append("  (none)")
    lines += ["", f"Critical path ({len(view.critical)} workloads): "
              + " -> ".join(view.critical)]
    return "\n".join(lines) + "\n"


def _label(view: GraphView, name: str) -> str:
    workload = view.manifest.workload(name)
    if workload is not None and workload.agent == "":
        return f"{name} (not scheduled)"
    return name


def render_dot(view: GraphView) -> str:
    """Graphviz dot; edges on the critical path are bold."""
    on_path = set(zip(view.critical, view.critical[1:]))
    lines = ["digraph ankplan {", "  rankdir=LR;", "  node [shape=box];"]
    for workload in view.manifest.workloads:
        detail = f"{workload.agent or 'not scheduled'}, {workload.restart_policy.value}"
        label = _quote(workload.name + "\n" + detail)
        lines.append(f"  {_quote(workload.name)} [label={label}];")
    for dep, dependent, condition in view.edges:
        style = ", penwidth=2" if (dep, dependent) in on_path else ""
        style += ", style=dashed" if condition.endswith("FAILED") else ""
        lines.append(f"  {_quote(dep)} -> {_quote(dependent)} "
                     f"[label={_quote(_short(condition))}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_mermaid(view: GraphView) -> str:
    """A Mermaid flowchart; node ids are w0, w1, ... with the workload name as label."""
    ids = {workload.name: f"w{index}" for index, workload in enumerate(view.manifest.workloads)}
    lines = ["flowchart LR"]
    for workload in view.manifest.workloads:
        lines.append(f'  {ids[workload.name]}["{workload.name}"]')
    for dep, dependent, condition in view.edges:
        arrow = "-.->" if condition.endswith("FAILED") else "-->"
        lines.append(f"  {ids[dep]} {arrow}|{_short(condition)}| {ids[dependent]}")
    return "\n".join(lines) + "\n"


def render_json(view: GraphView) -> str:
    """A stable JSON document (format_version 1)."""
    wave_of = {name: index for index, wave in enumerate(view.waves) for name in wave}
    document = {
        "format_version": JSON_FORMAT_VERSION,
        "workloads": [{"name": workload.name, "agent": workload.agent,
                       "runtime": workload.runtime,
                       "restart_policy": workload.restart_policy.value,
                       "wave": wave_of[workload.name]} for workload in view.manifest.workloads],
        "edges": [{"from": dep, "to": dependent, "condition": condition}
                  for dep, dependent, condition in view.edges],
        "waves": [list(wave) for wave in view.waves],
        "critical_path": list(view.critical),
    }
    return json.dumps(document, indent=2) + "\n"
