#!/usr/bin/env python3
"""Benchmark: `ankplan apply` of 1,000 workloads over 10 SSH test-bed nodes from empty: wall time,
the most threads the ankplan process had, and its peak memory (VmHWM).

Does I/O: brings up a 10-node test bed in a free slot (benchmarks/bedslot.py), writes a manifest
of 100 workloads per node in chains of 10 (each needs the previous one RUNNING), runs `ankplan
apply` as a process and samples /proc/<pid>/status every 50 ms, then destroys everything and
takes the bed down. Long: several minutes on 2 cores (1,000 containers are made and removed).
usage: bench_thousand.py [--nodes 10] [--per-node 100] [--slot S]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bedslot import running_bed
from bench_many_nodes import ankplan, timed, warm_up

PROJECT = "bench-thousand"
IMAGE = "localhost/ankplan-demo:latest"
CHAIN = 10


def manifest_text(nodes: int, per_node: int) -> str:
    """`per_node` idle workloads per node, in chains of CHAIN (ADD_COND_RUNNING)."""
    lines = ["apiVersion: v1", "workloads:"]
    for node in range(1, nodes + 1):
        for index in range(per_node):
            lines += [f"  w{node}-{index}:", "    runtime: podman", f"    agent: node{node}"]
            if index % CHAIN:
                lines += ["    dependencies:", f"      w{node}-{index - 1}: ADD_COND_RUNNING"]
            lines += ["    runtimeConfig: |", f"      image: {IMAGE}",
                      "      commandArgs: [stub, idle]"]
    return "\n".join(lines) + "\n"


def status_fields(pid: int) -> dict[str, int]:
    """Threads and VmHWM (kB) of a running process; {} once it ended."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("Threads", "VmHWM", "VmRSS"):
            found[key] = int(value.split()[0])
    return found


def measured_apply(argv: list[str]) -> tuple[float, int, int, int]:
    """(wall seconds, exit code, most threads, peak RSS kB) of one ankplan process."""
    began = time.perf_counter()
    # stderr goes to a file: apply reports progress there, and a pipe nobody reads until the
    # end fills up (64 KB) and stops the apply on its next write, which hung earlier runs.
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors,
                                   stdin=subprocess.DEVNULL, text=True)
        threads = peak = 0
        while process.poll() is None:
            fields = status_fields(process.pid)
            threads = max(threads, fields.get("Threads", 0))
            peak = max(peak, fields.get("VmHWM", 0))
            time.sleep(0.05)
        if process.returncode != 0:
            errors.seek(0)
            print(errors.read()[-3000:], file=sys.stderr)
    return time.perf_counter() - began, process.returncode, threads, peak


def benchmark(bed: dict[str, Any], per_node: int) -> None:
    nodes = len(bed["nodes"])
    inventory = Path(bed["dir"]) / bed["inventory"]
    with tempfile.TemporaryDirectory(prefix="ankplan-bench-thousand-") as folder:
        manifest = Path(folder) / "manifest.yaml"
        manifest.write_text(manifest_text(nodes, per_node))
        common = [str(manifest), "-i", str(inventory), "--project", PROJECT]
        warm_up(bed)
        try:
            argv = ankplan("apply", "--yes", *common, "--forks", "10", "--parallelism", "10",
                           "--timeout", "600")
            seconds, code, threads, peak = measured_apply(argv)
            total = nodes * per_node
            print(f"apply of {total} workloads ({per_node} per node, chains of {CHAIN}) over "
                  f"{nodes} SSH test-bed nodes from empty, --forks 10 --parallelism 10")
            print(f"  command: {' '.join(argv[-10:])}")
            print(f"  wall {seconds:.1f} s, exit {code}, at most {threads} threads, peak memory "
                  f"(VmHWM) {peak / 1024:.1f} MB")
            print(f"verdict: {total} workloads over {nodes} nodes: {threads} threads at most "
                  f"({'bounded' if threads < total / 4 else 'NOT bounded'}), peak "
                  f"{peak / 1024:.0f} MB (target < 150 MB: "
                  f"{'met' if peak / 1024 < 150 else 'NOT met'})")
        finally:
            timed(ankplan("destroy", "--yes", *common, "--forks", "10", "--parallelism", "10"),
                  expect=(0, 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--per-node", type=int, default=100)
    parser.add_argument("--slot", type=int, default=None, help="test-bed slot (default: free)")
    args = parser.parse_args(argv)
    with running_bed(args.nodes, slot=args.slot, owner="bench-thousand") as bed:
        benchmark(bed, args.per_node)
    return 0


if __name__ == "__main__":
    sys.exit(main())
