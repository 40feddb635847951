"""Parsers of podman's JSON output (`ps`, `info`) into ankplan's values.

Pure: no I/O. Tested against recorded podman 4.3.1 output in tests/podman/fixtures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ankplan.errors import AnkplanError
from ankplan.model import LABEL_RESTART_COUNT, ObservedContainer

# Go's zero time as unix seconds: podman reports it for "never started" / "never exited".
_GO_ZERO_TIME = -62135596800
_HEALTH_IN_STATUS = re.compile(r"\((healthy|unhealthy|starting)\)\s*$")


class PodmanOutputError(AnkplanError):
    """Podman printed something that is not the JSON ankplan asked for."""


def _load_json(text: str, what: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped == "null":
        return None
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as error:
        first = stripped.splitlines()[0][:80]
        raise PodmanOutputError(f"{what}: podman printed no JSON ({error.msg}): {first!r}",
                                hint="is the podman command on that node really podman?"
                                ) from None


def parse_ps(text: str, node_name: str) -> tuple[ObservedContainer, ...]:
    """Containers from `podman ps -a --format json`, sorted by name then id.

    Empty output and `null` mean no containers; missing fields get neutral defaults.
    """
    data = _load_json(text, f"node {node_name}: podman ps")
    if data is None:
        return ()
    if not isinstance(data, list):
        raise PodmanOutputError(f"node {node_name}: podman ps: expected a JSON list")
    containers = (_container(entry, node_name) for entry in data if isinstance(entry, dict))
    return tuple(sorted(containers, key=lambda c: (c.name, c.id)))


def _container(entry: Mapping[str, Any], node_name: str) -> ObservedContainer:
    labels = entry.get("Labels") or {}
    label_pairs = tuple(sorted((str(k), str(v)) for k, v in labels.items()))
    names = entry.get("Names") or []
    name = names[0] if isinstance(names, list) and names else str(names or "")
    return ObservedContainer(
        id=str(entry.get("Id") or ""),
        name=str(name),
        node_name=node_name,
        image=str(entry.get("Image") or ""),
        state=str(entry.get("State") or "unknown").lower(),
        exit_code=_as_int(entry.get("ExitCode"), 0),
        started_at=_unix_time(entry.get("StartedAt")),
        finished_at=_unix_time(entry.get("ExitedAt")),
        health=parse_health_status(str(entry.get("Status") or "")),
        labels=label_pairs,
        restart_count=max(0, _as_int(labels.get(LABEL_RESTART_COUNT), 0)),
    )


def parse_health_status(status: str) -> str:
    """"healthy", "unhealthy" or "starting" from a ps Status like "Up 3 s ago (healthy)"."""
    match = _HEALTH_IN_STATUS.search(status)
    return match.group(1) if match else ""


def _as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _unix_time(value: Any) -> float:
    seconds = _as_int(value, 0)
    return float(seconds) if seconds > 0 and seconds != _GO_ZERO_TIME else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PodmanInfo:
    """The parts of `podman info` that `ankplan nodes` shows and the apply lock needs."""

    version: str
    api_version: str = ""
    oci_runtime: str = ""  # e.g. "runc"
    oci_runtime_version: str = ""  # first line of the runtime's version output
    rootless: bool = False
    run_root: str = ""  # per-Podman run directory; holds node-local files such as locks
    graph_root: str = ""
    tmp_dir: str = ""  # engine tmp_dir; podman 4.3 does not report it, so often ""
    containers: int = 0  # every container in this storage, owned or not

    @property
    def version_tuple(self) -> tuple[int, ...]:
        """The version as numbers, e.g. (4, 3, 1); non-numeric parts are dropped."""
        return tuple(int(part) for part in re.findall(r"\d+", self.version)[:3])


def parse_info(text: str) -> PodmanInfo:
    """`podman info --format json` -> PodmanInfo; missing sections give empty fields."""
    data = _load_json(text, "podman info")
    if not isinstance(data, dict):
        raise PodmanOutputError("podman info: expected a JSON object")
    host = data.get("host") or {}
    store = data.get("store") or {}
    version = data.get("version") or {}
    runtime = host.get("ociRuntime") or {}
    security = host.get("security") or {}
    runtime_version = str(runtime.get("version") or "").splitlines()
    return PodmanInfo(
        version=str(version.get("Version") or ""),
        api_version=str(version.get("APIVersion") or ""),
        oci_runtime=str(runtime.get("name") or ""),
        oci_runtime_version=runtime_version[0] if runtime_version else "",
        rootless=bool(security.get("rootless", host.get("rootless", False))),
        run_root=str(store.get("runRoot") or ""),
        graph_root=str(store.get("graphRoot") or ""),
        tmp_dir=str(host.get("tmpDir") or data.get("tmpDir") or ""),
        containers=_as_int((store.get("containerStore") or {}).get("number"), 0),
    )
