"""`ankplan apply FILE... | PLANFILE`: lock, observe, plan, show, confirm, execute, report.

Does I/O: reads files, takes the per-node apply lock, runs podman on the nodes, prompts on a
terminal, installs SIGINT/SIGTERM handlers for the run. Exit 0 converged or no changes, 1 error
or partial apply (something failed, was skipped or not started, or a workload cannot start at
all: Pending(StartingFailed)), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.nodes_ahead import NodesAhead, import_carry_out, inventory_first
from ankplan.cli.options import (
    add_apply_options,
    add_manifest_options,
    add_node_options,
    add_supervisor_option,
    carry_out,
    load_manifest_from_args,
    lock_nodes,
    manifest_words,
    open_pool,
    project_name,
    warn_partial_observations,
)
from ankplan.errors import AnkplanError, PlanError
from ankplan.files import read_regular_text
from ankplan.model import Manifest, Plan

if TYPE_CHECKING:
    from ankplan.planfile.savedplan import SavedPlan

SAVED_PLAN_MAX_BYTES = 64 * 1024 * 1024


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `apply` sub-command."""
    parser = subparsers.add_parser(
        "apply", help="make the nodes match the manifest (or apply a saved plan)",
        description="Observe the nodes, show the plan, ask for confirmation, then create, "
                    "replace, start and remove containers, each workload as soon as its own "
                    "dependency conditions hold. A PLANFILE from `ankplan plan --out` is "
                    "applied exactly, or refused when the nodes changed since. Exit 0 "
                    "converged, 1 error or partial apply, 130 interrupted.")
    add_manifest_options(parser)
    add_node_options(parser)
    add_supervisor_option(parser)
    add_apply_options(parser)
    parser.add_argument("--agent", metavar="NAME", default=None,
                        help="run every workload on this agent (like `ank apply --agent`)")
    parser.add_argument("--target", action="append", default=[], metavar="WORKLOAD",
                        help="apply only this workload and its dependencies (repeatable)")
    parser.add_argument("--no-prune", action="store_true",
                        help="keep containers of workloads that are no longer in the manifest")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Apply manifests, or a saved plan."""
    _, args.files = manifest_words(args)
    stdin = env.stdin.read() if "-" in args.files else None
    saved = read_saved_plan(args.files, stdin)
    if saved is not None:
        return _run_saved(args, env, saved)
    inventory = inventory_first(args, env, stdin=stdin)
    with NodesAhead(args, env, inventory.nodes, project=project_name(args).name,
                    lock=True) as ahead:
        manifest = load_manifest_from_args(args, env, stdin=stdin)
        project = project_name(args, manifest)
        from ankplan.planner.plan import plan

        import_carry_out()
        pool, live = ahead.result()
        warn_partial_observations(env, live)
        result = plan(manifest, inventory, live, project=project, targets=tuple(args.target),
                      prune=not args.no_prune)
        return carry_out(args, env, result, manifest=manifest, inventory=inventory, pool=pool)


def read_saved_plan(files: list[str], stdin: str | None = None) -> SavedPlan | None:
    """The saved plan when the only argument is one (detected by content), else None."""
    texts = [(path, stdin if path == "-" else _peek(path)) for path in files]
    plans = [path for path, text in texts if _looks_saved(text)]
    if not plans:
        return None
    from ankplan.planfile.savedplan import loads_saved_plan

    if len(files) > 1:
        raise AnkplanError(f"{plans[0]} is a saved plan: give it alone, without manifests")
    return loads_saved_plan(texts[0][1] or "")


def _peek(path: str) -> str | None:
    try:
        return read_regular_text(path, max_bytes=SAVED_PLAN_MAX_BYTES)
    except (OSError, UnicodeDecodeError):
        return None  # load_manifest reports it (a FIFO or device too, without blocking)


def _looks_saved(text: str | None) -> bool:
    if not text or not text.lstrip().startswith("{"):
        return False
    from ankplan.planfile.savedplan import FORMAT
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def _run_saved(args: argparse.Namespace, env: Env, saved: SavedPlan) -> ExitStatus:
    """Re-observe; refuse when the nodes changed since the plan; else apply it exactly."""
    from ankplan.executors.observe import observe_nodes
    from ankplan.manifests.load import load_manifest
    from ankplan.planfile.savedplan import needs_secrets, restore_secrets, stale_nodes

    if args.target or args.agent or args.no_prune:
        raise AnkplanError("--target, --agent and --no-prune cannot change a saved plan",
                           hint="make a new plan with those options: ankplan plan --out FILE")
    inventory = saved.inventory
    nodes = [node for s in saved.snapshots if (node := inventory.node(s.node_name))]
    with open_pool(args, env) as pool, lock_nodes(args, pool, nodes,
                                                   project=saved.plan.project):
        live = observe_nodes(pool, nodes, forks=args.forks, timeout=args.timeout, images=True,
                             project=saved.plan.project)
        changes = stale_nodes(saved, live)
        if changes:
            raise PlanError("the saved plan is stale: the nodes changed since it was made",
                            detail="\n".join(changes),
                            hint="make and review a new plan: ankplan plan --out FILE ...")
        the_plan = saved.plan
        if needs_secrets(saved):
            if not saved.manifest_paths:
                raise PlanError("the saved plan keeps secret values as digests and its manifest "
                                "came from stdin, so apply cannot read them again",
                                hint="save plans of manifests given as files")
            the_plan = restore_secrets(saved, load_manifest(saved.manifest_paths,
                                                            agent_override=saved.agent))
        return carry_out(args, env, the_plan, manifest=manifest_of(the_plan),
                         inventory=inventory, pool=pool, confirm=False)


def manifest_of(saved_plan: Plan) -> Manifest:
    """The workloads a plan carries (every step's, no-ops included) as a manifest."""
    workloads = {s.action.workload.name: s.action.workload for s in saved_plan.steps
                 if s.action.workload is not None}
    return Manifest(api_version="v1", workloads=tuple(workloads[n] for n in sorted(workloads)))

