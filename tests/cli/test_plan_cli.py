"""`ankplan plan`: output, exit codes, saved plan files, the project default, and the CLI
conventions it shares (-o/--output, --out and -out=, -f/--filename, stdin, errors on stderr).

The Env's connector hands the command a fake node "local" (tests/fakepodman.py) holding the
containers each test seeds; the integration test plans against the real local Podman.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest
from clirun import run_cli
from fakepodman import FakeContainer, FakeNode, new_id

from ankplan.manifests.load import load_manifest
from ankplan.model import Node
from ankplan.planfile.savedplan import loads_saved_plan
from ankplan.planner.hashing import labels_for
from ankplan.podman import nodestore

MANIFEST = """\
apiVersion: v1
workloads:
  router:
    runtime: podman
    agent: agent_A
    runtimeConfig: |
      image: localhost/router:1
  app:
    runtime: podman
    agent: agent_A
    dependencies: {router: ADD_COND_RUNNING}
    runtimeConfig: |
      image: localhost/app:1
      commandOptions: ["-e", "PASSWORD=hunter2"]
"""


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "Police Demo!"
    folder.mkdir()
    (folder / "manifest.yaml").write_text(MANIFEST)
    return folder


@pytest.fixture
def local() -> dict[str, FakeNode]:
    """The fake node `local` (every agent runs there without an inventory), empty."""
    return {"local": FakeNode(Node(name="local"))}


def seed_running_copies(node: FakeNode, manifest_path: Path, project: str) -> None:
    """Containers matching the manifest exactly, as apply would have made them."""
    for workload in load_manifest([str(manifest_path)]).workloads:
        container_id = new_id()
        node.containers[container_id] = FakeContainer(
            id=container_id, name=workload.name, labels=labels_for(workload, project),
            args=("serve",), health_cmd=False, created=time.monotonic(),
            started=time.monotonic())


def test_empty_node_plans_creates_and_detailed_exitcode(project_dir: Path,
                                                        local: dict[str, FakeNode]) -> None:
    manifest = str(project_dir / "manifest.yaml")
    status, out, err = run_cli("plan", manifest, nodes=local)
    assert status == 0 and err == ""
    assert "  + local/router will be created\n" in out
    assert out.endswith("Plan: 2 to create, 0 to replace, 0 to start, 0 to remove.\n")
    assert "hunter2" not in out
    assert run_cli("plan", manifest, "--detailed-exitcode", nodes=local).status == 2
    # one ps and, beside it, one command reading the project's records (nodestore) and the
    # image listing, per plan (on this local node apart; over SSH the records command lists
    # the images too): nothing else reaches the node
    calls = [argv for _, argv in local["local"].calls]
    reads = [argv for argv in calls if nodestore.READ_SCRIPT in argv]
    assert len(reads) == 2
    assert sorted(argv for argv in calls if argv not in reads) == sorted(
        [("podman", "ps", "--all", "--format", "json"),
         ("podman", "images", "--format", "json")] * 2)


def test_converged_is_no_changes_and_exit_0(project_dir: Path, local: dict[str, FakeNode],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project_dir)
    seed_running_copies(local["local"], project_dir / "manifest.yaml", "police-demo")
    status, out, _ = run_cli("plan", "manifest.yaml", "--detailed-exitcode", nodes=local)
    assert status == 0
    assert out.endswith("No changes. Your workloads match the manifest.\n")
    # Another project owns none of them, and may not take their names: errors on stderr.
    status, out, err = run_cli("plan", "manifest.yaml", "--project", "other",
                               "--detailed-exitcode", nodes=local)
    assert status == 1
    assert ("ankplan: error: name conflict: local/router is held by a container of ankplan "
            "project 'police-demo'") in err
    assert "name conflict" not in out and "Plan:" not in out
    assert out.endswith("The plan is incomplete: 2 errors (shown on stderr); it cannot be "
                        "applied.\n")


def test_output_json_prints_the_plan_on_stdout(project_dir: Path,
                                               local: dict[str, FakeNode]) -> None:
    for flags in (("-o", "json"), ("--output", "json"), ("--output=json",), ("-ojson",)):
        status, out, err = run_cli("plan", str(project_dir / "manifest.yaml"), *flags,
                                   "--target", "router", nodes=local)
        document = json.loads(out)
        assert status == 0 and err == "", flags
        assert document["format_version"] == "1.3"
        assert re.fullmatch(r"police-demo-[0-9a-f]{8}", document["project"])
        assert [a["address"] for a in document["actions"]] == ["local/router"]
    assert not (project_dir / "json").exists()  # no longer a plan file named `json`


def test_unreachable_node_errors_on_stderr_and_no_misleading_summary(
        project_dir: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "plan.json"
    status, out, err = run_cli("plan", str(project_dir / "manifest.yaml"), "--out",
                               str(out_file), nodes={})
    assert status == 1
    assert "connection refused" not in out and "Plan: 0 to create" not in out
    assert out == "The plan is incomplete: 1 error (shown on stderr); it cannot be applied.\n"
    assert err == ("ankplan: error: node local: connection refused (hint: is sshd running "
                   "there?)\nankplan: error: the plan is incomplete (1 error); not saved\n")
    assert not out_file.exists()


@pytest.mark.parametrize("flags", [("--out", "{file}"), ("--out={file}",), ("-out={file}",),
                                   ("-out", "{file}")])
def test_saved_plan_file(project_dir: Path, local: dict[str, FakeNode], tmp_path: Path,
                         flags: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out_file = tmp_path / "tfplan"
    status, _, err = run_cli("plan", str(project_dir / "manifest.yaml"),
                             *(flag.format(file=out_file) for flag in flags),
                             "--project", "p1", nodes=local)
    assert status == 0, err
    assert f"Saved the plan to {out_file}" in err
    assert stat.S_IMODE(os.stat(out_file).st_mode) == 0o600  # it holds env values
    saved = loads_saved_plan(out_file.read_text())
    assert saved.project == "p1" and len(saved.plan.steps) == 2
    assert [n.name for n in saved.inventory.nodes] == ["local"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["Police Demo!", "tfplan"]


def test_unwritable_plan_file(project_dir: Path, local: dict[str, FakeNode],
                              tmp_path: Path) -> None:
    status, _, err = run_cli("plan", str(project_dir / "manifest.yaml"), "--out",
                             str(tmp_path / "missing" / "plan.json"), nodes=local)
    assert status == 1
    assert err.startswith("ankplan: error: cannot write the plan file")


def test_invalid_project_name(project_dir: Path, local: dict[str, FakeNode]) -> None:
    status, _, err = run_cli("plan", str(project_dir / "manifest.yaml"), "--project",
                             "Bad/Name", nodes=local)
    assert status == 1
    assert "invalid project name 'Bad/Name'" in err and "hint:" in err


def test_agent_override_and_unknown_target(project_dir: Path,
                                           local: dict[str, FakeNode]) -> None:
    status, out, err = run_cli("plan", str(project_dir / "manifest.yaml"), "--agent", "other",
                               "--target", "ghost", nodes=local)
    assert status == 1
    assert "target 'ghost' is not a workload of the manifest" in err
    assert "ghost" not in out


def test_bad_manifest_is_an_error_without_traceback(tmp_path: Path,
                                                    local: dict[str, FakeNode]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v9\nworkloads: {}\n")
    status, out, err = run_cli("plan", str(bad), nodes=local)
    assert status == 1 and out == ""
    assert "ankplan: error:" in err and "Traceback" not in err


def test_manifest_from_stdin_and_by_filename(project_dir: Path, local: dict[str, FakeNode],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project_dir)
    by_stdin = run_cli("plan", "-", "-o", "json", nodes=local, stdin=MANIFEST)
    by_flag = run_cli("plan", "-f", "manifest.yaml", "-o", "json", nodes=local)
    by_long = run_cli("plan", "--filename=manifest.yaml", "-o", "json", nodes=local)
    plans = [json.loads(result.out) for result in (by_stdin, by_flag, by_long)]
    assert [p["summary"]["create"] for p in plans] == [2, 2, 2]
    # stdin: a project of the current folder (its real path stands for the file's)
    assert re.fullmatch(r"police-demo-[0-9a-f]{8}", plans[0]["project"])
    assert plans[1]["project"] == plans[2]["project"] != plans[0]["project"]
    status, _, err = run_cli("plan", nodes=local)
    assert status == 1 and "no manifest file given" in err


# --- real Podman -----------------------------------------------------------------------------


@pytest.mark.integration
def test_plan_against_local_podman(tmp_path: Path, local_podman: object,
                                   demo_image: str) -> None:
    """Labels written by `podman create` are read back and judged: start, then no changes."""
    project = local_podman.project  # type: ignore[attr-defined]
    name = f"{project}-job"
    manifest_file = tmp_path / "manifest.yaml"
    manifest_file.write_text(
        f"apiVersion: v1\nworkloads:\n  {name}:\n    runtime: podman\n    agent: local\n"
        f"    runtimeConfig: |\n      image: {demo_image}\n"
        f"      commandOptions: [\"-e\", \"TOKEN=s3cret\"]\n"
        f"      commandArgs: [/bin/stub, idle]\n")
    argv = ("plan", str(manifest_file), "--project", project, "--detailed-exitcode")
    status, out, _ = run_cli(*argv, nodes=None)
    assert status == 2 and f"  + local/{name} will be created" in out

    (workload,) = load_manifest([str(manifest_file)]).workloads
    labels = [f"--label={k}={v}" for k, v in labels_for(workload, project).items()]
    created = subprocess.run(["podman", "create", "--name", name, *labels, "-e", "TOKEN=s3cret",
                              demo_image, "/bin/stub", "idle"], capture_output=True, text=True,
                             check=False)
    assert created.returncode == 0, created.stderr
    status, out, _ = run_cli(*argv, nodes=None)
    assert status == 2 and f"  ~ local/{name} will be started" in out

    subprocess.run(["podman", "start", name], capture_output=True, check=True)
    status, out, _ = run_cli(*argv, nodes=None)
    assert status == 0, out
    assert out.endswith("No changes. Your workloads match the manifest.\n")
    assert "s3cret" not in out

    manifest_file.write_text(manifest_file.read_text().replace("TOKEN=s3cret", "TOKEN=other"))
    status, out, _ = run_cli(*argv, nodes=None)
    assert status == 2 and "      # env TOKEN changed\n" in out and "other" not in out
