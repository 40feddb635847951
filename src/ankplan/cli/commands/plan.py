"""`ankplan plan FILE...`: observe the nodes, compute the plan, print it, optionally save it.

Does I/O: reads the manifest and inventory, runs one `podman ps` per node (read-only), writes
the plan file given with --out. Exit 0 no changes, 1 error, 2 changes (only --detailed-exitcode).
"""

from __future__ import annotations

import argparse
import os

from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.nodes_ahead import NodesAhead, inventory_first
from ankplan.cli.options import (
    add_manifest_options,
    add_node_options,
    add_output_option,
    add_supervisor_option,
    load_manifest_from_args,
    manifest_paths,
    manifest_words,
    project_name,
    warn_partial_observations,
)
from ankplan.errors import AnkplanError
from ankplan.model import Plan


def register(
        subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add the `plan` sub-command."""
    parser = subparsers.add_parser(
        "plan", help="show what apply would change on the nodes (read-only)",
        description="Compare the manifest with what runs on the nodes and show, per node, "
                    "which workloads would be created, replaced, started or removed, and why. "
                    "Changes nothing.")
    add_manifest_options(parser)
    add_node_options(parser)
    add_supervisor_option(parser)
    parser.add_argument("--agent", metavar="NAME", default=None,
                        help="run every workload on this agent (like `ank apply --agent`)")
    parser.add_argument("--target", action="append", default=[], metavar="WORKLOAD",
                        help="plan only this workload and its dependencies (repeatable)")
    parser.add_argument("--no-prune", action="store_true",
                        help="keep containers of workloads that are no longer in the manifest")
    add_output_option(parser, ("text", "json"),
                      help="text for people, json for programs (docs/plan-json.md)")
    parser.add_argument("--out", "-out", metavar="PLANFILE", default=None,
                        help="save the plan for `ankplan apply PLANFILE` (also -out=PLANFILE)")
    parser.add_argument("--detailed-exitcode", action="store_true",
                        help="exit 2 when there are changes (0 none, 1 error)")
    parser.set_defaults(func=run)


def write_plan_file(path: str, text: str) -> None:
    """Write `text` to `path` atomically, readable by the owner only (it may hold secrets)."""
    import tempfile  # with --out only: tempfile imports shutil and random

    try:
        fd, temporary = tempfile.mkstemp(prefix=".ankplan-",
                                         dir=os.path.dirname(os.path.abspath(path)))
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError as error:
        raise AnkplanError(f"cannot write the plan file {path}: {error.strerror or error}",
                           hint="check that the folder exists and is writable") from None


def exit_status(result: Plan, detailed: bool) -> ExitStatus:
    """1 with plan errors; 2 for changes with --detailed-exitcode; else 0."""
    if result.errors:
        return ExitStatus.ERROR
    if detailed and not result.is_empty():
        return ExitStatus.CHANGES_PRESENT
    return ExitStatus.SUCCESS


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Observe, plan, print, and save when asked."""
    _, args.files = manifest_words(args)
    stdin = env.stdin.read() if "-" in args.files else None
    inventory = inventory_first(args, env, stdin=stdin)
    with NodesAhead(args, env, inventory.nodes, project=project_name(args).name,
                    lock=False) as ahead:
        manifest = load_manifest_from_args(args, env, stdin=stdin)
        project = project_name(args, manifest)
        from ankplan.cli.views.plan import render_plan_errors, render_plan_json, render_plan_text
        from ankplan.planner.plan import plan

        _, live = ahead.result()
    warn_partial_observations(env, live)
    result = plan(manifest, inventory, live, project=project, targets=tuple(args.target),
                  prune=not args.no_prune)
    env.stderr.write(render_plan_errors(result))
    if args.output == "json":
        env.stdout.write(render_plan_json(result))
    else:
        env.stdout.write(render_plan_text(result, color=env.colors))
    if result.errors:
        count = len(result.errors)
        env.stderr.write(f"ankplan: error: the plan is incomplete ({count} error"
                         f"{'s' if count != 1 else ''})"
                         + ("; not saved\n" if args.out else "\n"))
    elif args.out:
        from datetime import UTC, datetime

        from ankplan.planfile.savedplan import dumps_saved_plan, make_saved_plan

        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        saved = make_saved_plan(result, manifest, inventory, live, created_at=created_at,
                                manifest_paths=manifest_paths([f for f in args.files if f != "-"]),
                                agent=args.agent)
        write_plan_file(args.out, dumps_saved_plan(saved))
        env.stderr.write(f"Saved the plan to {args.out}. Apply exactly this plan with:\n"
                         f"  ankplan apply {args.out}\n")
    return exit_status(result, args.detailed_exitcode)
