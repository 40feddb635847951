"""`apply` follows the nodes' `podman events` while a step waits on observed state, like watch:
no `podman ps` every 0.25 s while a dependency's job runs, a health check's pass reaches the
waiting dependent, a killed remote `podman events` is opened again, and --debug names each
node's mode.

Does I/O: runs ankplan in-process against the real 3-node test bed over real SSH, recording
every command its SSH transports run (SshTransport.run and open_stream, wrapped), and kills the
remote `podman events` processes of this test's project.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_apply_testbed import Project, _podman_time, run_cli

from ankplan.executors.ssh import SshTransport

pytestmark = pytest.mark.integration

IMAGE = "image: localhost/ankplan-demo:latest\n"


class Commands:
    """Every command the SSH transports ran: (time.monotonic(), node, argv)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[tuple[float, str, tuple[str, ...]]] = []

    def add(self, node: str, argv: Any) -> None:
        with self.lock:
            self.seen.append((time.monotonic(), node, tuple(argv)))

    def listings(self, node: str) -> list[float]:
        """When each `podman ps` (plain or timed, for the events feed) began on `node`."""
        return [when for when, name, argv in self.seen
                if name == node and "podman" in argv and "ps" in argv
                and argv[argv.index("podman") + 1] == "ps"]

    def run_of(self, name: str) -> float:
        """When `podman run --name NAME` began."""
        return next(when for when, _, argv in self.seen if "run" in argv and "--name" in argv
                    and argv[argv.index("--name") + 1] == name)

    def streams(self, node: str) -> int:
        return sum(1 for _, name, argv in self.seen
                   if name == node and "events" in argv and "--format" in argv)


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[Commands]:
    recorded = Commands()
    run, open_stream = SshTransport.run, SshTransport.open_stream

    def counted_run(self: SshTransport, argv: Any, **kwargs: Any) -> Any:
        recorded.add(self.node.name, argv)
        return run(self, argv, **kwargs)

    def counted_stream(self: SshTransport, argv: Any, **kwargs: Any) -> Any:
        recorded.add(self.node.name, argv)
        return open_stream(self, argv, **kwargs)

    monkeypatch.setattr(SshTransport, "run", counted_run)
    monkeypatch.setattr(SshTransport, "open_stream", counted_stream)
    yield recorded


def workload(agent: str, args: str, *, options: str = "", **needs: str) -> dict[str, Any]:
    config = IMAGE + f"commandArgs: [{args}]\n" + (f"commandOptions: [{options}]\n"
                                                   if options else "")
    entry: dict[str, Any] = {"runtime": "podman", "agent": agent, "runtimeConfig": config}
    if needs:
        entry["dependencies"] = {name.replace("_", "-"): condition
                                 for name, condition in needs.items()}
    return entry


def started(project: Project, node: str, name: str) -> datetime:
    return _podman_time(project.inspect(node, name, ".State.StartedAt"))


def finished(project: Project, node: str, name: str) -> datetime:
    return _podman_time(project.inspect(node, name, ".State.FinishedAt"))


def event_streams(project_name: str) -> list[int]:
    """Pids of the `podman events` processes following this project (any node)."""
    found = subprocess.run(["pgrep", "-f", f"podman events .*label=ankplan.project={project_name}"],
                           capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def job_and_dependent(seconds: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "workloads": {
        "migration": workload("main", f'"stub", "job", "{seconds}", "0"'),
        "app": workload("compute1", '"stub", "idle"', migration="ADD_COND_SUCCEEDED")}}


def test_a_succeeded_dependency_is_followed_by_events_not_polled(
        clean_nodes: Any, demo_image: str, tmp_path: Path, commands: Commands) -> None:
    """The dependent waits 4 s for the job on node1: a listing per node when the streams
    open, none while it waits (polling ran one every 0.25 s: about 16), the dependent starts
    after the job exited, and --debug names events for every node."""
    project = Project(clean_nodes, tmp_path, job_and_dependent(4))
    status, out, err = run_cli("--debug", "apply", *project.args("--yes"))
    assert status == 0, out + err
    assert started(project, "node2", "app") > finished(project, "node1", "migration")
    modes = [line.removeprefix("ankplan: debug: observe ") for line in err.splitlines()
             if line.startswith("ankplan: debug: observe ")]
    assert "node1: events" in modes and "node2: events" in modes, err
    runs = {name: commands.run_of(name) for name in ("migration", "app")}
    for node in ("node1", "node2"):
        during = [when for when in commands.listings(node)
                  if runs["migration"] < when < runs["app"]]
        assert len(during) <= 1, (node, len(during))  # the first listing, if at all
        assert commands.streams(node) == 1
    # the plan's own ps, the feed's first listing, the confirming ps (and one to spare)
    assert len(commands.listings("node1")) <= 4, commands.listings("node1")


def test_a_health_checked_dependency_starts_its_dependent_once_healthy(
        clean_nodes: Any, demo_image: str, tmp_path: Path, commands: Commands) -> None:
    """db turns healthy after about 2 s (apply runs its check every second: the node has no
    systemd timer); app, which needs db running, starts only then, and no ps polls meanwhile."""
    options = '"--health-cmd", "stub health-file /tmp/healthy", "--health-interval", "1s"'
    document = {"apiVersion": "v1", "workloads": {
        "db": workload("main", '"sh", "-c", "sleep 2; touch /tmp/healthy; exec stub idle"',
                       options=options),
        "app": workload("compute1", '"stub", "idle"', db="ADD_COND_RUNNING")}}
    project = Project(clean_nodes, tmp_path, document)
    status, out, err = project.apply()
    assert status == 0, out + err
    assert out.endswith("Apply complete: 2 done.\n"), out
    db_started, app_started = started(project, "node1", "db"), started(project, "node2", "app")
    assert (app_started - db_started).total_seconds() >= 2.0
    checks = [when for when, node, argv in commands.seen if "healthcheck" in argv]
    app_run = commands.run_of("app")
    assert checks and app_run > checks[-1] > checks[0]  # the passing check came last
    assert len(commands.listings("node1")) <= 4, commands.listings("node1")


def test_a_killed_remote_event_stream_is_opened_again_and_the_dependent_starts(
        clean_nodes: Any, demo_image: str, tmp_path: Path, commands: Commands) -> None:
    project = Project(clean_nodes, tmp_path, job_and_dependent(8))
    answer: list[tuple[int, str, str]] = []
    applying = threading.Thread(target=lambda: answer.append(project.apply()))
    applying.start()
    deadline = time.monotonic() + 20
    while len(streams := event_streams(project.name)) < 2:  # node1 and node2
        assert time.monotonic() < deadline, streams
        time.sleep(0.1)
    time.sleep(2.5)  # not a stream that ends at once: that would make the node polled
    for pid in streams:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while len(again := event_streams(project.name)) < 2 or set(again) & set(streams):
        assert time.monotonic() < deadline, (streams, again)
        time.sleep(0.1)
    applying.join(60)
    status, out, err = answer[0]
    assert status == 0, out + err
    assert started(project, "node2", "app") > finished(project, "node1", "migration")
    assert commands.streams("node1") == 2 and commands.streams("node2") == 2
