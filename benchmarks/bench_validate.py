"""Benchmark: `ankplan validate` on a generated 1,000-workload manifest.

Does I/O: writes the manifest to a temporary folder and runs `ankplan validate` as a process.
Run: python3 benchmarks/bench_validate.py [--workloads N] [--runs R]
Prints the median time of check_manifest in-process and of the whole process (which includes
Python's start-up and imports).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ankplan.manifests.load import check_manifest

CHAIN = 10  # workloads per dependency chain
FAN_OUT = 5  # every 10th workload also feeds this many later ones


def manifest_text(count: int) -> str:
    """A valid v1 manifest: chains of RUNNING/SUCCEEDED deps, fan-out, templated configs."""
    lines = ["apiVersion: v1", "workloads:"]
    for index in range(count):
        lines += _workload(index, count)
    lines += ["configs:", "  ports:"]
    lines += [f'    p{index}: "{10000 + index}"' for index in range(count)]
    lines += ["  shared:", "    image: localhost/ankplan-demo:latest",
              "    env:", "      - key: MODE", "        value: bench"]
    return "\n".join(lines) + "\n"


def _workload(index: int, count: int) -> list[str]:
    name = f"w{index:04d}"
    lines = [f"  {name}:", "    runtime: podman", f"    agent: agent_{index % 7}",
             f"    restartPolicy: {('NEVER', 'ON_FAILURE', 'ALWAYS')[index % 3]}",
             "    tags:", f"      group: g{index // CHAIN}", "    configs:",
             "      ports: ports", "      shared: shared"]
    dependencies = []
    if index % CHAIN:
        dependencies.append(f"      w{index - 1:04d}: ADD_COND_RUNNING")
    hub = index - index % CHAIN - CHAIN
    if hub >= 0 and index % CHAIN < FAN_OUT:
        dependencies.append(f"      w{hub:04d}: ADD_COND_RUNNING")
    if dependencies:
        lines += ["    dependencies:", *dependencies]
    lines += ["    runtimeConfig: |", "      image: {{shared.image}}",
              '      commandOptions: ["--network", "host"', "        {{#each shared.env}}",
              '        , "-e", "{{key}}={{value}}"', "        {{/each}}", "      ]",
              f'      commandArgs: ["stub", "serve", "{{{{ports.p{index}}}}}"]']
    return lines


def time_in_process(path: str, runs: int) -> tuple[float, int]:
    """Median seconds of check_manifest, and the number of workloads it found."""
    timings, count = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        manifest, diagnostics = check_manifest([path])
        timings.append(time.perf_counter() - start)
        if manifest is None:
            raise SystemExit(f"benchmark manifest is invalid: {diagnostics[:3]}")
        count = len(manifest.workloads)
    return statistics.median(timings), count


def time_process(argv: list[str], runs: int) -> float:
    """Median wall-clock seconds of running `argv` to completion."""
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    """Generate, time, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "manifest.yaml")
        Path(path).write_text(manifest_text(args.workloads), encoding="utf-8")
        size = Path(path).stat().st_size
        in_process, count = time_in_process(path, args.runs)
        whole = time_process([sys.executable, "-m", "ankplan", "validate", path], args.runs)
        startup = time_process([sys.executable, "-m", "ankplan", "--version"], args.runs)
    print(f"manifest: {count} workloads, {size / 1024:.0f} KiB")
    print(f"check_manifest in-process (median of {args.runs}): {in_process * 1000:.0f} ms")
    print(f"`ankplan validate` process (median of {args.runs}): {whole * 1000:.0f} ms")
    print(f"  of which start-up (`ankplan --version`: Python, imports, parser): "
          f"{startup * 1000:.0f} ms")


if __name__ == "__main__":
    main()
