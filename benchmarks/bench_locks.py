#!/usr/bin/env python3
"""Benchmark: taking the writer lock of one project on every node of a bed (connections open
already), for two or more ankplan source trees taking turns: what a writer pays before its
first observation.

Does I/O: uses a running test bed (--bed DIR) or brings one up (benchmarks/bedslot.py); each
tree runs in its own interpreter (PYTHONPATH), connects to every node, then takes and releases
the lock of project `bench-locks` --times times.
usage: bench_locks.py [--bed DIR | --nodes 30] [--rounds 2] [--times 5] [--forks 10] SRC [SRC ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bedslot import running_bed

# Runs in each tree's interpreter: argv = inventory, times, forks; prints the seconds as JSON.
_TIMER = """
import json, sys, time
from ankplan.cli.env import Env
from ankplan.executors import lock
from ankplan.executors.observe import observe_nodes
from ankplan.inventories.load import load_inventory
nodes = load_inventory(sys.argv[1]).nodes
holder = lock.this_process(["ankplan", "apply", "bench"])
seconds = []
with Env().pool(accept_new_host_keys=False) as pool:
    observe_nodes(pool, nodes, forks=30, timeout=30)  # every connection open
    for _ in range(int(sys.argv[2])):
        began = time.perf_counter()
        held = lock.acquire_locks(pool, nodes, holder=holder, project="bench-locks",
                                  forks=int(sys.argv[3]))
        seconds.append(time.perf_counter() - began)
        held.release()
        time.sleep(0.3)  # the released lock shells end
print(json.dumps(seconds))
"""


def lock_times(tree: str, inventory: Path, times: int, forks: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
    done = subprocess.run([sys.executable, "-c", _TIMER, str(inventory), str(times), str(forks)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench_locks: {tree} failed:\n{done.stderr[-2000:]}")
    return list(json.loads(done.stdout))


def run(bed: dict[str, Any], args: argparse.Namespace) -> None:
    inventory = Path(bed["dir"]) / bed["inventory"]
    found: dict[str, list[float]] = {tree: [] for tree in args.trees}
    for _ in range(args.rounds):
        for tree in args.trees:
            found[tree] += lock_times(tree, inventory, args.times, args.forks)
    print(f"writer lock of one project on {len(bed['nodes'])} SSH bed nodes, connections open, "
          f"--forks {args.forks}, {args.rounds} x {args.times} takes each")
    for tree, seconds in found.items():
        seconds.sort()
        print(f"  {tree:40} median {1000 * seconds[len(seconds) // 2]:5.0f} ms   "
              f"min {1000 * seconds[0]:5.0f}   max {1000 * seconds[-1]:5.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bed", help="a running bed's folder (with bed.json)")
    parser.add_argument("--nodes", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--times", type=int, default=5)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("trees", nargs="+", metavar="SRC", help="ankplan source trees (src/)")
    args = parser.parse_args(argv)
    if args.bed:
        bed = json.loads((Path(args.bed) / "bed.json").read_text())
        run({**bed, "dir": args.bed}, args)
    else:
        with running_bed(args.nodes) as bed:
            run(bed, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
