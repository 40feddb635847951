"""Day-2 operations on the real test bed: a rebuilt image (guide 8.4), pulls from the bed's
registry, a missing tag reported per workload with Podman's own message, resource use in `get`,
and `ankplan restart` with and without --with-dependents.

Images are built on node1 with `podman build` (FROM the demo image, COPY a version file) into
node1's own storage, and pushed to the bed's registry (docker-registry on node1's address).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import TestBed
from conftest import run_ankplan as run_cli

pytestmark = pytest.mark.integration

AGENTS = {"node1": "node1", "node2": "node2", "node3": "node3"}
# Prints the image's version, then idles until SIGTERM (exits 0 at once).
SHOW_VERSION = ["sh", "-c", "echo running version $(cat /version); exec /bin/stub idle"]


class Bed:
    """One test's manifest, inventory and project on the bed, and ankplan run on them."""

    def __init__(self, testbed: TestBed, tmp_path: Path) -> None:
        self.testbed, self.tmp_path = testbed, tmp_path
        self.token = uuid.uuid4().hex[:10]
        self.project = f"it-{self.token}"
        self.manifest = tmp_path / "manifest.yaml"
        self.inventory = testbed.write_inventory(tmp_path / "inventory.yaml", AGENTS)

    def write(self, workloads: dict[str, dict[str, Any]]) -> None:
        document = {"apiVersion": "v1", "workloads": {
            name: {"runtime": "podman", "agent": spec.pop("agent"),
                   "restartPolicy": spec.pop("restartPolicy", "NEVER"),
                   **spec} for name, spec in workloads.items()}}
        for workload in document["workloads"].values():
            if isinstance(workload.get("runtimeConfig"), dict):
                workload["runtimeConfig"] = yaml.safe_dump(workload["runtimeConfig"])
        self.manifest.write_text(yaml.safe_dump(document, sort_keys=False))

    def cli(self, command: str, *extra: str) -> tuple[int, str, str]:
        """`ankplan COMMAND MANIFEST -i INVENTORY --project P EXTRA...`; COMMAND may be two
        words (`get workloads`)."""
        return run_cli(*command.split(), str(self.manifest), "-i", str(self.inventory),
                       "--project", self.project, *extra)

    def build(self, node_name: str, image: str, version: str) -> str:
        """`podman build` of `image` on the node with /version = version; the new image id."""
        context = self.tmp_path / f"build-{version}"
        context.mkdir(exist_ok=True)
        (context / "version").write_text(version + "\n")
        (context / "Containerfile").write_text(
            "FROM localhost/ankplan-demo:latest\nCOPY version /version\n")
        proc = self.testbed.podman(node_name, "build", "-q", "-t", image, str(context))
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip().splitlines()[-1]

    def container(self, node_name: str, workload: str) -> dict[str, Any]:
        """The project's one container of `workload` on the node (podman ps entry)."""
        proc = self.testbed.podman(node_name, "ps", "-a", "--format", "json", "--filter",
                                   f"label=ankplan.project={self.project}", "--filter",
                                   f"label=ankplan.workload={workload}")
        assert proc.returncode == 0, proc.stderr
        (entry,) = json.loads(proc.stdout or "[]")
        return entry

    def logs(self, node_name: str, container: str) -> str:
        proc = self.testbed.podman(node_name, "logs", container)
        return proc.stdout + proc.stderr

    def remove_image(self, node_name: str, image: str) -> None:
        self.testbed.podman(node_name, "rmi", "--force", "--ignore", image)


@pytest.fixture
def bed(clean_nodes: TestBed, demo_image: str, tmp_path: Path) -> Bed:
    return Bed(clean_nodes, tmp_path)


def test_rebuilt_image_is_replaced_like_guide_8_4(bed: Bed) -> None:
    """Build, apply, rebuild the same tag, plan names the rebuild, apply replaces, the new
    container runs the new image, the next plan has no changes."""
    image = f"localhost/it-{bed.token}-kuksa-bridge:latest"
    first = bed.build("node1", image, "1")
    bed.write({"kuksa-bridge": {"agent": "node1", "runtimeConfig": {
        "image": image, "commandArgs": SHOW_VERSION}}})
    try:
        status, out, err = bed.cli("apply", "--yes")
        assert status == 0, out + err
        old = bed.container("node1", "kuksa-bridge")
        assert old["ImageID"] == first and "running version 1" in bed.logs("node1", old["Id"])
        assert "No changes." in bed.cli("plan")[1]

        second = bed.build("node1", image, "2")  # same tag, different content
        assert second != first
        saved = bed.tmp_path / "before-rebuild.plan"
        status, out, err = bed.cli("plan", "--out", str(saved), "--detailed-exitcode")
        assert status == 2, out + err
        assert "-/+ node1/kuksa-bridge must be replaced" in out
        assert f"# image {image} was rebuilt ({first[:12]} -> {second[:12]})" in out
        assert "Plan: 0 to create, 1 to replace, 0 to start, 0 to remove." in out
        plan_json = json.loads(bed.cli("plan", "--output", "json")[1])
        (action,) = [a for a in plan_json["actions"] if a["action"] == "replace"]
        assert action["reason"] == "image-rebuilt"

        status, out, err = run_cli("apply", str(saved), "--yes")
        assert status == 0, out + err
        new = bed.container("node1", "kuksa-bridge")
        assert new["Id"] != old["Id"] and new["ImageID"] == second
        assert new["State"] == "running"
        assert "running version 2" in bed.logs("node1", new["Id"])

        status, out, err = bed.cli("plan", "--detailed-exitcode")
        assert status == 0 and "No changes." in out, out + err
    finally:
        bed.testbed.remove_all_containers()
        bed.remove_image("node1", image)


def test_image_rebuilt_after_plan_makes_the_saved_plan_stale(bed: Bed) -> None:
    image = f"localhost/it-{bed.token}-app:latest"
    first = bed.build("node1", image, "1")
    bed.write({"app": {"agent": "node1", "runtimeConfig": {
        "image": image, "commandArgs": SHOW_VERSION}}})
    try:
        assert bed.cli("apply", "--yes")[0] == 0
        saved = bed.tmp_path / "no-change.plan"
        bed.cli("plan", "--out", str(saved))
        second = bed.build("node1", image, "2")
        status, out, err = run_cli("apply", str(saved), "--yes")
        assert status == 1, out + err
        assert "the saved plan is stale" in err
        assert f"node1: image {image} now names {second[:12]} (was {first[:12]})" in err
        assert bed.container("node1", "app")["ImageID"] == first  # nothing was touched
    finally:
        bed.testbed.remove_all_containers()
        bed.remove_image("node1", image)


def test_pull_from_the_bed_registry_and_a_missing_tag_per_workload(bed: Bed,
                                                                   bed_registry: str) -> None:
    """An image missing on node2 is pulled from the bed's registry and runs; a missing tag
    fails only its own workload, with Podman's message; the plan said both would be pulled."""
    repository = f"{bed_registry}/it-{bed.token}/demo"
    proc = bed.testbed.podman("node1", "push", "--quiet", "--tls-verify=false",
                              "localhost/ankplan-demo:latest", f"{repository}:1")
    assert proc.returncode == 0, proc.stderr
    assert bed.testbed.podman("node2", "image", "exists", f"{repository}:1").returncode == 1
    bed.write({
        "pulled": {"agent": "node2", "runtimeConfig": {
            "image": f"{repository}:1", "commandArgs": ["/bin/stub", "idle"]}},
        "no-such-tag": {"agent": "node2", "runtimeConfig": {
            "image": f"{repository}:nope", "commandArgs": ["/bin/stub", "idle"]}},
        "local": {"agent": "node3", "runtimeConfig": {
            "image": "localhost/ankplan-demo:latest", "commandArgs": ["/bin/stub", "idle"]}},
    })
    try:
        status, out, err = bed.cli("plan")
        assert status == 0, out + err
        assert f"# image {repository}:1 is not on the node: podman will pull it" in out
        assert f"# image {repository}:nope is not on the node: podman will pull it" in out
        assert "localhost/ankplan-demo:latest is not on the node" not in out

        status, out, err = bed.cli("apply", "--yes")
        assert status == 1, out + err  # one workload failed, the others were applied
        assert bed.container("node2", "pulled")["State"] == "running"
        assert bed.container("node3", "local")["State"] == "running"
        assert bed.testbed.podman("node2", "image", "exists", f"{repository}:1").returncode == 0
        lines = out.splitlines()
        (row,) = [i for i, line in enumerate(lines) if "node2/no-such-tag" in line
                  and "failed" in line]
        assert "Pending(StartingFailed)" in lines[row]
        message = lines[row + 1].strip()  # Podman's own words, under the workload's row
        assert message.startswith("podman run failed (exit code 125): Error: initializing "
                                  f"source docker://{repository}:nope: "), message
        assert message.endswith("manifest unknown"), message
        assert "Apply incomplete: 2 done, 1 failed." in out
        status, out, err = bed.cli("get workloads", "-o", "json")
        states = {record["name"]: record["executionState"]["state"]
                  for record in json.loads(out)}
        assert states == {"pulled": "Running", "local": "Running", "no-such-tag": "Pending"}
    finally:
        bed.testbed.remove_all_containers()
        bed.remove_image("node2", f"{repository}:1")


# --- resources (guide 3.2, 4.2, 10.2) ------------------------------------------------------


def test_get_shows_cpu_and_memory_of_running_workloads(bed: Bed) -> None:
    """Real `podman stats` numbers on the bed: a busy workload limited to half a CPU and 64 MB
    (guide 10.2's options), an idle one without limits, a finished job without numbers."""
    bed.write({
        "busy": {"agent": "node1", "runtimeConfig": {
            "image": "localhost/ankplan-demo:latest",
            "commandOptions": ["--memory", "64m", "--cpus", "0.5"],
            "commandArgs": ["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]}},
        "idle": {"agent": "node2", "runtimeConfig": {
            "image": "localhost/ankplan-demo:latest", "commandArgs": ["/bin/stub", "idle"]}},
        "job": {"agent": "node2", "runtimeConfig": {
            "image": "localhost/ankplan-demo:latest", "commandArgs": ["true"]}},
    })
    status, out, err = bed.cli("apply", "--yes")
    assert status == 0, out + err
    time.sleep(1.5)  # let the busy loop build up CPU time

    status, out, err = bed.cli("get workloads", "-o", "json")
    assert status == 0, err
    records = {record["name"]: record for record in json.loads(out)}
    busy, idle = records["busy"]["resources"], records["idle"]["resources"]
    # --cpus 0.5 caps it near 50 %; on a loaded 2-core machine it may get much less
    assert 1.0 < busy["cpuPercent"] <= 60.0, busy
    assert busy["memoryLimitBytes"] == pytest.approx(64 * 1024 * 1024, rel=0.001), busy
    assert 0 < busy["memoryUsageBytes"] < busy["memoryLimitBytes"]
    assert busy["memory"].endswith(" / 67.11MB")
    assert idle["cpuPercent"] < busy["cpuPercent"], (idle, busy)
    assert idle["memoryLimitBytes"] > 10 * busy["memoryLimitBytes"]  # no limit: the node's RAM
    assert records["job"]["executionState"]["state"] == "Succeeded"
    assert records["job"]["resources"] is None

    status, out, err = bed.cli("get workloads", "-o", "wide")
    assert status == 0, err
    header, *lines = out.splitlines()
    assert header.split()[-2:] == ["CPU", "MEMORY"]
    row = next(line for line in lines if line.startswith("busy "))
    cpu, _usage, slash, limit = row.split()[-4:]
    assert cpu.endswith("%") and float(cpu[:-1]) > 1.0, row
    assert (slash, limit) == ("/", "67.11MB"), row

    status, out, err = bed.cli("get workload", "busy")
    assert status == 0, err
    resources = r"^Resources:\s+CPU \d+\.\d\d%, memory \S+ / 67\.11MB$"
    assert re.search(resources, out, re.MULTILINE), out


# --- ankplan restart -----------------------------------------------------------------------

IDLE = ["/bin/stub", "idle"]  # logs "stopping on signal" when it gets SIGTERM, exits 0


def chain(bed: Bed) -> None:
    """db (node1) <- api (node2) <- web (node3), each ADD_COND_RUNNING, plus a lone stubborn
    workload that ignores SIGTERM."""
    image = "localhost/ankplan-demo:latest"
    bed.write({
        "db": {"agent": "node1", "runtimeConfig": {"image": image, "commandArgs": IDLE}},
        "api": {"agent": "node2", "dependencies": {"db": "ADD_COND_RUNNING"},
                "runtimeConfig": {"image": image, "commandArgs": IDLE}},
        "web": {"agent": "node3", "dependencies": {"api": "ADD_COND_RUNNING"},
                "runtimeConfig": {"image": image, "commandArgs": IDLE}},
        "stubborn": {"agent": "node1", "runtimeConfig": {"image": image, "commandArgs": [
            "sh", "-c", "trap '' TERM; while :; do sleep 0.2; done"]}},
    })


def times(bed: Bed, workload: str, node_name: str) -> tuple[str, datetime, datetime]:
    """(container id, started at, finished at) from podman inspect, to the microsecond."""
    proc = bed.testbed.podman(node_name, "inspect", "--format",
                              "{{.Id}}|{{.State.StartedAt}}|{{.State.FinishedAt}}",
                              bed.container(node_name, workload)["Id"])
    assert proc.returncode == 0, proc.stderr
    container_id, started, finished = proc.stdout.strip().split("|")
    return container_id, podman_time(started), podman_time(finished)


def podman_time(text: str) -> datetime:
    """`2026-11-27 06:02:17.123456789 +0000 UTC` (nanoseconds cut to microseconds)."""
    day, clock, zone = text.split()[:3]
    seconds, _, fraction = clock.partition(".")
    return datetime.strptime(f"{day} {seconds}.{(fraction + '000000')[:6]} {zone}",
                             "%Y-%m-%d %H:%M:%S.%f %z")


NODES = {"db": "node1", "api": "node2", "web": "node3", "stubborn": "node1"}


def test_restart_keeps_the_container_and_leaves_dependents_running(bed: Bed) -> None:
    chain(bed)
    assert bed.cli("apply", "--yes")[0] == 0
    before = {name: times(bed, name, node) for name, node in NODES.items()}

    status, out, err = bed.cli("restart", "api", "--yes")
    assert status == 0, out + err
    assert "~ node2/api will be restarted" in out
    assert "# web depends on it and keeps running" in out
    assert "before it starts again" not in out  # db runs (on another node): nothing to wait for
    assert "Plan: 1 to restart." in out and "Restart complete: 1 done." in out
    after = {name: times(bed, name, node) for name, node in NODES.items()}
    assert after["api"][0] == before["api"][0]  # the same container, started again
    assert after["api"][1] > before["api"][1]
    assert "stub idle: stopping on signal" in bed.logs("node2", after["api"][0])  # SIGTERM
    for name in ("db", "web", "stubborn"):  # dependents and the rest kept running, untouched
        assert after[name] == before[name], name
        assert bed.container(NODES[name], name)["State"] == "running"
    assert bed.container("node2", "api")["State"] == "running"
    assert "No changes." in bed.cli("plan")[1]

    # SIGKILL after the stop timeout for a container that ignores SIGTERM
    started = time.monotonic()
    status, out, err = bed.cli("restart", "stubborn", "--yes", "--stop-timeout", "1")
    elapsed = time.monotonic() - started
    assert status == 0, out + err
    assert 1.0 <= elapsed < 8.0, elapsed
    stubborn = times(bed, "stubborn", "node1")
    assert stubborn[0] == before["stubborn"][0] and stubborn[1] > before["stubborn"][1]
    assert bed.container("node1", "stubborn")["State"] == "running"


def test_restart_with_dependents_stops_dependents_first_starts_them_last(bed: Bed) -> None:
    chain(bed)
    assert bed.cli("apply", "--yes")[0] == 0
    before = {name: times(bed, name, node) for name, node in NODES.items()}

    status, out, err = bed.cli("restart", "db", "--with-dependents", "--yes")
    assert status == 0, out + err
    assert "Plan: 3 to restart." in out and "Restart complete: 3 done." in out
    assert "# depends on db (--with-dependents; container " in out
    after = {name: times(bed, name, node) for name, node in NODES.items()}
    for name in ("db", "api", "web"):
        assert after[name][0] == before[name][0], name  # same containers
        assert after[name][1] > before[name][1], name  # started again
        assert bed.container(NODES[name], name)["State"] == "running"
    assert after["stubborn"] == before["stubborn"]  # not a dependent: untouched
    # stopped dependents first: web, then api, then db
    assert after["web"][2] < after["api"][2] < after["db"][2]
    # started dependencies first, each after its dependency runs: db, then api, then web
    assert after["db"][1] < after["api"][1] < after["web"][1]
    assert after["db"][2] < after["db"][1]  # db was down before it came back


def test_restart_refuses_names_and_containers_it_does_not_own(bed: Bed) -> None:
    chain(bed)
    assert bed.cli("apply", "--yes")[0] == 0
    before = times(bed, "api", "node2")
    status, out, err = bed.cli("restart", "apy", "--yes")
    assert status == 1 and "ankplan: error: workload 'apy' is not in the manifest" in err
    assert "hint: did you mean 'api'?" in err
    # another project's view of the same manifest owns no container: nothing is touched
    status, out, err = run_cli("restart", str(bed.manifest), "api", "-i", str(bed.inventory),
                               "--project", "someone-else", "--yes")
    assert status == 1, out + err
    assert "workload api has no container of project 'someone-else' on node2" in out + err
    assert times(bed, "api", "node2") == before
    assert "Traceback" not in err
