"""Text and JSON rendering of plans: wording, grouping, masking, and a stable JSON format."""

from __future__ import annotations

import json
from dataclasses import replace

from ankplan.cli.views.plan import (
    JSON_FORMAT_VERSION,
    render_plan_errors,
    render_plan_json,
    render_plan_steps,
    render_plan_text,
    render_plan_warnings,
    summary_line,
)
from ankplan.model import Action, ActionKind, Plan, PlanStep, PodmanConfig, Reason, Workload
from ankplan.planner.hashing import spec_hash


def workload(name: str, image: str = "localhost/a:1") -> Workload:
    return Workload(name=name, agent="agent_A", runtime="podman", runtime_config_text="",
                    runtime_config=PodmanConfig(image=image))


def step(step_id: int, kind: ActionKind, reason: Reason, address: str, *,
         details: tuple[str, ...] = (), container_id: str = "", depends_on: tuple[int, ...] = (),
         with_workload: bool = True) -> PlanStep:
    node_name, workload_name = address.split("/")
    return PlanStep(id=step_id, depends_on=depends_on, action=Action(
        kind=kind, node_name=node_name, workload_name=workload_name, reason=reason,
        details=details, container_id=container_id,
        workload=workload(workload_name) if with_workload else None))


MIXED = Plan(project="police", steps=(
    step(1, ActionKind.REMOVE, Reason.NOT_IN_MANIFEST, "node1/old", container_id="c0ffee" * 4,
         with_workload=False),
    step(2, ActionKind.CREATE, Reason.NOT_FOUND, "node2/router"),
    step(3, ActionKind.REPLACE, Reason.SPEC_CHANGED, "node1/web",
         details=("image: localhost/a:1 -> localhost/a:2",), container_id="abc", depends_on=(2,)),
    step(4, ActionKind.START, Reason.NOT_RUNNING, "node1/job", container_id="def"),
    step(5, ActionKind.NOOP, Reason.UP_TO_DATE, "node1/db", container_id="123"),
), fingerprints=(("node1", "sha256:1"), ("node2", "sha256:2")))


def test_text_groups_by_node_with_fixed_wording() -> None:
    assert render_plan_text(MIXED) == """\
ankplan will perform the following actions:

node1:
  - node1/old will be removed
      # (not in the manifest)
-/+ node1/web must be replaced
      # image: localhost/a:1 -> localhost/a:2
  ~ node1/job will be started
      # (created but not running)

node2:
  + node2/router will be created

(1 unchanged workload hidden)
Plan: 1 to create, 1 to replace, 1 to start, 1 to remove.
"""


def test_no_changes() -> None:
    converged = Plan(project="p", steps=(MIXED.steps[4],))
    assert render_plan_text(converged) == (
        "(1 unchanged workload hidden)\nNo changes. Your workloads match the manifest.\n")
    assert render_plan_text(Plan(project="p")) == (
        "No changes. Your workloads match the manifest.\n")


def test_errors_make_the_plan_incomplete() -> None:
    """Errors go to stderr (render_plan_errors); the text plan says it is incomplete and
    prints no summary counts, which would read as a plan."""
    broken = Plan(project="p", steps=(MIXED.steps[1],),
                  errors=("node node3: connection refused", ("workload x: runtime 'containerd' "
                          "is not supported by ankplan")))
    text = render_plan_text(broken)
    assert "Error" not in text and "Plan:" not in text
    assert text.endswith("The plan is incomplete: 2 errors (shown on stderr); it cannot be "
                         "applied.\n")
    assert render_plan_errors(broken) == (
        "ankplan: error: node node3: connection refused\n"
        "ankplan: error: workload x: runtime 'containerd' is not supported by ankplan\n")
    assert "No changes" not in render_plan_text(Plan(project="p", errors=("e",)))


def test_color_only_when_asked() -> None:
    assert "\x1b[" not in render_plan_text(MIXED)
    colored = render_plan_text(MIXED, color=True)
    assert "\x1b[32m  +\x1b[0m node2/router will be created" in colored
    assert "\x1b[31m  -\x1b[0m" in colored


def test_secrets_in_details_are_masked_as_a_second_guard() -> None:
    leaky = Plan(project="p", steps=(
        step(1, ActionKind.REPLACE, Reason.SPEC_CHANGED, "n/w",
             details=("commandOptions: -e TOKEN=abc --env=KEY=xyz",)),))
    text, document = render_plan_text(leaky), render_plan_json(leaky)
    assert "abc" not in text and "xyz" not in text
    assert "-e TOKEN=*** --env=KEY=***" in text
    assert "abc" not in document and "xyz" not in document


def test_summary_line() -> None:
    assert summary_line(MIXED) == "Plan: 1 to create, 1 to replace, 1 to start, 1 to remove."


def test_in_place_updates_are_counted_and_worded() -> None:
    update = step(1, ActionKind.UPDATE, Reason.POLICY_CHANGED, "node1/web")
    update = replace(update, action=replace(update.action,
                                            details=("restartPolicy: ALWAYS -> ON_FAILURE",)))
    text = render_plan_text(Plan(project="p", steps=(update,)))
    assert "  ~ node1/web will be updated in place\n" in text
    assert "      # restartPolicy: ALWAYS -> ON_FAILURE\n" in text
    assert text.endswith("Plan: 0 to create, 0 to replace, 0 to start, 1 to update in place, "
                         "0 to remove.\n")


def test_workloads_that_cannot_start_are_warnings_not_errors() -> None:
    failing = Plan(project="p", starting_failed=("node2/nerd: Unsupported Runtime 'x'",))
    text = render_plan_text(failing)
    assert render_plan_warnings(failing) == (
        "ankplan: warning: node2/nerd: Unsupported Runtime 'x'\n")  # for stderr
    assert "error" not in render_plan_errors(failing) and "cannot be applied" not in text
    assert text.endswith("No changes. Your workloads match the manifest, but for the ones "
                         "that cannot start.\n")
    assert json.loads(render_plan_json(failing))["starting_failed"] == [
        "node2/nerd: Unsupported Runtime 'x'"]


def test_steps_listing_includes_noops_ids_and_waits() -> None:
    assert render_plan_steps(MIXED) == (
        "#1 remove node1/old (not-in-manifest) container=c0ffeec0ffee\n"
        "#2 create node2/router (not-found)\n"
        "#3 replace node1/web (spec-changed) container=abc after=#2\n"
        "#4 start node1/job (not-running) container=def\n"
        "#5 noop node1/db (up-to-date) container=123\n")
    assert render_plan_steps(Plan(project="p")) == ""


def test_json_document_is_stable() -> None:
    document = json.loads(render_plan_json(MIXED))
    assert list(document) == ["format_version", "project", "complete", "changes", "errors",
                              "summary", "actions", "fingerprints", "warnings",
                              "starting_failed", "kept"]
    assert document["format_version"] == JSON_FORMAT_VERSION == "1.3"
    assert document["project"] == "police"
    assert document["complete"] is True and document["changes"] is True
    assert document["summary"] == {"create": 1, "replace": 1, "start": 1, "update": 0,
                                   "remove": 1, "noop": 1}
    assert document["fingerprints"] == {"node1": "sha256:1", "node2": "sha256:2"}
    assert [a["action"] for a in document["actions"]] == [
        "remove", "create", "replace", "start", "noop"]
    assert document["actions"][2] == {
        "id": 3, "address": "node1/web", "node": "node1", "workload": "web",
        "action": "replace", "reason": "spec-changed",
        "details": ["image: localhost/a:1 -> localhost/a:2"], "depends_on": [2],
        "container_id": "abc", "image": "localhost/a:1",
        "spec_hash": spec_hash(workload("web")), "container_name": None, "unit": None,
        "unit_kind": None,
    }
    assert document["actions"][0]["image"] is None
    assert document["actions"][0]["spec_hash"] is None
    assert document["actions"][1]["container_id"] is None


def test_json_of_an_errored_empty_plan() -> None:
    document = json.loads(render_plan_json(Plan(project="p", errors=("boom",))))
    assert document["complete"] is False and document["changes"] is False
    assert document["errors"] == ["boom"] and document["actions"] == []


def test_json_is_byte_identical_for_equal_plans() -> None:
    assert render_plan_json(MIXED) == render_plan_json(MIXED)
    assert render_plan_json(MIXED).endswith("}\n")


def test_every_kind_and_reason_has_wording() -> None:
    from ankplan.cli.views.plan import REASON_TEXT, SYMBOLS, VERBS

    assert set(SYMBOLS) == set(VERBS) == set(ActionKind)
    assert set(REASON_TEXT) == set(Reason)
    for reason in Reason:
        lone = Plan(project="p", steps=(step(1, ActionKind.REMOVE, reason, "n/w",
                                             with_workload=False),))
        line = f"      # ({REASON_TEXT[reason]})\n"
        # "will be created" already says "no container yet"; every other reason is spelled out.
        assert (line in render_plan_text(lone)) is (reason is not Reason.NOT_FOUND)


def test_create_without_details_has_no_reason_line_but_moves_say_where_from() -> None:
    plain = Plan(project="p", steps=(step(1, ActionKind.CREATE, Reason.NOT_FOUND, "n/w"),))
    assert "  + n/w will be created\n\n" in render_plan_text(plain)
    moved = Plan(project="p", steps=(step(1, ActionKind.CREATE, Reason.MOVED_NODE, "n/w",
                                          details=("moved from old",)),))
    assert "  + n/w will be created\n      # moved from old\n" in render_plan_text(moved)
