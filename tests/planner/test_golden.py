"""Golden planner tests: each tests/planner/cases/<case>/ holds a manifest, an inventory, a
recorded live state and the expected rendered plan.

A case folder: manifest.yaml, inventory.yaml, live.json (planner/livejson.py format), optional
options.json ({"project": "demo" or {"name", "legacy_name", "source"}, "targets": [...],
"prune": true}) and expected.plan: the text
rendering, then every step (no-ops included) with ids and waits. Rewrite with --update-golden.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ankplan.cli.views.plan import (
    render_plan_errors,
    render_plan_json,
    render_plan_steps,
    render_plan_text,
)
from ankplan.inventories.load import load_inventory
from ankplan.manifests.load import load_manifest
from ankplan.model import ActionKind, Manifest, Plan, Project
from ankplan.planfile.livejson import live_state_from_json
from ankplan.planfile.savedplan import (
    dumps_saved_plan,
    loads_saved_plan,
    make_saved_plan,
    saved_workload,
)
from ankplan.planner.plan import plan

CASES_DIR = Path(__file__).parent / "cases"
CASES = sorted(path for path in CASES_DIR.iterdir() if path.is_dir())
SEPARATOR = "--- steps ---\n"


def project_of(value: str | dict[str, str], manifest: Manifest) -> str | Project:
    """options.json's project: a name, or {"name", "legacy_name", "source"} as the CLI derives
    it for a manifest's location (the manifest's workloads are the legacy ones)."""
    if isinstance(value, str):
        return value
    return Project(name=value["name"], legacy_name=value.get("legacy_name", ""),
                   source=value.get("source", ""), legacy_workloads=manifest.names())


def plan_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Plan, str]:
    """The plan of a case and its golden text; paths are relative so errors read the same
    everywhere."""
    monkeypatch.chdir(case)
    options_path = case / "options.json"
    options = json.loads(options_path.read_text()) if options_path.exists() else {}
    manifest = load_manifest(["manifest.yaml"], agent_override=options.get("agent"))
    inventory = load_inventory("inventory.yaml", ssh_config="")
    live = live_state_from_json(json.loads((case / "live.json").read_text()))
    project = project_of(options.get("project", "demo"), manifest)
    result = plan(manifest, inventory, live, project=project,
                  targets=tuple(options.get("targets", ())), prune=options.get("prune", True))
    saved = make_saved_plan(result, manifest, inventory, live, created_at="golden")
    loaded = loads_saved_plan(dumps_saved_plan(saved))  # every case round-trips
    assert loaded.plan == saved.plan and saved.plan.errors == result.errors
    assert [s.action.workload for s in loaded.plan.steps] == [
        saved_workload(s.action.workload) if s.action.workload else None for s in result.steps]
    again = plan(manifest, inventory, live, project=project,
                 targets=tuple(options.get("targets", ())), prune=options.get("prune", True))
    assert again == result and render_plan_json(again) == render_plan_json(result)
    return result, (render_plan_errors(result) + render_plan_text(result) + SEPARATOR
                    + render_plan_steps(result))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_golden(case: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    _, text = plan_case(case, monkeypatch)
    expected = case / "expected.plan"
    if update_golden:
        expected.write_text(text)
    assert expected.exists(), f"no {expected}; run pytest tests/planner --update-golden"
    assert text == expected.read_text()


def test_every_action_kind_and_reason_is_covered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The golden cases together produce every action kind and every reason plan emits."""
    seen_kinds, seen_reasons = set(), set()
    for case in CASES:
        result, _ = plan_case(case, monkeypatch)
        seen_kinds |= {step.action.kind for step in result.steps}
        seen_reasons |= {step.action.reason.value for step in result.steps}
    assert seen_kinds == set(ActionKind) - {ActionKind.RESTART}  # only `ankplan restart`'s
    assert seen_reasons == {"not-found", "spec-changed", "not-in-manifest", "moved-node",
                            "not-running", "duplicate", "up-to-date", "image-rebuilt",
                            "exited", "policy-changed", "node-restarted", "lost"}
