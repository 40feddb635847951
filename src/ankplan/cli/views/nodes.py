"""Renders the `ankplan nodes` report: an aligned table with a summary line, or JSON records.

Pure: returns strings and dicts; the CLI prints them.
"""

from __future__ import annotations

from typing import Any

from ankplan.executors.observe import NodeInfo

COLUMNS = ("NODE", "ADDRESS", "STATUS", "EVENTS", "HOST KEY", "PODMAN", "RUNTIME", "MODE",
           "OWNED")


def node_info_json(info: NodeInfo) -> dict[str, Any]:
    """One node of the JSON report; field names are stable."""
    podman = info.podman
    return {
        "name": info.node_name,
        "address": info.address,
        "ok": info.ok,
        "reachable": info.reachable,
        "host_key": info.host_key or None,
        "host_key_status": info.host_key_status or None,
        "podman_version": podman.version if podman else None,
        "oci_runtime": podman.oci_runtime if podman else None,
        "rootless": podman.rootless if podman else None,
        "run_root": podman.run_root if podman else None,
        "containers": podman.containers if podman else None,
        "owned_containers": info.owned_containers if podman else None,
        "events": info.events or None,
        "seconds": round(info.duration, 3),
        "error": info.error,
        "hint": info.hint or None,
    }


def render_text(infos: tuple[NodeInfo, ...]) -> str:
    """An aligned table, one row per node, then a one-line summary."""
    rows = [COLUMNS, *(_row(info) for info in infos)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in rows]
    failed = sum(1 for info in infos if not info.ok)
    lines.append("")
    lines.append(f"{len(infos)} node{'s' if len(infos) != 1 else ''}: "
                 f"{len(infos) - failed} ok, {failed} failed.")
    return "\n".join(lines) + "\n"


def _row(info: NodeInfo) -> tuple[str, ...]:
    podman = info.podman
    if info.ok:
        status = "ok"
    else:
        status = "podman failed" if info.reachable else "failed"
    host_key = f"{info.host_key_status} {info.host_key}".strip() if info.host_key else "-"
    events = info.events.split(" ")[0] if info.events else "-"  # the reason is in JSON
    if not podman:
        return (info.node_name, info.address, status, events, host_key, "-", "-", "-", "-")
    mode = "rootless" if podman.rootless else "rootful"
    return (info.node_name, info.address, status, events, host_key, podman.version or "?",
            podman.oci_runtime or "?", mode, str(info.owned_containers))
