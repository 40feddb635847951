#!/usr/bin/env python3
"""Benchmark: a no-change run on 3 SSH nodes x 20 workloads: `ankplan plan` vs Ansible `--check`.

Does I/O: uses a running test bed (--bed DIR) or brings up a 3-node one in a free slot
(benchmarks/bedslot.py). ankplan's 60 containers are made with `ankplan apply`, then `ankplan plan
--detailed-exitcode` is timed (exit 0 = no changes) and the containers are destroyed; then the
same 60 containers (names ans-*) are made with a containers.podman playbook and
`ansible-playbook --check` (and a plain no-change re-run) are timed, then removed. Both reach the
nodes over SSH with strict host-key checking against the bed's known_hosts. Ansible keeps its
defaults: forks 5, ControlPersist=60s (so its timed runs reuse warm SSH connections), no
pipelining. Ansible comes from benchmarks/.venv-ansible when present, else from PATH.
--compare-src DIR also times `ankplan plan` run from another source tree (its src/ first on
PYTHONPATH, e.g. an export of main), alternating with this one, to price a change.
usage: bench_noop_ssh.py [--bed DIR] [--per-node 20] [--runs 3] [--compare-src DIR] [--no-ansible]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bedslot import running_bed
from bench_apply import ankplan_argv, ansible_bin, first_line

PROJECT = "bench-noop"
IMAGE = "localhost/ankplan-demo:latest"


def manifest_text(nodes: list[str], per_node: int) -> str:
    """`per_node` idle workloads on each node, host network."""
    lines = ["apiVersion: v1", "workloads:"]
    for node in nodes:
        for index in range(per_node):
            lines += [f"  {node}-w{index:02d}:", "    runtime: podman", f"    agent: {node}",
                      "    runtimeConfig: |", f"      image: {IMAGE}",
                      '      commandOptions: ["--network", "host"]',
                      '      commandArgs: ["stub", "idle"]']
    return "\n".join(lines) + "\n"


def playbook_text(per_node: int) -> str:
    """The same containers with containers.podman, named ans-<node>-wNN."""
    return f"""- name: {per_node} idle workloads per node
  hosts: all
  gather_facts: false
  tasks:
    - name: workloads
      containers.podman.podman_container:
        name: "ans-{{{{ inventory_hostname }}}}-w{{{{ '%02d' % item }}}}"
        image: {IMAGE}
        network_mode: host
        command: ["stub", "idle"]
        state: started
      loop: "{{{{ range({per_node}) | list }}}}"
"""


def ansible_inventory(bed: dict[str, Any]) -> str:
    """An Ansible YAML inventory for the bed: ssh, the bed's key, strict host keys."""
    bed_dir = Path(bed["dir"])
    ssh_args = (f"-F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile="
                f"{bed_dir / bed['known_hosts']} -o IdentitiesOnly=yes")
    hosts = "".join(f"        {n['name']}:\n          ansible_host: {n['host']}\n"
                    for n in bed["nodes"])
    return ("all:\n  vars:\n    ansible_connection: ssh\n    ansible_user: root\n"
            f"    ansible_ssh_private_key_file: {bed_dir / bed['key']}\n"
            f"    ansible_ssh_common_args: '{ssh_args}'\n"
            "    ansible_python_interpreter: /usr/bin/python3\n"
            f"  children:\n    nodes:\n      hosts:\n{hosts}")


def run(argv: list[str], *, expect: tuple[int, ...] = (0,),
        env: dict[str, str] | None = None) -> tuple[float, str]:
    """(wall seconds, stdout) of argv; exits with its output on an unexpected exit code."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          check=False, env=env, timeout=900)
    elapsed = time.perf_counter() - started
    if done.returncode not in expect:
        raise SystemExit(f"bench: {' '.join(argv[:3])} ... exited {done.returncode}:\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed, done.stdout


def changed_count(recap: str) -> int:
    """Sum of `changed=N` over the PLAY RECAP lines."""
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", recap))


def bench_ankplan(bed: dict[str, Any], folder: Path, per_node: int, runs: int,
                  compare_src: str | None = None) -> tuple[list[float], list[float]]:
    """No-change `ankplan plan` times of this tree, and of `compare_src` (alternating)."""
    nodes = [n["name"] for n in bed["nodes"]]
    manifest = folder / "manifest.yaml"
    manifest.write_text(manifest_text(nodes, per_node))
    common = [str(manifest), "-i", str(Path(bed["dir"]) / bed["inventory"]),
              "--project", PROJECT]
    other_env = None
    if compare_src:
        other_env = {**os.environ, "PYTHONPATH": str(Path(compare_src).resolve() / "src")}
    run(ankplan_argv("apply", "--yes", *common))
    this: list[float] = []
    other: list[float] = []
    try:
        for round_number in range(runs):
            turns = [(this, None), (other, other_env)] if other_env is not None else [
                (this, None)]
            for times, env in turns[::-1] if round_number % 2 else turns:  # who goes first
                times.append(run(ankplan_argv("plan", "--detailed-exitcode", *common),
                                 env=env)[0])
        return this, other
    finally:
        run(ankplan_argv("destroy", "--yes", *common), expect=(0, 1))


def bench_ansible(bed: dict[str, Any], folder: Path, per_node: int,
                  runs: int) -> dict[str, Any] | None:
    playbook_bin = ansible_bin("ansible-playbook")
    if playbook_bin is None:
        return None
    (folder / "inventory.yaml").write_text(ansible_inventory(bed))
    (folder / "playbook.yaml").write_text(playbook_text(per_node))
    base = [playbook_bin, "-i", str(folder / "inventory.yaml"), str(folder / "playbook.yaml")]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "True"}
    try:
        first, _ = run(base, env=env)
        check = [run([*base, "--check"], env=env) for _ in range(runs)]
        rerun = [run(base, env=env) for _ in range(runs)]
        return {"first": first, "check": [t for t, _ in check], "rerun": [t for t, _ in rerun],
                "check_changed": changed_count(check[-1][1]),
                "rerun_changed": changed_count(rerun[-1][1])}
    finally:
        remove_ansible_containers(bed, per_node)


def remove_ansible_containers(bed: dict[str, Any], per_node: int) -> None:
    """podman rm -f the ans-* containers on every node (over the bed's ssh_config)."""
    config = Path(bed["dir"]) / bed["ssh_config"]
    for node in bed["nodes"]:
        names = [f"ans-{node['name']}-w{i:02d}" for i in range(per_node)]
        subprocess.run(["ssh", "-F", str(config), node["name"], "podman", "rm", "-f", "-t", "0",
                        "--ignore", *names], capture_output=True, check=False)


def report(bed: dict[str, Any], per_node: int, ankplan: list[float],
           ansible: dict[str, Any] | None, other: list[float], compare_src: str | None) -> None:
    nodes = len(bed["nodes"])
    plan = statistics.median(ankplan)
    print(f"no-change run over SSH: {nodes} test-bed nodes x {per_node} workloads, median of "
          f"{len(ankplan)}")
    print(f"  {'contender':44} {'median':>8} {'min':>8} {'plan / it':>10}")
    print(f"  {'ankplan plan (exit 0: no changes)':44} {plan:>7.3f}s {min(ankplan):>7.3f}s "
          f"{1:>9.2f}x")
    if other:
        median = statistics.median(other)
        label = f"ankplan plan from {Path(compare_src or '').name or compare_src}"
        print(f"  {label[:44]:44} {median:>7.3f}s {min(other):>7.3f}s {plan / median:>9.2f}x")
        print(f"  this tree costs {plan - median:+.3f} s (median) against {compare_src}")
    if ansible is None:
        print("  ansible-playbook: not run (--no-ansible, or not installed in "
              "benchmarks/.venv-ansible or PATH)")
        return
    playbook = ansible_bin("ansible-playbook") or "ansible-playbook"
    for label, key in (("ansible-playbook --check", "check"),
                       ("ansible-playbook (no-change re-run)", "rerun")):
        median = statistics.median(ansible[key])
        print(f"  {label:44} {median:>7.3f}s {min(ansible[key]):>7.3f}s {plan / median:>9.2f}x")
    check = statistics.median(ansible["check"])
    print(f"verdict: no-change run over SSH ({nodes} nodes x {per_node}): ankplan plan "
          f"{plan:.3f} s vs ansible-playbook --check {check:.3f} s -> ankplan "
          f"{'ahead' if plan < check else 'NOT ahead'} ({plan / check:.3f}x)")
    print(f"  (ansible's first run, creating the {nodes * per_node} containers: "
          f"{ansible['first']:.2f} s; tasks reported changed in --check: "
          f"{ansible['check_changed']}, in the re-run: {ansible['rerun_changed']}; "
          f"{first_line([playbook, '--version'])})")


def benchmark(bed: dict[str, Any], per_node: int, runs: int, compare_src: str | None = None,
              with_ansible: bool = True) -> None:
    with tempfile.TemporaryDirectory(prefix="ankplan-bench-noop-") as folder:
        ankplan, other = bench_ankplan(bed, Path(folder), per_node, runs, compare_src)
        ansible = bench_ansible(bed, Path(folder), per_node, runs) if with_ansible else None
    report(bed, per_node, ankplan, ansible, other, compare_src)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bed", help="folder of a running test bed (bed.json)")
    parser.add_argument("--per-node", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare-src", metavar="DIR",
                        help="also time `ankplan plan` from this source tree (alternating)")
    parser.add_argument("--no-ansible", action="store_true", help="skip the Ansible runs")
    args = parser.parse_args(argv)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # time ankplan as installed: with .pyc
    if args.bed:
        benchmark(json.loads((Path(args.bed) / "bed.json").read_text()), args.per_node,
                  args.runs, args.compare_src, not args.no_ansible)
        return 0
    with running_bed(3, owner="bench-noop-ssh") as bed:
        benchmark(bed, args.per_node, args.runs, args.compare_src, not args.no_ansible)
    return 0


if __name__ == "__main__":
    sys.exit(main())
