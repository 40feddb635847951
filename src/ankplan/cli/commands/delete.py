"""`ankplan delete WORKLOAD... -f FILE` and `ankplan destroy FILE...`: graceful removal.

Does I/O like apply (lock, observe, podman stop/rm). Both build their plan with the planner, so
removals run dependents first and are shown before anything happens: delete removes the named
workloads' containers (the manifest keeps them, so the next apply re-creates them, like `ank
delete workload`); destroy removes every container of the project on every node.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from ankplan.cli.commands.apply import add_apply_options, carry_out, lock_nodes
from ankplan.cli.commands.plan import DEFAULT_PROJECT, PROJECT_PATTERN, default_project
from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.options import add_node_options, load_inventory_from_args, open_pool
from ankplan.errors import AnkplanError
from ankplan.executors.observe import observe_nodes
from ankplan.manifests.load import load_manifest
from ankplan.model import ActionKind, AddCondition, Manifest, Plan
from ankplan.planner.plan import plan


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `delete` and `destroy` sub-commands."""
    delete = subparsers.add_parser(
        "delete", help="stop and remove the named workloads' containers",
        description="Stop (SIGTERM, then SIGKILL after --stop-timeout) and remove the "
                    "containers of the named workloads on every node, dependents first, after "
                    "showing what will go. The manifest is not changed: the next apply "
                    "re-creates them.")
    delete.add_argument("workloads", nargs="+", metavar="WORKLOAD", help="workload name(s)")
    delete.add_argument("-f", "--file", dest="files", action="append", default=[],
                        metavar="FILE", help="the Ankaios manifest (repeatable); names the "
                                             "project unless --project is given")
    _common(delete)
    delete.set_defaults(func=run_delete)
    destroy = subparsers.add_parser(
        "destroy", help="stop and remove every container of the project on every node",
        description="Stop and remove every container carrying this project's label on every "
                    "node of the inventory, dependents first, after showing what will go.")
    destroy.add_argument("files", nargs="+", metavar="FILE",
                         help="the Ankaios manifest file(s); they name the project")
    _common(destroy)
    destroy.set_defaults(func=run_destroy)


def _common(parser: argparse.ArgumentParser) -> None:
    add_node_options(parser)
    add_apply_options(parser)


def _project(args: argparse.Namespace) -> str:
    if args.project is not None:
        if not PROJECT_PATTERN.match(args.project):
            raise AnkplanError(f"invalid project name {args.project!r}",
                               hint="use 1-63 characters from a-z, 0-9, _ and -")
        return str(args.project)
    if not args.files:
        raise AnkplanError("which project? give the manifest with -f FILE, or --project NAME")
    return default_project(args.files[0]) or DEFAULT_PROJECT


def run_delete(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Remove the named workloads' containers."""
    manifest = load_manifest(args.files) if args.files else Manifest(api_version="v1")
    names = frozenset(args.workloads)
    kept = replace(manifest, workloads=tuple(w for w in manifest.workloads
                                             if w.name not in names))
    for warning in _running_dependents(manifest, names):
        env.stderr.write(f"ankplan: warning: {warning}\n")
    return _remove(args, env, kept, targets=tuple(sorted(names)), verb="Delete",
                   detail="named by `ankplan delete`")


def run_destroy(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Remove every container of the project."""
    load_manifest(args.files)  # the files must be valid manifests: they name the project
    return _remove(args, env, Manifest(api_version="v1"), targets=(), verb="Destroy",
                   detail="`ankplan destroy` removes every container of the project")


def _remove(args: argparse.Namespace, env: Env, manifest: Manifest, *,
            targets: tuple[str, ...], verb: str, detail: str) -> ExitStatus:
    """Plan against `manifest` (which lacks what must go), keep only removals, carry out."""
    inventory = load_inventory_from_args(args)
    project = _project(args)
    with open_pool(args) as pool, lock_nodes(args, pool, inventory.nodes):
        live = observe_nodes(pool, inventory.nodes, forks=args.forks, timeout=args.timeout)
        full = plan(manifest, inventory, live, project=project, targets=targets)
        removals = tuple(s for s in full.steps if s.action.kind is ActionKind.REMOVE)
        ids = {s.id for s in removals}
        steps = tuple(replace(s, depends_on=tuple(i for i in s.depends_on if i in ids),
                              action=replace(s.action, details=(detail,)))
                      for s in removals)
        only = Plan(project=project, steps=steps, errors=full.errors,
                    fingerprints=full.fingerprints)
        return carry_out(args, env, only, manifest=manifest, inventory=inventory, pool=pool,
                         verb=verb)


def _running_dependents(manifest: Manifest, names: frozenset[str]) -> list[str]:
    """Workloads that stay but need a deleted one running (ADD_COND_RUNNING)."""
    return [f"{w.name} depends on {d.workload_name} (ADD_COND_RUNNING) and is not deleted"
            for w in manifest.workloads if w.name not in names
            for d in w.dependencies
            if d.workload_name in names and d.condition is AddCondition.RUNNING]
