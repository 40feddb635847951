"""The writer lock on the real 3-node test bed: every writer (apply, watch, delete, destroy) holds
it per node and project, a second writer of the same project is refused with the holder named,
and writers of different projects on one node never block each other.

Does I/O: runs ankplan as processes and in-process against the bed's nodes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from ankplan.cli import main as cli_main
from ankplan.cli.env import Env

pytestmark = pytest.mark.integration

IMAGE = "localhost/ankplan-demo:latest"
NODES = ("node1", "node2", "node3")


def run_cli(*argv: str) -> tuple[int, str, str]:
    """ankplan in-process without a terminal: (exit status, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(""), environ={},
              stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    return cli_main.main(list(argv), env), stdout.getvalue(), stderr.getvalue()


def spawn(*argv: str) -> subprocess.Popen[str]:
    """`python -m ankplan ARGV` with pipes."""
    return subprocess.Popen([sys.executable, "-m", "ankplan", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            env={**os.environ, "NO_COLOR": "1"})


def workload(agent: str, *args: str, **needs: str) -> dict[str, Any]:
    config = {"image": IMAGE, "commandArgs": list(args)}
    entry: dict[str, Any] = {"runtime": "podman", "agent": agent,
                             "runtimeConfig": yaml.safe_dump(config)}
    if needs:
        entry["dependencies"] = needs
    return entry


class Project:
    """One manifest (agents nodeN -> node nodeN) with its own project name."""

    def __init__(self, testbed: Any, folder: Path, workloads: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.name = f"lk-{uuid.uuid4().hex[:10]}"
        self.manifest = folder / "manifest.yaml"
        self.manifest.write_text(yaml.safe_dump({"apiVersion": "v1", "workloads": workloads}))
        self.inventory = testbed.write_inventory(folder / "inventory.yaml", {n: n for n in NODES})

    def args(self, *extra: str) -> list[str]:
        return [str(self.manifest), "-i", str(self.inventory), "--project", self.name, *extra]


def slow(testbed: Any, folder: Path) -> Project:
    """A 12 s job on node1 and a workload on node2 waiting for it: apply holds the locks ~12 s."""
    return Project(testbed, folder, {
        "job": workload("node1", "stub", "job", "12", "0"),
        "after": workload("node2", "stub", "idle", job="ADD_COND_SUCCEEDED")})


def wait_for_line(process: subprocess.Popen[str], prefix: str, timeout: float = 60) -> list[str]:
    """Read stdout until a line starts with `prefix`; the lines read."""
    assert process.stdout is not None
    lines, deadline = [], time.monotonic() + timeout
    for line in process.stdout:
        lines.append(line)
        if line.startswith(prefix):
            return lines
        assert time.monotonic() < deadline, lines
    raise AssertionError(f"ended before {prefix!r}: {lines} {process.stderr.read()}")


def test_watch_refuses_to_start_while_an_apply_holds_a_node(clean_nodes: Any, demo_image: str,
                                                            tmp_path: Path) -> None:
    project = slow(clean_nodes, tmp_path)
    applying = spawn("apply", *project.args("--yes"))
    try:
        wait_for_line(applying, "Plan:")  # the locks are held from before the plan
        began = time.monotonic()
        status, out, err = run_cli("watch", *project.args("--duration", "5", "--output", "json"))
        assert status == 1, out + err
        assert time.monotonic() - began < 5
        assert "another apply holds the lock of project " + project.name in err, err
        assert f"pid {applying.pid}" in err and "ankplan apply" in err, err
        assert '"kind"' not in out  # it did nothing
    finally:
        out, err = applying.communicate(timeout=120)
    assert applying.returncode == 0, out + err


def test_apply_and_destroy_are_refused_while_watch_runs(clean_nodes: Any, demo_image: str,
                                                        tmp_path: Path) -> None:
    project = Project(clean_nodes, tmp_path, {"w": workload("node1", "stub", "idle")})
    assert run_cli("apply", *project.args("--yes"))[0] == 0
    watching = spawn("watch", *project.args("--duration", "60", "--output", "json"))
    try:
        assert watching.stdout is not None
        first = json.loads(watching.stdout.readline())  # w's first state: the watch is running
        assert first["workload"] == "w", first
        for command in (("apply", "--yes"), ("destroy", "--yes")):
            began = time.monotonic()
            status, out, err = run_cli(command[0], *project.args(*command[1:]))
            assert status == 1, out + err
            assert time.monotonic() - began < 10
            assert f"node node1: another watch holds the lock of project {project.name}" in err
            assert f"pid {watching.pid}" in err and "ankplan watch" in err, err
        waited = time.monotonic()
        status, out, err = run_cli("destroy", *project.args("--yes", "--lock-timeout", "3"))
        assert status == 1 and "(waited 3 s)" in err, out + err
        assert time.monotonic() - waited >= 2.9
    finally:
        watching.terminate()
        watching.communicate(timeout=30)
    status, out, err = run_cli("destroy", *project.args("--yes", "--lock-timeout", "10"))
    assert status == 0 and "Destroy complete" in out, out + err


def test_writers_of_two_projects_on_one_node_do_not_block_each_other(
        clean_nodes: Any, demo_image: str, tmp_path: Path) -> None:
    first = slow(clean_nodes, tmp_path / "first")
    second = Project(clean_nodes, tmp_path / "second", {"b": workload("node1", "stub", "idle")})
    applying = spawn("apply", *first.args("--yes"))
    try:
        wait_for_line(applying, "Plan:")
        status, out, err = run_cli("apply", *second.args("--yes"))
        assert status == 0, out + err
        assert applying.poll() is None, "the first apply should still run (its job takes 12 s)"
        watching = spawn("watch", *second.args("--duration", "2", "--output", "json"))
        watch_out, watch_err = watching.communicate(timeout=60)
        assert watching.returncode == 0, watch_out + watch_err
        assert "lock" not in watch_err
    finally:
        out, err = applying.communicate(timeout=120)
    assert applying.returncode == 0, out + err
