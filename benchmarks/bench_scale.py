#!/usr/bin/env python3
"""Benchmark: the pure planner and dependency graph on synthetic fleets of 500 to 10,000 workloads.

No I/O besides printing: builds model objects in memory (benchmarks/synthetic.py, 100 nodes,
half converged, some changed/missing/never started/moved/orphaned, a foreign container per node)
and times `plan`, the graph functions and both renderings; tracemalloc gives the peak memory of
one `plan` call. Growth is summarised by the exponent k of a least-squares fit time ~ size^k
(k = 1 is linear, k = 2 quadratic).
usage: bench_scale.py [--sizes 500,1000,2000,5000,10000] [--nodes 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic

from ankplan.cli.views.plan import render_plan_json, render_plan_text
from ankplan.planner import graph
from ankplan.planner.plan import plan


def best_of(work: Callable[[], object], repeat: int) -> float:
    """The fastest of `repeat` runs of `work`, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def without_gc(work: Callable[[], object]) -> Callable[[], object]:
    """`work` with CPython's cyclic garbage collector paused, to tell the algorithm's growth
    from the collector's (full collections walk every live object, the input included)."""
    def paused() -> object:
        gc.disable()
        try:
            return work()
        finally:
            gc.enable()
    return paused


def peak_memory(work: Callable[[], object]) -> float:
    """Peak MB allocated while `work` runs (tracemalloc; the inputs are already built)."""
    gc.collect()
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def exponent(sizes: Sequence[int], times: Sequence[float]) -> float:
    """Slope of log(time) over log(size), least squares."""
    xs = [math.log(size) for size in sizes]
    ys = [math.log(max(value, 1e-9)) for value in times]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    numerator = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    denominator = sum((x - mean_x) ** 2 for x in xs)
    return numerator / denominator if denominator else float("nan")


def graph_work(workloads: Sequence[object]) -> Callable[[], object]:
    """What `ankplan graph` computes: cycles, topological order, waves, critical path."""
    def work() -> object:
        graph.find_cycles(workloads)  # type: ignore[arg-type]
        graph.topological_order(workloads)  # type: ignore[arg-type]
        graph.start_waves(workloads)  # type: ignore[arg-type]
        return graph.critical_path(workloads)  # type: ignore[arg-type]
    return work


def measure(size: int, nodes: int, repeat: int) -> dict[str, float]:
    """Every figure for one size; checks the plan's counts against the scenario's."""
    case = synthetic.scenario(size, nodes)
    run = lambda: plan(case.manifest, case.inventory, case.live,
                       project=synthetic.PROJECT)
    result = run()
    counts = Counter(step.action.kind.value for step in result.steps)
    if dict(counts) != case.expected or result.errors:
        raise SystemExit(f"size {size}: plan {dict(counts)} errors {result.errors[:3]}, "
                         f"expected {case.expected}")
    containers = sum(len(observation.containers) for observation in case.live.nodes)
    return {
        "containers": containers,
        "changes": len(result.changes()),
        "plan": best_of(run, repeat),
        "plan_nogc": best_of(without_gc(run), repeat),
        "graph": best_of(graph_work(case.manifest.workloads), repeat),
        "text": best_of(lambda: render_plan_text(result, color=False), repeat),
        "json": best_of(lambda: render_plan_json(result), repeat),
        "peak_mb": peak_memory(run),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure every size, print a table and the fitted growth exponents."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="500,1000,2000,5000,10000")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = {size: measure(size, args.nodes, args.repeat) for size in sizes}
    print(f"pure planner on synthetic fleets over {args.nodes} nodes (best of {args.repeat}; "
          "half converged, the rest created/replaced/started/moved, 10% orphans removed)")
    print(f"{'workloads':>9} {'containers':>10} {'changes':>8} {'plan':>9} {'(gc off)':>9} "
          f"{'graph':>9} {'text':>9} {'json':>9} {'plan peak':>10}")
    for size, row in rows.items():
        print(f"{size:>9} {row['containers']:>10.0f} {row['changes']:>8.0f} {row['plan']:>8.3f}s "
              f"{row['plan_nogc']:>8.3f}s {row['graph']:>8.3f}s {row['text']:>8.3f}s "
              f"{row['json']:>8.3f}s {row['peak_mb']:>8.1f}MB")
    print("growth exponent k (time ~ size^k; 1 = linear): " + ", ".join(
        f"{label} {exponent(sizes, [rows[s][key] for s in sizes]):.2f}"
        for label, key in (("plan", "plan"), ("plan with gc off", "plan_nogc"),
                           ("graph", "graph"), ("text", "text"), ("json", "json"),
                           ("peak memory", "peak_mb"))))
    if 1000 in rows and 10000 in rows:
        print(f"10k/1k ratio: plan {rows[10000]['plan'] / rows[1000]['plan']:.1f}x "
              "(linear 10x, quadratic 100x)")
    if 5000 in rows:
        print(f"verdict: 5,000 workloads over {args.nodes} nodes planned in "
              f"{rows[5000]['plan']:.3f} s, peak {rows[5000]['peak_mb']:.1f} MB; growth exponent "
              f"{exponent(sizes, [rows[s]['plan'] for s in sizes]):.2f} "
              f"({exponent(sizes, [rows[s]['plan_nogc'] for s in sizes]):.2f} with gc paused)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
