"""`ankplan nodes`: check every inventory node before anything is planned.

Does I/O (connects to the nodes, runs `podman info` and `podman ps`); prints the report on
stdout and each failing node's error and hint on stderr. Exit 1 when any node fails.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.options import add_node_options, load_inventory_from_args, open_pool
from ankplan.executors.observe import NodeInfo, observe_node_info

COLUMNS = ("NODE", "ADDRESS", "STATUS", "HOST KEY", "PODMAN", "RUNTIME", "MODE", "OWNED")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `nodes` sub-command."""
    parser = subparsers.add_parser(
        "nodes", help="check that every node is reachable and runs podman",
        description="Connect to every node of the inventory and report reachability, host "
                    "key, podman version, OCI runtime, rootful/rootless and how many "
                    "containers ankplan owns there.")
    add_node_options(parser)
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text",
                        help="report format (default text)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Check the nodes and print the report."""
    inventory = load_inventory_from_args(args)
    with open_pool(args) as pool:
        infos = observe_node_info(pool, inventory.nodes, forks=args.forks, timeout=args.timeout,
                                  project=args.project)
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


def node_info_json(info: NodeInfo) -> dict[str, Any]:
    """One node of the JSON report; field names are stable."""
    podman = info.podman
    return {
        "name": info.node_name,
        "address": info.address,
        "ok": info.ok,
        "reachable": info.reachable,
        "host_key": info.host_key or None,
        "host_key_status": info.host_key_status or None,
        "podman_version": podman.version if podman else None,
        "oci_runtime": podman.oci_runtime if podman else None,
        "rootless": podman.rootless if podman else None,
        "run_root": podman.run_root if podman else None,
        "containers": podman.containers if podman else None,
        "owned_containers": info.owned_containers if podman else None,
        "seconds": round(info.duration, 3),
        "error": info.error,
        "hint": info.hint or None,
    }


def render_text(infos: tuple[NodeInfo, ...]) -> str:
    """An aligned table, one row per node, then a one-line summary."""
    rows = [COLUMNS, *(_row(info) for info in infos)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in rows]
    failed = sum(1 for info in infos if not info.ok)
    lines.append("")
    lines.append(f"{len(infos)} node{'s' if len(infos) != 1 else ''}: "
                 f"{len(infos) - failed} ok, {failed} failed.")
    return "\n".join(lines) + "\n"


def _row(info: NodeInfo) -> tuple[str, ...]:
    podman = info.podman
    if info.ok:
        status = "ok"
    else:
        status = "podman failed" if info.reachable else "failed"
    host_key = f"{info.host_key_status} {info.host_key}".strip() if info.host_key else "-"
    if not podman:
        return (info.node_name, info.address, status, host_key, "-", "-", "-", "-")
    mode = "rootless" if podman.rootless else "rootful"
    return (info.node_name, info.address, status, host_key, podman.version or "?",
            podman.oci_runtime or "?", mode, str(info.owned_containers))
