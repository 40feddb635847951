"""Resource use of running workloads (CPU %, memory usage / limit) for `get`: cells, JSON, text.

Pure: works on the `podman stats` samples of a LiveState (one call per node, read beside the
`ps`). Podman's CPU % is the average since the container started; its memory limit is the
node's memory when the container has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ankplan.model import ContainerStats, LiveState, ObservedContainer

NOT_SAMPLED = "-"  # a running container without a sample (just started, or stats failed)


def stats_by_container(live: LiveState) -> dict[tuple[str, str], ContainerStats]:
    """(node name, short container id) -> the container's sample, over every node."""
    return {(observation.node_name, sample.id[:12]): sample for observation in live.nodes
            for sample in observation.stats or ()}


def sample_of(container: ObservedContainer | None,
              samples: Mapping[tuple[str, str], ContainerStats]) -> ContainerStats | None:
    """The sample of a running container, else None."""
    if container is None or container.state != "running":
        return None
    return samples.get((container.node_name, container.id[:12]))


def cpu_text(container: ObservedContainer | None, sample: ContainerStats | None) -> str:
    """`0.92%`; `-` for a running container without a sample; "" when not running."""
    if container is None or container.state != "running":
        return ""
    if sample is None or sample.cpu_percent is None:
        return NOT_SAMPLED
    return f"{sample.cpu_percent:.2f}%"


def memory_text(container: ObservedContainer | None, sample: ContainerStats | None) -> str:
    """`409.6kB / 67.11MB` (usage / limit, as podman prints them)."""
    if container is None or container.state != "running":
        return ""
    return sample.memory_text if sample is not None and sample.memory_text else NOT_SAMPLED


def resources_record(sample: ContainerStats | None) -> dict[str, Any] | None:
    """The JSON form: `{"cpuPercent", "memoryUsageBytes", "memoryLimitBytes", "memory"}`."""
    if sample is None:
        return None
    return {"cpuPercent": sample.cpu_percent, "memoryUsageBytes": sample.memory_usage,
            "memoryLimitBytes": sample.memory_limit, "memory": sample.memory_text}


def resources_line(container: ObservedContainer | None, sample: ContainerStats | None) -> str:
    """`CPU 0.92%, memory 409.6kB / 67.11MB` for the detailed view; "" when not running."""
    cpu = cpu_text(container, sample)
    if not cpu:
        return ""
    if sample is None:
        return "no sample from podman stats"
    return f"CPU {cpu}, memory {memory_text(container, sample)}"
