"""Benchmark: apply of the police example from empty on the local Podman, against its peers.

Measured side by side in one run, same machine, same image, same host network:
  ankplan apply --yes             (whole process, until every workload is Running)
  podman-compose up -d            (benchmarks/police/compose.yaml, depends_on conditions)
  a sequential shell script       (podman run -d, one after the other, in dependency order)
  ansible-playbook                (containers.podman collection; only when installed)
  critical-path lower bound       (one plain `podman run -d` per workload on the longest chain)
and the no-change re-runs: `ankplan plan` vs `podman-compose up -d` vs `ansible-playbook --check`.
Prints medians and ratios. Does I/O: runs podman, ankplan, podman-compose on this machine.

Usage: python3 benchmarks/bench_apply.py [--runs N] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "examples" / "police" / "manifest.yaml"
COMPOSE = ROOT / "benchmarks" / "police" / "compose.yaml"
PLAYBOOK = ROOT / "benchmarks" / "police" / "playbook.yaml"
IMAGE = "localhost/ankplan-demo:latest"
PROJECT = "benchpolice"
WORKLOADS = ("zenoh-router", "carla-spawner", "kuksa-bridge", "camera-bridge",
             "camera-websocket", "police-websocket")
# (name, command args, ports it needs) in dependency order; mirrors the manifest.
SHELL_ORDER = (
    ("zenoh-router", ["stub", "serve", "7447"]),
    ("carla-spawner", ["stub", "client", "--port", "7448", "--needs", "127.0.0.1:7447"]),
    ("kuksa-bridge", ["stub", "client", "--port", "7449", "--needs", "127.0.0.1:7447",
                      "--needs", "127.0.0.1:7448"]),
    ("camera-bridge", ["stub", "client", "--port", "7450", "--needs", "127.0.0.1:7447",
                       "--needs", "127.0.0.1:7448"]),
    ("camera-websocket", ["stub", "client", "--port", "7451", "--needs", "127.0.0.1:7450"]),
    ("police-websocket", ["stub", "client", "--port", "7452", "--needs", "127.0.0.1:7449"]),
)
CRITICAL_CHAIN = ("zenoh-router", "carla-spawner", "kuksa-bridge", "police-websocket")


def run(argv: list[str], *, check: bool = True, cwd: Path | None = None) -> float:
    """Run argv, return its wall time in seconds."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, check=False)
    elapsed = time.perf_counter() - start
    if check and done.returncode not in (0, 2):
        raise SystemExit(f"bench: {' '.join(argv)} failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def running_names() -> set[str]:
    """Names of the running containers on the local Podman."""
    out = subprocess.run(["podman", "ps", "--format", "json"], capture_output=True,
                         text=True, check=True).stdout
    return {name for c in json.loads(out or "[]") for name in c.get("Names", [])}


def wait_all_running(names: list[str], start: float, limit: float = 60.0) -> float:
    """Poll until every name runs; return seconds since `start`."""
    while time.perf_counter() - start < limit:
        if set(names) <= running_names():
            return time.perf_counter() - start
        time.sleep(0.02)
    raise SystemExit(f"bench: not all running within {limit}s: {names}")


def remove(names: list[str]) -> None:
    """Force-remove these containers (not timed)."""
    subprocess.run(["podman", "rm", "-f", "-t", "0", *names], capture_output=True, check=False)


def ankplan_argv(*args: str) -> list[str]:
    exe = shutil.which("ankplan")
    base = [exe] if exe else [sys.executable, "-m", "ankplan"]
    return [*base, *args]


def bench_ankplan() -> tuple[float, float]:
    remove(list(WORKLOADS))
    start = time.perf_counter()
    run(ankplan_argv("apply", "--yes", "--project", PROJECT, str(MANIFEST)))
    apply_time = wait_all_running(list(WORKLOADS), start)
    noop = run(ankplan_argv("plan", "--detailed-exitcode", "--project", PROJECT, str(MANIFEST)))
    remove(list(WORKLOADS))
    return apply_time, noop


def bench_compose() -> tuple[float, float]:
    names = [f"benchcompose_{name}_1" for name in WORKLOADS]
    remove(names)
    base = ["podman-compose", "-f", str(COMPOSE), "-p", "benchcompose"]
    start = time.perf_counter()
    run([*base, "up", "-d"])
    up_time = wait_all_running(names, start)
    noop = run([*base, "up", "-d"])
    remove(names)
    return up_time, noop


def bench_shell() -> float:
    names = [f"sh-{name}" for name, _ in SHELL_ORDER]
    remove(names)
    script = "set -e\n" + "".join(
        f"podman run -d --name sh-{name} --network host {IMAGE} {' '.join(args)} >/dev/null\n"
        for name, args in SHELL_ORDER)
    start = time.perf_counter()
    run(["sh", "-c", script])
    elapsed = wait_all_running(names, start)
    remove(names)
    return elapsed


def bench_critical_path() -> float:
    """One plain `podman run -d` per workload of the longest chain, back to back."""
    args = dict(SHELL_ORDER)
    names = [f"cp-{name}" for name in CRITICAL_CHAIN]
    remove(names)
    total = 0.0
    for name in CRITICAL_CHAIN:
        total += run(["podman", "run", "-d", "--name", f"cp-{name}", "--network", "host",
                      IMAGE, *args[name]])
    remove(names)
    return total


def bench_ansible() -> tuple[float, float] | None:
    if not shutil.which("ansible-playbook") or not PLAYBOOK.exists():
        return None
    names = [f"ans-{name}" for name in WORKLOADS]
    remove(names)
    base = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(PLAYBOOK)]
    start = time.perf_counter()
    run(base)
    up_time = wait_all_running(names, start)
    noop = run([*base, "--check"])
    remove(names)
    return up_time, noop


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    subprocess.run([str(ROOT / "examples" / "images" / "build.sh")], check=True,
                   capture_output=True)
    results: dict[str, list[float]] = {k: [] for k in (
        "ankplan", "ankplan-noop", "compose", "compose-noop", "shell", "critical",
        "ansible", "ansible-noop")}
    for _ in range(args.runs):
        a, a_noop = bench_ankplan()
        c, c_noop = bench_compose()
        results["ankplan"].append(a)
        results["ankplan-noop"].append(a_noop)
        results["compose"].append(c)
        results["compose-noop"].append(c_noop)
        results["shell"].append(bench_shell())
        results["critical"].append(bench_critical_path())
        ansible = bench_ansible()
        if ansible:
            results["ansible"].append(ansible[0])
            results["ansible-noop"].append(ansible[1])
    report(results, args.runs)


def report(results: dict[str, list[float]], runs: int) -> None:
    m = {k: median(v) for k, v in results.items()}
    print(f"# apply of the police example from empty, local Podman, median of {runs} runs")
    print(f"machine: {os.uname().nodename} {os.uname().machine}, {os.cpu_count()} cpus, "
          f"python {sys.version.split()[0]}")
    rows = [("ankplan apply --yes", "ankplan"), ("podman-compose up -d", "compose"),
            ("sequential podman run -d", "shell"), ("ansible-playbook", "ansible"),
            ("critical-path lower bound", "critical")]
    print(f"{'tool':34} {'to all Running':>15} {'ankplan / tool':>15}")
    for label, key in rows:
        if results[key]:
            print(f"{label:34} {m[key]:>14.3f}s {m['ankplan'] / m[key]:>15.2f}")
    print()
    print(f"{'no-change run':34} {'seconds':>15} {'ankplan / tool':>15}")
    for label, key in (("ankplan plan", "ankplan-noop"), ("podman-compose up -d", "compose-noop"),
                       ("ansible-playbook --check", "ansible-noop")):
        if results[key]:
            print(f"{label:34} {m[key]:>14.3f}s {m['ankplan-noop'] / m[key]:>15.2f}")


if __name__ == "__main__":
    main()
