#!/usr/bin/env python3
"""Benchmark: how fast `ankplan apply` starts an ADD_COND_SUCCEEDED dependent once its job
exits, and what the wait costs in CPU, on the local Podman or (--ssh) on 2 SSH test-bed nodes.

Does I/O: runs `ankplan apply` (this checkout's, or another one's with --python, e.g. main's
venv, to compare polling with events) as a process, on a job `stub job SECONDS 0` and a
dependent `stub idle` that needs it ADD_COND_SUCCEEDED; removes its containers after each run.
Delay: the job's `died` event time (`podman events`) to the dependent's `Pending(Starting)`
event in apply's NDJSON output (the moment apply decided to start it, right before its
`podman run`), both on this machine's clock. CPU: user+system seconds of the apply process and
every process it waited for (its podman commands and streams: RUSAGE_CHILDREN), and with --ssh
every process under the nodes' sshd (sessions, shells, podman).
usage: bench_apply_wait.py [--python PY] [--runs 7] [--job 2] [--cpu-job 10] [--ssh]
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
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bedslot import running_bed
from bench_watch import bed_nodes, descendants_cpu, system_ssh

from ankplan.model import Node
from ankplan.podman.events import parse_event

IMAGE = "localhost/ankplan-demo:latest"


def manifest(job_seconds: float, dependent_agent: str) -> str:
    return (
        "apiVersion: v1\nworkloads:\n"
        "  migration:\n    runtime: podman\n    agent: main\n    runtimeConfig: |\n"
        f"      image: {IMAGE}\n      commandArgs: [stub, job, '{job_seconds:g}', '0']\n"
        f"  app:\n    runtime: podman\n    agent: {dependent_agent}\n"
        "    dependencies: {migration: ADD_COND_SUCCEEDED}\n    runtimeConfig: |\n"
        f"      image: {IMAGE}\n      commandArgs: [stub, idle]\n")


class Target:
    """Where the job and its dependent run: the local Podman (both), or with `nodes` (SSH,
    from a test bed) the job on the first node and the dependent on the second."""

    def __init__(self, nodes: Sequence[Node] = (), sshd_pids: Sequence[int] = ()) -> None:
        self.nodes, self.sshd_pids = tuple(nodes), tuple(sshd_pids)

    def inventory(self) -> str:
        if not self.nodes:
            return "nodes:\n  local: {connection: local}\nagents: {main: local, second: local}\n"
        first = self.nodes[0]
        lines = "".join(f"  {n.name}: {{host: {n.host}, port: {n.port}}}\n" for n in self.nodes)
        return ("defaults: {connection: ssh, user: root, identity_file: "
                f"{first.identity_file}, known_hosts_file: {first.known_hosts_file}}}\n"
                f"nodes:\n{lines}agents: {{main: {first.name}, second: {self.nodes[1].name}}}\n")

    def podman(self, *argv: str, node: int = 0) -> str:
        if not self.nodes:
            return subprocess.run(["podman", *argv], capture_output=True, text=True,
                                  timeout=60, check=False).stdout
        return system_ssh(self.nodes[node], ["podman", *argv]).stdout

    def nodes_cpu(self) -> float:
        """CPU seconds of everything under the nodes' sshd so far (0 for the local Podman,
        whose commands are apply's own children)."""
        return descendants_cpu(self.sshd_pids) if self.sshd_pids else 0.0

    def died_at(self, project: str, since: float) -> float:
        """The time of the job's `died` event (on its node)."""
        text = self.podman("events", "--stream=false", "--since", f"{since:.3f}", "--format",
                           "json", "--filter", f"label=ankplan.project={project}",
                           "--filter", "event=died")
        for line in text.splitlines():
            event = parse_event(line)
            if event is not None and event.name == "migration":
                return event.time
        raise RuntimeError(f"no died event of migration: {text!r}")

    def clean(self, project: str) -> None:
        for node in range(max(1, len(self.nodes))):
            ids = self.podman("ps", "-aq", "--filter", f"label=ankplan.project={project}",
                              node=node).split()
            if ids:
                self.podman("rm", "-f", "-t", "0", *ids, node=node)


def one_apply(python: str, target: Target, folder: Path,
              job_seconds: float) -> tuple[float, float, float, float]:
    """(delay died -> Pending(Starting) of app, CPU seconds of apply and the processes it
    waited for, CPU seconds on the nodes, wall seconds) of one apply."""
    project = f"bw-{uuid.uuid4().hex[:8]}"
    (folder / "manifest.yaml").write_text(manifest(job_seconds, "second"))
    (folder / "inventory.yaml").write_text(target.inventory())
    nodes_before = target.nodes_cpu()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.time()
    process = subprocess.Popen(
        [python, "-m", "ankplan", "apply", str(folder / "manifest.yaml"), "-i",
         str(folder / "inventory.yaml"), "--project", project, "--yes", "-o", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=300)
    wall = time.time() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    nodes = target.nodes_cpu() - nodes_before
    try:
        if process.returncode != 0:
            raise RuntimeError(f"apply failed: {out}{err}")
        starting = next(record["time"] for line in out.splitlines()
                        if (record := json.loads(line)).get("type") == "event"
                        and record["workload"] == "app" and record["to"] == "Pending(Starting)")
        return starting - target.died_at(project, began - 1), own, nodes, wall
    finally:
        target.clean(project)


def measure(python: str, target: Target, runs: int, job: float, cpu_job: float) -> None:
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        delays = [one_apply(python, target, folder, job)[0] for _ in range(runs)]
        _, own, nodes, wall = one_apply(python, target, folder, cpu_job)
    where = "2 SSH nodes" if target.nodes else "the local Podman"
    print(f"ankplan: {python}, on {where}")
    print(f"  died -> dependent's start (SUCCEEDED), {runs} runs: median "
          f"{statistics.median(delays) * 1000:.0f} ms  min {min(delays) * 1000:.0f} ms  "
          f"max {max(delays) * 1000:.0f} ms")
    print(f"  apply waiting {cpu_job:g} s for a job: {own + nodes:.2f} CPU-s (apply and the "
          f"commands it waited for {own:.2f}, nodes' sshd and podman {nodes:.2f}), "
          f"{wall:.1f} s wall")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--python", default=sys.executable,
                        help="the Python whose ankplan runs (default: this one)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--job", type=float, default=2.0, help="job seconds for the delay runs")
    parser.add_argument("--cpu-job", type=float, default=10.0, help="job seconds, CPU run")
    parser.add_argument("--ssh", action="store_true",
                        help="on 2 SSH nodes of a test bed brought up in a free slot")
    args = parser.parse_args(argv)
    if not args.ssh:
        measure(args.python, Target(), args.runs, args.job, args.cpu_job)
        return 0
    with running_bed(2, owner="bench-apply-wait") as bed:
        sshd = [int((Path(n["run_dir"]) / "sshd.pid").read_text().split()[0])
                for n in bed["nodes"]]
        measure(args.python, Target(bed_nodes(bed), sshd), args.runs, args.job, args.cpu_job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
