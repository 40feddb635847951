"""`ankplan plan`: output, exit codes, saved plan files and the project default.

Most tests replace `observe_nodes` with a recorded LiveState (the CLI's only I/O besides files);
the integration test plans against the real local Podman.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from ankplan.cli import main as cli_main
from ankplan.cli.commands import plan as plan_cli
from ankplan.cli.env import Env
from ankplan.model import LiveState, NodeObservation, ObservedContainer
from ankplan.planfile.savedplan import loads_saved_plan
from ankplan.planner.hashing import labels_for

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


def run_cli(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(""), environ={},
              stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    status = cli_main.main(list(argv), env)
    return status, stdout.getvalue(), stderr.getvalue()


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "Police Demo!"
    folder.mkdir()
    (folder / "manifest.yaml").write_text(MANIFEST)
    return folder


def observed(*containers: ObservedContainer, error: str | None = None) -> LiveState:
    return LiveState(nodes=(NodeObservation(node_name="local", containers=containers,
                                            error=error),))


@pytest.fixture
def fake_nodes(monkeypatch: pytest.MonkeyPatch) -> list[LiveState]:
    """Make `ankplan plan` see the LiveState appended to the returned list."""
    states: list[LiveState] = []
    monkeypatch.setattr(plan_cli, "observe_nodes", lambda pool, nodes, **_: states[-1])
    return states


def running_copies(project: str) -> tuple[ObservedContainer, ...]:
    """Containers matching MANIFEST exactly, as apply would have made them."""
    from ankplan.manifests.load import load_manifest

    manifest = load_manifest([str(Path.cwd() / "manifest.yaml")])
    return tuple(ObservedContainer(id=f"{w.name}-id", name=w.name, node_name="local", image="i",
                                   state="running",
                                   labels=tuple(sorted(labels_for(w, project).items())))
                 for w in manifest.workloads)


def test_default_project_from_the_folder(project_dir: Path) -> None:
    assert plan_cli.default_project(str(project_dir / "manifest.yaml")) == "police-demo"
    assert plan_cli.default_project("examples/police/manifest.yaml") == "police"
    assert plan_cli.default_project("/manifest.yaml") == "default"


def test_empty_node_plans_creates_and_detailed_exitcode(project_dir: Path,
                                                        fake_nodes: list[LiveState]) -> None:
    fake_nodes.append(observed())
    manifest = str(project_dir / "manifest.yaml")
    status, out, err = run_cli("plan", manifest)
    assert status == 0 and err == ""
    assert "  + local/router will be created\n" in out
    assert out.endswith("Plan: 2 to create, 0 to replace, 0 to start, 0 to remove.\n")
    assert "hunter2" not in out
    assert run_cli("plan", manifest, "--detailed-exitcode")[0] == 2


def test_converged_is_no_changes_and_exit_0(project_dir: Path, fake_nodes: list[LiveState],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project_dir)
    fake_nodes.append(observed(*running_copies("police-demo")))
    status, out, _ = run_cli("plan", "manifest.yaml", "--detailed-exitcode")
    assert status == 0
    assert out.endswith("No changes. Your workloads match the manifest.\n")
    # Another project owns none of them, and may not take their names.
    status, out, _ = run_cli("plan", "manifest.yaml", "--project", "other",
                             "--detailed-exitcode")
    assert status == 1
    assert ("Error: name conflict: local/router is held by a container of ankplan project "
            "'police-demo' (id router-id); ankplan leaves it alone") in out


def test_json_output(project_dir: Path, fake_nodes: list[LiveState]) -> None:
    fake_nodes.append(observed())
    status, out, _ = run_cli("plan", str(project_dir / "manifest.yaml"), "--output", "json",
                             "--target", "router")
    document = json.loads(out)
    assert status == 0
    assert document["format_version"] == "1.0" and document["project"] == "police-demo"
    assert [a["address"] for a in document["actions"]] == ["local/router"]


def test_plan_errors_exit_1_and_are_not_saved(project_dir: Path, fake_nodes: list[LiveState],
                                              tmp_path: Path) -> None:
    fake_nodes.append(observed(error="podman: command not found"))
    out_file = tmp_path / "plan.json"
    status, out, err = run_cli("plan", str(project_dir / "manifest.yaml"), "-o", str(out_file))
    assert status == 1
    assert "Error: node local: podman: command not found" in out
    assert err == "ankplan: error: the plan is incomplete (1 error); not saved\n"
    assert not out_file.exists()


def test_saved_plan_file(project_dir: Path, fake_nodes: list[LiveState],
                         tmp_path: Path) -> None:
    fake_nodes.append(observed())
    out_file = tmp_path / "plan.json"
    status, _, err = run_cli("plan", str(project_dir / "manifest.yaml"), "-o", str(out_file),
                             "--project", "p1")
    assert status == 0
    assert f"Saved the plan to {out_file}" in err
    assert stat.S_IMODE(os.stat(out_file).st_mode) == 0o600  # it holds env values
    saved = loads_saved_plan(out_file.read_text())
    assert saved.project == "p1" and len(saved.plan.steps) == 2
    assert [n.name for n in saved.inventory.nodes] == ["local"]
    assert not list(tmp_path.glob(".ankplan-*"))  # no temporary left behind


def test_unwritable_plan_file(project_dir: Path, fake_nodes: list[LiveState],
                              tmp_path: Path) -> None:
    fake_nodes.append(observed())
    status, _, err = run_cli("plan", str(project_dir / "manifest.yaml"), "-o",
                             str(tmp_path / "missing" / "plan.json"))
    assert status == 1
    assert err.startswith("ankplan: error: cannot write the plan file")


def test_invalid_project_name(project_dir: Path, fake_nodes: list[LiveState]) -> None:
    fake_nodes.append(observed())
    status, _, err = run_cli("plan", str(project_dir / "manifest.yaml"), "--project", "Bad/Name")
    assert status == 1
    assert "invalid project name 'Bad/Name'" in err and "hint:" in err


def test_agent_override_and_unknown_target(project_dir: Path,
                                           fake_nodes: list[LiveState]) -> None:
    fake_nodes.append(observed())
    status, out, _ = run_cli("plan", str(project_dir / "manifest.yaml"), "--agent", "other",
                             "--target", "ghost")
    assert status == 1
    assert "target 'ghost' is not a workload of the manifest" in out


def test_bad_manifest_is_an_error_without_traceback(tmp_path: Path,
                                                    fake_nodes: list[LiveState]) -> None:
    fake_nodes.append(observed())
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v9\nworkloads: {}\n")
    status, out, err = run_cli("plan", str(bad))
    assert status == 1 and out == ""
    assert "ankplan: error:" in err and "Traceback" not in err


# --- real Podman -----------------------------------------------------------------------------


@pytest.mark.integration
def test_plan_against_local_podman(tmp_path: Path, local_podman: object,
                                   demo_image: str) -> None:
    """Labels written by `podman create` are read back and judged: start, then no changes."""
    from ankplan.manifests.load import load_manifest

    project = local_podman.project  # type: ignore[attr-defined]
    name = f"{project}-job"
    manifest_file = tmp_path / "manifest.yaml"
    manifest_file.write_text(
        f"apiVersion: v1\nworkloads:\n  {name}:\n    runtime: podman\n    agent: local\n"
        f"    runtimeConfig: |\n      image: {demo_image}\n"
        f"      commandOptions: [\"-e\", \"TOKEN=s3cret\"]\n"
        f"      commandArgs: [/bin/stub, idle]\n")
    argv = ("plan", str(manifest_file), "--project", project, "--detailed-exitcode")
    status, out, _ = run_cli(*argv)
    assert status == 2 and f"  + local/{name} will be created" in out

    (workload,) = load_manifest([str(manifest_file)]).workloads
    labels = [f"--label={k}={v}" for k, v in labels_for(workload, project).items()]
    created = subprocess.run(["podman", "create", "--name", name, *labels, "-e", "TOKEN=s3cret",
                              demo_image, "/bin/stub", "idle"], capture_output=True, text=True,
                             check=False)
    assert created.returncode == 0, created.stderr
    status, out, _ = run_cli(*argv)
    assert status == 2 and f"  ~ local/{name} will be started" in out

    subprocess.run(["podman", "start", name], capture_output=True, check=True)
    status, out, _ = run_cli(*argv)
    assert status == 0, out
    assert out.endswith("No changes. Your workloads match the manifest.\n")
    assert "s3cret" not in out

    manifest_file.write_text(manifest_file.read_text().replace("TOKEN=s3cret", "TOKEN=other"))
    status, out, _ = run_cli(*argv)
    assert status == 2 and "      # env TOKEN changed\n" in out and "other" not in out
