"""`ankplan graph FILE...`: the dependency DAG, its start waves and critical path, as text,
Graphviz dot, Mermaid or JSON.

Does I/O: reads the manifests (through the loader) and writes to the Env's streams; the
renderers themselves are pure functions of the manifest.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.views.diagnostics import print_diagnostics
from ankplan.manifests.load import load_manifest
from ankplan.model import Manifest
from ankplan.planner.graph import critical_path, start_waves

FORMATS = ("text", "dot", "mermaid", "json")
JSON_FORMAT_VERSION = 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `graph` sub-command."""
    parser = subparsers.add_parser(
        "graph", help="show the dependency graph, start waves and critical path",
        description="Show the workloads' dependency graph: which start together (waves), "
                    "each dependency with its condition, and the longest chain.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="manifest file(s)")
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="text (default), dot (Graphviz), mermaid, or json")
    parser.add_argument("--agent", metavar="NAME",
                        help="agent for every workload, as `ank apply --agent NAME`")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Load the manifests (errors raise ManifestError) and print the graph."""
    manifest = load_manifest(args.files, agent_override=args.agent)
    if manifest.warnings:
        print_diagnostics(env, manifest.warnings, fmt="text")
    view = graph_view(manifest)
    renderers = {"text": render_text, "dot": render_dot, "mermaid": render_mermaid,
                 "json": render_json}
    env.stdout.write(renderers[args.format](view))
    return ExitStatus.SUCCESS


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
        lines.append(f"  {_quote(workload.name)} [label={_quote(workload.name + chr(10) + detail)}];")
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
