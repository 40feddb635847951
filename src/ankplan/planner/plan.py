"""The planner: manifest + inventory + observed live state -> a Plan of steps per node.

Pure, total and deterministic: no I/O, never raises on odd input (problems become
`Plan.errors`), and ties are broken by sorting. The decisions are documented on `plan`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from ankplan.model import (
    LABEL_SOURCE,
    LABEL_SPEC,
    LABEL_UNIT,
    Action,
    ActionKind,
    AddCondition,
    Inventory,
    KubeConfig,
    LiveState,
    Manifest,
    ObservedContainer,
    Plan,
    PodmanConfig,
    Project,
    Reason,
    Workload,
)
from ankplan.planfile.fingerprint import fingerprint
from ankplan.planner import graph
from ankplan.planner.diff import spec_diff
from ankplan.planner.hashing import (
    CANONICAL_SPECS,
    HASH_VERSION,
    canonical_spec,
    compact_spec,
    hash_version,
    parse_spec_label,
    spec_matches,
)
from ankplan.planner.identity import adopt_legacy, kept_containers
from ankplan.planner.images import pull_detail, rebuilt_detail
from ankplan.planner.inplace import inplace_changes
from ankplan.planner.kube import kube_problem
from ankplan.planner.liveindex import LiveIndex, NodeLookup, index_live
from ankplan.planner.node_restart import NodeStop, latest_stop
from ankplan.planner.order import order_steps
from ankplan.planner.runtimes import (
    note_failed_dependencies,
    starting_failed_lines,
    unsupported_runtime,
)
from ankplan.planner.starts import NEVER_STARTED, start_decision, vanished_decision
from ankplan.planner.supervision import (
    node_flavours,
    supervisor_change,
    unit_nodes,
    with_units,
)
from ankplan.podman.options import last_value

__all__ = ["NEVER_STARTED", "container_name", "plan", "removes_folder"]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    """What every per-workload decision needs; built once per `plan` call."""

    manifest: Manifest
    live: LiveState
    project: str
    selected: frozenset[str]  # workload names the plan may touch
    placed: dict[str, str]  # workload name -> node name, for workloads ankplan can apply
    blocked: frozenset[str]  # workloads with an error: their containers are left as they are
    prune: bool
    index: LiveIndex
    stops: dict[str, NodeStop | None]  # node name -> the node's latest stop of everything
    units: dict[str, str]  # workload name -> node name, for workloads a systemd unit runs


def container_name(workload: Workload) -> str:
    """The container's name: the workload's, unless commandOptions give `--name` (it wins)."""
    options = workload.podman.command_options if workload.podman else ()
    if not any(word.startswith("--name") for word in options):  # the only spellings
        return workload.name
    return last_value(options, "--name") or workload.name


def _runtime_error(workload: Workload) -> str | None:
    if workload.runtime == "podman" and isinstance(workload.runtime_config, PodmanConfig):
        return None
    if unsupported_runtime(workload):
        return None  # not an error: the workload alone fails (plan.starting_failed)
    if workload.runtime == "podman-kube" or isinstance(workload.runtime_config, KubeConfig):
        return kube_problem(workload)
    if workload.runtime == "podman":
        return f"workload {workload.name}: its podman runtimeConfig could not be read"
    return f"workload {workload.name}: runtime {workload.runtime!r} is not supported by ankplan"


def _node_errors(live: LiveState) -> list[str]:
    errors = []
    for observation in live.nodes:
        if observation.error is not None:
            hint = f" (hint: {observation.hint})" if observation.hint else ""
            errors.append(f"node {observation.node_name}: {observation.error}{hint}")
    return errors


def _placement(workload: Workload, nodes: NodeLookup) -> tuple[str, str]:
    """(node name, "") when the workload can be applied there, else ("", error or "")."""
    node = nodes.node_for_agent(workload.agent)
    if node is None:
        return "", (f"workload {workload.name}: agent {workload.agent!r} is not in the "
                    f"inventory ({nodes.inventory.source})")
    problem = _runtime_error(workload)
    if problem is not None:
        return "", problem
    if unsupported_runtime(workload):
        return "", ""  # reported in plan.starting_failed
    observation = nodes.observation(node.name)
    if observation is None:
        return "", f"workload {workload.name}: node {node.name} was not observed"
    # An unreachable node's error is reported once for the node, not per workload.
    return (node.name, "") if observation.reachable else ("", "")


def _place(manifest: Manifest, nodes: NodeLookup, selected: frozenset[str],
           errors: list[str]) -> tuple[dict[str, str], frozenset[str]]:
    """The node of every applicable selected workload, and the selected workloads blocked."""
    placed: dict[str, str] = {}
    blocked: set[str] = set()
    for workload in manifest.workloads:
        if workload.name not in selected or not workload.agent:
            continue
        node_name, problem = _placement(workload, nodes)
        if node_name:
            placed[workload.name] = node_name
        else:
            blocked.add(workload.name)
            if problem:
                errors.append(problem)
    return placed, frozenset(blocked)


def _select(manifest: Manifest, live: LiveState, project: str, targets: Collection[str],
            errors: list[str]) -> frozenset[str]:
    """The workload names the plan may touch: all, or the targets and their dependencies.

    A target that is no longer in the manifest but still has containers is selected too, so
    `--target old` removes just that workload.
    """
    live_names = {c.workload_name for c in live.owned_containers(project) if c.workload_name}
    for observation in live.nodes:  # a folder left on a node (records) counts as well
        if observation.reachable:
            live_names |= {r.workload for r in observation.applied if r.project == project}
            live_names |= {r.workload for r in observation.runs if r.project == project}
    manifest_names = set(manifest.names())
    if not targets:
        return frozenset(manifest_names | live_names)
    for target in sorted(set(targets) - manifest_names - live_names):
        errors.append(f"target {target!r} is not a workload of the manifest and no container "
                      f"of project {project!r} runs it")
    in_manifest = sorted(set(targets) & manifest_names)
    chosen = set(graph.with_dependencies(manifest.workloads, in_manifest)) if in_manifest else set()
    return frozenset(chosen | (set(targets) & live_names))


# --- one workload on its node ----------------------------------------------------------------


def _action(kind: ActionKind, reason: Reason, node_name: str, workload_name: str, *,
            workload: Workload | None = None, container: ObservedContainer | None = None,
            details: tuple[str, ...] = ()) -> Action:
    return Action(kind=kind, node_name=node_name, workload_name=workload_name, reason=reason,
                  details=details, workload=workload,
                  container_id=container.id if container else "",
                  container_name=container.name if container else "",
                  container_unit=container.label(LABEL_UNIT) if container else "")


def _conflict(workload: Workload, node_name: str, index: LiveIndex,
              project: str) -> str | None:
    """An error when the workload's container name is held by a container not its own.

    podman-kube workloads have no container of their name: `kube play` fails by itself on a
    pod name in use (and `--replace`, which would take it, is refused by kube_problem).
    """
    if workload.runtime == "podman-kube":
        return None
    name = container_name(workload)
    container = index.by_name.get((node_name, name))
    if container is None:
        return None
    if container.project == project and container.workload_name == workload.name:
        return None
    owner = ("a container ankplan does not own" if not container.owned else
             f"a container of ankplan project {container.project!r}"
             if container.project != project else
             f"the container of workload {container.workload_name!r}")
    source = container.label(LABEL_SOURCE)
    origin = f", created from {source}" if source and container.project != project else ""
    adopt = (f"; to take it over, name its project: --project {container.project}"
             if container.owned and container.project != project else "")
    return (f"name conflict: {node_name}/{name} is held by {owner} "
            f"(id {container.id[:12]}{origin}); ankplan leaves it alone{adopt}")


def _keeper_key(workload: Workload, container: ObservedContainer) -> tuple[bool, bool, float, str]:
    """Best container first: current spec, running, most recently started, then id."""
    return (spec_matches(workload, container.spec_hash) is not True,
            container.state != "running", -container.started_at, container.id)


def _replace_details(workload: Workload, container: ObservedContainer) -> tuple[str, ...]:
    """The field diff from the container's spec label to the manifest's spec.

    The new side is computed in the label's own hash version, so a container made by an
    older ankplan shows what changed, not how the spec format changed.
    """
    old_spec = parse_spec_label(container.label(LABEL_SPEC))
    if old_spec is None:
        return ("spec changed (the container has no readable spec label)",)
    version = hash_version(container.spec_hash)
    new_spec = canonical_spec(workload, version if version in CANONICAL_SPECS else HASH_VERSION)
    details = spec_diff(compact_spec(old_spec), compact_spec(new_spec))
    return details or (f"spec-hash changed: {container.spec_hash or '(none)'}",)


def _keeper_action(context: _Context, workload: Workload, container: ObservedContainer,
                   node_name: str, errors: list[str]) -> Action | None:
    """REPLACE, START, UPDATE or NOOP for the container kept; None when it cannot be judged."""
    images = context.index.images.get(node_name)
    matches = spec_matches(workload, container.spec_hash)
    if matches is None and hash_version(container.spec_hash):
        errors.append(f"{node_name}/{workload.name}: container {container.id[:12]} has "
                      f"spec-hash version {hash_version(container.spec_hash)!r}, unknown to "
                      "this ankplan (made by a newer one?); upgrade ankplan")
        return None
    if not matches:
        pull = pull_detail(workload, images)
        return _action(ActionKind.REPLACE, Reason.SPEC_CHANGED, node_name, workload.name,
                       workload=workload, container=container,
                       details=_replace_details(workload, container) + ((pull,) if pull else ()))
    switch = supervisor_change(workload, container, context.project, context.units)
    if switch:
        return _action(ActionKind.REPLACE, Reason.SUPERVISOR_CHANGED, node_name, workload.name,
                       workload=workload, container=container, details=(switch,))
    rebuilt = rebuilt_detail(workload, container, images)
    if rebuilt:
        return _action(ActionKind.REPLACE, Reason.IMAGE_REBUILT, node_name, workload.name,
                       workload=workload, container=container, details=(rebuilt,))
    changes = inplace_changes(context.index.applied.get((node_name, workload.name)), workload)
    kind, reason, why = start_decision(workload, container,
                                       context.index.runs.get((node_name, workload.name)),
                                       context.index.nodes.get(node_name),
                                       context.stops.get(node_name))
    if kind is ActionKind.NOOP and changes:
        kind, reason = ActionKind.UPDATE, Reason.POLICY_CHANGED
    return _action(kind, reason, node_name, workload.name, workload=workload,
                   container=container, details=why + changes)


def _missing_action(context: _Context, workload: Workload, node_name: str) -> Action:
    """CREATE for a workload without a container on its node, or NOOP (LOST) for a `--rm`
    one that ran and vanished in this boot of the node (Failed(Lost), never run again)."""
    vanished = vanished_decision(workload, context.index.runs.get((node_name, workload.name)),
                                 context.index.nodes.get(node_name))
    if vanished is not None:
        kind, reason, details = vanished
        return _action(kind, reason, node_name, workload.name, workload=workload,
                       details=details)
    moved_from = _moved_from(context, workload, node_name)
    reason = Reason.MOVED_NODE if moved_from else Reason.NOT_FOUND
    details = tuple(f"moved from {old}" for old in moved_from)
    pull = pull_detail(workload, context.index.images.get(node_name))
    return _action(ActionKind.CREATE, reason, node_name, workload.name, workload=workload,
                   details=details + ((pull,) if pull else ()))


def _moved_from(context: _Context, workload: Workload, node_name: str) -> tuple[str, ...]:
    """The other reachable nodes holding a container of the workload for this project."""
    return tuple(sorted(context.index.owned_nodes.get(workload.name, set()) - {node_name}))


def _duplicate_removal(extra: ObservedContainer, keeper: ObservedContainer,
                       node_name: str) -> Action:
    detail = (f"a second container labelled as workload {keeper.workload_name}; its container "
              f"{keeper.name} ({keeper.id[:12]}) stays")
    return _action(ActionKind.REMOVE, Reason.DUPLICATE, node_name, keeper.workload_name,
                   container=extra, details=(detail,))


def _plan_workload(context: _Context, workload: Workload, errors: list[str]) -> list[Action]:
    """The actions for one placed workload on its node."""
    node_name = context.placed[workload.name]
    if node_name not in context.index.nodes:
        return []
    conflict = _conflict(workload, node_name, context.index, context.project)
    if conflict:
        errors.append(conflict)
        return []
    owned = list(context.index.owned.get((node_name, workload.name), ()))
    if len(owned) > 1:  # the key hashes the spec: skip it for the usual single container
        owned.sort(key=lambda c: _keeper_key(workload, c))
    if not owned:
        return [_missing_action(context, workload, node_name)]
    keeper, extras = owned[0], owned[1:]
    actions = [_duplicate_removal(extra, keeper, node_name) for extra in extras]
    kept = _keeper_action(context, workload, keeper, node_name, errors)
    return actions + ([kept] if kept else [])


# --- containers no workload of this node accounts for ----------------------------------------


FOLDER_ONLY = "no container; its folder on the node (files, records) is removed"


def _leftover_action(context: _Context, workload_name: str, node_name: str,
                     container: ObservedContainer | None) -> Action | None:
    """REMOVE for a container (or, with None, a folder) of this project on `node_name` that no
    placed workload keeps, else None."""
    if workload_name not in context.selected or workload_name in context.blocked:
        return None
    placed_on = context.placed.get(workload_name)
    if placed_on == node_name:
        return None  # handled with its workload
    folder = () if container is not None else (FOLDER_ONLY,)
    if placed_on:
        return _action(ActionKind.REMOVE, Reason.MOVED_NODE, node_name, workload_name,
                       container=container, details=(f"moved to {placed_on}", *folder))
    workload = context.index.workloads.get(workload_name)
    if workload is not None and not workload.agent:
        return _action(ActionKind.REMOVE, Reason.NOT_IN_MANIFEST, node_name, workload_name,
                       container=container, details=(
                           "not scheduled: its agent is empty in the manifest", *folder))
    if workload is None and context.prune:
        return _action(ActionKind.REMOVE, Reason.NOT_IN_MANIFEST, node_name, workload_name,
                       container=container, details=folder)
    return None


def _folder_leftovers(context: _Context) -> list[Action]:
    """REMOVE for the folders of this project's workloads that left a node without a
    container there (a vanished `--rm` job, files of a workload removed by hand)."""
    keys = sorted(set(context.index.applied) | set(context.index.runs))
    actions = []
    for node_name, workload_name in keys:
        observation = context.index.nodes.get(node_name)
        if observation is None or not observation.reachable:
            continue
        if context.index.owned.get((node_name, workload_name)):
            continue  # its containers are judged, and removed with their folder
        action = _leftover_action(context, workload_name, node_name, None)
        if action:
            actions.append(action)
    return actions


def removes_folder(action: Action) -> bool:
    """True when a REMOVE also removes the workload's folder on the node: the workload left
    the node (not a duplicate container of one that stays)."""
    return action.kind is ActionKind.REMOVE and action.reason is not Reason.DUPLICATE


def _plan_leftovers(context: _Context, warnings: list[str]) -> list[Action]:
    actions: list[Action] = []
    for observation in context.live.nodes:
        if not observation.reachable:
            continue
        for container in observation.containers:
            if container.project != context.project:
                continue  # foreign or another project's: never touched
            if not container.workload_name:
                warnings.append(f"{observation.node_name}: container {container.name} "
                                f"({container.id[:12]}) has the label of project "
                                f"{context.project!r} but no ankplan.workload label; ankplan "
                                "leaves it alone")
                continue
            action = _leftover_action(context, container.workload_name,
                                      observation.node_name, container)
            if action:
                actions.append(action)
    return actions + _folder_leftovers(context)


def _note_running_dependents(manifest: Manifest, actions: list[Action]) -> list[Action]:
    """Replacing a workload never replaces its ADD_COND_RUNNING dependents; say so on the step.

    Ankaios blocks such an update until the dependents stop (its issue #773); compose
    recreates dependents. ankplan replaces only what changed and lets the dependents' own
    restart policies (run by watch) deal with a lost connection.
    """
    unchanged = {a.workload_name for a in actions
                 if a.kind in (ActionKind.NOOP, ActionKind.UPDATE)}
    running_dependents: dict[str, set[str]] = {}
    for workload in manifest.workloads:
        for dependency in workload.dependencies:
            if dependency.condition is AddCondition.RUNNING:
                running_dependents.setdefault(dependency.workload_name, set()).add(workload.name)
    noted: list[Action] = []
    for action in actions:
        if action.kind is ActionKind.REPLACE:
            dependents = sorted(running_dependents.get(action.workload_name, set()) & unchanged)
            notes = tuple(f"{name} depends on it (ADD_COND_RUNNING) and keeps running"
                          for name in dependents)
            action = replace(action, details=action.details + notes)
        noted.append(action)
    return noted


def plan(manifest: Manifest, inventory: Inventory, live: LiveState, *, project: str | Project,
         targets: Collection[str] = (), prune: bool = True) -> Plan:
    """Every step that makes the nodes match the manifest, for the containers of `project`.

    Per scheduled workload on its agent's node: no container -> CREATE, unless a `--rm` one
    ran and vanished (NOOP, Failed(Lost)); spec hash differs -> REPLACE (details: the field
    diff); the image name the container was made from now names another image -> REPLACE
    (IMAGE_REBUILT); stopped by the node (reboot, stop of everything) -> START whatever the
    policy; never started -> START; exited and its restartPolicy restarts that exit -> START;
    only restartPolicy, dependencies or tags differ from the node's record -> UPDATE (in
    place); else NOOP; more than one container -> REMOVE the extras (DUPLICATE). Containers
    and folders of this project elsewhere -> REMOVE (MOVED_NODE), of workloads no longer in
    the manifest -> REMOVE (NOT_IN_MANIFEST, only with `prune`). Foreign and other projects'
    containers are never touched: one holding a workload's name is a plan error. Unknown
    agents and unreachable nodes are plan errors too; the rest is still planned. A workload
    whose runtime ankplan does not run only fails itself and its dependents
    (`Plan.starting_failed`). `targets` limits the plan to those workloads and their
    dependencies. A `Project` (rather than a bare name) also adopts what an older ankplan made
    for it and lists related projects' containers as kept (identity.py). A CREATE or REPLACE
    whose image is not on the node says that podman will pull it (a missing image alone is no
    change).
    """
    identity = project if isinstance(project, Project) else Project(name=project)
    project = identity.name
    observed = live  # fingerprints cover what was observed, before any adoption
    live, adopted = adopt_legacy(live, identity)
    errors = _node_errors(live)
    warnings: list[str] = []
    selected = _select(manifest, live, project, targets, errors)
    index = index_live(manifest, live, project)
    nodes = NodeLookup(inventory, index)
    placed, blocked = _place(manifest, nodes, selected, errors)
    stops = {o.node_name: latest_stop(o) for o in live.nodes if o.reachable}
    context = _Context(manifest=manifest, live=live, project=project, selected=selected,
                       placed=placed, blocked=blocked, prune=prune, index=index, stops=stops,
                       units=unit_nodes(manifest.workloads, placed, inventory))
    actions: list[Action] = []
    for workload in manifest.workloads:
        if workload.name in placed:
            actions += _plan_workload(context, workload, errors)
    actions += _plan_leftovers(context, warnings)
    actions = _note_running_dependents(manifest, actions)
    starting_failed, dependents = starting_failed_lines(manifest, nodes, selected)
    actions = note_failed_dependencies(actions, dependents)
    actions = with_units(actions, project, context.units, placed, node_flavours(live))
    names = {container_name(w) for w in manifest.workloads}
    fingerprints = tuple((n.node_name, fingerprint(n, project, names)) for n in observed.nodes)
    return Plan(project=project, steps=order_steps(manifest, live, project, actions),
                errors=tuple(sorted(set(errors))), starting_failed=starting_failed,
                fingerprints=tuple(sorted(fingerprints)),
                warnings=tuple(sorted(set(warnings))), kept=kept_containers(live, identity),
                source=identity.source, adopted=adopted)
