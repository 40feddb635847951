"""`ankplan logs WORKLOAD... FILE... [-f] [-n N] [-t] [--since T]`: a workload's container logs.

Does I/O: observes the workloads' nodes (one `podman ps` each), finds each workload's container
by its labels, then runs `podman logs` there over the kept connection; with -f the output is
streamed until every container ends or Ctrl-C (exit 130). Several workloads get `name | `
prefixes; a podman-kube workload's containers are read in one `podman logs` whose lines carry
their names. The options are podman's: -f/--follow, -n/--tail, -t/--timestamps, --since.
"""

from __future__ import annotations

import argparse
import queue
import shlex
import threading
from dataclasses import dataclass

from ankplan import podman
from ankplan.cli.env import Env, ExitStatus, signals_set
from ankplan.cli.options import (
    add_manifest_options,
    add_node_options,
    load_inventory_from_args,
    load_manifest_from_args,
    manifest_words,
    non_negative_int,
    open_pool,
    project_name,
)
from ankplan.errors import AnkplanError
from ankplan.executors.observe import observe_nodes
from ankplan.executors.transport import StreamHandle, TransportPool
from ankplan.model import Inventory, Manifest, Node, Project
from ankplan.planner.identity import adopt_legacy
from ankplan.planner.workload_status import find_container

COLORS = ("cyan", "magenta", "green", "yellow", "blue", "red")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One workload's container (or a podman-kube workload's containers) and its node."""

    workload_name: str
    node: Node
    container_ids: tuple[str, ...]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `logs` sub-command."""
    parser = subparsers.add_parser(
        "logs", help="print (or follow) the logs of workloads, wherever they run",
        description="Print the logs of each named workload's container on the node that runs "
                    "it (found by ankplan's labels, not by name). With several workloads each "
                    "line starts with `name | `.")
    add_manifest_options(parser, names_help="the workload name(s)", short_f=False)
    add_node_options(parser)
    parser.add_argument("--agent", metavar="NAME", default=None,
                        help="run every workload on this agent (like `ank apply --agent`)")
    parser.add_argument("-f", "--follow", action="store_true",
                        help="keep printing new lines until the containers end or Ctrl-C")
    parser.add_argument("-n", "--tail", type=non_negative_int, default=None, metavar="N",
                        help="only the last N lines of each container")
    parser.add_argument("-t", "--timestamps", action="store_true",
                        help="start each line with its time (RFC 3339)")
    parser.add_argument("--since", default=None, metavar="T",
                        help="only lines since T (RFC 3339 time, or a duration such as 10m)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Find each workload's container, then print or follow its logs."""
    names, args.files = manifest_words(args, names=True)
    if not names:
        raise AnkplanError("no workload named", hint="e.g. `ankplan logs kuksa-bridge "
                                                     "examples/police/manifest.yaml`")
    manifest = load_manifest_from_args(args, env)
    inventory = load_inventory_from_args(args)
    with open_pool(args, env) as pool:
        targets = find_targets(pool, manifest, inventory, project_name(args, manifest), names,
                               forks=args.forks, timeout=args.timeout)
        prefixes = _prefixes(env, [t.workload_name for t in targets])
        if args.follow:
            return _follow(env, pool, targets, prefixes, args)
        for target in targets:
            _print_logs(env, pool, target, prefixes[target.workload_name], args)
    return ExitStatus.SUCCESS


def find_targets(pool: TransportPool, manifest: Manifest, inventory: Inventory, project: Project,
                 names: list[str], *, forks: int, timeout: float) -> list[Target]:
    """The container of each named workload on its agent's node; AnkplanError when missing."""
    nodes: dict[str, Node] = {}
    for name in dict.fromkeys(names):
        workload = manifest.workload(name)
        if workload is None:
            raise AnkplanError(f"workload {name!r} is not in the manifest",
                               hint="workloads: " + ", ".join(manifest.names()))
        node = inventory.node_for_agent(workload.agent) if workload.agent else None
        if node is None:
            raise AnkplanError(f"workload {name!r} runs on no node (agent "
                               f"{workload.agent!r} is empty or not in the inventory)")
        nodes[name] = node
    live = observe_nodes(pool, list({n.name: n for n in nodes.values()}.values()), forks=forks,
                         timeout=timeout)
    live, _ = adopt_legacy(live, project)
    targets = []
    for name, node in nodes.items():
        observation = live.node(node.name)
        if observation is not None and not observation.reachable:
            raise AnkplanError(f"node {node.name} (workload {name}) could not be observed: "
                               f"{observation.error}", hint=observation.hint)
        container, _ = find_container(live, project.name, name, node.name)
        if container is None:
            raise AnkplanError(f"workload {name!r} has no container on {node.name}",
                               hint="apply the manifest first (or check --project)")
        subjects = podman.log_subjects(container)
        if not subjects:
            raise AnkplanError(f"workload {name!r} has pods on {node.name} but no containers "
                               "in them", hint="re-create it: ankplan delete, then apply")
        targets.append(Target(workload_name=name, node=node, container_ids=subjects))
    return targets


def logs_command(target: Target, args: argparse.Namespace) -> tuple[str, ...]:
    """`sh -c 'exec podman logs ... 2>&1'`: the container's stdout and stderr in their order;
    `exec` so that closing the stream ends podman itself."""
    argv = podman.logs_argv(target.node, target.container_ids, follow=bool(args.follow),
                            tail=args.tail, since=args.since, timestamps=args.timestamps)
    return ("sh", "-c", "exec " + shlex.join(argv) + " 2>&1")


def _prefixes(env: Env, names: list[str]) -> dict[str, str]:
    """`name | ` (padded, coloured on a terminal) when there are several workloads, else ""."""
    if len(names) < 2:
        return {name: "" for name in names}
    width = max(len(name) for name in names)
    prefixes = {}
    for index, name in enumerate(names):
        text = f"{name.ljust(width)} | "
        if env.colors:
            text = f"\x1b[{_ansi(COLORS[index % len(COLORS)])}m{text}\x1b[0m"
        prefixes[name] = text
    return prefixes


def _ansi(color: str) -> int:
    return {"red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36}[color]


def _print_logs(env: Env, pool: TransportPool, target: Target, prefix: str,
                args: argparse.Namespace) -> None:
    result = pool.get(target.node).run(logs_command(target, args), timeout=args.timeout)
    if not result.ok:
        raise AnkplanError(f"podman logs of {target.workload_name} on {target.node.name} "
                           f"failed: {(result.stderr or result.stdout).strip()}")
    for line in result.stdout.splitlines():
        env.stdout.write(f"{prefix}{line}\n")
    env.stdout.flush()


def _follow(env: Env, pool: TransportPool, targets: list[Target], prefixes: dict[str, str],
            args: argparse.Namespace) -> ExitStatus:
    """Stream every container's logs until all end (0), or SIGINT/SIGTERM (130)."""
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    streams: list[StreamHandle] = []
    stop = threading.Event()
    with signals_set(stop):
        try:
            for target in targets:
                stream = pool.get(target.node).open_stream(logs_command(target, args),
                                                           timeout=args.timeout)
                streams.append(stream)
                threading.Thread(target=_pump, args=(stream, target.workload_name, lines),
                                 daemon=True).start()
            open_count = len(streams)
            while open_count and not stop.is_set():
                try:
                    name, line = lines.get(timeout=0.2)
                except queue.Empty:
                    continue
                if line is None:
                    open_count -= 1
                    continue
                env.stdout.write(prefixes[name] + line.rstrip("\n") + "\n")
                env.stdout.flush()
        finally:
            for stream in streams:
                stream.close()
    return ExitStatus.CTRL_C if stop.is_set() else ExitStatus.SUCCESS


def _pump(stream: StreamHandle, name: str, lines: queue.Queue[tuple[str, str | None]]) -> None:
    try:
        for line in stream.lines():
            lines.put((name, line))
    finally:
        lines.put((name, None))
