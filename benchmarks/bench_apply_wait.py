#!/usr/bin/env python3
"""Benchmark: how fast `ankplan apply` starts an ADD_COND_SUCCEEDED dependent once its job
exits, and what the wait costs in CPU, on the local Podman.

Does I/O: runs `ankplan apply` (this checkout's, or another one's with --python, e.g. main's
venv, to compare polling with events) as a process, on a job `stub job SECONDS 0` and a
dependent `stub idle` that needs it ADD_COND_SUCCEEDED; removes its containers after each run.
Delay: the job's `died` event time (`podman events`) to the dependent's `Pending(Starting)`
event in apply's NDJSON output (the moment apply decided to start it, right before its
`podman run`), both on this machine's clock. CPU: user+system seconds of the apply process and
every process it waited for (its podman commands and streams: RUSAGE_CHILDREN).
usage: bench_apply_wait.py [--python PY] [--runs 7] [--job 2] [--cpu-job 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from ankplan.podman.events import parse_event

IMAGE = "localhost/ankplan-demo:latest"
INVENTORY = "nodes:\n  local: {connection: local}\nagents: {main: local}\n"


def manifest(job_seconds: float) -> str:
    return (
        "apiVersion: v1\nworkloads:\n"
        "  migration:\n    runtime: podman\n    agent: main\n    runtimeConfig: |\n"
        f"      image: {IMAGE}\n      commandArgs: [stub, job, '{job_seconds:g}', '0']\n"
        "  app:\n    runtime: podman\n    agent: main\n"
        "    dependencies: {migration: ADD_COND_SUCCEEDED}\n    runtimeConfig: |\n"
        f"      image: {IMAGE}\n      commandArgs: [stub, idle]\n")


def died_at(project: str, since: float) -> float:
    """The time of the job's `died` event."""
    proc = subprocess.run(
        ["podman", "events", "--stream=false", "--since", f"{since:.3f}", "--format", "json",
         "--filter", f"label=ankplan.project={project}", "--filter", "event=died"],
        capture_output=True, text=True, timeout=60, check=True)
    for line in proc.stdout.splitlines():
        event = parse_event(line)
        if event is not None and event.name == "migration":
            return event.time
    raise RuntimeError(f"no died event of migration: {proc.stdout!r} {proc.stderr!r}")


def one_apply(python: str, folder: Path, job_seconds: float) -> tuple[float, float, float]:
    """(delay died -> Pending(Starting) of app, CPU seconds, wall seconds) of one apply."""
    project = f"bw-{uuid.uuid4().hex[:8]}"
    (folder / "manifest.yaml").write_text(manifest(job_seconds))
    (folder / "inventory.yaml").write_text(INVENTORY)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.time()
    proc = subprocess.run(
        [python, "-m", "ankplan", "apply", str(folder / "manifest.yaml"), "-i",
         str(folder / "inventory.yaml"), "--project", project, "--yes", "-o", "json"],
        capture_output=True, text=True, timeout=300, check=False)
    wall = time.time() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        if proc.returncode != 0:
            raise RuntimeError(f"apply failed: {proc.stdout}{proc.stderr}")
        starting = next(record["time"] for line in proc.stdout.splitlines()
                        if (record := json.loads(line)).get("type") == "event"
                        and record["workload"] == "app" and record["to"] == "Pending(Starting)")
        return starting - died_at(project, began - 1), cpu, wall
    finally:
        ids = subprocess.run(["podman", "ps", "-aq", "--filter",
                              f"label=ankplan.project={project}"],
                             capture_output=True, text=True, check=False).stdout.split()
        if ids:
            subprocess.run(["podman", "rm", "-f", "-t", "0", *ids], capture_output=True,
                           check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable,
                        help="the Python whose ankplan runs (default: this one)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--job", type=float, default=2.0, help="job seconds for the delay runs")
    parser.add_argument("--cpu-job", type=float, default=10.0, help="job seconds, CPU run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        delays = [one_apply(args.python, folder, args.job)[0] for _ in range(args.runs)]
        _, cpu, wall = one_apply(args.python, folder, args.cpu_job)
    print(f"ankplan: {args.python}")
    print(f"  died -> dependent's start (SUCCEEDED), {args.runs} runs: median "
          f"{statistics.median(delays) * 1000:.0f} ms  min {min(delays) * 1000:.0f} ms  "
          f"max {max(delays) * 1000:.0f} ms")
    print(f"  apply waiting {args.cpu_job:g} s for a job: {cpu:.2f} CPU-s (ankplan and its "
          f"podman commands), {wall:.1f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
