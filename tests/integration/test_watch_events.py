"""`watch` follows each node's `podman events`: a stream killed on a node is opened again after a
fresh listing, and a container that died meanwhile is restarted per its policy.

Does I/O: runs `ankplan watch` as a process against the real test bed, kills its remote
`podman events` processes (found by this test's own project label) and containers on a node.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_watch import Project, WatchRun, run_cli, start, workload

pytestmark = pytest.mark.integration


@pytest.fixture
def make_project(clean_nodes: Any, demo_image: str, tmp_path: Path
                 ) -> Callable[[dict[str, Any]], Project]:
    return lambda workloads: Project(clean_nodes, tmp_path, workloads)


@pytest.fixture
def watches() -> Iterator[list[WatchRun]]:
    """Watches started through this list; any still running at the end is killed."""
    started: list[WatchRun] = []
    yield started
    for run in started:
        run.kill()


def event_streams(project_name: str) -> list[int]:
    """Pids of the `podman events` processes following this project (any node)."""
    found = subprocess.run(["pgrep", "-f", f"podman events .*label=ankplan.project={project_name}"],
                           capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def test_killed_event_stream_is_reopened_and_a_death_meanwhile_is_restarted(
        make_project: Any, watches: Any) -> None:
    project = make_project({"w": workload("a1", "stub", "idle", policy="ON_FAILURE"),
                            "other": workload("a2", "stub", "idle")})
    run = start(watches, project, "--backoff", "0")
    up = run.wait_state("w", "Running(Ok)")
    deadline = time.monotonic() + 10
    while len(streams := event_streams(project.name)) < 3:  # one per node
        assert time.monotonic() < deadline, streams
        time.sleep(0.1)
    for pid in streams:
        os.kill(pid, signal.SIGKILL)
    project.podman("node1", "kill", "w")  # dies while its node's stream is down
    killed_at = time.time()
    restart = run.wait_for("restart of w", lambda e: e["workload"] == "w"
                           and e["kind"] == "restart", after=up["time"], timeout=20)
    assert restart["reason"].startswith("ON_FAILURE restarts Failed(ExecFailed)")
    run.wait_state("w", "Running(Ok)", after=restart["time"])
    deadline = time.monotonic() + 10
    while len(again := event_streams(project.name)) < 3:
        assert time.monotonic() < deadline, again
        time.sleep(0.1)
    assert not set(again) & set(streams)  # new streams, not the killed ones
    # the new stream works: a second death is seen and acted on within about a second
    project.podman("node1", "kill", "w")
    second = run.wait_for("second restart", lambda e: e["workload"] == "w"
                          and e["kind"] == "restart" and e["time"] > restart["time"], timeout=20)
    assert second["time"] - killed_at > 0
    code, _ = run.stop()
    assert code == 130  # ended by SIGTERM


def test_nodes_says_whether_watch_can_follow_events(testbed: Any, tmp_path: Path) -> None:
    inventory = testbed.write_inventory(tmp_path / "inventory.yaml", {})
    status, out, err = run_cli("nodes", "-i", str(inventory), "-o", "json", "--ssh-config", "")
    assert status == 0, out + err
    assert {node["name"]: node["events"] for node in json.loads(out)["nodes"]} == {
        "node1": "stream", "node2": "stream", "node3": "stream"}
    status, out, _ = run_cli("nodes", "-i", str(inventory), "--ssh-config", "")
    assert out.splitlines()[0].split()[:4] == ["NODE", "ADDRESS", "STATUS", "EVENTS"]
    assert all(line.split()[3] == "stream" for line in out.splitlines()[1:4])
