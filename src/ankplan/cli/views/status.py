"""How workload status is shown: the `get workloads` table (fitted to the terminal), the
detailed `get workload NAME` view, and the JSON/YAML records.

Pure except `print_status_table`, which writes to the Env's stdout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ankplan.cli.env import Env
from ankplan.cli.views.resources import (
    cpu_text,
    memory_text,
    resources_line,
    resources_record,
    sample_of,
)
from ankplan.cli.views.table import Column, print_table
from ankplan.model import LABEL_UNIT, ContainerStats, State, SubState
from ankplan.planner.workload_status import WorkloadStatus

Samples = Mapping[tuple[str, str], ContainerStats]  # (node, short container id) -> sample

# Keyed by str: the watch table looks its display strings up here too.
STATE_STYLE: dict[str, str] = {
    State.RUNNING: "green", State.SUCCEEDED: "cyan", State.FAILED: "red", State.PENDING: "yellow",
    State.AGENT_DISCONNECTED: "magenta", State.STOPPING: "yellow"}


def print_status_table(env: Env, statuses: Sequence[WorkloadStatus], now: float, *,
                       wide: bool, samples: Samples | None = None) -> None:
    """The `get workloads` table: fitted to the terminal, or every wide column with `wide`
    (UNIT only when a systemd unit runs one of the workloads)."""
    units = any(_unit_record(status) for status in statuses)
    print_table(env, status_columns(now, samples, units=units), statuses, wide=wide)


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


def status_columns(now: float, samples: Samples | None = None, *, units: bool = False
                   ) -> tuple[Column[WorkloadStatus], ...]:
    """The `get workloads` columns; the wide ones appear only with `-o wide` (CPU % and
    memory usage / limit of running workloads from `samples`, and with `units` the state of
    the systemd unit that runs a workload). Priorities: the name and state always show; on a
    narrow terminal the agent goes first, the node last."""
    def exit_code(status: WorkloadStatus) -> str:
        return "" if status.exit_code is None else str(status.exit_code)

    def container_id(status: WorkloadStatus) -> str:
        return status.container.id[:12] if status.container else ""

    return (
        Column(header="WORKLOAD NAME", cell=lambda s: s.name),
        Column(header="AGENT", cell=lambda s: s.workload.agent, priority=6),
        Column(header="NODE", cell=lambda s: s.node_name or "-", priority=1),
        Column(header="EXECUTION STATE", cell=lambda s: str(s.state), style=state_style),
        Column(header="RESTARTS", cell=lambda s: str(s.restart_count), priority=2),
        Column(header="EXIT CODE", cell=exit_code, priority=5),
        Column(header="UPTIME", cell=lambda s: duration_text(s.uptime(now)), priority=3),
        Column(header="ADDITIONAL INFO", cell=_info, priority=4, elastic=True),
        Column(header="CONTAINER", cell=container_id, wide=True),
        Column(header="IMAGE", cell=lambda s: s.container.image if s.container else "",
               wide=True),
        Column(header="WAITING FOR", cell=lambda s: ", ".join(s.waiting_for), wide=True),
        Column(header="CPU", cell=lambda s: cpu_text(s.container, sample_of(
            s.container, samples or {})), wide=True),
        Column(header="MEMORY", cell=lambda s: memory_text(s.container, sample_of(
            s.container, samples or {})), wide=True),
    ) + ((Column(header="UNIT", cell=_unit_cell, wide=True),) if units else ())


def _unit_cell(status: WorkloadStatus) -> str:
    """The systemd unit's state of a workload a unit runs (`-o wide`), else empty."""
    container = status.container
    return container.unit_state if container is not None else ""


def _unit_record(status: WorkloadStatus) -> dict[str, str | None] | None:
    """The unit that runs the workload for json/yaml (its state None until read), else None."""
    container = status.container
    if container is None or not container.label(LABEL_UNIT):
        return None
    return {"name": container.label(LABEL_UNIT), "state": container.unit_state or None}


def state_style(status: WorkloadStatus) -> str:
    """The colour of a workload's execution state."""
    return STATE_STYLE.get(status.state.state, "")


def _iso(seconds: float) -> str | None:
    if not seconds:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def status_record(status: WorkloadStatus, now: float,
                  samples: Samples | None = None) -> dict[str, Any]:
    """The JSON/YAML form of one workload's status; `resources` only for a running one."""
    container, state = status.container, status.state
    return {
        "name": status.name, "agent": status.workload.agent, "node": status.node_name or None,
        # str(): plain strings, as yaml.safe_dump refuses str subclasses such as the enums
        "executionState": {"state": str(state.state), "subState": str(state.sub_state or ""),
                           "additionalInfo": state.info},
        "restartPolicy": status.workload.restart_policy.value,
        "restartCount": status.restart_count, "exitCode": status.exit_code,
        "uptimeSeconds": None if status.uptime(now) is None else int(status.uptime(now) or 0),
        "health": container.health or None if container else None,
        "container": None if container is None else {
            "id": container.id, "name": container.name, "image": container.image,
            "startedAt": _iso(container.started_at), "finishedAt": _iso(container.finished_at),
            **({"pods": list(container.pods)} if container.pods else {})},
        "unit": _unit_record(status),
        "waitingFor": list(status.waiting_for),
        "resources": resources_record(sample_of(container, samples or {})),
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
    if state.state == State.FAILED and status.exit_code is not None:
        lines = [f"Container exited with code {status.exit_code}"]
    elif (state.state in (State.FAILED, State.AGENT_DISCONNECTED)
          or state.sub_state == SubState.STARTING_FAILED):
        lines = [state.info or str(state)]
    else:
        return []
    return lines + [f"  | {line}" for line in logs.splitlines()]


def detail_text(status: WorkloadStatus, now: float, logs: str = "",
                samples: Samples | None = None) -> str:
    """The guide's `get workload NAME` view: state, dependencies, restarts, container,
    resources."""
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
    if container is not None and container.label(LABEL_UNIT):
        lines.append(f"{'systemd unit:':<17}{container.label(LABEL_UNIT)} "
                     f"{container.unit_state or '(state not read)'}")
    if container is not None and status.restart_count and container.started_at:
        lines.append(f"{'Last restart:':<17}{_ago(container.started_at, now)}")
    error = _last_error(status, logs)
    if error:
        lines.append(f"{'Last error:':<17}{error[0]}")
        lines += [f"{'':<17}{line}" for line in error[1:]]
    if container is not None and container.pods:
        lines.append(f"{'Pods:':<17}{', '.join(container.pods)} on {container.node_name} "
                     f"({container.image})")
    elif container is not None:
        lines.append(f"{'Container:':<17}{container.id[:12]} on {container.node_name} "
                     f"({container.name}, {container.image})")
    if container is not None:
        if container.health:
            lines.append(f"{'Health:':<17}{container.health}")
        if status.uptime(now) is not None:
            lines.append(f"{'Uptime:':<17}{duration_text(status.uptime(now))}")
        resources = resources_line(container, sample_of(container, samples or {}))
        if resources:
            lines.append(f"{'Resources:':<17}{resources}")
    return "\n".join(lines) + "\n"
