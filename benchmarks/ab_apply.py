#!/usr/bin/env python3
"""Benchmark: apply of the police example from empty on the local Podman, whole process until
all 6 run (as in bench_apply.py), for two or more ankplan source trees taking turns in one run,
so that a change is priced against the tree before it on the same machine minute.

Does I/O: runs `python -m ankplan apply` with PYTHONPATH set to each source tree (byte-compiled,
as installed), polls `podman ps`, removes the bp-* containers before each run and at the end.
usage: ab_apply.py [--runs 15] SRC [SRC ...]   e.g. ab_apply.py /tmp/before/src src
(`git worktree add --detach /tmp/before REV` gives the tree of REV.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_apply import PROJECT, WORKLOADS, bench_manifest, remove, until_running

NAMES = [f"bp-{name}" for name in WORKLOADS]


def one_apply(src: str, manifest: Path) -> float:
    """Seconds from the start of `ankplan apply` (tree `src`) until every container runs."""
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    remove(NAMES)
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ankplan", "apply", "--yes", "--project",
                           PROJECT, str(manifest)], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"ab_apply: apply with {src} failed ({done.returncode}):\n"
                         f"{done.stdout[-1500:]}{done.stderr[-1500:]}")
    return until_running(NAMES, began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("trees", nargs="+", metavar="SRC", help="ankplan source trees (src/)")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {tree: [] for tree in args.trees}
    with tempfile.TemporaryDirectory(prefix="ankplan-ab-") as folder:
        manifest = bench_manifest(Path(folder))
        try:
            for tree in args.trees:  # warm-up, not timed: byte-compiles each tree
                one_apply(tree, manifest)
            for _ in range(args.runs):
                for tree in args.trees:
                    times[tree].append(one_apply(tree, manifest))
        finally:
            remove(NAMES)
    print(f"apply from empty, whole process until all {len(NAMES)} run, {args.runs} runs "
          "each, taking turns")
    for tree, values in times.items():
        print(f"  {tree:40} median {1000 * statistics.median(values):5.0f} ms   "
              f"min {1000 * min(values):5.0f}   max {1000 * max(values):5.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
