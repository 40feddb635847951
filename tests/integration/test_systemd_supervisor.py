"""`apply --supervisor systemd` on nodes with real systemd: one enabled unit per workload keeps
it up after ankplan exited, restarts a killed container, brings the project back after a node
reboot in dependency order; destroy removes what it made and nothing else; watch only observes.

Integration tests: the systemd bed (scripts/systemd-bed.sh, 3 nodes of each flavour: systemd 252
+ Podman 4.3 with generated-style units, systemd 257 + Podman 5.4 with Quadlet files), real
units, the real CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DEMO_IMAGE, run_cli
from systemd_bed import SystemdBed

from ankplan.podman.systemd_unit import QUADLET_DIR, RESTART_SEC, UNIT_DIR, unit_name

pytestmark = pytest.mark.integration

PROJECT = "sdtest"
AGENTS = {"a1": "node1", "a2": "node2", "a3": "node3"}
NODES = ("node1", "node2", "node3")
IMAGE = f"runtimeConfig: |\n      image: {DEMO_IMAGE}\n      commandArgs: "
TRICKY = 'GREETING=a b$c%d"e\\f'  # what systemd would expand or unquote in an Exec= line


def manifest_text(web_policy: str = "ON_FAILURE", job: bool = False) -> str:
    """db (ALWAYS) and web (needs db running) on node1, remote (needs db) on node2, edge on
    node3; with `job`,
    an ON_FAILURE job on node1 that exits 0 after 1 s."""
    text = f"""apiVersion: v1
workloads:
  db:
    runtime: podman
    agent: a1
    restartPolicy: ALWAYS
    {IMAGE}["stub", "idle"]
  web:
    runtime: podman
    agent: a1
    restartPolicy: {web_policy}
    dependencies: {{db: ADD_COND_RUNNING}}
    {IMAGE}["stub", "idle"]
      commandOptions: ['-e', '{TRICKY}']
  remote:
    runtime: podman
    agent: a2
    restartPolicy: ON_FAILURE
    dependencies: {{db: ADD_COND_RUNNING}}
    {IMAGE}["stub", "idle"]
  edge:
    runtime: podman
    agent: a3
    restartPolicy: ALWAYS
    {IMAGE}["stub", "idle"]
"""
    if job:
        text += f"""  job:
    runtime: podman
    agent: a1
    restartPolicy: ON_FAILURE
    {IMAGE}["stub", "job", "1", "0"]
"""
    return text


class Project:
    """One test's manifest and inventory on the systemd bed, and ankplan run on them."""

    def __init__(self, bed: SystemdBed, folder: Path, *, supervisor: str | None = "systemd",
                 project: str = PROJECT) -> None:
        self.bed, self.project = bed, project
        self.manifest = folder / "manifest.yaml"
        self.inventory = bed.write_inventory(folder / "inventory.yaml",
                                             AGENTS, supervisor)
        self.write(manifest_text())

    def write(self, text: str) -> None:
        """Replace the manifest."""
        self.manifest.write_text(text)

    def cli(self, command: str, *extra: str) -> tuple[int, str, str]:
        """`ankplan COMMAND... -m MANIFEST -i INVENTORY --project P EXTRA...` in-process."""
        return run_cli(*command.split(), "-m", str(self.manifest), "-i", str(self.inventory),
                       "--project", self.project, *extra)

    def apply(self, *extra: str) -> str:
        """Apply (asserting success); its stdout."""
        status, out, err = self.cli("apply", "-y", *extra)
        assert status == 0, out + err
        return out

    def units(self, node_name: str) -> list[str]:
        """The units whose files on the node carry the project's mark (unit files, or the
        Quadlet files the units are generated from)."""
        out = self.bed.sh(node_name, f"grep -lx 'X-Ankplan-Project={self.project}' "
                                     f"{UNIT_DIR}/*.service {QUADLET_DIR}/*.container "
                                     "2>/dev/null || true")
        return sorted(Path(line).stem + ".service" for line in out.split())


def unit_file(bed: SystemdBed, unit: str) -> str:
    """The path of the file that defines ankplan's `unit` on the bed's flavour."""
    if bed.quadlet:
        return f"{QUADLET_DIR}/{unit.removesuffix('.service')}.container"
    return f"{UNIT_DIR}/{unit}"


def inspect(bed: SystemdBed, node_name: str, container: str) -> dict:
    """`podman inspect` of one container on the node."""
    return json.loads(bed.sh(node_name, f"podman inspect {container}"))[0]


def unit_show(bed: SystemdBed, node_name: str, unit: str) -> dict[str, str]:
    """Some properties of a unit, from `systemctl show`."""
    out = bed.sh(node_name, "systemctl show -p ActiveState,SubState,UnitFileState,NRestarts,"
                            f"ActiveEnterTimestampMonotonic {unit}")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def unit_of(project: Project, workload: str) -> dict:
    """The `unit` field of the workload in `get workloads -o json`."""
    status, out, err = project.cli("get workloads", "-o", "json")
    assert status == 0, out + err
    return next(row for row in json.loads(out) if row["name"] == workload)["unit"]


def wait_for(check, timeout: float, what: str) -> None:
    """Poll `check()` until true, failing with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def project(clean_systemd_bed: SystemdBed, tmp_path: Path) -> Project:
    """The three-workload project on a clean systemd bed, not applied yet."""
    return Project(clean_systemd_bed, tmp_path)


def test_apply_runs_every_workload_as_an_enabled_unit(project: Project) -> None:
    bed = project.bed
    out = project.apply("--supervisor", "systemd")
    web_unit = unit_name(PROJECT, "web")
    kind = f"Quadlet file {web_unit[:-8]}.container" if bed.quadlet else "unit file"
    assert f"systemd unit {web_unit} ({kind}): Restart=on-failure after {RESTART_SEC} s" in out
    assert (", growing to 30 s" in out) == bed.quadlet  # systemd 257 has RestartSteps=
    assert f"the node starts it after {unit_name(PROJECT, 'db')} (Requires=/After=)" in out
    assert "after apply the node does not enforce: db (on node1)" in out
    assert project.units("node1") == sorted([unit_name(PROJECT, "db"), web_unit])
    assert project.units("node2") == [unit_name(PROJECT, "remote")]
    assert project.units("node3") == [unit_name(PROJECT, "edge")]
    enabled = "generated" if bed.quadlet else "enabled"  # Quadlet: [Install] in the file
    for node_name, workload in (("node1", "db"), ("node1", "web"), ("node2", "remote"),
                                ("node3", "edge")):
        unit = unit_name(PROJECT, workload)
        shown = unit_show(bed, node_name, unit)
        assert (shown["ActiveState"], shown["SubState"], shown["UnitFileState"]) == (
            "active", "running", enabled), shown
        labels = inspect(bed, node_name, workload)["Config"]["Labels"]
        assert labels["ankplan.project"] == PROJECT and labels["ankplan.workload"] == workload
        assert labels["ankplan.unit"] == unit == labels["PODMAN_SYSTEMD_UNIT"]
    assert TRICKY in inspect(bed, "node1", "web")["Config"]["Env"]
    text = bed.sh("node1", f"cat {unit_file(bed, web_unit)}")
    assert f"X-Ankplan-Project={PROJECT}" in text and "X-Ankplan-Spec-Hash=v1:" in text
    assert f"Requires={unit_name(PROJECT, 'db')}" in text and "Restart=on-failure" in text
    status, out, err = project.cli("plan", "--supervisor", "systemd")
    assert status == 0 and "No changes." in out, out + err
    # the inventory's own `supervisor: systemd` is the same plan
    project.bed.write_inventory(project.inventory, AGENTS, "systemd")
    status, out, err = project.cli("plan")
    assert status == 0 and "No changes." in out, out + err


def test_systemd_restarts_a_killed_container_after_ankplan_exited(project: Project) -> None:
    bed = project.bed
    project.write(manifest_text(job=True))
    apply = subprocess.run(
        [sys.executable, "-m", "ankplan", "apply", "-y", "-m", str(project.manifest), "-i",
         str(project.inventory), "--project", PROJECT, "--supervisor", "systemd"],
        capture_output=True, text=True, timeout=300, check=False)
    assert apply.returncode == 0, apply.stdout + apply.stderr  # ankplan has exited
    old = inspect(bed, "node1", "web")
    killed_at = float(bed.sh("node1", f"date +%s.%N; kill -9 {old['State']['Pid']}").split()[0])
    # get shows the unit waiting to restart it, next to the container's own state
    wait_for(lambda: unit_of(project, "web")["state"] == "activating (auto-restart)",
             RESTART_SEC - 1, "get to show web's unit in auto-restart")
    wait_for(lambda: bed.ssh("node1", ["podman", "inspect", "--format", "{{.Id}} {{.State.Status}}",
                                       "web"]).stdout.split() not in ([], [old["Id"], "running"],
                                                                      [old["Id"], "exited"]),
             RESTART_SEC + 10, "systemd to run web again")
    new = inspect(bed, "node1", "web")
    started = float(bed.sh("node1", f"date -d {new['State']['StartedAt'][:26]}Z +%s.%N"))
    delay = started - killed_at
    print(f"restart delay after kill -9: {delay:.2f} s (RestartSec={RESTART_SEC})")
    assert new["State"]["Status"] == "running" and new["Id"] != old["Id"]
    assert RESTART_SEC <= delay <= RESTART_SEC + 1.0, delay
    status, out, err = project.cli("get workloads", "-o", "json")
    assert status == 0, out + err
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["web"]["restartCount"] == 1, rows["web"]
    assert rows["web"]["executionState"]["state"] == "Running", rows["web"]
    assert rows["web"]["unit"] == {"name": unit_name(PROJECT, "web"), "state": "active (running)"}
    status, out, err = project.cli("get workloads", "-o", "wide")
    assert status == 0 and out.splitlines()[0].split()[-1] == "UNIT", out + err
    assert any(line.split()[0] == "web" and line.endswith("active (running)")
               for line in out.splitlines()), out
    # ON_FAILURE leaves a clean exit alone: the job ran once, exited 0, and stays exited.
    time.sleep(RESTART_SEC + 1)
    job_unit = unit_show(bed, "node1", unit_name(PROJECT, "job"))
    assert (job_unit["NRestarts"], job_unit["ActiveState"]) == ("0", "inactive"), job_unit
    status, out, err = project.cli("get workloads", "-o", "json")
    rows = {row["name"]: row for row in json.loads(out)}
    job = inspect(bed, "node1", "job")
    assert (job["State"]["Status"], job["State"]["ExitCode"]) == ("exited", 0)
    assert rows["job"]["executionState"]["state"] == "Succeeded", rows["job"]


def test_a_node_reboot_brings_the_project_back_in_dependency_order(project: Project) -> None:
    bed = project.bed
    project.apply("--supervisor", "systemd")
    took = bed.reboot("node1")
    print(f"node1 rebooted (podman restart) and answering in {took:.1f} s")
    if took > 10:
        print(bed.sh("node1", "journalctl -D /var/log/journal --no-pager -o short-precise "
                              "| grep -v kernel: | tail -150"))
    for workload in ("db", "web"):
        wait_for(lambda w=workload: bed.ssh("node1", ["podman", "inspect", "--format",
                                                      "{{.State.Status}}", w]).stdout.strip()
                 == "running", 60, f"{workload} running after the reboot")
    db, web = (unit_show(bed, "node1", unit_name(PROJECT, name)) for name in ("db", "web"))
    assert int(db["ActiveEnterTimestampMonotonic"]) < int(web["ActiveEnterTimestampMonotonic"])
    db_started = inspect(bed, "node1", "db")["State"]["StartedAt"]
    web_started = inspect(bed, "node1", "web")["State"]["StartedAt"]
    assert db_started <= web_started, (db_started, web_started)
    status, out, err = project.cli("plan", "--supervisor", "systemd")
    assert status == 0 and "No changes." in out, out + err


FOREIGN_UNIT = """[Unit]
Description=not ankplan's
[Service]
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
"""


def test_destroy_removes_units_containers_and_folders_and_nothing_else(
        project: Project, tmp_path: Path) -> None:
    bed = project.bed
    project.apply("--supervisor", "systemd")
    (tmp_path / "other").mkdir()
    other = Project(bed, tmp_path / "other", project="other")  # another project, same node
    other.write(manifest_text().split("  web:")[0].replace("db:", "otherdb:"))
    other.apply()
    # A foreign unit with a foreign container, and a file named like ankplan's unit (or
    # Quadlet file) of a workload the manifest does not have, without the project's mark.
    ghost = unit_file(bed, unit_name(PROJECT, "ghost"))
    bed.sh("node1", f"cat > {UNIT_DIR}/foreign.service <<'EOF'\n{FOREIGN_UNIT}EOF\n"
                    f"cp {UNIT_DIR}/foreign.service {ghost}\n"
                    "systemctl daemon-reload && systemctl enable -q --now foreign.service && "
                    f"podman run -d --name foreign {DEMO_IMAGE} stub idle >/dev/null")
    status, out, err = project.cli("destroy", "-y")
    assert status == 0, out + err
    for node_name in NODES:
        assert project.units(node_name) == []
        marked = bed.sh(node_name, f"grep -rlx 'X-Ankplan-Project={PROJECT}' {UNIT_DIR} "
                                   f"{QUADLET_DIR} 2>/dev/null || true")
        assert marked == "", marked  # no unit, Quadlet file or drop-in of the project
        names = bed.sh(node_name, "podman ps -a --format '{{.Names}}'").split()
        assert not {"db", "web", "remote", "edge"} & set(names)
        leftovers = bed.sh(node_name, "ls /var/lib/ankplan/*/ 2>/dev/null || true")
        assert PROJECT not in leftovers, leftovers
        listed = bed.sh(node_name, "systemctl list-units --all --plain --no-legend "
                                   f"'ankplan-*' | grep -v {unit_name('other', 'otherdb')} "
                                   "|| true")
        assert unit_name(PROJECT, "db")[:-8] not in listed, listed
    assert bed.sh("node1", "systemctl is-active foreign.service").strip() == "active"
    assert bed.sh("node1", "podman inspect --format '{{.State.Status}}' foreign").strip() == \
        "running"
    assert bed.sh("node1", f"cat {ghost}") == FOREIGN_UNIT
    assert other.units("node1") == [unit_name("other", "otherdb")]
    assert unit_show(bed, "node1", unit_name("other", "otherdb"))["ActiveState"] == "active"
    bed.sh("node1", "systemctl disable -q --now foreign.service; "
                    f"rm -f {UNIT_DIR}/foreign.service {ghost}")


def test_watch_observes_systemd_restarts_and_does_not_act(project: Project) -> None:
    bed = project.bed
    project.apply("--supervisor", "systemd")
    old = inspect(bed, "node1", "web")
    watch = subprocess.Popen(
        [sys.executable, "-m", "ankplan", "watch", "-m", str(project.manifest), "-i",
         str(project.inventory), "--project", PROJECT, "-o", "json",
         "--duration", str(RESTART_SEC + 6)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    bed.sh("node1", f"kill -9 {old['State']['Pid']}")
    out, err = watch.communicate(timeout=120)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    acted = [e for e in events if e.get("kind") in ("restart", "start", "create", "replace")]
    assert acted == [], acted
    assert any(e.get("workload") == "web" and "Failed" in str(e.get("to")) for e in events), \
        out + err
    assert unit_show(bed, "node1", unit_name(PROJECT, "web"))["NRestarts"] == "1"


def test_switching_supervisor_and_restart_policy_are_plans(project: Project) -> None:
    bed = project.bed
    project.apply("--supervisor", "systemd")
    before = inspect(bed, "node1", "web")["Id"]
    project.write(manifest_text(web_policy="ALWAYS"))
    out = project.apply("--supervisor", "systemd")
    assert "node1/web will be updated in place" in out, out
    assert inspect(bed, "node1", "web")["Id"] == before  # the container stays
    assert "Restart=always" in bed.sh("node1", f"cat {unit_file(bed, unit_name(PROJECT, 'web'))}")
    out = project.apply("--supervisor", "watch")
    assert "supervisor: systemd (" in out and "-> watch" in out, out
    assert all(project.units(node_name) == [] for node_name in NODES)
    labels = inspect(bed, "node1", "web")["Config"]["Labels"]
    assert "ankplan.unit" not in labels and labels["ankplan.project"] == PROJECT
    out = project.apply("--supervisor", "systemd")
    assert "-> systemd (" in out, out
    assert project.units("node1") == sorted([unit_name(PROJECT, "db"),
                                             unit_name(PROJECT, "web")])


def test_restart_goes_through_the_unit(project: Project) -> None:
    bed = project.bed
    project.apply("--supervisor", "systemd")
    before = inspect(bed, "node1", "web")["Id"]
    status, out, err = run_cli("restart", "web", "-y", "-m", str(project.manifest), "-i",
                               str(project.inventory), "--project", PROJECT)
    assert status == 0, out + err
    after = inspect(bed, "node1", "web")
    assert after["State"]["Status"] == "running" and after["Id"] != before
    assert after["Config"]["Labels"]["PODMAN_SYSTEMD_UNIT"] == unit_name(PROJECT, "web")
    shown = unit_show(bed, "node1", unit_name(PROJECT, "web"))
    assert (shown["ActiveState"], shown["SubState"]) == ("active", "running"), shown
    assert inspect(bed, "node1", "db")["State"]["Status"] == "running"
