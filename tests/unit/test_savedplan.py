"""Saved plan files: round trip, clear errors for bad files, and stale-plan detection."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ankplan.errors import PlanError
from ankplan.model import (
    LABEL_PROJECT,
    LABEL_SPEC_HASH,
    LABEL_WORKLOAD,
    AddCondition,
    Connection,
    Dependency,
    Inventory,
    KubeConfig,
    LiveState,
    Manifest,
    Node,
    NodeObservation,
    ObservedContainer,
    PodmanConfig,
    RestartPolicy,
    UnitFlavour,
    Workload,
    WorkloadFile,
)
from ankplan.planfile.savedplan import (
    SavedPlan,
    dumps_saved_plan,
    loads_saved_plan,
    make_saved_plan,
    manifest_digest,
    needs_secrets,
    restore_secrets,
    saved_workload,
    stale_nodes,
)
from ankplan.planner.hashing import labels_for
from ankplan.planner.plan import plan

WEB = Workload(name="web", agent="agent_A", runtime="podman", runtime_config_text="image: w",
               runtime_config=PodmanConfig(image="localhost/web:1",
                                           command_options=("-e", "TOKEN=secret"),
                                           command_args=("serve",), general_options=("--log",)),
               restart_policy=RestartPolicy.ON_FAILURE,
               dependencies=(Dependency(workload_name="db", condition=AddCondition.RUNNING),),
               tags=(("team", "police"),), configs=(("cfg", "web_config"),),
               files=(WorkloadFile(mount_point="/etc/a", data="x"),
                      WorkloadFile(mount_point="/etc/b", binary_data="eA==")),
               control_interface_access=True)
DB = Workload(name="db", agent="agent_B", runtime="podman", runtime_config_text="image: d",
              runtime_config=PodmanConfig(image="localhost/db:1"))
KUBE = Workload(name="pod", agent="", runtime="podman-kube", runtime_config_text="manifest: x",
                runtime_config=KubeConfig(manifest="kind: Pod", play_options=("--replace",),
                                          down_options=("--force",), control_interface_target="a/b"))
MANIFEST = Manifest(api_version="v1", workloads=(DB, KUBE, WEB), config_keys=("web_config",),
                    sources=("examples/police/manifest.yaml",))
INVENTORY = Inventory(
    nodes=(Node(name="node1", connection=Connection.SSH, host="10.231.0.11", port=2222,
                user="root", identity_file="/k", known_hosts_file="/kh", connect_timeout=5.0,
                podman=("sudo", "-n", "podman")),
           Node(name="node2")),
    agents=(("agent_A", "node1"), ("agent_B", "node2")), default_node=None, source="inv.yaml")


def container(workload: Workload, node_name: str, *, cid: str, state: str = "running",
              project: str = "police") -> ObservedContainer:
    labels = tuple(sorted(labels_for(workload, project).items()))
    return ObservedContainer(id=cid, name=workload.name, node_name=node_name,
                             image=workload.podman.image if workload.podman else "",
                             state=state, labels=labels)


def live(*nodes: NodeObservation) -> LiveState:
    return LiveState(nodes=tuple(sorted(nodes, key=lambda n: n.node_name)))


BEFORE = live(NodeObservation(node_name="node1", containers=(container(WEB, "node1", cid="a1"),)),
              NodeObservation(node_name="node2"))


def saved(observed: LiveState = BEFORE) -> SavedPlan:
    result = plan(MANIFEST, INVENTORY, observed, project="police")
    return make_saved_plan(result, MANIFEST, INVENTORY, observed,
                           created_at="2026-01-02T03:04:05+00:00")


def test_round_trip_keeps_everything_apply_needs() -> None:
    original = saved()
    loaded = loads_saved_plan(dumps_saved_plan(original))
    assert loaded == original
    assert loaded.plan.steps[0].action.workload == saved_workload(DB)  # every field but the text
    assert loaded.inventory == INVENTORY
    assert loaded.project == "police"
    assert loaded.created_at == "2026-01-02T03:04:05+00:00"
    assert loaded.manifest_sources == ("examples/police/manifest.yaml",)
    assert dumps_saved_plan(loaded) == dumps_saved_plan(original)


def test_round_trip_keeps_the_kind_of_unit_and_its_back_off() -> None:
    original = saved()
    step = original.plan.steps[0]
    quadlet_step = replace(step, action=replace(step.action, unit="ankplan-db-1.service",
                                                unit_flavour=UnitFlavour.QUADLET,
                                                unit_backoff=True))
    original = replace(original, plan=replace(original.plan,
                                              steps=(quadlet_step, *original.plan.steps[1:])))
    loaded = loads_saved_plan(dumps_saved_plan(original))
    action = loaded.plan.steps[0].action
    assert (action.unit_flavour, action.unit_backoff) == (UnitFlavour.QUADLET, True)
    assert loaded == original


def test_round_trip_of_kube_and_unparsed_workloads() -> None:
    from ankplan.planfile.codec import workload_from_json, workload_to_json

    other = Workload(name="c", agent="a", runtime="containerd", runtime_config_text="image: x",
                     runtime_config=None)
    for workload in (KUBE, other, WEB):
        assert workload_from_json(json.loads(json.dumps(workload_to_json(workload)))) == workload


def test_saved_file_header() -> None:
    document = json.loads(dumps_saved_plan(saved()))
    assert document["format"] == "ankplan-saved-plan"
    assert document["format_version"] == "1.2"
    assert document["project"] == "police"
    assert document["manifest_digest"].startswith("sha256:")
    assert document["snapshots"][0]["containers"][0]["spec_hash"].startswith("v1:")


def test_manifest_digest() -> None:
    assert manifest_digest(MANIFEST) == manifest_digest(MANIFEST)
    # Even fields that do not force a replace are part of the reviewed manifest.
    changed = replace(MANIFEST, workloads=(DB, KUBE, replace(WEB,
                                                             restart_policy=RestartPolicy.NEVER)))
    assert manifest_digest(changed) != manifest_digest(MANIFEST)


def _document() -> dict[str, object]:
    return json.loads(dumps_saved_plan(saved()))  # type: ignore[no-any-return]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(format="other"), "not an ankplan saved plan"),
    (lambda d: d.update(format_version="2.0"), "saved plan format 2.0 is not supported"),
    (lambda d: d.pop("manifest_digest"), "document.manifest_digest must be a string"),
    (lambda d: d.update(project="x"), "its project and its plan's project differ"),
    (lambda d: d["plan"]["steps"][0]["action"].update(kind="explode"),
     r"plan.steps\[0\].action.kind must be one of create, replace"),
    (lambda d: d["plan"]["steps"][0].update(depends_on=["x"]), "list of step ids"),
    (lambda d: d["plan"]["steps"][0]["action"]["spec"].update(restart_policy="SOMETIMES"),
     "restart_policy must be one of NEVER"),
    (lambda d: d["plan"]["steps"][0]["action"]["spec"]["runtime_config"].update(kind="x"),
     "runtime_config.kind must be podman or podman-kube"),
    (lambda d: d["inventory"]["nodes"][0].update(connection="telnet"),
     "inventory.nodes\\[0\\].connection must be one of local, ssh"),
    (lambda d: d["snapshots"][0]["containers"][0].update(state="exited"),
     "the fingerprint of node node1 does not match its snapshot"),
    (lambda d: d.update(plan=[]), "plan must be a JSON object"),
])
def test_bad_files_give_clear_errors(mutate: object, message: str) -> None:
    document = _document()
    mutate(document)  # type: ignore[operator]
    with pytest.raises(PlanError, match=message):
        loads_saved_plan(json.dumps(document))


@pytest.mark.parametrize("text", ["", "{", "[]", "plan"])
def test_not_json_or_not_a_plan(text: str) -> None:
    with pytest.raises(PlanError):
        loads_saved_plan(text)


# --- staleness -------------------------------------------------------------------------------


def test_unchanged_nodes_are_not_stale() -> None:
    assert stale_nodes(saved(), BEFORE) == ()


def test_state_change_is_reported() -> None:
    exited = replace(container(WEB, "node1", cid="a1", state="exited"), exit_code=1)
    now = live(NodeObservation(node_name="node1", containers=(exited,)),
               NodeObservation(node_name="node2"))
    assert stale_nodes(saved(), now) == (
        "node1: container web changed (state running -> exited(1))",)


def test_replaced_container_is_reported_with_id_and_hash() -> None:
    newer = replace(WEB, runtime_config=PodmanConfig(image="localhost/web:2"))
    now = live(NodeObservation(node_name="node1", containers=(
        container(newer, "node1", cid="b2b2b2b2b2b2b2b2"),)), NodeObservation(node_name="node2"))
    (line,) = stale_nodes(saved(), now)
    assert line.startswith("node1: container web changed (id a1 -> b2b2b2b2b2b2, spec-hash v1:")
    assert "image localhost/web:1 -> localhost/web:2" in line


def test_gone_and_appeared_containers() -> None:
    now = live(NodeObservation(node_name="node1"), NodeObservation(node_name="node2", containers=(
        container(DB, "node2", cid="d1"),)))
    assert stale_nodes(saved(), now) == (
        "node1: container web is gone (was id a1)",
        "node2: container db appeared (id d1, running)",
    )


def test_foreign_container_taking_a_workload_name_is_reported() -> None:
    squatter = ObservedContainer(id="f1", name="db", node_name="node2", image="x",
                                 state="running")
    now = live(BEFORE.nodes[0], NodeObservation(node_name="node2", containers=(squatter,)))
    assert stale_nodes(saved(), now) == ("node2: container db appeared (id f1, running)",)


def test_unrelated_containers_do_not_make_a_plan_stale() -> None:
    unrelated = ObservedContainer(id="u1", name="nginx", node_name="node2", image="x",
                                  state="exited")
    other_project = replace(container(DB, "node2", cid="o1", project="other"), name="db-other")
    now = live(BEFORE.nodes[0], NodeObservation(node_name="node2",
                                                containers=(unrelated, other_project)))
    assert stale_nodes(saved(), now) == ()


def test_reachability_changes() -> None:
    down = live(BEFORE.nodes[0], NodeObservation(node_name="node2", error="connection refused"))
    assert stale_nodes(saved(), down) == ("node2: cannot be observed now: connection refused",)
    assert stale_nodes(saved(down), BEFORE) == (
        "node2: could not be observed when the plan was made, and can be now",)
    assert stale_nodes(saved(), live(BEFORE.nodes[0])) == (
        "node2: was observed for the plan but not now",)


def test_new_node_holding_project_containers() -> None:
    extra = NodeObservation(node_name="node3", containers=(container(DB, "node3", cid="x"),))
    now = live(*BEFORE.nodes, extra)
    assert stale_nodes(saved(), now) == (
        "node3: was not observed for the plan and holds 1 container(s) it may concern",)
    assert stale_nodes(saved(), live(*BEFORE.nodes, NodeObservation(node_name="node4"))) == ()


def test_label_only_fields_are_in_the_snapshot() -> None:
    document = _document()
    facts = document["snapshots"][0]["containers"][0]  # type: ignore[index]
    assert facts["project"] == "police" and facts["workload"] == "web"
    observed = BEFORE.nodes[0].containers[0]
    assert facts["spec_hash"] == observed.label(LABEL_SPEC_HASH)
    assert observed.label(LABEL_PROJECT) == "police" and observed.label(LABEL_WORKLOAD) == "web"


def test_custom_container_names_are_watched() -> None:
    named = replace(DB, runtime_config=PodmanConfig(image="localhost/db:1",
                                                    command_options=("--name", "database")))
    custom = replace(MANIFEST, workloads=(named, KUBE, WEB))
    result = plan(custom, INVENTORY, BEFORE, project="police")
    bundle = make_saved_plan(result, custom, INVENTORY, BEFORE, created_at="")
    assert "database" in bundle.names and "db" not in bundle.names
    squatter = ObservedContainer(id="f1", name="database", node_name="node2", image="x",
                                 state="running")
    now = live(BEFORE.nodes[0], NodeObservation(node_name="node2", containers=(squatter,)))
    assert stale_nodes(bundle, now) == ("node2: container database appeared (id f1, running)",)


def test_saved_text_is_deterministic_json() -> None:
    text = dumps_saved_plan(saved())
    assert text == dumps_saved_plan(saved()) and text.endswith("}\n")
    assert "secret" not in text  # env values are kept as digests only


def test_secrets_are_digests_in_the_file_and_restored_from_the_manifest() -> None:
    bundle = saved()
    loaded = loads_saved_plan(dumps_saved_plan(bundle))
    [web] = [s.action.workload for s in loaded.plan.steps if s.action.workload_name == "web"]
    assert web is not None and web.podman is not None
    assert web.podman.command_options[:1] == ("--env",)
    assert web.podman.command_options[1].startswith("TOKEN=sha256:")
    assert needs_secrets(loaded)
    restored = restore_secrets(loaded, MANIFEST)
    [web] = [s.action.workload for s in restored.steps if s.action.workload_name == "web"]
    assert web == WEB


def test_a_changed_manifest_cannot_restore_secrets() -> None:
    other = replace(WEB, runtime_config=replace(WEB.runtime_config, command_options=(
        "-e", "TOKEN=changed")))
    changed = replace(MANIFEST, workloads=(DB, KUBE, other))
    with pytest.raises(PlanError, match="workload web: the manifest changed since the plan"):
        restore_secrets(saved(), changed)
    with pytest.raises(PlanError, match="workload web"):
        restore_secrets(saved(), replace(MANIFEST, workloads=(DB, KUBE)))


def test_plans_saved_before_digests_keep_their_values_and_need_no_manifest() -> None:
    """A 1.0 file holds env values in clear: it still loads and applies as it is."""
    document = json.loads(dumps_saved_plan(saved()))
    document["format_version"] = "1.0"
    for step in document["plan"]["steps"]:
        spec = step["action"]["spec"]
        if spec and spec["name"] == "web":
            spec["runtime_config"]["command_options"] = ["-e", "TOKEN=secret"]
    old = loads_saved_plan(json.dumps(document))
    assert not needs_secrets(old)
