#!/usr/bin/env python3
"""Benchmark: observing 3 test-bed nodes x 20 containers with ankplan vs a sequential ssh loop.

Does I/O: uses a running test bed (--bed DIR with bed.json) or brings one up with
scripts/testbed.py in --slot and takes it down again; creates and removes its own containers.
Prints wall times, SSH connections and podman calls per node, and what the reads beside the
`ps` cost: `podman images` (plan and apply, for rebuilt images), `podman stats` (get -o wide)
and the project's records in the workload folders (one `sh`; plan, apply, get, watch).
usage: bench_observe.py [--bed DIR | --slot N] [--containers 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ankplan.executors.observe import observe_nodes
from ankplan.executors.transport import CommandResult, TransportPool, connect
from ankplan.model import Connection, Node

REPO = Path(__file__).resolve().parent.parent
IMAGE = "localhost/ankplan-demo:latest"
LABEL = "ankplan.project=bench-observe"


class Counting:
    """A connector that counts connections and podman calls per node."""

    def __init__(self) -> None:
        self.connects: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def __call__(self, node: Node, *, accept_new_host_keys: bool) -> Any:
        self.connects[node.name] += 1
        inner = connect(node, accept_new_host_keys=accept_new_host_keys)
        counting = self

        class Wrapped:
            def __init__(self) -> None:
                self.node = inner.node

            def run(self, argv: Sequence[str], *, timeout: float,
                    stdin: str | None = None) -> CommandResult:
                counting.calls[node.name] += 1
                return inner.run(argv, timeout=timeout, stdin=stdin)

            def close(self) -> None:
                inner.close()

        return Wrapped()


def bed_nodes(bed: dict[str, Any]) -> list[Node]:
    """ankplan Nodes for every node of the bed."""
    bed_dir = Path(bed["dir"])
    return [Node(name=n["name"], connection=Connection.SSH, host=n["host"], port=n["port"],
                 user="root", identity_file=str(bed_dir / bed["key"]),
                 known_hosts_file=str(bed_dir / bed["known_hosts"]), connect_timeout=5)
            for n in bed["nodes"]]


def system_ssh(node: Node, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run argv on the node with OpenSSH's client (a new connection each time)."""
    ssh = ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=yes", "-o",
           f"UserKnownHostsFile={node.known_hosts_file}", "-o", "IdentitiesOnly=yes", "-o",
           "BatchMode=yes", "-i", node.identity_file, "-p", str(node.port),
           f"root@{node.host}", shlex.join(argv)]
    return subprocess.run(ssh, capture_output=True, text=True, timeout=300, check=False)


def populate(nodes: list[Node], count: int) -> None:
    """`count` labelled containers per node (half running, half created), nodes in parallel."""
    script = (f"for i in $(seq 1 {count}); do if [ $((i % 2)) -eq 0 ]; then "
              f"podman create --name bench-$i --label {LABEL} {IMAGE} true; else "
              f"podman run -d --name bench-$i --label {LABEL} {IMAGE} "
              "sh -c \"trap 'exit 0' TERM; sleep 600 & wait\"; fi; done >/dev/null")
    with ThreadPoolExecutor(max_workers=len(nodes)) as executor:
        results = list(executor.map(lambda node: system_ssh(node, ["sh", "-c", script]), nodes))
    for node, result in zip(nodes, results):
        if result.returncode != 0:
            raise SystemExit(f"populating {node.name} failed: {result.stderr.strip()}")


def cleanup(nodes: list[Node]) -> None:
    """Remove the benchmark's containers from every node."""
    script = f"podman rm -f -t 0 $(podman ps -aq --filter label={LABEL}) >/dev/null 2>&1; true"
    for node in nodes:
        system_ssh(node, ["sh", "-c", script])


def time_ankplan(nodes: list[Node], repeat: int, *, images: bool = False,
                 stats: bool = False, project: str | None = None
                 ) -> tuple[list[float], Counting, int]:
    """Cold observations (new pool each time): wall times, counts of the last, containers."""
    times: list[float] = []
    counting = Counting()
    containers = 0
    for _ in range(repeat):
        counting = Counting()
        started = time.perf_counter()
        with TransportPool(connector=counting) as pool:
            live = observe_nodes(pool, nodes, images=images, stats=stats, project=project)
        times.append(time.perf_counter() - started)
        errors = [o.error for o in live.nodes if o.error]
        if errors:
            raise SystemExit(f"observation failed: {errors}")
        containers = sum(len(o.containers) for o in live.nodes)
    return times, counting, containers


def time_warm(nodes: list[Node], repeat: int, *, images: bool = False,
              stats: bool = False, project: str | None = None) -> list[float]:
    """Observations on an already open pool (what watch and apply do after the first)."""
    with TransportPool() as pool:
        observe_nodes(pool, nodes)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            observe_nodes(pool, nodes, images=images, stats=stats, project=project)
            times.append(time.perf_counter() - started)
    return times


EXTRAS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ps only (logs)", {}),
    ("ps + records (watch)", {"project": "bench-observe"}),
    ("ps + images + records (plan, apply)", {"images": True, "project": "bench-observe"}),
    ("ps + stats + records (get -o wide/json)", {"stats": True, "project": "bench-observe"}))


def time_extras(nodes: list[Node], repeat: int) -> dict[str, tuple[list[float], list[float]]]:
    """Cold and warm observations with and without the reads beside the ps, interleaved
    round by round so that a busy machine weighs on every variant alike."""
    found: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label, _ in EXTRAS}
    for _ in range(repeat):
        for label, options in EXTRAS:
            cold, _, _ = time_ankplan(nodes, 1, **options)
            warm = time_warm(nodes, 1, **options)
            found[label][0].extend(cold)
            found[label][1].extend(warm)
    return found


def time_ssh_loop(nodes: list[Node], repeat: int) -> list[float]:
    """`for node: ssh node podman ps -a --format json`, sequentially."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for node in nodes:
            result = system_ssh(node, ["podman", "ps", "-a", "--format", "json"])
            if result.returncode != 0:
                raise SystemExit(f"ssh loop failed on {node.name}: {result.stderr.strip()}")
        times.append(time.perf_counter() - started)
    return times


def report(label: str, times: list[float]) -> None:
    print(f"  {label:<44} median {statistics.median(times):.3f} s   "
          f"min {min(times):.3f} s   max {max(times):.3f} s")


def benchmark(bed: dict[str, Any], count: int, repeat: int) -> None:
    nodes = bed_nodes(bed)
    cleanup(nodes)
    populate(nodes, count)
    try:
        all_times, counting, containers = time_ankplan(nodes, repeat)
        one_times, _, _ = time_ankplan(nodes[:1], repeat)
        warm = time_warm(nodes, repeat)
        loop = time_ssh_loop(nodes, repeat)
        extras = time_extras(nodes, repeat)
    finally:
        cleanup(nodes)
    print(f"observe: {len(nodes)} nodes x {count} containers ({containers} seen), "
          f"{repeat} runs each")
    report(f"ankplan, {len(nodes)} nodes (connect + 1 ps each)", all_times)
    report("ankplan, 1 node (connect + 1 ps)", one_times)
    report(f"ankplan, {len(nodes)} nodes, connections kept open", warm)
    report(f"system ssh loop, {len(nodes)} nodes sequential", loop)
    print("  per node (last run): " + ", ".join(
        f"{name}: {counting.connects[name]} connection, {counting.calls[name]} podman call"
        for name in sorted(counting.connects)))
    ratio = statistics.median(all_times) / statistics.median(one_times)
    print(f"  {len(nodes)} nodes cost {ratio:.2f}x one node; the ssh loop costs "
          f"{statistics.median(loop) / statistics.median(all_times):.2f}x ankplan")
    print(f"reads beside the ps, {len(nodes)} nodes, interleaved (cold: connect first; warm: "
          "connections kept open)")
    base_cold, base_warm = (statistics.median(t) for t in extras[EXTRAS[0][0]])
    for label, (cold, warm) in extras.items():
        print(f"  {label:<40} cold median {statistics.median(cold):.3f} s "
              f"({statistics.median(cold) - base_cold:+.3f})   warm median "
              f"{statistics.median(warm):.3f} s ({statistics.median(warm) - base_warm:+.3f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bed", help="folder of a running test bed (bed.json)")
    parser.add_argument("--slot", type=int, default=5, help="test-bed slot if none is given")
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if args.bed:
        benchmark(json.loads((Path(args.bed) / "bed.json").read_text()), args.containers,
                  args.repeat)
        return 0
    with tempfile.TemporaryDirectory(prefix="ankplan-bench-") as bed_dir:
        testbed = [sys.executable, str(REPO / "scripts" / "testbed.py")]
        subprocess.run([*testbed, "up", "--nodes", "3", "--dir", bed_dir, "--slot",
                        str(args.slot), "--owner", "bench"], check=True)
        try:
            benchmark(json.loads((Path(bed_dir) / "bed.json").read_text()), args.containers,
                      args.repeat)
        finally:
            subprocess.run([*testbed, "down", "--dir", bed_dir], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
