#!/usr/bin/env python3
"""Benchmark: apply of the police example from empty on the local Podman, against its peers.

Measured side by side in one run, same machine, same image, same host network, whole process
(start-up included) until every workload is Running:
  ankplan apply --yes             (waits for Running itself)
  podman-compose up -d            (benchmarks/police/compose.yaml, depends_on conditions)
  ansible-playbook                (benchmarks/police/playbook.yaml, containers.podman; taken from
                                   benchmarks/.venv-ansible when present, else from PATH)
  a sequential shell script       (podman run -d, one after the other, in dependency order)
  the no-Python floor             (a shell script doing what ankplan's apply must: read the image
                                   table and `podman ps` side by side, start each workload as
                                   soon as its dependencies run (the two chains after the second
                                   level side by side), then one confirming `podman ps`)
  critical-path lower bound       (one plain `podman run -d` per workload of the longest chain)
and the no-change re-runs: `ankplan plan`, `ankplan apply --yes`, `podman-compose up -d`,
`ansible-playbook` and `ansible-playbook --check`. Prints medians and ratios.
Does I/O: runs podman, ankplan, podman-compose and ansible on this machine. The local Podman is
shared, so every contender gets its own container names (bp-*, benchcompose_*, ans-*, sh-*,
fl-*, cp-*) and ports 17447-17452 instead of the example's 7447-7452; only those are removed.
usage: bench_apply.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "examples" / "police" / "manifest.yaml"
COMPOSE = ROOT / "benchmarks" / "police" / "compose.yaml"
PLAYBOOK = ROOT / "benchmarks" / "police" / "playbook.yaml"
ANSIBLE_VENV = ROOT / "benchmarks" / ".venv-ansible"
IMAGE = "localhost/ankplan-demo:latest"
PROJECT = "benchpolice"
COMPOSE_PROJECT = "benchcompose"
WORKLOADS = ("zenoh-router", "carla-spawner", "kuksa-bridge", "camera-bridge",
             "camera-websocket", "police-websocket")
CRITICAL_CHAIN = ("zenoh-router", "carla-spawner", "kuksa-bridge", "police-websocket")
# The floor's schedule: these one after the other, then these chains side by side
# (`floor_order_holds` checks it against the manifest's dependencies).
FLOOR_FIRST = ("zenoh-router", "carla-spawner")
FLOOR_CHAINS = (("camera-bridge", "camera-websocket"), ("kuksa-bridge", "police-websocket"))
PORT = re.compile(r"\b74(4[7-9]|5[0-2])\b")  # the example's ports 7447-7452


def shift_ports(text: str) -> str:
    """The example's ports 7447-7452 moved to 17447-17452 (clear of other users of Podman)."""
    return PORT.sub(lambda m: "174" + m.group(1), text)


def bench_manifest(folder: Path) -> Path:
    """The police manifest with workloads renamed bp-* and ports shifted; its path."""
    document = yaml.safe_load(MANIFEST.read_text())
    renamed = {}
    for name, workload in document["workloads"].items():
        workload["runtimeConfig"] = shift_ports(workload["runtimeConfig"])
        if "dependencies" in workload:
            workload["dependencies"] = {f"bp-{dep}": cond
                                        for dep, cond in workload["dependencies"].items()}
        renamed[f"bp-{name}"] = workload
    document["workloads"] = renamed
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def shifted_copy(source: Path, folder: Path) -> Path:
    """`source` with ports shifted, written into `folder`; its path."""
    path = folder / source.name
    path.write_text(shift_ports(source.read_text()))
    return path


def run(argv: list[str], *, env: dict[str, str] | None = None) -> float:
    """Run argv; its wall time. Exits with its output on failure (exit 2 counts as success)."""
    start = time.perf_counter()
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          check=False, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 2):
        raise SystemExit(f"bench: {' '.join(argv)} failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def running_names() -> set[str]:
    """Names of the running containers on the local Podman."""
    out = subprocess.run(["podman", "ps", "--format", "json"], capture_output=True,
                         text=True, check=True).stdout
    return {name for c in json.loads(out or "[]") for name in c.get("Names", [])}


def until_running(names: list[str], started: float, limit: float = 60.0) -> float:
    """Seconds from `started` until every name runs. Polls only after the contender's process
    has ended, so the polling never competes with it for the CPU."""
    while time.perf_counter() - started < limit:
        if set(names) <= running_names():
            return time.perf_counter() - started
        time.sleep(0.05)
    raise SystemExit(f"bench: not all running within {limit}s: {names}")


def remove(names: list[str]) -> None:
    """Force-remove these containers (ours by name; not timed), dependents first: podman-compose
    links a service to its depends_on with --requires, and podman refuses to remove a
    container that another still requires."""
    for name in reversed(names):
        subprocess.run(["podman", "rm", "-f", "-t", "0", "--ignore", name], capture_output=True,
                       check=False)


def ankplan_argv(*args: str) -> list[str]:
    """argv of the ankplan console script (or `python -m ankplan`)."""
    exe = shutil.which("ankplan")
    return [*([exe] if exe else [sys.executable, "-m", "ankplan"]), *args]


def ansible_bin(name: str) -> str | None:
    """An Ansible executable from benchmarks/.venv-ansible, else from PATH."""
    local = ANSIBLE_VENV / "bin" / name
    return str(local) if local.exists() else shutil.which(name)


class Contenders:
    """Each contender's timed runs; the files they use live in one temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.manifest = bench_manifest(folder)
        self.compose = shifted_copy(COMPOSE, folder)
        self.playbook = shifted_copy(PLAYBOOK, folder)
        self.shell_args = {name: _command(self.manifest, name) for name in WORKLOADS}
        floor_order_holds(self.manifest)

    def run_line(self, prefix: str, name: str) -> str:
        """The shell line that starts workload `name` as container `<prefix>-<name>`."""
        return (f"podman run -d --name {prefix}-{name} --network host {IMAGE} "
                f"{' '.join(self.shell_args[name])} >/dev/null")

    def ankplan(self) -> dict[str, float]:
        names = [f"bp-{name}" for name in WORKLOADS]
        remove(names)
        start = time.perf_counter()
        run(ankplan_argv("apply", "--yes", "--project", PROJECT, str(self.manifest)))
        result = {"ankplan": until_running(names, start)}
        result["ankplan-plan-noop"] = run(ankplan_argv(
            "plan", "--detailed-exitcode", "--project", PROJECT, str(self.manifest)))
        result["ankplan-apply-noop"] = run(ankplan_argv(
            "apply", "--yes", "--project", PROJECT, str(self.manifest)))
        remove(names)
        return result

    def compose_up(self) -> dict[str, float]:
        names = [f"{COMPOSE_PROJECT}_{name}_1" for name in WORKLOADS]
        remove(names)
        base = ["podman-compose", "-f", str(self.compose), "-p", COMPOSE_PROJECT]
        start = time.perf_counter()
        run([*base, "up", "-d"])
        result = {"compose": until_running(names, start), "compose-noop": run([*base, "up", "-d"])}
        remove(names)
        return result

    def ansible(self) -> dict[str, float]:
        playbook = ansible_bin("ansible-playbook")
        if playbook is None:
            return {}
        names = [f"ans-{name}" for name in WORKLOADS]
        remove(names)
        python = str(Path(playbook).resolve().parent / "python3")
        base = [playbook, "-i", "localhost,", "-c", "local",
                "-e", f"ansible_python_interpreter={python}", str(self.playbook)]
        env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "False"}
        start = time.perf_counter()
        run(base, env=env)
        result = {"ansible": until_running(names, start)}
        result["ansible-noop"] = run(base, env=env)
        result["ansible-check"] = run([*base, "--check"], env=env)
        remove(names)
        return result

    def shell(self) -> dict[str, float]:
        names = [f"sh-{name}" for name in WORKLOADS]
        remove(names)
        script = "set -e\n" + "".join(self.run_line("sh", name) + "\n" for name in WORKLOADS)
        start = time.perf_counter()
        run(["sh", "-c", script])
        result = {"shell": until_running(names, start)}
        remove(names)
        return result

    def floor(self) -> dict[str, float]:
        """What ankplan's apply must do, in a shell script: no interpreter, no imports."""
        names = [f"fl-{name}" for name in WORKLOADS]
        remove(names)
        script = "\n".join([
            "set -e",
            "podman images --format json >/dev/null & podman ps --all --format json >/dev/null",
            "wait", *(self.run_line("fl", name) for name in FLOOR_FIRST),
            *(f"({' && '.join(self.run_line('fl', name) for name in chain)}) &"
              for chain in FLOOR_CHAINS),
            "wait", "podman ps --all --format json >/dev/null"])
        start_time = time.perf_counter()
        run(["sh", "-c", script])
        result = {"floor": until_running(names, start_time)}
        remove(names)
        return result

    def critical_path(self) -> dict[str, float]:
        """One plain `podman run -d` per workload of the longest chain, back to back."""
        names = [f"cp-{name}" for name in CRITICAL_CHAIN]
        remove(names)
        total = sum(run(["podman", "run", "-d", "--name", f"cp-{name}", "--network", "host",
                         IMAGE, *self.shell_args[name]]) for name in CRITICAL_CHAIN)
        remove(names)
        return {"critical": total}

    def all(self) -> list[Callable[[], dict[str, float]]]:
        return [self.ankplan, self.compose_up, self.ansible, self.shell, self.floor,
                self.critical_path]


def floor_order_holds(manifest: Path) -> None:
    """Exits unless the floor's schedule starts every workload after its dependencies."""
    workloads = yaml.safe_load(manifest.read_text())["workloads"]
    started: set[str] = set()
    for name in FLOOR_FIRST:
        _check_started(workloads, name, started)
        started.add(name)
    for chain in FLOOR_CHAINS:
        before = set(started)
        for name in chain:
            _check_started(workloads, name, before)
            before.add(name)
    if started | {n for chain in FLOOR_CHAINS for n in chain} != set(WORKLOADS):
        raise SystemExit("bench: the floor's schedule does not start every workload")


def _check_started(workloads: dict[str, dict[str, dict[str, str]]], name: str,
                   started: set[str]) -> None:
    deps = workloads[f"bp-{name}"].get("dependencies") or {}
    needs = {dep.removeprefix("bp-") for dep in deps}
    if not needs <= started:
        raise SystemExit(f"bench: the floor would start {name} before {sorted(needs - started)}")


def _command(manifest: Path, name: str) -> list[str]:
    """commandArgs of workload bp-<name> in the benchmark manifest."""
    document = yaml.safe_load(manifest.read_text())
    config = yaml.safe_load(document["workloads"][f"bp-{name}"]["runtimeConfig"])
    return [str(arg) for arg in config["commandArgs"]]


def first_line(argv: list[str]) -> str:
    """The first line `argv` prints (stdout, else stderr), or "missing"."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError:
        return "missing"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def versions() -> str:
    """One line of the contenders' versions."""
    playbook = ansible_bin("ansible-playbook")
    ansible = first_line([playbook, "--version"]) if playbook else "ansible missing"
    return (f"{first_line(ankplan_argv('--version'))}; {first_line(['podman', '--version'])}; "
            f"{first_line(['podman-compose', '--version'])}; {ansible}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # time ankplan as installed: with .pyc
    subprocess.run([str(ROOT / "examples" / "images" / "build.sh")], check=True,
                   capture_output=True)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="ankplan-bench-apply-") as folder:
        contenders = Contenders(Path(folder))
        # Warm-up, not timed: byte-compiles ankplan's modules and fills the page cache.
        run(ankplan_argv("plan", "--project", PROJECT, str(contenders.manifest)))
        run(["podman-compose", "version"])
        startup = [run(ankplan_argv("--version")) for _ in range(5)]
        for _ in range(args.runs):
            for contender in contenders.all():
                for key, value in contender().items():
                    results.setdefault(key, []).append(value)
    report(results, args.runs, statistics.median(startup))
    return 0


def report(results: dict[str, list[float]], runs: int, startup: float) -> None:
    m = {key: statistics.median(values) for key, values in results.items()}
    print(f"apply of the police example from empty, local Podman, median of {runs} runs "
          "(whole process until all 6 Running)")
    print(f"versions: {versions()}")
    rows = [("ankplan apply --yes", "ankplan"), ("podman-compose up -d", "compose"),
            ("ansible-playbook (containers.podman)", "ansible"),
            ("sequential podman run -d (shell)", "shell"),
            ("no-Python floor (ankplan's reads and order)", "floor"),
            ("critical-path lower bound (4 x podman run)", "critical")]
    print(f"  {'contender':44} {'median':>8} {'min':>8} {'ankplan / it':>13}")
    for label, key in rows:
        if key in m:
            print(f"  {label:44} {m[key]:>7.3f}s {min(results[key]):>7.3f}s "
                  f"{m['ankplan'] / m[key]:>12.2f}x")
    print(f"  ankplan start-up alone (`ankplan --version`): {startup:.3f} s")
    print()
    print(f"  {'no-change run':44} {'median':>8} {'min':>8} {'plan / it':>13}")
    for label, key in (("ankplan plan", "ankplan-plan-noop"),
                       ("ankplan apply --yes", "ankplan-apply-noop"),
                       ("podman-compose up -d", "compose-noop"),
                       ("ansible-playbook", "ansible-noop"),
                       ("ansible-playbook --check", "ansible-check")):
        if key in m:
            print(f"  {label:44} {m[key]:>7.3f}s {min(results[key]):>7.3f}s "
                  f"{m['ankplan-plan-noop'] / m[key]:>12.2f}x")
    print()
    verdicts(m)


def _verdict(what: str, ours: float, theirs: float, peer: str) -> str:
    ahead = "ahead" if ours < theirs else "NOT ahead"
    return (f"verdict: {what}: ankplan {ours:.3f} s vs {peer} {theirs:.3f} s -> ankplan {ahead} "
            f"({ours / theirs:.2f}x)")


def verdicts(m: dict[str, float]) -> None:
    """One `verdict:` line per comparison (run_all.sh collects them), then the targets."""
    for key, peer in (("compose", "podman-compose"), ("ansible", "Ansible"),
                      ("shell", "a sequential shell script")):
        if key in m:
            print(_verdict("apply from empty", m["ankplan"], m[key], peer))
    print(f"verdict: apply from empty is {m['ankplan'] / m['critical']:.2f}x the critical-path "
          f"lower bound ({m['critical']:.3f} s)")
    if "floor" in m:
        print(f"verdict: apply from empty is {1000 * (m['ankplan'] - m['floor']):.0f} ms above the "
              f"no-Python floor ({m['floor']:.3f} s; the floor is "
              f"{m['floor'] / m['compose']:.2f}x podman-compose, {m['floor'] / m['shell']:.2f}x "
              "the shell loop)")
    for key, peer in (("compose-noop", "podman-compose up -d"),
                      ("ansible-check", "ansible-playbook --check")):
        if key in m:
            print(_verdict("no-change run (ankplan plan)", m["ankplan-plan-noop"], m[key], peer))
    for share, key, peer in ((0.6, "compose", "podman-compose"),
                             (1.1, "shell", "the sequential shell loop")):
        met = m["ankplan"] <= share * m[key]
        print(f"verdict: target apply <= {share:g}x {peer} ({share * m[key]:.3f} s): "
              f"{m['ankplan']:.3f} s -> {'met' if met else 'NOT met'}")
    noop = m["ankplan-plan-noop"] < min(m["compose-noop"], 0.47) / 2
    print(f"verdict: target no-change plan well under podman-compose's no-change up (0.47 s on "
          f"record, {m['compose-noop']:.3f} s now; taken as under half): "
          f"{m['ankplan-plan-noop']:.3f} s -> {'met' if noop else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
