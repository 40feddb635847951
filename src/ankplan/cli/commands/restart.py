"""`ankplan restart NAME... FILE... [--with-dependents]`: stop gracefully, start the same container.

Does I/O like apply: takes the node lock, observes the nodes, shows the plan, confirms, then
runs it through the apply engine (SIGTERM, SIGKILL after --stop-timeout, `podman start`).
Dependents keep running, as in Ankaios, unless --with-dependents restarts them too (stopped
first, started after their dependencies' conditions hold). Exit 0 when every restarted
workload runs (or finished) again, 1 otherwise, 130 interrupted.
"""

from __future__ import annotations

import argparse

from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.options import (
    add_apply_options,
    add_manifest_options,
    add_node_options,
    carry_out,
    load_inventory_from_args,
    load_manifest_from_args,
    lock_nodes,
    manifest_words,
    open_pool,
    project_name,
)
from ankplan.errors import AnkplanError
from ankplan.executors.observe import observe_nodes
from ankplan.model import Inventory, Manifest, Node
from ankplan.planner import graph
from ankplan.planner.restart import restart_plan, unknown_names


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `restart` sub-command."""
    parser = subparsers.add_parser(
        "restart", help="restart workloads: graceful stop, then start the same container",
        description="Stop each named workload's container gracefully (SIGTERM, SIGKILL after "
                    "--stop-timeout) and start the same container again, under the node lock. "
                    "Workloads that depend on it keep running, as in Ankaios; "
                    "--with-dependents restarts them too, stopping them first and starting "
                    "them after their dependencies, per their conditions.")
    add_manifest_options(parser, names_help="the workload name(s) to restart")
    parser.add_argument("--with-dependents", action="store_true",
                        help="also restart every workload that depends on them (transitively)")
    parser.add_argument("--agent", metavar="NAME", default=None,
                        help="run every workload on this agent (like `ank apply --agent`)")
    add_node_options(parser)
    add_apply_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Plan the restarts, show them, confirm, carry them out."""
    names, args.files = manifest_words(args, names=True)
    if not names:
        raise AnkplanError("no workload named", hint="e.g. `ankplan restart kuksa-bridge "
                                                     "examples/police/manifest.yaml`")
    manifest = load_manifest_from_args(args, env)
    unknown = unknown_names(manifest, names)
    if unknown:
        name, suggestion = unknown[0]
        raise AnkplanError(f"workload {name!r} is not in the manifest",
                           hint=suggestion or "workloads: " + ", ".join(manifest.names()))
    inventory = load_inventory_from_args(args)
    project = project_name(args, manifest)
    nodes = _nodes_of(manifest, inventory, names, args.with_dependents)
    with open_pool(args, env) as pool, lock_nodes(args, pool, nodes, project=project.name):
        # Every node: a restarted workload's dependencies may run anywhere.
        live = observe_nodes(pool, inventory.nodes, forks=args.forks, timeout=args.timeout)
        the_plan = restart_plan(manifest, inventory, live, project=project, names=names,
                                with_dependents=args.with_dependents)
        return carry_out(args, env, the_plan, manifest=manifest, inventory=inventory,
                         pool=pool, verb="Restart")


def _nodes_of(manifest: Manifest, inventory: Inventory, names: list[str],
              with_dependents: bool) -> list[Node]:
    """The nodes of the workloads that may be restarted (they are locked), by name."""
    chosen = graph.with_dependents(manifest.workloads, names) if with_dependents else set(names)
    nodes = {node.name: node for workload in manifest.workloads if workload.name in chosen
             and workload.agent and (node := inventory.node_for_agent(workload.agent))}
    return [nodes[name] for name in sorted(nodes)]
