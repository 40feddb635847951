"""Compatibility with real Eclipse Ankaios manifests, classified by the folder's README.md.

Every `valid` file validates without errors; every `invalid` file is rejected with an error that
names the same problem Ankaios names; CompleteStates and other files give clean diagnostics.
"""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest

from ankplan.cli.env import Env
from ankplan.cli.main import main
from ankplan.manifests.load import check_manifest

ROOT = Path(__file__).resolve().parents[2]
COMPAT = ROOT.parent / "shared" / "ankaios-manifests"
ROW = re.compile(r"^\| `(?P<file>[^`]+)` \| `(?P<class>[a-z-]+)` \| (?P<ankaios>[^|]*) \| "
                 r"(?P<notes>.*) \|$")

# What Ankaios says for each invalid file, and what ankplan's error must name.
INVALID = {
    "tests_manifest_wrong_api_version.yaml": ("api-version", "unsupported apiVersion 'v0.2'"),
    "tests_manifest_wrong_api_version_format.yaml": ("api-version",
                                                     "unsupported apiVersion '0.1v'"),
    "tests_state_with_dependency_cycle.yaml": (
        "dependency-cycle", "dependency cycle: workload_A -> workload_B -> workload_A"),
    "tests_faulty_with_control_as_empty.yaml": ("invalid-name", "empty filter mask"),
    "tests_invalid_templated_manifest.yaml": (
        "template", ("failed to render field 'runtimeConfig' of workload 'sleepy': closing tag "
                     "'{{/invalid_closing}}' does not match '{{#each}}'")),
}


def classified() -> dict[str, tuple[str, str]]:
    """file -> (class, notes) from the README table."""
    rows = {}
    for line in (COMPAT / "README.md").read_text().splitlines():
        match = ROW.match(line)
        if match:
            rows[match["file"]] = (match["class"], match["notes"])
    return rows


ROWS = classified()


def by_class(*names: str) -> list[str]:
    return sorted(file for file, (kind, _) in ROWS.items() if kind in names)


def test_readme_classifies_every_file() -> None:
    files = {path.name for path in COMPAT.iterdir() if path.name != "README.md"}
    assert set(ROWS) == files
    assert len(by_class("valid")) == 67 and set(by_class("invalid")) == set(INVALID)


@pytest.mark.parametrize("name", by_class("valid"))
def test_valid_files_validate_without_errors(name: str) -> None:
    needs_agent = "--agent" in ROWS[name][1]
    manifest, diagnostics = check_manifest([str(COMPAT / name)],
                                           agent_override="infotainment" if needs_agent else None)
    assert [d.summary for d in diagnostics if d.is_error] == []
    assert manifest is not None
    if needs_agent:
        _, without = check_manifest([str(COMPAT / name)])
        assert [d.code for d in without if d.is_error] == ["no-agent"]


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_files_are_rejected_for_the_same_reason(name: str) -> None:
    code, phrase = INVALID[name]
    manifest, diagnostics = check_manifest([str(COMPAT / name)])
    errors = [d for d in diagnostics if d.is_error]
    assert manifest is None and len(errors) == 1
    assert errors[0].code == code and phrase in errors[0].summary
    assert errors[0].location is not None and errors[0].location.line > 0


@pytest.mark.parametrize("name", by_class("complete-state", "not-a-manifest"))
def test_other_files_give_clean_diagnostics(name: str) -> None:
    _, diagnostics = check_manifest([str(COMPAT / name)])
    for diagnostic in diagnostics:
        assert diagnostic.location is not None and diagnostic.location.file.endswith(name)
        assert diagnostic.summary and "\n" not in diagnostic.summary
    env = Env(stdout=StringIO(), stderr=StringIO(), stdin=StringIO(), environ={})
    status = main(["validate", str(COMPAT / name)], env=env)
    output = env.stdout.getvalue() + env.stderr.getvalue()  # type: ignore[attr-defined]
    assert status in (0, 1)
    assert "Traceback" not in output and "internal error" not in output


def test_complete_states_are_recognised() -> None:
    for name in by_class("complete-state"):
        _, diagnostics = check_manifest([str(COMPAT / name)])
        summaries = " ".join(d.summary + " " + d.hint for d in diagnostics)
        assert "CompleteState" in summaries or "ank set state" in summaries or \
            "empty" in summaries, name


def test_all_upstream_manifests_in_one_run_name_every_file() -> None:
    names = by_class("valid")
    paths = [str(COMPAT / name) for name in names]
    _, diagnostics = check_manifest(paths, agent_override="agent_A")
    duplicates = [d for d in diagnostics if d.code == "duplicate-workload"]
    assert duplicates and all(" and " in d.summary for d in duplicates)
