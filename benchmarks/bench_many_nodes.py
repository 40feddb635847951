#!/usr/bin/env python3
"""Benchmark: `ankplan plan` and `ankplan apply` on 30 real SSH nodes with --forks 1, 10 and 30.

Does I/O: brings up a test bed of --nodes nodes in a free slot (benchmarks/bedslot.py), writes a
manifest with 3 workloads per node (an HTTP server, an idle workload that needs it, and one that
needs the next node's server: a cross-node dependency), then per forks value: destroy,
plan from empty, apply from empty (--forks F --parallelism F), no-change plan; takes the bed
down. Then, for each forks value of 10 or more, the same containers with Ansible
(containers.podman, `ansible-playbook -f F`): from empty, and a no-change `--check`. Prints
medians, the speed-up over --forks 1 and the ratios to Ansible. Long: about 2-4 minutes for 30
nodes, plus 1-3 minutes for Ansible (skip it with --no-ansible).
usage: bench_many_nodes.py [--nodes 30] [--forks 1,10,30] [--runs 2] [--slot S] [--no-ansible]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bedslot import running_bed
from bench_apply import ansible_bin
from bench_noop_ssh import ansible_inventory, playbook_text, remove_ansible_containers

from ankplan.executors.observe import observe_nodes
from ankplan.executors.transport import TransportPool
from ankplan.inventories.load import load_inventory

PROJECT = "bench-many"
IMAGE = "localhost/ankplan-demo:latest"
PER_NODE = 3


def manifest_text(nodes: int) -> str:
    """Three workloads per node: a server (8080), a workload needing it, and one needing the
    next node's server."""
    lines = ["apiVersion: v1", "workloads:"]
    for index in range(1, nodes + 1):
        following = index % nodes + 1
        lines += _workload(f"n{index}-server", index, ["stub", "serve", "8080"], {})
        # Idle rather than `stub client`: a client exits when its 1 s check of the server
        # times out, which happens on 2 cores loaded by 30 nodes starting containers at once.
        lines += _workload(f"n{index}-client", index, ["stub", "idle"],
                           {f"n{index}-server": "ADD_COND_RUNNING"})
        lines += _workload(f"n{index}-idle", index, ["stub", "idle"],
                           {f"n{following}-server": "ADD_COND_RUNNING"})
    return "\n".join(lines) + "\n"


def _workload(name: str, node: int, args: list[str], needs: dict[str, str]) -> list[str]:
    quoted = ", ".join(f'"{arg}"' for arg in args)
    lines = [f"  {name}:", "    runtime: podman", f"    agent: node{node}",
             "    restartPolicy: NEVER"]
    if needs:
        lines += ["    dependencies:"] + [f"      {dep}: {cond}" for dep, cond in needs.items()]
    lines += ["    runtimeConfig: |", f"      image: {IMAGE}",
              '      commandOptions: ["--network", "host"]', f"      commandArgs: [{quoted}]"]
    return lines


def ankplan(*args: str) -> list[str]:
    """argv of the ankplan console script (or `python -m ankplan`)."""
    exe = shutil.which("ankplan")
    return [*([exe] if exe else [sys.executable, "-m", "ankplan"]), *args]


def timed(argv: list[str], expect: tuple[int, ...] = (0,),
          env: dict[str, str] | None = None) -> float:
    """Run argv; its wall time. Exits with its output when the exit code is not expected."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          check=False, env=env, timeout=1800)
    elapsed = time.perf_counter() - started
    if done.returncode not in expect:
        raise SystemExit(f"bench: {' '.join(argv[:4])} ... exited {done.returncode}:\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def warm_up(bed: dict[str, Any]) -> None:
    """Run and remove one throw-away container on every node at once (not timed): a fresh
    node's first container costs more, which would favour whichever round runs second."""
    config = Path(bed["dir"]) / bed["ssh_config"]
    jobs = [subprocess.Popen(["ssh", "-F", str(config), node["name"], "podman", "run", "--rm",
                              "--network", "host", IMAGE, "true"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for node in bed["nodes"]]
    failed = [job.communicate()[1] for job in jobs if job.wait() != 0]
    if failed:
        raise SystemExit(f"bench: warm-up failed: {failed[0].strip()}")


def running_count(inventory_path: Path) -> int:
    """Containers of the project in state running, over every node (observed in-process)."""
    inventory = load_inventory(str(inventory_path))
    with TransportPool() as pool:
        live = observe_nodes(pool, inventory.nodes, forks=30)
    errors = [o.error for o in live.nodes if o.error]
    if errors:
        raise SystemExit(f"bench: observing failed: {errors[:3]}")
    return sum(1 for c in live.owned_containers(PROJECT) if c.state == "running")


def one_round(files: list[str], forks: int, nodes: int, inventory: Path) -> dict[str, float]:
    """destroy, plan (empty), apply, plan (no change) with `forks`; their wall times."""
    common = ["-i", str(inventory), "--project", PROJECT, "--forks", str(forks)]
    parallel = ["--parallelism", str(forks)]
    timed(ankplan("destroy", "--yes", *files, "-i", str(inventory), "--project", PROJECT,
                  "--forks", "30", "--parallelism", "30"))
    row = {"plan-empty": timed(ankplan("plan", *common, *files))}
    row["apply"] = timed(ankplan("apply", "--yes", *common, *parallel, *files))
    row["plan-nochange"] = timed(ankplan("plan", "--detailed-exitcode", *common, *files))
    running = running_count(inventory)
    if running != PER_NODE * nodes:
        raise SystemExit(f"bench: {running} of {PER_NODE * nodes} containers run after apply")
    return row


def round_order(forks_values: list[int], runs: int) -> list[int]:
    """The forks values of every round, the order reversed every other round (1,10,30 then
    30,10,1): the bed gets slower with every apply (here the machine's CPU per apply of 30
    nodes rose from 14.5 to 18.7 CPU-s over 16 applies), so a value always run last would be
    measured on a slower bed."""
    return [forks for run in range(runs)
            for forks in (forks_values if run % 2 == 0 else forks_values[::-1])]


def benchmark(bed: dict[str, Any], forks_values: list[int], runs: int) -> dict[int, dict]:
    """Every round; medians per forks value."""
    nodes = len(bed["nodes"])
    inventory = Path(bed["dir"]) / bed["inventory"]
    with tempfile.TemporaryDirectory(prefix="ankplan-bench-many-") as folder:
        manifest = Path(folder) / "manifest.yaml"
        manifest.write_text(manifest_text(nodes))
        files = [str(manifest)]
        rows: dict[int, list[dict[str, float]]] = {forks: [] for forks in forks_values}
        warm_up(bed)
        try:
            for forks in round_order(forks_values, runs):
                rows[forks].append(one_round(files, forks, nodes, inventory))
        finally:
            timed(ankplan("destroy", "--yes", *files, "-i", str(inventory), "--project",
                          PROJECT, "--forks", "30", "--parallelism", "30"), expect=(0, 1))
    return {forks: {key: statistics.median(r[key] for r in found) for key in found[0]}
            for forks, found in rows.items()}


def bench_ansible(bed: dict[str, Any], forks_values: list[int]) -> dict[int, dict[str, float]]:
    """Per forks value (>= 10): `ansible-playbook -f F` from empty and a no-change `--check`,
    the same number of containers per node; {} when Ansible is not installed."""
    playbook_bin = ansible_bin("ansible-playbook")
    if playbook_bin is None:
        return {}
    rows: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ankplan-bench-many-ansible-") as folder:
        inventory, playbook = Path(folder) / "inventory.yaml", Path(folder) / "playbook.yaml"
        inventory.write_text(ansible_inventory(bed))
        playbook.write_text(playbook_text(PER_NODE))
        env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "True"}
        try:
            for forks in (f for f in forks_values if f >= 10):
                remove_ansible_containers(bed, PER_NODE)
                base = [playbook_bin, "-i", str(inventory), "-f", str(forks), str(playbook)]
                rows[forks] = {"apply": timed(base, env=env),
                               "plan-nochange": timed([*base, "--check"], env=env)}
        finally:
            remove_ansible_containers(bed, PER_NODE)
    return rows


def report_ansible(medians: dict[int, dict], ansible: dict[int, dict[str, float]]) -> None:
    if not ansible:
        print("ansible-playbook: not run (--no-ansible, or not installed in "
              "benchmarks/.venv-ansible or PATH)")
        return
    for forks, row in sorted(ansible.items()):
        ours = medians[forks]
        print(f"ansible-playbook -f {forks}: from empty {row['apply']:.2f} s (ankplan apply "
              f"{ours['apply']:.2f} s = {ours['apply'] / row['apply']:.2f}x), no-change --check "
              f"{row['plan-nochange']:.2f} s (ankplan plan {ours['plan-nochange']:.2f} s = "
              f"{ours['plan-nochange'] / row['plan-nochange']:.2f}x)")


def report(bed: dict[str, Any], medians: dict[int, dict], runs: int) -> None:
    nodes = len(bed["nodes"])
    print(f"{nodes} SSH test-bed nodes x {PER_NODE} workloads ({nodes * PER_NODE} containers, "
          f"one cross-node dependency per node), median of {runs}; bed up in "
          f"{bed['up_seconds']:.1f} s")
    base = medians[min(medians)]
    print(f"{'--forks (= --parallelism)':>26} {'plan (empty)':>13} {'apply':>9} "
          f"{'plan (no change)':>17} {'apply speed-up':>15}")
    for forks, row in sorted(medians.items()):
        print(f"{forks:>26} {row['plan-empty']:>12.2f}s {row['apply']:>8.2f}s "
              f"{row['plan-nochange']:>16.2f}s {base['apply'] / row['apply']:>14.1f}x")
    for forks, row in sorted(medians.items()):
        if forks != min(medians):
            for what, key in (("apply from empty", "apply"), ("no-change plan", "plan-nochange")):
                gain = base[key] / row[key]
                print(f"verdict: {nodes} nodes, {what} with --forks {forks} vs "
                      f"{min(medians)}: {row[key]:.2f} s vs {base[key]:.2f} s -> speed-up "
                      f"{gain:.1f}x{'' if gain >= 1.2 else ' (NOT faster in parallel here)'}")
    fastest = min(medians, key=lambda f: medians[f]["apply"])
    print(f"plan speed-up at --forks {max(medians)}: "
          f"{base['plan-nochange'] / medians[max(medians)]['plan-nochange']:.1f}x; apply "
          f"fastest at --forks {fastest} ({medians[fastest]['apply']:.2f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nodes", type=int, default=30)
    parser.add_argument("--forks", default="1,10,30")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--slot", type=int, default=None, help="test-bed slot (default: free)")
    parser.add_argument("--no-ansible", action="store_true", help="skip the Ansible runs")
    args = parser.parse_args(argv)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # time ankplan as installed: with .pyc
    forks_values = sorted(int(value) for value in args.forks.split(","))
    with running_bed(args.nodes, slot=args.slot, owner="bench-many-nodes") as bed:
        medians = benchmark(bed, forks_values, args.runs)
        ansible = {} if args.no_ansible else bench_ansible(bed, forks_values)
        report(bed, medians, args.runs)
        report_ansible(medians, ansible)
    return 0


if __name__ == "__main__":
    sys.exit(main())
