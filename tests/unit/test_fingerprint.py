"""Node snapshots and fingerprints: what they cover, what they ignore, how changes read."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ankplan.model import (
    LABEL_PROJECT,
    LABEL_SPEC_HASH,
    LABEL_WORKLOAD,
    NodeObservation,
    ObservedContainer,
)
from ankplan.planfile.fingerprint import (
    UNREACHABLE,
    ContainerFacts,
    NodeSnapshot,
    fingerprint,
    node_snapshot,
    snapshot_changes,
    snapshot_fingerprint,
    snapshot_to_json,
)


def container(name: str, cid: str, *, project: str = "demo", workload: str | None = None,
              state: str = "running", exit_code: int = 0, spec_hash: str = "v1:aaaa",
              image: str = "img:1") -> ObservedContainer:
    labels = ((LABEL_PROJECT, project), (LABEL_SPEC_HASH, spec_hash),
              (LABEL_WORKLOAD, workload or name)) if project else ()
    return ObservedContainer(id=cid, name=name, node_name="node1", image=image, state=state,
                             exit_code=exit_code, labels=labels)


OURS = container("web", "id-web")
THEIRS = container("db", "id-db", project="other")
FOREIGN = container("nginx", "id-nginx", project="")
NODE = NodeObservation(node_name="node1", containers=(THEIRS, FOREIGN, OURS))


def test_snapshot_keeps_own_containers_and_name_holders() -> None:
    snapshot = node_snapshot(NODE, "demo", names=("nginx",))
    assert [f.name for f in snapshot.containers] == ["nginx", "web"]
    web = snapshot.containers[1]
    assert web == ContainerFacts(name="web", id="id-web", project="demo", workload_name="web",
                                 spec_hash="v1:aaaa", state="running", image="img:1")
    assert snapshot.containers[0].project == ""


def test_exit_code_only_counts_when_exited() -> None:
    running = node_snapshot(NodeObservation(node_name="n", containers=(
        replace(OURS, exit_code=7),)), "demo")
    assert running.containers[0].exit_code == 0
    exited = node_snapshot(NodeObservation(node_name="n", containers=(
        replace(OURS, state="exited", exit_code=7),)), "demo")
    assert exited.containers[0].exit_code == 7
    assert exited.containers[0].state_text() == "exited(7)"


def test_fingerprint_is_stable_and_sensitive() -> None:
    base = fingerprint(NODE, "demo")
    assert base.startswith("sha256:") and len(base) == len("sha256:") + 64
    assert fingerprint(NODE, "demo") == base
    reordered = replace(NODE, containers=tuple(reversed(NODE.containers)))
    assert fingerprint(reordered, "demo") == base
    for changed in (replace(OURS, state="exited"), replace(OURS, id="id-2"),
                    container("web", "id-web", spec_hash="v1:bbbb"),
                    replace(OURS, image="img:2")):
        other = replace(NODE, containers=(THEIRS, FOREIGN, changed))
        assert fingerprint(other, "demo") != base


def test_fingerprint_ignores_what_the_plan_did_not_rely_on() -> None:
    base = fingerprint(NODE, "demo", names=("web",))
    busy = replace(NODE, containers=(replace(THEIRS, state="exited"), FOREIGN, OURS,
                                     container("extra", "id-x", project="")))
    assert fingerprint(busy, "demo", names=("web",)) == base


def test_fingerprint_per_project() -> None:
    assert fingerprint(NODE, "demo") != fingerprint(NODE, "other")


def test_unreachable_node() -> None:
    down = NodeObservation(node_name="node1", error="timed out")
    assert fingerprint(down, "demo") == UNREACHABLE
    snapshot = node_snapshot(down, "demo")
    assert snapshot.error == "timed out" and snapshot.containers == ()
    assert snapshot_fingerprint(snapshot) == UNREACHABLE


def test_snapshot_json() -> None:
    document = snapshot_to_json(node_snapshot(NODE, "demo"))
    assert document == {"node": "node1", "error": None, "containers": [
        {"name": "web", "id": "id-web", "project": "demo", "workload": "web",
         "spec_hash": "v1:aaaa", "state": "running", "exit_code": 0, "image": "img:1"}]}


def facts(**changes: object) -> ContainerFacts:
    base = ContainerFacts(name="web", id="0123456789abcdef", project="demo",
                          workload_name="web", spec_hash="v1:" + "a" * 64, state="running",
                          image="img:1")
    return replace(base, **changes)  # type: ignore[arg-type]


def snap(*containers: ContainerFacts, error: str | None = None) -> NodeSnapshot:
    return NodeSnapshot(node_name="node1", containers=containers, error=error)


@pytest.mark.parametrize("after, line", [
    (facts(state="exited", exit_code=1), "state running -> exited(1)"),
    (facts(id="fedcba9876543210"), "id 0123456789ab -> fedcba987654"),
    (facts(spec_hash="v1:" + "b" * 64), "spec-hash v1:aaaaaaaaaaaa -> v1:bbbbbbbbbbbb"),
    (facts(project="other"), "owner demo/web -> other/web"),
    (facts(project="", workload_name=""), "owner demo/web -> (none)/(none)"),
    (facts(image="img:2"), "image img:1 -> img:2"),
    (facts(spec_hash=""), "spec-hash v1:aaaaaaaaaaaa -> (none)"),
])
def test_changes_name_each_field(after: ContainerFacts, line: str) -> None:
    assert snapshot_changes(snap(facts()), snap(after)) == (
        f"node1: container web changed ({line})",)


def test_several_fields_in_one_line() -> None:
    (line,) = snapshot_changes(snap(facts()), snap(facts(id="x", state="created")))
    assert line == "node1: container web changed (id 0123456789ab -> x, state running -> created)"


def test_no_changes() -> None:
    assert snapshot_changes(snap(facts()), snap(facts())) == ()
    assert snapshot_changes(snap(), snap()) == ()


def test_appeared_and_gone_sorted_by_name() -> None:
    old = snap(facts(name="b", id="1"), facts(name="c", id="3"))
    new = snap(facts(name="a", id="2"), facts(name="c", id="3"))
    assert snapshot_changes(old, new) == (
        "node1: container a appeared (id 2, running)",
        "node1: container b is gone (was id 1)",
    )


def test_reachability() -> None:
    assert snapshot_changes(snap(facts()), snap(error="refused")) == (
        "node1: cannot be observed now: refused",)
    assert snapshot_changes(snap(error="refused"), snap(facts())) == (
        "node1: could not be observed when the plan was made, and can be now",)
    assert snapshot_changes(snap(error="a"), snap(error="b")) == ()


# --- images: a rebuilt image makes a saved plan stale ----------------------------------------

OLD_ID, NEW_ID = "a" * 64, "b" * 64


def with_images(node: NodeObservation, table: dict[str, str]) -> NodeObservation:
    return replace(node, images=tuple(sorted(table.items())))


def test_snapshot_records_the_ids_its_containers_image_names_point_at() -> None:
    ours = replace(OURS, image_id=OLD_ID)
    node = with_images(replace(NODE, containers=(THEIRS, FOREIGN, ours)),
                       {"img:1": NEW_ID, "unrelated:1": OLD_ID})
    snapshot = node_snapshot(node, "demo")
    assert snapshot.images == (("img:1", NEW_ID),)  # only the names its containers use
    assert snapshot.containers[0].image_id == OLD_ID
    document = snapshot_to_json(snapshot)
    assert document["images"] == {"img:1": NEW_ID}
    assert document["containers"][0]["image_id"] == OLD_ID  # type: ignore[index]


def test_image_rebuilt_after_planning_is_a_change() -> None:
    node = replace(NODE, containers=(replace(OURS, image_id=OLD_ID),))
    before = node_snapshot(with_images(node, {"img:1": OLD_ID}), "demo")
    after = node_snapshot(with_images(node, {"img:1": NEW_ID}), "demo")
    assert snapshot_fingerprint(before) != snapshot_fingerprint(after)
    assert snapshot_changes(before, after) == (
        "node1: image img:1 now names bbbbbbbbbbbb (was aaaaaaaaaaaa)",)


def test_container_image_id_change_is_named() -> None:
    assert snapshot_changes(snap(facts(image_id=OLD_ID)), snap(facts(image_id=NEW_ID))) == (
        "node1: container web changed (image id aaaaaaaaaaaa -> bbbbbbbbbbbb)",)


def test_unobserved_images_leave_the_old_fingerprint_unchanged() -> None:
    """Saved plans written before image ids were recorded keep their fingerprints."""
    document = snapshot_to_json(node_snapshot(NODE, "demo"))
    assert "images" not in document
    assert "image_id" not in document["containers"][0]  # type: ignore[index]
