"""Parsers of podman's JSON output (`ps`, `info`, `images`, `stats`) into ankplan's values.

Pure: no I/O. Tested against recorded podman 4.3.1 output in tests/podman/fixtures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ankplan.errors import AnkplanError
from ankplan.model import LABEL_RESTART_COUNT, ContainerStats, ObservedContainer

# Go's zero time as unix seconds: podman reports it for "never started" / "never exited".
_GO_ZERO_TIME = -62135596800
_HEALTH_IN_STATUS = re.compile(r"\((healthy|unhealthy|starting)\)\s*$")


class PodmanOutputError(AnkplanError):
    """Podman printed something that is not the JSON ankplan asked for."""


def load_json(text: str, what: str) -> Any:
    """Podman's JSON output; None for empty output or `null`, PodmanOutputError for non-JSON."""
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
    data = load_json(text, f"node {node_name}: podman ps")
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
        image_id=str(entry.get("ImageID") or ""),
        pod_id=str(entry.get("Pod") or ""),
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
    data = load_json(text, "podman info")
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


def parse_images(text: str) -> tuple[tuple[str, str], ...]:
    """(image name, full id) pairs from `podman images --format json`, sorted by name.

    Names are the tags (`localhost/app:latest`) and the digests (`localhost/app@sha256:...`).
    Podman lists its writable store before additional read-only ones, and it resolves a name
    found in both to the writable store's image: the first id listed for a name wins.
    """
    data = load_json(text, "podman images")
    if data is None:
        return ()
    if not isinstance(data, list):
        raise PodmanOutputError("podman images: expected a JSON list")
    ids: dict[str, str] = {}
    for entry in data:
        if not isinstance(entry, dict) or not entry.get("Id"):
            continue
        for name in [*(entry.get("Names") or []), *(entry.get("RepoDigests") or [])]:
            ids.setdefault(str(name), str(entry["Id"]))
    return tuple(sorted(ids.items()))


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKMGTPE]?i?B)\s*$")
_SIZE_FACTORS = {"B": 1, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
                 "PB": 1000**5, "EB": 1000**6, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3,
                 "TiB": 1024**4, "PiB": 1024**5, "EiB": 1024**6}


def parse_size(text: str) -> int | None:
    """Bytes from podman's human sizes (`569.3kB`, `67.11MB`, `2GiB`); None when unreadable."""
    match = _SIZE.match(text)
    if not match or match.group(2) not in _SIZE_FACTORS:
        return None
    return round(float(match.group(1)) * _SIZE_FACTORS[match.group(2)])


def _percent(value: Any) -> float | None:
    try:
        return float(str(value).strip().rstrip("%"))
    except ValueError:
        return None


def parse_stats(text: str) -> tuple[ContainerStats, ...]:
    """Resource use from `podman stats --no-stream --format json`, sorted by id.

    Podman 4.3 prints formatted strings: `"cpu_percent": "1.27%"`, `"mem_usage": "569.3kB /
    67.11MB"` (the limit is the node's memory when none is set).
    """
    data = load_json(text, "podman stats")
    if data is None:
        return ()
    if not isinstance(data, list):
        raise PodmanOutputError("podman stats: expected a JSON list")
    stats = []
    for entry in data:
        if not isinstance(entry, dict) or not entry.get("id"):
            continue
        memory = str(entry.get("mem_usage") or "")
        usage, _, limit = memory.partition("/")
        stats.append(ContainerStats(
            id=str(entry["id"]), cpu_percent=_percent(entry.get("cpu_percent")),
            memory_usage=parse_size(usage), memory_limit=parse_size(limit),
            memory_text=" / ".join(part.strip() for part in memory.split("/"))))
    return tuple(sorted(stats, key=lambda s: s.id))
