"""`ankplan get workloads [NAME...] FILE...` and `ankplan get workload NAME FILE...`.

Does I/O: reads the manifest and inventory, runs one `podman ps` per node (read-only), beside
it one `podman stats --no-stream` for the resource columns (-o wide/json/yaml and the detailed
view), and, for the detailed view of a failed workload, `podman logs --tail`. Exit 0, or 1
when a node could not be observed (its workloads are still listed, as AgentDisconnected).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import yaml

from ankplan import podman
from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.options import (
    add_manifest_options,
    add_node_options,
    add_output_option,
    load_inventory_from_args,
    load_manifest_from_args,
    manifest_words,
    open_pool,
    project_name,
    warn_partial_observations,
)
from ankplan.cli.views.resources import stats_by_container
from ankplan.cli.views.status import detail_text, print_status_table, status_record
from ankplan.errors import AnkplanError
from ankplan.executors.observe import observe_nodes, with_unit_restarts
from ankplan.executors.transport import TransportPool
from ankplan.model import Inventory, LiveState, Manifest, Project, State
from ankplan.planner.workload_status import WorkloadStatus, workload_statuses

OUTPUTS = ("table", "wide", "json", "yaml")
LOG_LINES = 3  # last log lines shown as "last error" of a failed workload


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `get workloads` and `get workload`."""
    parser = subparsers.add_parser(
        "get", help="show the execution state of the manifest's workloads on the nodes",
        description="Show every workload of the manifest on its node, in Ankaios terms: "
                    "State(SubState), restarts, last exit code, uptime, and what a pending "
                    "workload waits for. Read-only.")
    kinds = parser.add_subparsers(dest="resource", metavar="RESOURCE", required=True)
    many = kinds.add_parser("workloads", help="a table of every workload (or those named)")
    add_manifest_options(many, names_help="optional workload names to show")
    one = kinds.add_parser("workload", help="the detailed view of one workload")
    add_manifest_options(one, names_help="the workload's name")
    for sub in (many, one):
        add_node_options(sub)
        sub.add_argument("--agent", metavar="NAME", default=None,
                         help="run every workload on this agent (like `ank apply --agent`)")
        add_output_option(sub, OUTPUTS, help="table fitted to the terminal (default), wide "
                                             "(every column, may be wider), json or yaml")
        sub.set_defaults(func=run)


def observe(args: argparse.Namespace, env: Env) -> tuple[Manifest, Inventory, Project,
                                                          LiveState, TransportPool]:
    """Load manifest and inventory, observe every node; the pool is left open for more."""
    args.names, args.files = manifest_words(args, names=True)
    manifest = load_manifest_from_args(args, env)
    inventory = load_inventory_from_args(args)
    project = project_name(args, manifest)
    for name in args.names:
        if manifest.workload(name) is None:
            raise AnkplanError(f"workload {name!r} is not in the manifest",
                               hint="workloads: " + ", ".join(manifest.names()))
    pool = open_pool(args, env)
    # Resource use costs one `podman stats` per node: only for the views that show it.
    stats = args.output in ("wide", "json", "yaml") or args.resource == "workload"
    live = observe_nodes(pool, inventory.nodes, forks=args.forks, timeout=args.timeout,
                         stats=stats, project=project.name)
    live = with_unit_restarts(pool, inventory.nodes, live, timeout=args.timeout)
    return manifest, inventory, project, live, pool


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Observe and print the table, or the detailed view of one workload."""
    manifest, inventory, project, live, pool = observe(args, env)
    with pool:
        if args.resource == "workload" and len(args.names) != 1:
            raise AnkplanError("`get workload` needs exactly one workload name",
                               hint="use `get workloads` for several")
        statuses = [s for s in workload_statuses(manifest, inventory, live, project=project)
                    if not args.names or s.name in args.names]
        now = time.time()
        samples = stats_by_container(live)
        warn_partial_observations(env, live)
        if args.output in ("json", "yaml"):
            records = [status_record(s, now, samples) for s in statuses]
            data: Any = records[0] if args.resource == "workload" else records
            env.stdout.write(json.dumps(data, indent=2) + "\n" if args.output == "json"
                             else yaml.safe_dump(data, sort_keys=False))
        elif args.resource == "workload":
            env.stdout.write(detail_text(statuses[0], now, _last_logs(pool, inventory,
                                                                       statuses[0]), samples))
        else:
            print_status_table(env, statuses, now, wide=args.output == "wide",
                               samples=samples)
    return _report_unreachable(env, live)


def _report_unreachable(env: Env, live: LiveState) -> ExitStatus:
    unreachable = [o for o in live.nodes if not o.reachable]
    for observation in unreachable:
        hint = f" (hint: {observation.hint})" if observation.hint else ""
        env.stderr.write(f"ankplan: warning: node {observation.node_name} could not be "
                         f"observed: {observation.error}{hint}\n")
    return ExitStatus.ERROR if unreachable else ExitStatus.SUCCESS


def _last_logs(pool: TransportPool, inventory: Inventory, status: WorkloadStatus) -> str:
    """The last log lines of a failed workload's container ("" when none or not failed)."""
    node = inventory.node(status.node_name)
    if status.container is None or node is None or status.state.state != State.FAILED:
        return ""
    subjects = podman.log_subjects(status.container)
    if not subjects:
        return ""
    argv = podman.logs_argv(node, subjects, tail=LOG_LINES)
    try:
        result = pool.get(node).run(argv, timeout=30.0)
    except AnkplanError:
        return ""
    return (result.stdout + result.stderr).strip() if result.ok else ""
