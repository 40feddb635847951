"""`ankplan apply FILE... | PLANFILE`: lock, observe, plan, show, confirm, execute, report.

Does I/O: reads files, takes the per-node apply lock, runs podman on the nodes, prompts on a
terminal, installs SIGINT/SIGTERM handlers for the run. Exit 0 converged or no changes, 1 error
or partial apply (something failed, was skipped or not started), 130 interrupted.
`carry_out` is shared with `delete` and `destroy`.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ankplan.cli.commands.plan import project_name
from ankplan.cli.env import Env, ExitStatus, signals_set
from ankplan.cli.options import add_node_options, load_inventory_from_args, open_pool, positive_int
from ankplan.cli.views.apply import Progress, json_line, render_summary_text, summary_record
from ankplan.cli.views.plan import render_plan_json, render_plan_text
from ankplan.errors import AnkplanError, PlanError
from ankplan.executors.apply import ApplyOptions, apply_plan
from ankplan.executors.lock import acquire_locks, this_process
from ankplan.executors.observe import observe_nodes
from ankplan.executors.transport import TransportPool
from ankplan.manifests.load import load_manifest
from ankplan.model import Inventory, Manifest, Node, Plan
from ankplan.planfile.savedplan import FORMAT, SavedPlan, loads_saved_plan, stale_nodes
from ankplan.planner.plan import plan

PROMPT = "Do you want to perform these actions? Only 'yes' will be accepted: "
DEFAULT_WAIT_TIMEOUT = 120.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `apply` sub-command."""
    parser = subparsers.add_parser(
        "apply", help="make the nodes match the manifest (or apply a saved plan)",
        description="Observe the nodes, show the plan, ask for confirmation, then create, "
                    "replace, start and remove containers, each workload as soon as its own "
                    "dependency conditions hold. A PLANFILE from `ankplan plan -o` is applied "
                    "exactly, or refused when the nodes changed since. Exit 0 converged, 1 "
                    "error or partial apply, 130 interrupted.")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="Ankaios manifest file(s), or one PLANFILE saved by `plan -o`")
    add_node_options(parser)
    add_apply_options(parser)
    parser.add_argument("--agent", metavar="NAME", default=None,
                        help="run every workload on this agent (like `ank apply --agent`)")
    parser.add_argument("--target", action="append", default=[], metavar="WORKLOAD",
                        help="apply only this workload and its dependencies (repeatable)")
    parser.add_argument("--no-prune", action="store_true",
                        help="keep containers of workloads that are no longer in the manifest")
    parser.set_defaults(func=run)


def add_apply_options(parser: argparse.ArgumentParser) -> None:
    """Options of every command that changes nodes: apply, delete, destroy."""
    group = parser.add_argument_group("apply")
    group.add_argument("-y", "--yes", action="store_true",
                       help="do not ask for confirmation (needed when stdin is no terminal)")
    group.add_argument("--parallelism", type=positive_int, default=10, metavar="N",
                       help="podman commands running at once over all nodes (default 10)")
    group.add_argument("--lock-timeout", type=float, default=0.0, metavar="SECONDS",
                       help="wait this long for another apply's lock (default 0: refuse)")
    group.add_argument("--stop-timeout", type=int, default=10, metavar="SECONDS",
                       help="seconds between SIGTERM and SIGKILL when stopping (default 10)")
    group.add_argument("--output", choices=("text", "json"), default="text",
                       help="text for people; json: NDJSON records (plan, events, summary)")
    for action in parser._actions:
        if action.dest == "timeout":
            action.default = DEFAULT_WAIT_TIMEOUT
            action.help = ("limit for every wait (dependency condition, container start) and "
                           f"podman command (default {DEFAULT_WAIT_TIMEOUT:g})")


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Apply manifests, or a saved plan."""
    saved = read_saved_plan(args.files)
    if saved is not None:
        return _run_saved(args, env, saved)
    manifest = load_manifest(args.files, agent_override=args.agent)
    inventory = load_inventory_from_args(args)
    project = project_name(args)
    with open_pool(args) as pool, lock_nodes(args, pool, inventory.nodes):
        live = observe_nodes(pool, inventory.nodes, forks=args.forks, timeout=args.timeout)
        result = plan(manifest, inventory, live, project=project, targets=tuple(args.target),
                      prune=not args.no_prune)
        return carry_out(args, env, result, manifest=manifest, inventory=inventory, pool=pool)


def read_saved_plan(files: list[str]) -> SavedPlan | None:
    """The saved plan when the only argument is one (detected by content), else None."""
    texts = [(path, _peek(path)) for path in files]
    plans = [path for path, text in texts if _looks_saved(text)]
    if not plans:
        return None
    if len(files) > 1:
        raise AnkplanError(f"{plans[0]} is a saved plan: give it alone, without manifests")
    return loads_saved_plan(texts[0][1] or "")


def _peek(path: str) -> str | None:
    if path == "-":
        return None
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    except (OSError, UnicodeDecodeError):
        return None  # load_manifest reports it


def _looks_saved(text: str | None) -> bool:
    if not text or not text.lstrip().startswith("{"):
        return False
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def _run_saved(args: argparse.Namespace, env: Env, saved: SavedPlan) -> ExitStatus:
    """Re-observe; refuse when the nodes changed since the plan; else apply it exactly."""
    if args.target or args.agent or args.no_prune:
        raise AnkplanError("--target, --agent and --no-prune cannot change a saved plan",
                           hint="make a new plan with those options: ankplan plan -o FILE")
    inventory = saved.inventory
    nodes = [node for s in saved.snapshots if (node := inventory.node(s.node_name))]
    with open_pool(args) as pool, lock_nodes(args, pool, nodes):
        live = observe_nodes(pool, nodes, forks=args.forks, timeout=args.timeout)
        changes = stale_nodes(saved, live)
        if changes:
            raise PlanError("the saved plan is stale: the nodes changed since it was made",
                            detail="\n".join(changes),
                            hint="make and review a new plan: ankplan plan -o FILE ...")
        return carry_out(args, env, saved.plan, manifest=manifest_of(saved.plan),
                         inventory=inventory, pool=pool, confirm=False)


def manifest_of(saved_plan: Plan) -> Manifest:
    """The workloads a plan carries (every step's, no-ops included) as a manifest."""
    workloads = {s.action.workload.name: s.action.workload for s in saved_plan.steps
                 if s.action.workload is not None}
    return Manifest(api_version="v1", workloads=tuple(workloads[n] for n in sorted(workloads)))


@contextmanager
def lock_nodes(args: argparse.Namespace, pool: TransportPool,
               nodes: tuple[Node, ...] | list[Node]) -> Iterator[None]:
    """Hold the apply lock on `nodes` for the block."""
    holder = this_process(["ankplan", args.command, *args.files])
    with acquire_locks(pool, nodes, holder=holder, lock_timeout=args.lock_timeout,
                       forks=args.forks):
        yield


def carry_out(args: argparse.Namespace, env: Env, the_plan: Plan, *, manifest: Manifest,
              inventory: Inventory, pool: TransportPool, confirm: bool = True,
              verb: str = "Apply") -> ExitStatus:
    """Show the plan, confirm, execute it with progress, and report; the exit status."""
    _show_plan(args, env, the_plan)
    if the_plan.errors:
        count = len(the_plan.errors)
        raise PlanError(f"the plan is incomplete ({count} error{'s' if count != 1 else ''}); "
                        "nothing was changed", hint="fix the errors listed above")
    if the_plan.is_empty():
        if args.output == "json":
            env.stdout.write(json_line({"type": "summary", "converged": True, "results": []}))
        return ExitStatus.SUCCESS
    if confirm and not args.yes and not _confirmed(env, verb):
        env.stderr.write(f"{verb} cancelled.\n")
        return ExitStatus.ERROR
    options = ApplyOptions(parallelism=args.parallelism, timeout=args.timeout,
                           stop_timeout=args.stop_timeout)
    cancel = threading.Event()
    interrupts = signals_set(cancel, env, "finishing running podman commands, starting nothing new")
    with interrupts, Progress(env, args.output, the_plan.changes()) as progress:
        result = apply_plan(the_plan, pool=pool, inventory=inventory, manifest=manifest,
                            options=options, on_event=progress, cancel=cancel)
    if args.output == "json":
        env.stdout.write(json_line(summary_record(result)))
    else:
        env.stdout.write("\n" + render_summary_text(result, verb))
    if cancel.is_set():
        return ExitStatus.CTRL_C
    return ExitStatus.SUCCESS if result.converged else ExitStatus.ERROR


def _show_plan(args: argparse.Namespace, env: Env, the_plan: Plan) -> None:
    if args.output == "json":
        env.stdout.write(json_line({"type": "plan", "plan": json.loads(
            render_plan_json(the_plan))}))
    else:
        env.stdout.write(render_plan_text(the_plan, color=env.colors))
    env.stdout.flush()


def _confirmed(env: Env, verb: str) -> bool:
    """Ask on a terminal; without one, refuse and tell to pass --yes."""
    if not env.stdin_isatty:
        raise AnkplanError(f"{verb.lower()} needs confirmation, but stdin is not a terminal",
                           hint="pass --yes to go ahead without asking (e.g. in CI)")
    env.stderr.write("\n" + PROMPT)
    env.stderr.flush()
    return env.stdin.readline().strip() == "yes"
