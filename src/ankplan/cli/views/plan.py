"""Renders a Plan for people (Terraform-style text) and for programs (versioned JSON).

Pure: returns strings; the CLI prints them. The JSON format is documented in docs/plan-json.md.
Reason lines come from the planner, which never puts env values in them; `mask_argv` is applied
to every argv-like word here as a second guard.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ankplan.model import ActionKind, KeptContainer, Plan, PlanStep, Reason
from ankplan.planfile.codec import kept_to_json
from ankplan.planner.hashing import spec_hash
from ankplan.planner.identity import kept_reason
from ankplan.podman.masking import mask_argv

JSON_FORMAT_VERSION = "1.3"  # 1.3 added actions[].unit_kind; 1.2 actions[].unit; 1.1 warnings, kept, actions[].container_name,
# starting_failed and the update action

SYMBOLS = {
    ActionKind.CREATE: "+",
    ActionKind.REPLACE: "-/+",
    ActionKind.START: "~",
    ActionKind.RESTART: "~",
    ActionKind.UPDATE: "~",
    ActionKind.REMOVE: "-",
    ActionKind.NOOP: " ",
}
# Fixed wording per action, so risky verbs always read the same.
VERBS = {
    ActionKind.CREATE: "will be created",
    ActionKind.REPLACE: "must be replaced",
    ActionKind.START: "will be started",
    ActionKind.RESTART: "will be restarted",
    ActionKind.UPDATE: "will be updated in place",
    ActionKind.REMOVE: "will be removed",
    ActionKind.NOOP: "is up to date",
}
# Shown when a step has no detail lines of its own.
REASON_TEXT = {
    Reason.NOT_FOUND: "no container yet",
    Reason.SPEC_CHANGED: "spec changed",
    Reason.NOT_IN_MANIFEST: "not in the manifest",
    Reason.MOVED_NODE: "moved to another node",
    Reason.EXITED: "exited",
    Reason.NOT_RUNNING: "created but not running",
    Reason.DUPLICATE: "a second container of the workload",
    Reason.UP_TO_DATE: "up to date",
    Reason.IMAGE_REBUILT: "its image was rebuilt",
    Reason.RESTART_REQUESTED: "restart requested",
    Reason.POLICY_CHANGED: "restartPolicy, dependencies or tags changed",
    Reason.NODE_RESTARTED: "the node stopped it",
    Reason.SUPERVISOR_CHANGED: "its supervisor changed (watch/systemd)",
    Reason.LOST: "ran with --rm and vanished: Failed(Lost)",
}
_COLORS = {ActionKind.CREATE: "32", ActionKind.REPLACE: "33", ActionKind.START: "36",
           ActionKind.RESTART: "36", ActionKind.UPDATE: "36", ActionKind.REMOVE: "31",
           ActionKind.NOOP: "0"}
# Reasons the action's verb already says; no reason line is printed for them.
_SELF_EVIDENT = frozenset({Reason.NOT_FOUND})
# Summary order; NOOPs are counted separately.
_COUNTED = (ActionKind.CREATE, ActionKind.REPLACE, ActionKind.START, ActionKind.UPDATE,
            ActionKind.REMOVE)


def _mask_line(line: str) -> str:
    """A reason line with any `-e NAME=value` / `--env=NAME=value` in it masked."""
    return " ".join(mask_argv(line.split(" ")))


def _paint(text: str, kind: ActionKind, color: bool) -> str:
    return f"\x1b[{_COLORS[kind]}m{text}\x1b[0m" if color and kind is not ActionKind.NOOP else text


def _step_lines(step: PlanStep, color: bool) -> list[str]:
    action = step.action
    symbol = _paint(SYMBOLS[action.kind].rjust(3), action.kind, color)
    lines = [f"{symbol} {action.subject} {VERBS[action.kind]}"]
    reasons = action.details or (f"({REASON_TEXT.get(action.reason, action.reason.value)})",)
    if not action.details and action.reason in _SELF_EVIDENT:
        reasons = ()
    lines += [f"      # {_mask_line(reason)}" for reason in reasons]
    return lines


def summary_line(plan: Plan) -> str:
    """`Plan: 2 to create, 1 to replace, 0 to start, 0 to remove.`; in-place updates are
    counted only when there are some (`1 to update in place`)."""
    create, replace, start, update, remove = (plan.count(kind) for kind in _COUNTED)
    restart = plan.count(ActionKind.RESTART)  # only `ankplan restart` plans have these
    if restart and not create + replace + start + update + remove:
        return f"Plan: {restart} to restart."
    in_place = f"{update} to update in place, " if update else ""
    return (f"Plan: {create} to create, {replace} to replace, {start} to start, "
            f"{in_place}{remove} to remove" + (f", {restart} to restart." if restart else "."))


def _node_names(steps: Iterable[PlanStep]) -> list[str]:
    return sorted({step.action.node_name for step in steps})


def render_plan_text(plan: Plan, *, color: bool = False) -> str:
    """The plan for people: changes grouped by node, reasons indented, then a summary.

    Unchanged workloads are not listed but counted. A plan with errors has no summary counts
    (they would be wrong) but says it is incomplete; the errors themselves are rendered by
    `render_plan_errors`, for stderr. Ends with a newline.
    """
    changes = plan.changes()
    lines: list[str] = []
    if changes:
        lines += ["ankplan will perform the following actions:", ""]
        for node_name in _node_names(changes):
            lines.append(f"{node_name}:")
            for step in changes:
                if step.action.node_name == node_name:
                    lines += _step_lines(step, color)
            lines.append("")
    lines += _kept_lines(plan)
    unchanged = plan.count(ActionKind.NOOP)
    if unchanged:
        lines.append(f"({unchanged} unchanged workload{'s' if unchanged != 1 else ''} hidden)")
    if plan.errors:
        count = len(plan.errors)
        lines.append(f"The plan is incomplete: {count} error{'s' if count != 1 else ''} "
                     "(shown on stderr); it cannot be applied.")
    elif changes:
        lines.append(summary_line(plan))
    elif plan.starting_failed:
        lines.append("No changes. Your workloads match the manifest, but for the ones that "
                     "cannot start.")
    else:
        lines.append("No changes. Your workloads match the manifest.")
    return "\n".join(lines) + "\n"


def render_plan_errors(plan: Plan) -> str:
    """The plan's warnings, then `ankplan: error: ...` per error of an incomplete plan (for
    stderr)."""
    return render_plan_warnings(plan) + "".join(f"ankplan: error: {error}\n"
                                                for error in plan.errors)


def render_plan_warnings(plan: Plan) -> str:
    """`ankplan: warning: ...`, one line per warning and per workload that cannot start (for
    stderr): the plan goes on."""
    return "".join(f"ankplan: warning: {warning}\n"
                   for warning in (*plan.warnings, *plan.starting_failed))


def adopt_hint(kept: KeptContainer) -> str:
    """How to take a kept container over: name its project."""
    return f"adopt with --project {kept.project} (its containers then follow this manifest)"


def _kept_lines(plan: Plan) -> list[str]:
    """Related projects' containers (same folder name elsewhere, or an older ankplan's)."""
    if not plan.kept:
        return []
    lines = ["Kept: containers of related projects, which this plan leaves alone:"]
    for kept in plan.kept:
        where = f"{kept.node_name}/{kept.container_name} ({kept.container_id[:12]})"
        lines += [f"    {where}: {kept_reason(kept)}", f"      # {adopt_hint(kept)}"]
    return lines + [""]


def render_plan_steps(plan: Plan) -> str:
    """Every step, no-ops included, one line each with its id and waits, then the containers
    adopted from an older ankplan: for tests and --debug.

    `#3 replace node1/web (spec-changed) container=abc123 after=#1,#2`
    """
    lines = []
    for step in plan.steps:
        action = step.action
        line = f"#{step.id} {action.kind.value} {action.address} ({action.reason.value})"
        if action.container_id:
            line += f" container={action.container_id[:12]}"
        if step.depends_on:
            line += " after=" + ",".join(f"#{i}" for i in step.depends_on)
        lines.append(line)
    if plan.adopted:
        lines.append("adopted from an older ankplan: "
                     + ", ".join(container_id[:12] for container_id in plan.adopted))
    return "\n".join(lines) + ("\n" if lines else "")


def _action_json(step: PlanStep) -> dict[str, object]:
    action = step.action
    workload = action.workload
    config = workload.podman if workload else None
    return {
        "id": step.id,
        "address": action.address,
        "node": action.node_name,
        "workload": action.workload_name,
        "action": action.kind.value,
        "reason": action.reason.value,
        "details": [_mask_line(detail) for detail in action.details],
        "depends_on": list(step.depends_on),
        "container_id": action.container_id or None,
        "image": config.image if config else None,
        "spec_hash": spec_hash(workload) if workload else None,
        "container_name": action.container_name or None,
        "unit": action.unit or None,
        "unit_kind": action.unit_flavour.value if action.unit else None,
    }


def plan_summary(plan: Plan) -> dict[str, int]:
    """Step counts per action kind, no-ops included; `restart` only when there are some."""
    counts = {kind.value: plan.count(kind) for kind in (*_COUNTED, ActionKind.NOOP)}
    if plan.count(ActionKind.RESTART):
        counts[ActionKind.RESTART.value] = plan.count(ActionKind.RESTART)
    return counts


def render_plan_json(plan: Plan) -> str:
    """The plan as the versioned JSON document of docs/plan-json.md."""
    return json.dumps(plan_document(plan), indent=2, ensure_ascii=False) + "\n"


def plan_document(plan: Plan) -> dict[str, object]:
    """The JSON document of `render_plan_json` as Python data."""
    return {
        "format_version": JSON_FORMAT_VERSION,
        "project": plan.project,
        "complete": not plan.errors,
        "changes": not plan.is_empty(),
        "errors": list(plan.errors),
        "summary": plan_summary(plan),
        "actions": [_action_json(step) for step in plan.steps],
        "fingerprints": dict(plan.fingerprints),
        "warnings": list(plan.warnings),
        "starting_failed": list(plan.starting_failed),
        "kept": [{**kept_to_json(kept), "reason": kept_reason(kept), "adopt": adopt_hint(kept)}
                 for kept in plan.kept],
    }
