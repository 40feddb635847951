"""`ankplan get workloads [NAME...] FILE...` and `ankplan get workload NAME FILE...`.

Does I/O: reads the manifest and inventory, runs one `podman ps` per node (read-only) and, for
the detailed view of a failed workload, `podman logs --tail`. Exit 0, or 1 when a node could
not be observed (its workloads are still listed, as AgentDisconnected).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ankplan import podman
from ankplan.cli.commands.plan import project_name
from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.options import add_node_options, load_inventory_from_args, open_pool
from ankplan.errors import AnkplanError
from ankplan.executors.observe import observe_nodes
from ankplan.executors.transport import TransportPool
from ankplan.manifests.load import load_manifest
from ankplan.model import Inventory, LiveState, Manifest
from ankplan.planner.workload_status import WorkloadStatus, workload_statuses

OUTPUTS = ("table", "wide", "json", "yaml")
STATE_STYLE = {"Running": "green", "Succeeded": "cyan", "Failed": "red", "Pending": "yellow",
               "AgentDisconnected": "magenta", "Stopping": "yellow"}
LOG_LINES = 3  # last log lines shown as "last error" of a failed workload


def add_manifest_words(parser: argparse.ArgumentParser, names_help: str) -> None:
    """Positional NAME/FILE words plus -m/--manifest; see `split_words`."""
    parser.add_argument("words", nargs="*", metavar="NAME|FILE", help=(
        f"{names_help}, and the manifest file(s): a word containing '.' or '/' is a file "
        "(workload names cannot contain either), every other word is a workload name"))
    parser.add_argument("-m", "--manifest", action="append", default=[], metavar="FILE",
                        help="a manifest file, explicitly (repeatable)")


def split_words(words: Sequence[str], manifests: Sequence[str]) -> tuple[list[str], list[str]]:
    """(workload names, manifest files) from the positional words and -m options."""
    names = [w for w in words if not _is_file_word(w)]
    files = list(manifests) + [w for w in words if _is_file_word(w)]
    if not files:
        raise AnkplanError("no manifest file given",
                           hint="name it like the other commands do, e.g. "
                                "`examples/police/manifest.yaml`, or with -m FILE")
    return names, files


def _is_file_word(word: str) -> bool:
    return word == "-" or "." in word or "/" in word


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `get workloads` and `get workload`."""
    parser = subparsers.add_parser(
        "get", help="show the execution state of the manifest's workloads on the nodes",
        description="Show every workload of the manifest on its node, in Ankaios terms: "
                    "State(SubState), restarts, last exit code, uptime, and what a pending "
                    "workload waits for. Read-only.")
    kinds = parser.add_subparsers(dest="resource", metavar="RESOURCE", required=True)
    many = kinds.add_parser("workloads", help="a table of every workload (or those named)")
    add_manifest_words(many, "optional workload names to show")
    one = kinds.add_parser("workload", help="the detailed view of one workload")
    add_manifest_words(one, "the workload's name")
    for sub in (many, one):
        add_node_options(sub)
        sub.add_argument("--agent", metavar="NAME", default=None,
                         help="run every workload on this agent (like `ank apply --agent`)")
        sub.add_argument("-o", "--output", choices=OUTPUTS, default="table",
                         help="table (default), wide, json or yaml")
        sub.set_defaults(func=run)


def observe(args: argparse.Namespace) -> tuple[Manifest, Inventory, str, LiveState,
                                                TransportPool]:
    """Load manifest and inventory, observe every node; the pool is left open for more."""
    names, files = split_words(args.words, args.manifest)
    args.files, args.names = files, names
    manifest = load_manifest(files, agent_override=args.agent)
    inventory = load_inventory_from_args(args)
    project = project_name(args)
    for name in names:
        if manifest.workload(name) is None:
            raise AnkplanError(f"workload {name!r} is not in the manifest",
                               hint="workloads: " + ", ".join(manifest.names()))
    pool = open_pool(args)
    live = observe_nodes(pool, inventory.nodes, forks=args.forks, timeout=args.timeout)
    return manifest, inventory, project, live, pool


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Observe and print the table, or the detailed view of one workload."""
    manifest, inventory, project, live, pool = observe(args)
    with pool:
        if args.resource == "workload" and len(args.names) != 1:
            raise AnkplanError("`get workload` needs exactly one workload name",
                               hint="use `get workloads` for several")
        statuses = [s for s in workload_statuses(manifest, inventory, live, project=project)
                    if not args.names or s.name in args.names]
        now = time.time()
        if args.output in ("json", "yaml"):
            records = [status_record(s, now) for s in statuses]
            data: Any = records[0] if args.resource == "workload" else records
            env.stdout.write(json.dumps(data, indent=2) + "\n" if args.output == "json"
                             else yaml.safe_dump(data, sort_keys=False))
        elif args.resource == "workload":
            env.stdout.write(detail_text(statuses[0], now, _last_logs(pool, inventory,
                                                                       statuses[0])))
        else:
            print_table(env, status_table(statuses, now, wide=args.output == "wide"))
    return _report_unreachable(env, live)


def print_table(env: Env, table: Table) -> None:
    """A table on a terminal as rich draws it; into a pipe one unwrapped line per row."""
    if env.stdout_isatty:
        env.out_console().print(table)
        return
    console = Console(width=100_000, no_color=True, highlight=False, force_terminal=False)
    with console.capture() as capture:
        console.print(table)
    env.stdout.write("".join(line.rstrip() + "\n" for line in capture.get().splitlines()))


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
    if status.container is None or node is None or status.state.state != "Failed":
        return ""
    argv = podman.logs_argv(node, status.container.id, tail=LOG_LINES)
    try:
        result = pool.get(node).run(argv, timeout=30.0)
    except AnkplanError:
        return ""
    return (result.stdout + result.stderr).strip() if result.ok else ""


# --- rendering (pure) --------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """`45s`, `3m4s`, `2h5m`, `3d4h`; "" for None."""
    if seconds is None:
        return ""
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _info(status: WorkloadStatus) -> str:
    info = status.state.info
    if status.container is not None and status.container.health:
        info = "; ".join(filter(None, [info, f"health: {status.container.health}"]))
    return info


def status_table(statuses: Sequence[WorkloadStatus], now: float, *, wide: bool) -> Table:
    """The `get workloads` table; `wide` adds container, image and dependency columns."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    columns = ["WORKLOAD NAME", "AGENT", "NODE", "EXECUTION STATE", "RESTARTS", "EXIT CODE",
               "UPTIME", "ADDITIONAL INFO"]
    if wide:
        columns += ["CONTAINER", "IMAGE", "WAITING FOR"]
    for column in columns:
        table.add_column(column, overflow="fold")
    for status in statuses:
        exit_code = status.exit_code
        row: list[str | Text] = [
            status.name, status.workload.agent, status.node_name or "-",
            Text(str(status.state), style=STATE_STYLE.get(status.state.state, "")),
            str(status.restart_count), "" if exit_code is None else str(exit_code),
            duration_text(status.uptime(now)), _info(status)]
        if wide:
            container = status.container
            row += [container.id[:12] if container else "", container.image if container else "",
                    ", ".join(status.waiting_for)]
        table.add_row(*row)
    return table


def _iso(seconds: float) -> str | None:
    if not seconds:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def status_record(status: WorkloadStatus, now: float) -> dict[str, Any]:
    """The JSON/YAML form of one workload's status."""
    container = status.container
    return {
        "name": status.name, "agent": status.workload.agent, "node": status.node_name or None,
        "executionState": {"state": status.state.state, "subState": status.state.sub_state,
                           "additionalInfo": status.state.info},
        "restartPolicy": status.workload.restart_policy.value,
        "restartCount": status.restart_count, "exitCode": status.exit_code,
        "uptimeSeconds": None if status.uptime(now) is None else int(status.uptime(now) or 0),
        "health": container.health or None if container else None,
        "container": None if container is None else {
            "id": container.id, "name": container.name, "image": container.image,
            "startedAt": _iso(container.started_at), "finishedAt": _iso(container.finished_at)},
        "waitingFor": list(status.waiting_for),
        "dependencies": [{"workload": d.dependency.workload_name,
                          "condition": d.dependency.condition.value,
                          "status": d.word, "current": str(d.state), "reason": d.status.reason}
                         for d in status.dependencies],
    }


def _ago(seconds: float, now: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{stamp} ({duration_text(max(0.0, now - seconds))} ago)"


def _last_error(status: WorkloadStatus, logs: str) -> list[str]:
    state = status.state
    if state.state == "Failed" and status.exit_code is not None:
        lines = [f"Container exited with code {status.exit_code}"]
    elif state.state in ("Failed", "AgentDisconnected") or state.sub_state == "StartingFailed":
        lines = [state.info or str(state)]
    else:
        return []
    return lines + [f"  | {line}" for line in logs.splitlines()]


def detail_text(status: WorkloadStatus, now: float, logs: str = "") -> str:
    """The guide's `get workload NAME` view: state, dependencies, restarts, container."""
    container = status.container
    rows = [("Name", status.name), ("Agent", status.workload.agent or '""'),
            ("Node", status.node_name or "-"), ("State", str(status.state)),
            ("Additional info", status.state.info),
            ("Restart policy", status.workload.restart_policy.value)]
    lines = [f"{key + ':':<17}{value}" for key, value in rows if value]
    if status.dependencies:
        lines.append("Dependencies:")
        lines += [f"  - {d.dependency.workload_name} ({d.dependency.condition.value}): "
                  f"{d.word} (current: {d.state})" for d in status.dependencies]
    lines.append(f"{'Restart count:':<17}{status.restart_count}")
    if container is not None and status.restart_count and container.started_at:
        lines.append(f"{'Last restart:':<17}{_ago(container.started_at, now)}")
    error = _last_error(status, logs)
    if error:
        lines.append(f"{'Last error:':<17}{error[0]}")
        lines += [f"{'':<17}{line}" for line in error[1:]]
    if container is not None:
        lines.append(f"{'Container:':<17}{container.id[:12]} on {container.node_name} "
                     f"({container.name}, {container.image})")
        if container.health:
            lines.append(f"{'Health:':<17}{container.health}")
        if status.uptime(now) is not None:
            lines.append(f"{'Uptime:':<17}{duration_text(status.uptime(now))}")
    return "\n".join(lines) + "\n"
