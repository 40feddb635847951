"""How every command names its project: --project > $ANKPLAN_PROJECT > derived from the
manifests' location, which two folders of the same name never share (docs/projects.md)."""

from __future__ import annotations

import argparse
import json
import re
import socket
from pathlib import Path

import pytest
from clirun import run_cli
from fakepodman import FakeNode

from ankplan.cli.options import (
    PROJECT_ENV,
    derived_project_name,
    folder_name,
    manifest_paths,
    project_name,
    source_label,
)
from ankplan.errors import AnkplanError
from ankplan.model import Manifest, Node

MANIFEST = """\
apiVersion: v1
workloads:
  web:
    runtime: podman
    agent: agent_A
    runtimeConfig: |
      image: localhost/web:1
"""


@pytest.fixture
def two_apps(tmp_path: Path) -> tuple[Path, Path]:
    """one/app/m.yaml and two/app/m.yaml: unrelated repositories, same folder name."""
    paths = []
    for repo in ("one", "two"):
        folder = tmp_path / repo / "app"
        folder.mkdir(parents=True)
        (folder / "m.yaml").write_text(MANIFEST)
        paths.append(folder / "m.yaml")
    return paths[0], paths[1]


def planned_project(*argv: str, environ: dict[str, str] | None = None) -> str:
    status, out, err = run_cli("plan", *argv, "--output", "json", environ=environ,
                               nodes={"local": FakeNode(Node(name="local"))})
    assert status == 0, err
    return str(json.loads(out)["project"])


def test_same_folder_name_in_two_places_gives_two_projects(two_apps: tuple[Path, Path]) -> None:
    one, two = (planned_project(str(path)) for path in two_apps)
    assert re.fullmatch(r"app-[0-9a-f]{8}", one) and re.fullmatch(r"app-[0-9a-f]{8}", two)
    assert one != two
    assert planned_project(str(two_apps[0])) == one  # stable


def test_two_manifests_in_one_folder_are_two_projects(two_apps: tuple[Path, Path]) -> None:
    other = two_apps[0].parent / "other.yaml"
    other.write_text(MANIFEST)
    assert planned_project(str(two_apps[0])) != planned_project(str(other))


def test_the_set_of_files_names_the_project_not_their_order(two_apps: tuple[Path, Path],
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    extra = two_apps[0].parent / "extra.yaml"
    extra.write_text(MANIFEST.replace("web", "api"))
    monkeypatch.chdir(two_apps[0].parent)
    by_relative = planned_project("m.yaml", "extra.yaml")
    assert by_relative == planned_project(str(extra), str(two_apps[0]))
    assert (two_apps[0].parent / "link.yaml").symlink_to(two_apps[0]) is None
    assert planned_project("link.yaml", "extra.yaml") == by_relative  # real paths


def test_flag_beats_environment_beats_derived(two_apps: tuple[Path, Path]) -> None:
    path = str(two_apps[0])
    environ = {PROJECT_ENV: "from-env"}
    assert planned_project(path, environ=environ) == "from-env"
    assert planned_project(path, "--project", "from-flag", environ=environ) == "from-flag"
    assert planned_project(path, environ={PROJECT_ENV: ""}).startswith("app-")


def test_an_invalid_environment_value_names_its_origin(two_apps: tuple[Path, Path]) -> None:
    status, _, err = run_cli("plan", str(two_apps[0]), environ={PROJECT_ENV: "Bad Name"})
    assert status == 1
    assert ("environment variable ANKPLAN_PROJECT='Bad Name': invalid project name 'Bad Name'"
            in err)


def test_stdin_manifests_are_named_after_the_working_folder(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    folder = tmp_path / "Stdin Demo"
    folder.mkdir()
    monkeypatch.chdir(folder)
    project = project_name(argparse.Namespace(files=["-"], project=None))
    assert re.fullmatch(r"stdin-demo-[0-9a-f]{8}", project.name)
    assert project.source.endswith(f":{folder}/<stdin>")


def test_project_value_and_source_label(two_apps: tuple[Path, Path]) -> None:
    args = argparse.Namespace(files=[str(two_apps[0])], project=None)
    manifest = Manifest(api_version="v1")
    project = project_name(args, manifest)
    real = str(two_apps[0].resolve())
    assert project.legacy_name == "app" and project.legacy_workloads == ()
    assert project.source == f"{socket.gethostname()}:{real}"
    assert project.name == derived_project_name("app", (real,))
    explicit = project_name(argparse.Namespace(files=[str(two_apps[0])], project="x"))
    assert explicit.name == "x" and explicit.legacy_name == "" and explicit.source


def test_no_manifest_and_no_name_is_a_clear_error() -> None:
    with pytest.raises(AnkplanError, match="which project"):
        project_name(argparse.Namespace(files=[], project=None))
    status, _, err = run_cli("destroy", "--yes")
    assert status == 1 and "no manifest file given" in err


def test_folder_names_as_the_previous_release_made_them(tmp_path: Path) -> None:
    folder = tmp_path / "Police Demo!"
    folder.mkdir()
    assert folder_name(str(folder / "manifest.yaml")) == "police-demo"
    assert folder_name("examples/police/manifest.yaml") == "police"
    assert folder_name("/manifest.yaml") == "default"


def test_long_names_stay_within_63_characters() -> None:
    name = derived_project_name("x" * 63, ("/a/m.yaml",))
    assert len(name) == 63 and name.startswith("x" * 54 + "-")


def test_source_label_is_bounded() -> None:
    paths = [f"/very/long/path/number/{index}/manifest.yaml" for index in range(100)]
    label = source_label("host", paths)
    assert len(label) == 1024 and label.endswith("…") and label.startswith("host:/very")
    assert manifest_paths(["-"])[0].endswith("/<stdin>")
