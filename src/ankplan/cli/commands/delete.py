"""`ankplan delete WORKLOAD... FILE...` and `ankplan destroy FILE...`: graceful removal.

Does I/O like apply (lock, observe, podman stop/rm). Both build their plan with the planner, so
removals run dependents first and are shown before anything happens: delete removes the named
workloads' containers (the manifest keeps them, so the next apply re-creates them, like `ank
delete workload`); destroy removes every container of the project on every node.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.options import (
    add_apply_options,
    add_manifest_options,
    add_node_options,
    carry_out,
    is_file_word,
    load_inventory_from_args,
    load_manifest_from_args,
    lock_nodes,
    manifest_words,
    open_pool,
    project_name,
)
from ankplan.errors import AnkplanError
from ankplan.executors.observe import observe_nodes
from ankplan.model import ActionKind, AddCondition, Manifest, Project
from ankplan.planner.plan import plan


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `delete` and `destroy` sub-commands."""
    delete = subparsers.add_parser(
        "delete", help="stop and remove the named workloads' containers",
        description="Stop (SIGTERM, then SIGKILL after --stop-timeout) and remove the "
                    "containers of the named workloads on every node, dependents first, after "
                    "showing what will go. The manifest is not changed: the next apply "
                    "re-creates them. The manifest names the project unless --project is "
                    "given.")
    add_manifest_options(delete, names_help="the workload name(s) to delete")
    _common(delete)
    delete.set_defaults(func=run_delete)
    destroy = subparsers.add_parser(
        "destroy", help="stop and remove every container of the project on every node",
        description="Stop and remove every container carrying this project's label on every "
                    "node of the inventory, dependents first, after showing what will go. "
                    "The manifest file(s) name the project.")
    add_manifest_options(destroy)
    _common(destroy)
    destroy.set_defaults(func=run_destroy)


def _common(parser: argparse.ArgumentParser) -> None:
    add_node_options(parser)
    add_apply_options(parser)


def run_delete(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Remove the named workloads' containers."""
    workload_names, args.files = _names_and_files(args)
    if not workload_names:
        raise AnkplanError("no workload named",
                           hint="e.g. `ankplan delete kuksa-bridge examples/police/manifest.yaml`")
    manifest = load_manifest_from_args(args, env) if args.files else Manifest(api_version="v1")
    names = frozenset(workload_names)
    kept = replace(manifest, workloads=tuple(w for w in manifest.workloads
                                             if w.name not in names))
    for warning in _running_dependents(manifest, names):
        env.stderr.write(f"ankplan: warning: {warning}\n")
    return _remove(args, env, project_name(args, manifest), kept, targets=tuple(sorted(names)),
                   verb="Delete", detail="named by `ankplan delete`")


def _names_and_files(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(names, files); with --project and no file every word is a name (no manifest needed)."""
    if args.project is not None and not args.filenames and not any(
            is_file_word(word) for word in args.words):
        return list(args.words), []
    return manifest_words(args, names=True)


def run_destroy(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Remove every container of the project."""
    _, args.files = manifest_words(args)
    manifest = load_manifest_from_args(args, env)  # valid manifests only: they name the project
    return _remove(args, env, project_name(args, manifest), Manifest(api_version="v1"),
                   targets=(), verb="Destroy",
                   detail="`ankplan destroy` removes every container of the project")


def _remove(args: argparse.Namespace, env: Env, project: Project, manifest: Manifest, *,
            targets: tuple[str, ...], verb: str, detail: str) -> ExitStatus:
    """Plan against `manifest` (which lacks what must go), keep only removals, carry out."""
    inventory = load_inventory_from_args(args)
    with open_pool(args, env) as pool, lock_nodes(args, pool, inventory.nodes,
                                                   project=project.name):
        live = observe_nodes(pool, inventory.nodes, forks=args.forks, timeout=args.timeout,
                             project=project.name)
        full = plan(manifest, inventory, live, project=project, targets=targets)
        removals = tuple(s for s in full.steps if s.action.kind is ActionKind.REMOVE)
        ids = {s.id for s in removals}
        steps = tuple(replace(s, depends_on=tuple(i for i in s.depends_on if i in ids),
                              action=replace(s.action, details=(detail,)))
                      for s in removals)
        only = replace(full, steps=steps)
        return carry_out(args, env, only, manifest=manifest, inventory=inventory, pool=pool,
                         verb=verb)


def _running_dependents(manifest: Manifest, names: frozenset[str]) -> list[str]:
    """Workloads that stay but need a deleted one running (ADD_COND_RUNNING)."""
    return [f"{w.name} depends on {d.workload_name} (ADD_COND_RUNNING) and is not deleted"
            for w in manifest.workloads if w.name not in names
            for d in w.dependencies
            if d.workload_name in names and d.condition is AddCondition.RUNNING]
