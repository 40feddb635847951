"""podman-kube: argv builders, the labelled kube manifest, `kube play` and `pod ps` parsers, and
the fold of a workload's pods into one entry with Ankaios's state order. Recorded output from
real podman 4.3.1 (tests/podman/fixtures/4.3.1: ps-pods.json, pod-ps.json, kube-play-*.txt)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from ankplan.errors import PlanError
from ankplan.model import (
    LABEL_PROJECT,
    LABEL_SPEC_HASH,
    LABEL_WORKLOAD,
    Connection,
    ExecutionState,
    KubeConfig,
    Node,
    ObservedContainer,
)
from ankplan.podman import execution_state, fold_pods, logs_argv, parse_pod_ps, parse_ps
from ankplan.podman.kube import (
    kube_documents,
    labelled_manifest,
    parse_play_output,
    play_argv,
    pod_kinds,
    pod_ps_argv,
    pod_rm_argv,
    pod_start_argv,
    pod_stop_argv,
)
from ankplan.podman.pods import is_unit, log_subjects, pod_ids, unit_id

FIXTURES = Path(__file__).parent / "fixtures" / "4.3.1"
NODE = Node(name="node1", connection=Connection.SSH, host="10.0.0.1")
SUDO_NODE = Node(name="node2", podman=("sudo", "-n", "podman"))
CRASH_POD = "0c20438bff42cd7ead712899891abf86ea9cb69ba786832de618a41751b14ed0"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


# --- argv builders ---------------------------------------------------------------------------


def test_play_argv_is_ankaios_command_line_with_manifest_on_stdin() -> None:
    config = KubeConfig(manifest="kind: Pod", general_options=("--log-level", "info"),
                        play_options=("--network", "host"), down_options=("--force",))
    assert play_argv(NODE, config) == ("podman", "--log-level", "info", "kube", "play",
                                       "--quiet", "--network", "host", "-")
    assert play_argv(SUDO_NODE, KubeConfig(manifest="x")) == (
        "sudo", "-n", "podman", "kube", "play", "--quiet", "-")


def test_pod_commands_take_ids_after_double_dash() -> None:
    assert pod_stop_argv(NODE, ("p1", "p2"), 7) == (
        "podman", "pod", "stop", "--ignore", "--time", "7", "--", "p1", "p2")
    assert pod_rm_argv(NODE, ("p1",)) == ("podman", "pod", "rm", "--ignore", "--", "p1")
    assert pod_rm_argv(NODE, ("p1",), force=True) == (
        "podman", "pod", "rm", "--ignore", "--force", "--time", "0", "--", "p1")
    assert pod_start_argv(SUDO_NODE, ("p1",), general_options=("--cgroup-manager", "cgroupfs")) \
        == ("sudo", "-n", "podman", "--cgroup-manager", "cgroupfs", "pod", "start", "--", "p1")
    assert pod_ps_argv(NODE) == ("podman", "pod", "ps", "--format", "json")


def test_logs_of_several_containers_carry_their_names() -> None:
    assert logs_argv(NODE, ("a", "b"), tail=3) == (
        "podman", "logs", "--names", "--tail", "3", "--", "a", "b")
    assert logs_argv(NODE, ("a",)) == ("podman", "logs", "--", "a")
    assert logs_argv(NODE, "a", follow=True) == ("podman", "logs", "--follow", "--", "a")


# --- kube play output ------------------------------------------------------------------------


def test_play_output_gives_every_pod_id_in_order() -> None:
    assert parse_play_output(fixture("kube-play-two-pods.txt")) == (
        "5d1c81f9fcba9a026610eef77695bc84c9166c41f677885bbee56991c22f032f",
        "eab2d26f6c4a7ba4b1fa1e73298d0cc662dcb8bdd0f9ad5e9b8da3c1c53aee70")
    assert parse_play_output(fixture("kube-play-one-pod.txt")) == (CRASH_POD,)
    assert parse_play_output("") == ()
    assert parse_play_output("Volume:\nv1\nPod:\np1\nSecret:\ns\n") == ("p1",)


# --- the labelled manifest -------------------------------------------------------------------

MULTI = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: greeting}
data: {GREETING: "hi there", MODE: "0755"}
---
# a pod with labels of its own
apiVersion: v1
kind: Pod
metadata:
  name: job
  labels: {app: job}
spec:
  containers:
  - name: once
    image: localhost/x:1
    ports: [{containerPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dep}
spec:
  selector: {matchLabels: {app: dep}}
  template:
    metadata: {labels: {app: dep}}
    spec: {containers: [{name: a, image: localhost/x:1}]}
---
"""
LABELS = {LABEL_PROJECT: "demo", LABEL_WORKLOAD: "multi", "ankplan.spec": '{"a": "b c"}'}


def test_labels_go_to_every_pod_and_deployment_template_only() -> None:
    documents = list(yaml.safe_load_all(labelled_manifest(MULTI, LABELS)))
    config_map, pod, deployment = documents
    assert config_map == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "greeting"},
                          "data": {"GREETING": "hi there", "MODE": "0755"}}
    assert pod["metadata"]["labels"] == {"app": "job", **LABELS}
    assert pod["spec"]["containers"][0]["ports"] == [{"containerPort": 8080}]
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "dep", **LABELS}
    assert "labels" not in deployment["metadata"]  # selector and template stay consistent
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "dep"}}


def test_labelling_creates_missing_metadata_and_keeps_order_of_documents() -> None:
    text = "kind: Pod\nspec: {containers: []}\n---\nkind: Service\nmetadata: {name: s}\n"
    pod, service = yaml.safe_load_all(labelled_manifest(text, {"k": "v"}))
    assert pod["metadata"] == {"labels": {"k": "v"}}
    assert service == {"kind": "Service", "metadata": {"name": "s"}}


@pytest.mark.parametrize(("text", "message"), [
    ("kind: Pod\n  bad: [", "not valid YAML"),
    ("- a\n- b\n", "document 1 of the kube manifest is not a mapping"),
])
def test_a_broken_kube_manifest_is_a_plan_error(text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        kube_documents(text)


def test_pod_kinds_are_pods_and_deployments() -> None:
    assert pod_kinds(kube_documents(MULTI)) == ("Pod", "Deployment")
    assert pod_kinds(kube_documents("kind: ConfigMap\n")) == ()


# --- pod ps and the fold ---------------------------------------------------------------------


def recorded() -> tuple[tuple[ObservedContainer, ...], tuple[ObservedContainer, ...]]:
    containers = parse_ps(fixture("ps-pods.json"), "node1")
    return containers, fold_pods(containers, parse_pod_ps(fixture("pod-ps.json"), "node1"),
                                 "node1")


def test_pod_ps_gives_names_and_labels() -> None:
    pods = {pod.name: pod for pod in parse_pod_ps(fixture("pod-ps.json"), "node1")}
    assert sorted(pods) == ["bad", "crash", "dep-pod-0", "job", "web"]
    assert pods["crash"].id == CRASH_POD
    assert pods["crash"].label(LABEL_WORKLOAD) == "crash"
    assert parse_pod_ps("null", "node1") == () == parse_pod_ps("", "node1")


def test_ps_records_the_pod_of_each_container() -> None:
    containers, _ = recorded()
    by_name = {c.name: c for c in containers}
    assert by_name["crash-main"].pod_id == CRASH_POD
    assert by_name["0c20438bff42-infra"].pod_id == CRASH_POD


def test_owned_pods_fold_into_one_entry_and_foreign_pods_stay_as_they_are() -> None:
    containers, folded = recorded()
    units = {c.name: c for c in folded if is_unit(c)}
    # crash: labelled; web and bad: labelled with the project but no workload label, so the
    # same identity (bad's pod label, from pod ps: only its infra container is left); job and
    # dep-pod-0 carry no project label: not ankplan's, left unfolded.
    assert sorted(units) == ["bad,web", "crash"]
    crash = units["crash"]
    assert pod_ids(crash.id) == (CRASH_POD,) and crash.id == unit_id([CRASH_POD])
    assert crash.pods == ("crash",) and crash.workload_name == "crash"
    assert crash.image == "localhost/ankplan-demo:latest"  # the pause image is left out
    assert [c for c in containers if c.id in crash.members] == \
        [c for c in containers if c.name in ("crash-main", "crash-side")]
    assert log_subjects(crash) == crash.members
    foreign = {c.name for c in folded if not is_unit(c)}
    assert {"job-once", "dep-pod-0-a", "dep-pod-0-b", "5d1c81f9fcba-infra"} <= foreign
    assert not foreign & {"crash-main", "crash-side", "web-srv", "0c20438bff42-infra"}


def test_folded_state_is_the_least_container_state_as_in_ankaios() -> None:
    _, folded = recorded()
    units = {c.name: c for c in folded if is_unit(c)}
    assert execution_state(units["crash"]) == ExecutionState(
        state="Failed", sub_state="ExecFailed", info="Exit code: '3'")
    # web runs; bad has no container but its infra one, which does not count
    assert execution_state(units["bad,web"]) == ExecutionState(state="Running", sub_state="Ok")
    assert units["bad,web"].members == tuple(c.id for c in recorded()[0] if c.name == "web-srv")


def member(name: str, state: str, exit_code: int = 0, pod: str = "p1") -> ObservedContainer:
    return ObservedContainer(id=f"id-{name}", name=name, node_name="n", image="img",
                             state=state, exit_code=exit_code, pod_id=pod,
                             labels=((LABEL_PROJECT, "demo"), (LABEL_SPEC_HASH, "v1:x"),
                                     (LABEL_WORKLOAD, "w")))


def fold_state(*members: ObservedContainer) -> ExecutionState:
    (unit,) = fold_pods(members, (), "n")
    return execution_state(unit)


@pytest.mark.parametrize(("states", "expected"), [
    ((("running", 0), ("running", 0)), ExecutionState(state="Running", sub_state="Ok")),
    ((("exited", 0), ("exited", 0)), ExecutionState(state="Succeeded", sub_state="Ok")),
    ((("exited", 0), ("running", 0)), ExecutionState(state="Running", sub_state="Ok")),
    ((("exited", 137), ("exited", 2)),
     ExecutionState(state="Failed", sub_state="ExecFailed", info="Exit code: '137'")),
    ((("created", 0), ("exited", 1)),
     ExecutionState(state="Failed", sub_state="ExecFailed", info="Exit code: '1'")),
    ((("paused", 0), ("running", 0)),
     ExecutionState(state="Failed", sub_state="Unknown", info="unknown container state")),
    ((("stopping", 0), ("exited", 0)),
     ExecutionState(state="Stopping", sub_state="Stopping", info="stopping container")),
    ((("created", 0), ("paused", 0)),
     ExecutionState(state="Pending", sub_state="Starting", info="starting container")),
])
def test_state_order_failed_starting_unknown_running_stopping_succeeded(
        states: tuple[tuple[str, int], ...], expected: ExecutionState) -> None:
    members = [member(f"c{i}", state, code) for i, (state, code) in enumerate(states)]
    assert fold_state(*members) == expected


def test_two_generations_of_a_workload_stay_two_entries() -> None:
    old = member("old", "running", pod="p-old")
    new = replace(member("new", "running", pod="p-new"),
                  labels=((LABEL_PROJECT, "demo"), (LABEL_SPEC_HASH, "v1:y"),
                          (LABEL_WORKLOAD, "w")))
    folded = fold_pods((old, new), (), "n")
    assert sorted(pod_ids(c.id) for c in folded) == [("p-new",), ("p-old",)]


def test_a_pod_without_containers_left_is_still_found_by_its_labels() -> None:
    pods = parse_pod_ps(fixture("pod-ps.json"), "node1")
    bad = next(pod for pod in pods if pod.name == "bad")
    infra = ObservedContainer(id="9797474857bf", name="cb8af1699060-infra", node_name="node1",
                              image="localhost/podman-pause:4.3.1-0", state="created",
                              pod_id=bad.id)
    (unit,) = fold_pods((infra,), (bad,), "node1")
    assert unit.project == "demo" and unit.members == () and unit.pods == ("bad",)
    assert log_subjects(unit) == ()
    assert execution_state(unit) == ExecutionState(state="Failed", sub_state="Unknown",
                                                   info="unknown container state")


def test_without_pod_ps_the_labelled_containers_still_fold() -> None:
    """The watch's event feed knows containers (with their pod ids) but not pods."""
    containers, with_pods = recorded()
    (crash,) = [c for c in with_pods if c.name == "crash"]
    (alone,) = [c for c in fold_pods(containers, (), "node1") if c.id == crash.id]
    assert alone.members == crash.members and alone.state == crash.state
    assert alone.pods == (CRASH_POD[:12],)  # no pod names without pod ps


def test_a_plain_container_keeps_its_own_id_as_log_subject() -> None:
    plain = ObservedContainer(id="abc", name="x", node_name="n", image="i", state="running")
    assert not is_unit(plain) and log_subjects(plain) == ("abc",) and pod_ids("abc") == ()
