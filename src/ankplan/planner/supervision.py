"""Which workloads systemd supervises on their node (`supervisor: systemd`), and what the plan
says about it: the unit each step leaves behind, a switch of supervisor as a replacement, and
which dependencies the node enforces by itself after apply and which only apply enforces.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ankplan.model import (
    LABEL_UNIT,
    Action,
    ActionKind,
    Inventory,
    LiveState,
    ObservedContainer,
    PodmanConfig,
    Reason,
    Supervisor,
    UnitFlavour,
    Workload,
)
from ankplan.podman.quadlet import (
    BACKOFF_MIN_SYSTEMD,
    RESTART_MAX_DELAY,
    file_name,
    flavour_for,
)
from ankplan.podman.systemd_unit import RESTART, RESTART_SEC, unit_dependencies, unit_name

# Kinds after which the workload's container runs (or keeps running) under its unit.
_RUN_KINDS = frozenset({ActionKind.CREATE, ActionKind.REPLACE, ActionKind.START,
                        ActionKind.RESTART, ActionKind.UPDATE, ActionKind.NOOP})


def unit_nodes(workloads: tuple[Workload, ...], placed: Mapping[str, str],
               inventory: Inventory) -> dict[str, str]:
    """Workload name -> node name, for the placed workloads a systemd unit runs: their node's
    supervisor is systemd and they run with `podman run` (podman-kube workloads stay with
    `watch`)."""
    units = {}
    for workload in workloads:
        node_name = placed.get(workload.name)
        node = inventory.node(node_name) if node_name else None
        if node is not None and node.supervisor is Supervisor.SYSTEMD and (
                isinstance(workload.runtime_config, PodmanConfig)):
            units[workload.name] = node.name
    return units


def supervisor_change(workload: Workload, container: ObservedContainer, project: str,
                      units: Mapping[str, str]) -> str | None:
    """The detail line of a REPLACE when the container is not run the way its node wants
    (a unit where `watch` supervises, none or another where systemd does); None when it is."""
    wanted = unit_name(project, workload.name) if workload.name in units else ""
    running = container.label(LABEL_UNIT)
    if wanted == running:
        return None
    old = f"systemd ({running})" if running else "watch"
    new = f"systemd ({wanted})" if wanted else "watch"
    return f"supervisor: {old} -> {new}"


def node_flavours(live: LiveState) -> dict[str, tuple[UnitFlavour, bool]]:
    """Node name -> (the kind of unit ankplan writes there, whether its systemd grows the
    restart delay), from the versions observed on systemd-supervised nodes."""
    return {o.node_name: (flavour_for(o.podman_version),
                          o.systemd_version >= BACKOFF_MIN_SYSTEMD) for o in live.nodes}


def with_units(actions: list[Action], project: str, units: Mapping[str, str],
               placed: Mapping[str, str],
               flavours: Mapping[str, tuple[UnitFlavour, bool]] | None = None) -> list[Action]:
    """The actions with the unit each leaves the workload under, and for a step that brings a
    unit up or rewrites it, what the unit does: its restart rule and which dependencies the
    node enforces by itself after apply (same-node ADD_COND_RUNNING: Requires=/After=) and
    which only apply does (`placed`: workload name -> node, every placed workload). `flavours`
    (node_flavours) says per node whether the unit is a Quadlet file and has a growing delay."""
    marked = []
    flavours = flavours or {}
    for action in actions:
        workload = action.workload
        if workload is None or action.workload_name not in units or (
                action.kind not in _RUN_KINDS):
            marked.append(action)
            continue
        required = unit_dependencies(workload, action.node_name, project, units, placed).required
        flavour, backoff = flavours.get(action.node_name, (UnitFlavour.UNIT, False))
        action = replace(action, unit=unit_name(project, workload.name), unit_requires=required,
                         unit_flavour=flavour, unit_backoff=backoff)
        if action.kind in (ActionKind.CREATE, ActionKind.REPLACE, ActionKind.UPDATE):
            action = replace(action, details=action.details + _unit_lines(
                action, project, units, placed))
        elif action.kind is ActionKind.START and action.reason is Reason.EXITED:
            note = f"its unit restarts it by itself {RESTART_SEC} s after the exit; apply starts it now"
            action = replace(action, details=(*action.details, note))
        marked.append(action)
    return marked


def _unit_lines(action: Action, project: str, units: Mapping[str, str],
                placed: Mapping[str, str]) -> tuple[str, ...]:
    workload, node_name, unit = action.workload, action.node_name, action.unit
    assert workload is not None
    restart = RESTART[workload.restart_policy]
    rule = ("no restarts" if restart == "no" else f"Restart={restart} after {RESTART_SEC} s"
            + (f", growing to {RESTART_MAX_DELAY} s" if action.unit_backoff else ""))
    kind = (f"Quadlet file {file_name(unit)}" if action.unit_flavour is UnitFlavour.QUADLET
            else "unit file")
    lines = [f"systemd unit {unit} ({kind}): {rule}, enabled (starts again after a reboot)"]
    dependencies = unit_dependencies(workload, node_name, project, units, placed)
    if dependencies.required:
        lines.append("the node starts it after " + ", ".join(dependencies.required)
                     + " (Requires=/After=)")
    if dependencies.apply_only:
        lines.append("after apply the node does not enforce: "
                     + ", ".join(dependencies.apply_only))
    return tuple(lines)
