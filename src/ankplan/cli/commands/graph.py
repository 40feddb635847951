"""`ankplan graph FILE...`: the dependency DAG, its start waves and critical path, as text,
Graphviz dot, Mermaid or JSON.

Does I/O: reads the manifests (through the loader) and writes to the Env's streams; the
renderers are in cli/views/graph.py.
"""

from __future__ import annotations

import argparse

from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.options import (
    add_manifest_options,
    add_output_option,
    load_manifest_from_args,
    manifest_words,
)
from ankplan.cli.views.diagnostics import print_diagnostics
from ankplan.cli.views.graph import FORMATS, graph_view, render_graph


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `graph` sub-command."""
    parser = subparsers.add_parser(
        "graph", help="show the dependency graph, start waves and critical path",
        description="Show the workloads' dependency graph: which start together (waves), "
                    "each dependency with its condition, and the longest chain.")
    add_manifest_options(parser)
    add_output_option(parser, FORMATS, format_alias=True,
                      help="text, dot (Graphviz), mermaid, or json")
    parser.add_argument("--agent", metavar="NAME",
                        help="agent for every workload, as `ank apply --agent NAME`")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Load the manifests (errors raise ManifestError) and print the graph."""
    _, args.files = manifest_words(args)
    manifest = load_manifest_from_args(args, env)
    if manifest.warnings:
        print_diagnostics(env, manifest.warnings, fmt="text")
    env.stdout.write(render_graph(graph_view(manifest), args.output))
    return ExitStatus.SUCCESS
