"""`ankplan apply`, `delete` and `destroy` on the real 3-node test bed, over real SSH.

The police example is spread over three nodes (router and spawner on node1, kuksa side on
node2, camera side on node3), every client pointing at the node addresses it needs, all on the
host network of its node.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ankplan.cli import main as cli_main
from ankplan.cli.env import Env

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
POLICE = REPO / "examples" / "police" / "manifest.yaml"
# workload -> (agent, node); the agent names are the guide's three computers.
PLACEMENT = {"zenoh-router": "main", "carla-spawner": "main", "kuksa-bridge": "compute1",
             "police-websocket": "compute1", "camera-bridge": "compute2",
             "camera-websocket": "compute2"}
AGENTS = {"main": "node1", "compute1": "node2", "compute2": "node3"}
PORT_OWNER = {"7447": "zenoh-router", "7448": "carla-spawner", "7449": "kuksa-bridge",
              "7450": "camera-bridge", "7451": "camera-websocket", "7452": "police-websocket"}
DEPENDENCIES = {"carla-spawner": ["zenoh-router"],
                "kuksa-bridge": ["zenoh-router", "carla-spawner"],
                "camera-bridge": ["zenoh-router", "carla-spawner"],
                "camera-websocket": ["camera-bridge"], "police-websocket": ["kuksa-bridge"]}


# --- helpers -----------------------------------------------------------------------------------


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run ankplan in-process without a terminal; (exit status, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(""), environ={},
              stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    status = cli_main.main(list(argv), env)
    return status, stdout.getvalue(), stderr.getvalue()


def node_of(workload: str) -> str:
    return AGENTS[PLACEMENT[workload]]


def police_3_nodes(testbed: Any) -> dict[str, Any]:
    """The police example with its agents spread over node1..3 and addresses to match."""
    document = yaml.safe_load(POLICE.read_text())
    for name, workload in document["workloads"].items():
        workload["agent"] = PLACEMENT[name]
        text = workload["runtimeConfig"]
        for port, owner in PORT_OWNER.items():
            text = text.replace(f"127.0.0.1:{port}",
                                f"{testbed.node(node_of(owner)).host}:{port}")
        workload["runtimeConfig"] = text
    return document


class Project:
    """One test's manifest, inventory and project name, and how to run ankplan on them."""

    def __init__(self, testbed: Any, tmp_path: Path, document: dict[str, Any]) -> None:
        self.testbed = testbed
        self.name = f"it-{uuid.uuid4().hex[:10]}"
        self.manifest = tmp_path / "manifest.yaml"
        self.inventory = testbed.write_inventory(tmp_path / "inventory.yaml", AGENTS)
        self.write(document)

    def write(self, document: dict[str, Any]) -> None:
        self.manifest.write_text(yaml.safe_dump(document, sort_keys=False))

    def args(self, *extra: str) -> list[str]:
        return [str(self.manifest), "-i", str(self.inventory), "--project", self.name, *extra]

    def apply(self, *extra: str) -> tuple[int, str, str]:
        return run_cli("apply", *self.args("--yes", *extra))

    def plan(self, *extra: str) -> tuple[int, str, str]:
        return run_cli("plan", *self.args(*extra))

    def containers(self, node_name: str) -> list[dict[str, Any]]:
        """This project's containers on a node, from `podman ps -a`."""
        proc = self.testbed.podman(node_name, "ps", "-a", "--format", "json", "--filter",
                                   f"label=ankplan.project={self.name}")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout or "[]")

    def by_workload(self) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """workload name -> [(node, ps entry)] over every node."""
        found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for node in self.testbed.nodes:
            for entry in self.containers(node.name):
                found.setdefault(entry["Labels"]["ankplan.workload"], []).append(
                    (node.name, entry))
        return found

    def inspect(self, node_name: str, container: str, field: str) -> str:
        proc = self.testbed.podman(node_name, "inspect", "--format", "{{" + field + "}}",
                                   container)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()


def started_at(project: Project, workload: str, node_name: str = "") -> datetime:
    """When the workload's container started, to the microsecond (podman inspect)."""
    return _podman_time(project.inspect(node_name or node_of(workload), workload,
                                        ".State.StartedAt"))


def _podman_time(text: str) -> datetime:
    """Parse `2026-11-27 06:02:17.123456789 +0000 UTC` (nanoseconds cut to microseconds)."""
    day, clock, zone = text.split()[:3]
    seconds, _, fraction = clock.partition(".")
    return datetime.strptime(f"{day} {seconds}.{(fraction + '000000')[:6]} {zone}",
                             "%Y-%m-%d %H:%M:%S.%f %z")


def assert_converged_exactly(project: Project, expected: dict[str, str]) -> None:
    """Exactly one container per expected workload, on its node, running; nothing else."""
    found = project.by_workload()
    assert sorted(found) == sorted(expected), found.keys()
    for workload, node_name in expected.items():
        assert [n for n, _ in found[workload]] == [node_name], (workload, found[workload])
        assert found[workload][0][1]["State"] == "running", (workload, found[workload])


@pytest.fixture
def police(clean_nodes: Any, demo_image: str, tmp_path: Path) -> Project:
    return Project(clean_nodes, tmp_path, police_3_nodes(clean_nodes))


# --- the police example over three nodes ---------------------------------------------------------


def test_police_from_empty_runs_in_dependency_order_then_no_changes(police: Project) -> None:
    status, out, err = police.apply()
    assert status == 0, out + err
    assert "Plan: 6 to create, 0 to replace, 0 to start, 0 to remove." in out
    assert "Apply complete: 6 done." in out
    assert_converged_exactly(police, {name: node_of(name) for name in PLACEMENT})
    for workload, dependencies in DEPENDENCIES.items():
        for dependency in dependencies:
            assert started_at(police, workload) > started_at(police, dependency), (
                f"{workload} started before its dependency {dependency}")
    # progress lines name what each workload waited for (no terminal: plain lines)
    assert "node2/kuksa-bridge: Pending(WaitingToStart: carla-spawner, zenoh-router)" in err

    status, out, err = police.plan("--detailed-exitcode")
    assert status == 0, out + err
    assert "No changes." in out
    status, out, _ = police.apply()
    assert status == 0 and "No changes." in out


def test_change_replaces_exactly_one_and_removed_workload_goes(police: Project) -> None:
    status, out, err = police.apply()
    assert status == 0, out + err
    before = {w: entries[0][1]["Id"] for w, entries in police.by_workload().items()}
    document = police_3_nodes(police.testbed)
    config = document["workloads"]["police-websocket"]["runtimeConfig"]
    document["workloads"]["police-websocket"]["runtimeConfig"] = config.replace("7452", "7453")
    police.write(document)

    status, out, err = police.apply()
    assert status == 0, out + err
    assert "Plan: 0 to create, 1 to replace, 0 to start, 0 to remove." in out
    assert "node2/police-websocket must be replaced" in out
    after = {w: entries[0][1]["Id"] for w, entries in police.by_workload().items()}
    changed = sorted(w for w in before if before[w] != after[w])
    assert changed == ["police-websocket"]

    del document["workloads"]["camera-websocket"]
    police.write(document)
    status, out, err = police.apply()
    assert status == 0, out + err
    assert "Plan: 0 to create, 0 to replace, 0 to start, 1 to remove." in out
    assert "node3/camera-websocket will be removed" in out
    expected = {name: node_of(name) for name in PLACEMENT if name != "camera-websocket"}
    assert_converged_exactly(police, expected)
    assert {w: e[0][1]["Id"] for w, e in police.by_workload().items()} == {
        w: i for w, i in after.items() if w != "camera-websocket"}


def test_stale_saved_plan_is_refused_and_a_fresh_one_applies(police: Project,
                                                              tmp_path: Path) -> None:
    planfile = tmp_path / "police.plan"
    status, out, err = police.plan("--out", str(planfile))
    assert status == 0 and planfile.exists(), out + err
    # another apply creates the router on node1 after the plan was made
    assert police.apply("--target", "zenoh-router")[0] == 0

    status, out, err = run_cli("apply", str(planfile), "--yes")
    assert status == 1
    assert "the saved plan is stale" in err
    assert "node1" in err and "zenoh-router" in err
    assert police.by_workload().keys() == {"zenoh-router"}  # nothing was applied

    assert police.plan("--out", str(planfile))[0] == 0
    status, out, err = run_cli("apply", str(planfile))  # a saved plan needs no --yes
    assert status == 0, out + err
    assert "Plan: 5 to create" in out
    assert_converged_exactly(police, {name: node_of(name) for name in PLACEMENT})


# --- lock and interruption -----------------------------------------------------------------------


def slow_document(testbed: Any) -> dict[str, Any]:
    """A job on node1 that takes 4 s and a workload on node2 waiting for it to succeed."""
    image = "image: localhost/ankplan-demo:latest\n"
    return {"apiVersion": "v1", "workloads": {
        "slow-job": {"runtime": "podman", "agent": "main",
                     "runtimeConfig": image + 'commandArgs: ["stub", "job", "4", "0"]'},
        "after-job": {"runtime": "podman", "agent": "compute1",
                      "dependencies": {"slow-job": "ADD_COND_SUCCEEDED"},
                      "runtimeConfig": image + 'commandArgs: ["stub", "idle"]'},
        "independent": {"runtime": "podman", "agent": "compute2",
                        "runtimeConfig": image + 'commandArgs: ["stub", "idle"]'}}}


def start_apply(project: Project) -> subprocess.Popen[str]:
    """`ankplan apply --yes` in another process, started once its plan is printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ankplan", "apply", *project.args("--yes")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"})
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("Plan:"):
            return process
    stderr = process.stderr.read() if process.stderr else ""
    raise AssertionError(f"apply printed no plan: {stderr}")


def test_second_concurrent_apply_is_refused_naming_the_holder(clean_nodes: Any,
                                                               demo_image: str,
                                                               tmp_path: Path) -> None:
    project = Project(clean_nodes, tmp_path, slow_document(clean_nodes))
    first = start_apply(project)
    try:
        began = time.monotonic()
        status, _out, err = project.apply()
        assert status == 1
        assert time.monotonic() - began < 5.0  # refused at once (--lock-timeout 0)
        assert "another apply holds the lock" in err
        assert f"pid {first.pid}" in err and "ankplan apply" in err and "root@" in err
    finally:
        first_out, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_out + first_err
    assert "Apply complete: 3 done." in first_out


def test_killed_apply_rerun_converges_without_duplicates(clean_nodes: Any, demo_image: str,
                                                         tmp_path: Path) -> None:
    project = Project(clean_nodes, tmp_path, slow_document(clean_nodes))
    first = start_apply(project)
    time.sleep(1.5)  # slow-job and independent are running; after-job waits
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert "after-job" not in project.by_workload()

    began = time.monotonic()
    status, out, err = project.apply("--lock-timeout", "10")  # the dead run's lock frees itself
    assert status == 0, out + err
    assert time.monotonic() - began < 60
    assert "1 to create" in out
    found = project.by_workload()
    assert {w: [n for n, _ in entries] for w, entries in found.items()} == {
        "slow-job": ["node1"], "after-job": ["node2"], "independent": ["node3"]}
    assert project.plan("--detailed-exitcode")[0] == 0


def test_sigterm_starts_nothing_new_and_reports(clean_nodes: Any, demo_image: str,
                                                tmp_path: Path) -> None:
    project = Project(clean_nodes, tmp_path, slow_document(clean_nodes))
    first = start_apply(project)
    time.sleep(1.5)
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 130, out + err
    assert "SIGTERM received" in err
    assert "Apply interrupted:" in out and "cancelled" in out
    assert "after-job" not in project.by_workload()
    assert project.apply("--lock-timeout", "10")[0] == 0
    assert sorted(project.by_workload()) == ["after-job", "independent", "slow-job"]


# --- SUCCEEDED and FAILED conditions -------------------------------------------------------------


def conditions_document(extra: bool) -> dict[str, Any]:
    """Jobs first; with `extra`, the workloads whose conditions judge them."""
    image = "image: localhost/ankplan-demo:latest\n"

    def workload(agent: str, args: str, **deps: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"runtime": "podman", "agent": agent,
                                 "runtimeConfig": image + f"commandArgs: [{args}]"}
        if deps:
            entry["dependencies"] = {k.replace("_", "-"): v for k, v in deps.items()}
        return entry

    workloads = {
        "migration": workload("main", '"stub", "job", "2", "0"'),
        "app": workload("compute1", '"stub", "idle"', migration="ADD_COND_SUCCEEDED"),
        "primary": workload("main", '"stub", "job", "0", "1"'),
        "done-job": workload("compute2", '"stub", "job", "0", "0"'),
    }
    if extra:
        workloads.update({
            "fallback": workload("compute2", '"stub", "idle"', primary="ADD_COND_FAILED"),
            "standby": workload("compute1", '"stub", "idle"', app="ADD_COND_FAILED"),
            "needs-done-job": workload("compute1", '"stub", "idle"', done_job="ADD_COND_RUNNING"),
            "needs-ghost": workload("compute2", '"stub", "idle"', ghost="ADD_COND_RUNNING"),
        })
    return {"apiVersion": "v1", "workloads": workloads}


def test_succeeded_failed_and_never_conditions(clean_nodes: Any, demo_image: str,
                                               tmp_path: Path) -> None:
    project = Project(clean_nodes, tmp_path, conditions_document(extra=False))
    status, out, err = project.apply()
    assert "node2/app" in out, out + err
    finished = _podman_time(project.inspect("node1", "migration", ".State.FinishedAt"))
    assert started_at(project, "app", "node2") > finished  # SUCCEEDED: app waited for exit 0
    assert project.inspect("node1", "primary", ".State.ExitCode") == "1"

    project.write(conditions_document(extra=True))
    began = time.monotonic()
    status, out, err = project.apply("--timeout", "60")
    assert time.monotonic() - began < 20  # NEVER is reported at once, not after 60 s
    assert status == 1  # two workloads can never start
    results = {line.split()[0]: line.split()[1] for line in out.splitlines()
               if line.startswith("  node")}
    assert results == {"node3/fallback": "done", "node2/standby": "standing-by",
                       "node2/needs-done-job": "not-started",
                       "node3/needs-ghost": "not-started"}, out
    assert "app is Running(Ok): the fallback stands by" in out
    assert ("done-job is Succeeded(Ok) and restartPolicy NEVER does not restart it; "
            "ADD_COND_RUNNING can no longer hold") in out
    assert "ghost is not in the manifest and not running on any node" in out
    found = project.by_workload()
    assert [n for n, _ in found["fallback"]] == ["node3"]
    assert found["fallback"][0][1]["State"] == "running"
    assert "standby" not in found and "needs-ghost" not in found


# --- delete and destroy --------------------------------------------------------------------------


def test_delete_then_destroy(police: Project) -> None:
    assert police.apply()[0] == 0
    status, out, err = run_cli("delete", "police-websocket", "kuksa-bridge", "-f",
                               str(police.manifest), "-i", str(police.inventory),
                               "--project", police.name, "--yes")
    assert status == 0, out + err
    assert "Plan: 0 to create, 0 to replace, 0 to start, 2 to remove." in out
    assert "Delete complete: 2 done." in out
    removed = re.findall(r"\] (\S+): Removed \(done\)", err)
    assert removed == ["node2/police-websocket", "node2/kuksa-bridge"]  # dependents first
    assert sorted(police.by_workload()) == sorted(
        set(PLACEMENT) - {"police-websocket", "kuksa-bridge"})

    status, out, err = run_cli("destroy", str(police.manifest), "-i", str(police.inventory),
                               "--project", police.name)
    assert status == 1 and "--yes" in err  # no terminal: refuses without --yes
    assert police.by_workload()
    status, out, err = run_cli("destroy", str(police.manifest), "-i", str(police.inventory),
                               "--project", police.name, "--yes")
    assert status == 0, out + err
    assert "Destroy complete: 4 done." in out
    assert police.by_workload() == {}


# --- the CLI on the local Podman: confirmation, live table, NDJSON --------------------------------


def local_manifest(tmp_path: Path) -> Path:
    image = "image: localhost/ankplan-demo:latest\n"
    document = {"apiVersion": "v1", "workloads": {
        "first": {"runtime": "podman", "agent": "local",
                  "runtimeConfig": image + 'commandArgs: ["stub", "idle"]'},
        "second": {"runtime": "podman", "agent": "local",
                   "dependencies": {"first": "ADD_COND_RUNNING"},
                   "runtimeConfig": image + 'commandArgs: ["stub", "idle"]'}}}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def run_on_terminal(answer: str, *argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(answer), environ={"NO_COLOR": "1"},
              stdout_isatty=True, stderr_isatty=True, stdin_isatty=True)
    status = cli_main.main(list(argv), env)
    return status, stdout.getvalue(), stderr.getvalue()


def test_confirmation_on_a_terminal_and_live_table(local_podman: Any, tmp_path: Path) -> None:
    manifest = str(local_manifest(tmp_path))
    argv = ("apply", manifest, "--project", local_podman.project)
    status, out, err = run_on_terminal("no\n", *argv)
    assert status == 1
    assert "Do you want to perform these actions? Only 'yes' will be accepted:" in err
    assert "Apply cancelled." in err and "Plan: 2 to create" in out
    listing = local_podman.run("ps", "-aq", "--filter",
                               f"label=ankplan.project={local_podman.project}")
    assert listing.stdout.split() == []

    status, out, err = run_on_terminal("yes\n", *argv)
    assert status == 0, out + err
    assert "WORKLOAD" in err and "ELAPSED" in err  # the live table
    assert "Running(Ok)" in err
    assert "Apply complete: 2 done." in out


def test_json_output_is_ndjson(local_podman: Any, tmp_path: Path) -> None:
    manifest = str(local_manifest(tmp_path))
    status, out, err = run_cli("apply", manifest, "--project", local_podman.project, "--yes",
                               "--output", "json")
    assert status == 0, out + err
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0]["type"] == "plan" and records[0]["plan"]["summary"]["create"] == 2
    assert records[-1]["type"] == "summary" and records[-1]["converged"] is True
    assert [r["outcome"] for r in records[-1]["results"]] == ["done", "done"]
    events = [r for r in records if r["type"] == "event"]
    assert {"node": "local", "workload": "second", "to": "Pending(WaitingToStart: first)"}.items() \
        <= next(e for e in events if e["workload"] == "second").items()
    assert [e["to"] for e in events if e["outcome"] == "done"] == ["Running(Ok)", "Running(Ok)"]
