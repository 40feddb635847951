"""Saved plan files (`ankplan plan --out FILE`): the plan, what it was based on, and staleness.

Pure: `dumps_saved_plan` / `loads_saved_plan` convert to and from text; the CLI reads and
writes the file. A saved plan holds everything apply needs (full workloads, the inventory) but
secrets: env values and credentials are kept as digests, and `restore_secrets` takes them from
the manifest files (recorded by absolute path) when the plan is applied. Per-node snapshots of
what was observed let `stale_nodes` say what changed since.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from ankplan import __version__
from ankplan.errors import PlanError
from ankplan.model import (
    Inventory,
    KubeConfig,
    LiveState,
    Manifest,
    Plan,
    PlanStep,
    PodmanConfig,
    Workload,
)
from ankplan.planfile.codec import (
    Reader,
    inventory_from_json,
    inventory_to_json,
    plan_from_json,
    plan_to_json,
    workload_to_json,
)
from ankplan.planfile.fingerprint import (
    ContainerFacts,
    NodeSnapshot,
    node_snapshot,
    snapshot_changes,
    snapshot_fingerprint,
    snapshot_to_json,
)
from ankplan.planner.hashing import DIGEST_PREFIX, hide_secrets
from ankplan.planner.plan import container_name
from ankplan.podman.options import KUBE_PLAY, secret_values

FORMAT = "ankplan-saved-plan"
FORMAT_VERSION = "1.2"  # major changes are refused by loads_saved_plan; 1.2 added the
# actions' systemd units, 1.1 manifest_paths and agent, and keeps secrets as digests


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedPlan:
    """A plan with the manifest digest, the inventory and the node snapshots it came from."""

    plan: Plan
    inventory: Inventory
    manifest_digest: str  # "sha256:<hex>" of the canonical manifest content
    manifest_sources: tuple[str, ...] = ()  # the manifest files, as given
    # The manifest files by absolute path and the --agent the plan was made with: where
    # `restore_secrets` reads the secret values the plan keeps only as digests.
    manifest_paths: tuple[str, ...] = ()
    agent: str | None = None
    snapshots: tuple[NodeSnapshot, ...] = ()  # sorted by node name
    names: tuple[str, ...] = ()  # container names a snapshot watches besides owned ones
    ankplan_version: str = __version__
    created_at: str = ""  # ISO 8601, given by the caller (the planner has no clock)

    @property
    def project(self) -> str:
        """The project the plan is for."""
        return self.plan.project


def manifest_digest(manifest: Manifest) -> str:
    """`sha256:<hex>` of the manifest's workloads (every field) and config keys.

    Formatting, comments and file order do not change it; any field of any workload does.
    """
    content = {"workloads": [workload_to_json(w) for w in manifest.workloads],
               "config_keys": list(manifest.config_keys)}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def saved_workload(workload: Workload) -> Workload:
    """`workload` as a saved plan keeps it: secret option values as digests (as in the spec
    label) and no raw runtimeConfig text; the parsed fields hold everything else apply needs."""
    config = workload.runtime_config
    if isinstance(config, PodmanConfig):
        config = replace(config, command_options=hide_secrets(config.command_options))
    elif isinstance(config, KubeConfig):
        config = replace(config, play_options=hide_secrets(config.play_options, KUBE_PLAY))
    return replace(workload, runtime_config=config, runtime_config_text="")


def _holds_digests(workload: Workload) -> bool:
    """True when a secret of `workload` is a digest (plans saved before 1.1 hold values)."""
    config = workload.runtime_config
    if isinstance(config, PodmanConfig):
        secrets = secret_values(config.command_options)
    elif isinstance(config, KubeConfig):
        secrets = secret_values(config.play_options, KUBE_PLAY)
    else:
        return False
    return any(secret.startswith(DIGEST_PREFIX) for secret in secrets)


def _saved_steps(plan: Plan) -> Plan:
    steps = tuple(replace(step, action=replace(step.action,
                                               workload=saved_workload(step.action.workload)))
                  if step.action.workload is not None else step for step in plan.steps)
    return replace(plan, steps=steps)


def make_saved_plan(plan: Plan, manifest: Manifest, inventory: Inventory, live: LiveState, *,
                    created_at: str, manifest_paths: tuple[str, ...] = (),
                    agent: str | None = None) -> SavedPlan:
    """Bundle `plan` with what it was made from, ready for `dumps_saved_plan`.

    `manifest_paths`: the manifest files by absolute path, from which `restore_secrets` reads
    the secret values again when the plan is applied.
    """
    names = tuple(sorted({container_name(w) for w in manifest.workloads}))
    snapshots = tuple(node_snapshot(obs, plan.project, names) for obs in live.nodes)
    return SavedPlan(plan=_saved_steps(plan), inventory=inventory,
                     manifest_digest=manifest_digest(manifest),
                     manifest_sources=manifest.sources, manifest_paths=manifest_paths,
                     agent=agent, snapshots=snapshots, names=names, created_at=created_at)


def needs_secrets(saved: SavedPlan) -> bool:
    """True when some step's workload keeps a secret as a digest: apply must restore it."""
    return any(step.action.workload is not None and _holds_digests(step.action.workload)
               for step in saved.plan.steps)


def restore_secrets(saved: SavedPlan, manifest: Manifest) -> Plan:
    """The saved plan with each workload that keeps secrets as digests taken from `manifest`
    (loaded from `saved.manifest_paths`), after checking it is the workload that was planned.

    PlanError when a workload is missing or differs: the plan was made from other values.
    """
    by_name = {workload.name: workload for workload in manifest.workloads}
    steps: list[PlanStep] = []
    for step in saved.plan.steps:
        workload = step.action.workload
        if workload is not None and _holds_digests(workload):
            source = by_name.get(workload.name)
            if source is None or saved_workload(source) != workload:
                raise PlanError(f"workload {workload.name}: the manifest changed since the plan "
                                "was saved, so its secret values cannot be restored",
                                detail="a saved plan keeps env values and credentials only as "
                                       "digests; apply takes them from "
                                       + ", ".join(saved.manifest_paths or ("(no file)",)),
                                hint="make and review a new plan: ankplan plan --out FILE ...")
            step = replace(step, action=replace(step.action, workload=source))
        steps.append(step)
    return replace(saved.plan, steps=tuple(steps))


def dumps_saved_plan(saved: SavedPlan) -> str:
    """The saved plan as JSON text (stable key order, one trailing newline)."""
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ankplan_version": saved.ankplan_version,
        "created_at": saved.created_at,
        "project": saved.project,
        "manifest_digest": saved.manifest_digest,
        "manifest_sources": list(saved.manifest_sources),
        "manifest_paths": list(saved.manifest_paths),
        "agent": saved.agent,
        "names": list(saved.names),
        "snapshots": [snapshot_to_json(snapshot) for snapshot in saved.snapshots],
        "inventory": inventory_to_json(saved.inventory),
        "plan": plan_to_json(saved.plan),
    }
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _facts_from_json(value: object, where: str) -> ContainerFacts:
    reader = Reader(value, where)
    return ContainerFacts(
        name=reader.text("name"), id=reader.text("id"), project=reader.text("project", ""),
        workload_name=reader.text("workload", ""), spec_hash=reader.text("spec_hash", ""),
        state=reader.text("state", ""), exit_code=int(reader.number("exit_code", 0)),
        image=reader.text("image", ""), image_id=reader.text("image_id", ""))


def _snapshot_from_json(value: object, where: str) -> NodeSnapshot:
    reader = Reader(value, where)
    images = reader.data.get("images") or {}
    if not isinstance(images, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in images.items()):
        raise PlanError(f"saved plan: {where}.images must map image names to ids")
    return NodeSnapshot(node_name=reader.text("node"), error=reader.optional_text("error"),
                        containers=tuple(_facts_from_json(c, f"{where}.containers[{i}]")
                                         for i, c in enumerate(reader.items("containers"))),
                        images=tuple(sorted(images.items())))


def _check_header(reader: Reader) -> None:
    if reader.data.get("format") != FORMAT:
        raise PlanError("not an ankplan saved plan (no \"format\": \"ankplan-saved-plan\")",
                        hint="give a file written by `ankplan plan --out FILE`")
    version = reader.text("format_version")
    if version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
        raise PlanError(f"saved plan format {version} is not supported by ankplan {__version__} "
                        f"(it reads {FORMAT_VERSION})", hint="re-run `ankplan plan --out FILE`")


def _check_consistent(saved: SavedPlan) -> None:
    """The plan's fingerprints must be those of the stored snapshots (no hand edits)."""
    recorded = dict(saved.plan.fingerprints)
    for snapshot in saved.snapshots:
        if recorded.get(snapshot.node_name) != snapshot_fingerprint(snapshot):
            raise PlanError(f"saved plan is inconsistent: the fingerprint of node "
                            f"{snapshot.node_name} does not match its snapshot",
                            hint="the file was edited or damaged; re-run `ankplan plan --out FILE`")


def loads_saved_plan(text: str) -> SavedPlan:
    """The SavedPlan in `text`; PlanError with a clear message for anything else."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanError(f"saved plan is not valid JSON (line {error.lineno}: {error.msg})",
                        hint="give a file written by `ankplan plan --out FILE`") from None
    reader = Reader(data, "document")
    _check_header(reader)
    saved = SavedPlan(
        plan=plan_from_json(reader.data.get("plan"), "plan"),
        inventory=inventory_from_json(reader.data.get("inventory"), "inventory"),
        manifest_digest=reader.text("manifest_digest"),
        manifest_sources=reader.words("manifest_sources"),
        manifest_paths=reader.words("manifest_paths"), agent=reader.optional_text("agent"),
        snapshots=tuple(_snapshot_from_json(s, f"snapshots[{i}]")
                        for i, s in enumerate(reader.items("snapshots"))),
        names=reader.words("names"), ankplan_version=reader.text("ankplan_version"),
        created_at=reader.text("created_at", ""))
    if saved.project != reader.text("project"):
        raise PlanError("saved plan is inconsistent: its project and its plan's project differ")
    _check_consistent(saved)
    return saved


def stale_nodes(saved: SavedPlan, live: LiveState) -> tuple[str, ...]:
    """What changed on the nodes since the plan was saved, one line per change; () if nothing.

    e.g. `node1: container web changed (state running -> exited(1))`.
    """
    lines: list[str] = []
    saved_nodes = {snapshot.node_name for snapshot in saved.snapshots}
    for old in saved.snapshots:
        observation = live.node(old.node_name)
        if observation is None:
            lines.append(f"{old.node_name}: was observed for the plan but not now")
            continue
        new = node_snapshot(observation, saved.project, saved.names)
        if snapshot_fingerprint(new) != snapshot_fingerprint(old):
            lines += snapshot_changes(old, new) or (f"{old.node_name}: changed",)
    for observation in live.nodes:
        new = node_snapshot(observation, saved.project, saved.names)
        if observation.node_name not in saved_nodes and new.containers:
            lines.append(f"{observation.node_name}: was not observed for the plan and holds "
                         f"{len(new.containers)} container(s) it may concern")
    return tuple(lines)
