"""What project identity and big specs cost: the spec label of a big argument, and `plan` of a
fleet made by the previous release (every container adopted) next to one named explicitly.

Pure: no podman, no network. usage: python3 benchmarks/bench_identity.py [--sizes 1000,4000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from ankplan.model import (
    Inventory,
    LiveState,
    Manifest,
    Node,
    NodeObservation,
    ObservedContainer,
    PodmanConfig,
    Project,
    Workload,
)
from ankplan.planner.hashing import canonical_json, canonical_spec, labels_for
from ankplan.planner.plan import plan


def workload(name: str, args: tuple[str, ...] = ()) -> Workload:
    return Workload(name=name, agent="a", runtime="podman", runtime_config_text="",
                    runtime_config=PodmanConfig(image="localhost/x:1", command_args=args,
                                                command_options=("-e", f"K={name}")))


def label_sizes() -> None:
    for size in (1_000, 100_000):
        big = workload("big", ("stub", "idle", "x" * size))
        labels = labels_for(big, "app-1a2b3c4d", "host:/srv/app/m.yaml")
        full = len(canonical_json(canonical_spec(big)))
        print(f"{size:>7,}-byte argument: spec label {len(labels['ankplan.spec']):,} characters "
              f"(the canonical spec in full: {full:,}); all labels "
              f"{sum(len(k) + len(v) for k, v in labels.items()):,}")


def plan_seconds(count: int, project: str | Project, runs: int = 5) -> float:
    workloads = tuple(workload(f"w{index}") for index in range(count))
    manifest = Manifest(api_version="v1", workloads=workloads)
    inventory = Inventory(nodes=(Node(name="n"),), agents=(("a", "n"),))
    # Labelled as the previous release labels: project = the folder name, no source label.
    containers = tuple(ObservedContainer(
        id=f"{index:064x}", name=item.name, node_name="n", image="localhost/x:1",
        state="running", labels=tuple(sorted(labels_for(item, "app").items())))
        for index, item in enumerate(workloads))
    live = LiveState(nodes=(NodeObservation(node_name="n", containers=containers),))
    if isinstance(project, Project):
        project = Project(name=project.name, legacy_name="app", legacy_workloads=manifest.names())
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        result = plan(manifest, inventory, live, project=project)
        timings.append(time.perf_counter() - began)
    assert result.is_empty(), "every container is the project's: no change"
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,4000")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    label_sizes()
    for count in sizes:
        explicit = plan_seconds(count, "app")
        adopted = plan_seconds(count, Project(name="app-1a2b3c4d"))
        print(f"plan of {count:,} converged workloads: named explicitly {explicit:.3f} s, "
              f"derived name adopting all {count:,} old containers {adopted:.3f} s "
              f"(median of 5)")


if __name__ == "__main__":
    main()
