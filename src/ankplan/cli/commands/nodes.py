"""`ankplan nodes`: check every inventory node before anything is planned.

Does I/O (connects to the nodes, runs `podman info` and `podman ps`); prints the report on
stdout (rendered by cli/views/nodes.py) and each failing node's error and hint on stderr.
Exit 1 when any node fails.
"""

from __future__ import annotations

import argparse
import json

from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.options import (
    add_node_options,
    add_output_option,
    explicit_project,
    load_inventory_from_args,
    open_pool,
)
from ankplan.cli.views.nodes import node_info_json, render_text
from ankplan.executors.observe import observe_node_info


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `nodes` sub-command."""
    parser = subparsers.add_parser(
        "nodes", help="check that every node is reachable and runs podman",
        description="Connect to every node of the inventory and report reachability, host "
                    "key, podman version, OCI runtime, rootful/rootless and how many "
                    "containers ankplan owns there.")
    add_node_options(parser)
    add_output_option(parser, ("text", "json"), help="report format")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Check the nodes and print the report."""
    inventory = load_inventory_from_args(args)
    with open_pool(args, env) as pool:
        infos = observe_node_info(pool, inventory.nodes, forks=args.forks, timeout=args.timeout,
                                  project=explicit_project(args))
    if args.output == "json":
        env.stdout.write(json.dumps({"inventory": inventory.source,
                                     "nodes": [node_info_json(info) for info in infos]},
                                    indent=2) + "\n")
    else:
        env.stdout.write(render_text(infos))
    for info in infos:
        if not info.ok:
            env.stderr.write(f"ankplan: error: node {info.node_name}: {info.error}\n")
            if info.hint:
                env.stderr.write(f"  hint: {info.hint}\n")
    return ExitStatus.SUCCESS if all(info.ok for info in infos) else ExitStatus.ERROR
