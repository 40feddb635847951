"""Many real SSH nodes: apply converges on 10 test-bed nodes, and --forks 10 beats --forks 1.

Brings up its own 10-node bed in a slot of its own (claimed like the session bed, so parallel
test sessions never share it) and takes it down at the end. Every node gets a server and a
dependent workload; each dependent needs its own node's server and the previous node's (a
cross-node dependency). benchmarks/bench_many_nodes.py measures the same on 30 nodes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import TestBed, claim_slot, load_bed, run_testbed

pytestmark = pytest.mark.integration

NODES = 10
IMAGE = "localhost/ankplan-demo:latest"


@pytest.fixture(scope="module")
def many_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBed]:
    """A 10-node bed in its own slot, down at the end."""
    slot, lock_fd = claim_slot()
    bed_dir = tmp_path_factory.mktemp("many-nodes-bed")
    try:
        proc = run_testbed("up", "--nodes", str(NODES), "--dir", str(bed_dir), "--slot",
                           str(slot), "--owner", "pytest")
        if proc.returncode != 0:
            pytest.fail(f"the 10-node bed did not come up: {proc.stderr or proc.stdout}")
        yield load_bed(bed_dir)
    finally:
        run_testbed("down", "--dir", str(bed_dir))
        os.close(lock_fd)


def manifest_text(bed: TestBed) -> str:
    """Per node i: `s<i>` serves 8080; `c<i>` needs s<i> and s<i-1> (on the previous node).

    `c<i>` idles rather than polling the servers: a 1 s check that times out on a loaded
    machine would make it exit, and this test is about scheduling, not the stub."""
    lines = ["apiVersion: v1", "workloads:"]
    for index, node in enumerate(bed.nodes):
        lines += [f"  s{index}:", "    runtime: podman", f"    agent: {node.name}",
                  "    runtimeConfig: |", f"      image: {IMAGE}",
                  '      commandOptions: ["--network", "host"]',
                  '      commandArgs: ["stub", "serve", "8080"]']
        lines += [f"  c{index}:", "    runtime: podman", f"    agent: {node.name}",
                  "    dependencies:", f"      s{index}: ADD_COND_RUNNING",
                  f"      s{(index - 1) % len(bed.nodes)}: ADD_COND_RUNNING",
                  "    runtimeConfig: |", f"      image: {IMAGE}",
                  '      commandOptions: ["--network", "host"]',
                  '      commandArgs: ["stub", "idle"]']
    return "\n".join(lines) + "\n"


class Fleet:
    """The manifest, inventory and project of this module, and ankplan runs on them."""

    def __init__(self, bed: TestBed, folder: Path) -> None:
        self.bed = bed
        self.project = f"many-{uuid.uuid4().hex[:8]}"
        self.manifest = folder / "manifest.yaml"
        self.manifest.write_text(manifest_text(bed))
        self.inventory = bed.write_inventory(folder / "inventory.yaml",
                                             {n.name: n.name for n in bed.nodes})

    def ankplan(self, command: str, *extra: str) -> tuple[int, float, str]:
        """(exit code, wall seconds, output) of `ankplan COMMAND` on the fleet."""
        argv = [sys.executable, "-m", "ankplan", command, str(self.manifest), "-i",
                str(self.inventory), "--project", self.project, *extra]
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180,
                              stdin=subprocess.DEVNULL, check=False)
        return done.returncode, time.perf_counter() - started, done.stdout + done.stderr

    def apply(self, forks: int) -> float:
        """Apply from empty with --forks/--parallelism `forks`; asserts success; seconds."""
        code, seconds, output = self.ankplan("apply", "--yes", "--forks", str(forks),
                                             "--parallelism", str(forks))
        assert code == 0, output
        return seconds

    def destroy(self) -> None:
        code, _, output = self.ankplan("destroy", "--yes", "--forks", "10",
                                       "--parallelism", "10")
        assert code == 0, output

    def warm_up(self) -> None:
        """Run and remove one throw-away container on every node, in parallel."""
        def once(node: str) -> None:
            done = self.bed.podman(node, "run", "--rm", "--network", "host", IMAGE, "true")
            assert done.returncode == 0, done.stderr
        with ThreadPoolExecutor(max_workers=NODES) as pool:
            list(pool.map(once, [n.name for n in self.bed.nodes]))

    def running(self) -> dict[str, set[str]]:
        """node name -> names of this project's running containers there (read over ssh)."""
        def names(node: str) -> set[str]:
            done = self.bed.podman(node, "ps", "--filter", f"label=ankplan.project={self.project}",
                                   "--filter", "status=running", "--format", "{{.Names}}")
            assert done.returncode == 0, done.stderr
            return set(done.stdout.split())
        with ThreadPoolExecutor(max_workers=NODES) as pool:
            nodes = [n.name for n in self.bed.nodes]
            return dict(zip(nodes, pool.map(names, nodes)))


@pytest.fixture(scope="module")
def fleet(many_nodes: TestBed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    made = Fleet(many_nodes, tmp_path_factory.mktemp("many-nodes"))
    yield made
    made.ankplan("destroy", "--yes", "--forks", "10", "--parallelism", "10")


def test_apply_converges_on_10_nodes_and_forks_10_beats_forks_1(fleet: Fleet) -> None:
    expected = {node.name: {f"s{i}", f"c{i}"} for i, node in enumerate(fleet.bed.nodes)}
    empty = {node.name: set() for node in fleet.bed.nodes}
    fleet.warm_up()  # a fresh node's first container costs more: keep that out of the timing
    serial = fleet.apply(forks=1)
    assert fleet.running() == expected
    code, _, output = fleet.ankplan("plan", "--detailed-exitcode", "--forks", "10")
    assert code == 0 and "No changes." in output, output
    fleet.destroy()
    assert fleet.running() == empty

    parallel = fleet.apply(forks=10)
    assert fleet.running() == expected
    code, serial_plan, output = fleet.ankplan("plan", "--detailed-exitcode", "--forks", "1")
    assert code == 0, output
    code, parallel_plan, output = fleet.ankplan("plan", "--detailed-exitcode", "--forks", "10")
    assert code == 0, output

    print(f"\n10 nodes: apply --forks 1 {serial:.2f}s, --forks 10 {parallel:.2f}s; plan --forks 1 "
          f"{serial_plan:.2f}s, --forks 10 {parallel_plan:.2f}s")
    # Generous margins. Starting containers is CPU-bound on these 2 shared cores (all 10
    # nodes' podman run on the same CPUs), so apply gains only 1.1-2x here; on real hosts each
    # node brings its own CPU. A no-change plan is bound by SSH round trips and gains ~3x.
    assert parallel < serial, f"apply --forks 10 {parallel:.1f}s vs --forks 1 {serial:.1f}s"
    assert parallel_plan * 1.5 < serial_plan, (f"plan --forks 10 {parallel_plan:.2f}s vs "
                                               f"--forks 1 {serial_plan:.2f}s")
