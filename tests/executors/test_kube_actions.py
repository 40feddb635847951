"""executors/actions.py for podman-kube workloads: which podman commands a plan action becomes
(`kube play -` with the labelled manifest on stdin, `pod start`, `pod stop` + `pod rm` by id),
against a transport that records argv and stdin. Real podman runs these in
tests/integration/test_kube.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from ankplan.executors.actions import (
    bringup_command,
    bringup_labels,
    discard_argv,
    remove_container,
    started_container,
)
from ankplan.executors.events import NodeFeed
from ankplan.executors.transport import CommandResult, TransportPool
from ankplan.model import (
    LABEL_PROJECT,
    LABEL_RESTART_COUNT,
    LABEL_WORKLOAD,
    Action,
    ActionKind,
    KubeConfig,
    Node,
    ObservedContainer,
    PodmanConfig,
    Reason,
    Workload,
)
from ankplan.podman.pods import unit_id

NODE = Node(name="node1")
FIXTURES = Path(__file__).parent.parent / "podman" / "fixtures" / "4.3.1"
KUBE = Workload(name="web", agent="a", runtime="podman-kube", runtime_config_text="",
                runtime_config=KubeConfig(
                    manifest="kind: Pod\nmetadata: {name: web}\nspec: {containers: []}\n",
                    general_options=("--log-level", "warn"), play_options=("--start",),
                    down_options=("--force",)))
PODS = unit_id(["p2", "p1"])


def action(kind: ActionKind, workload: Workload | None = KUBE, container_id: str = "") -> Action:
    return Action(kind=kind, node_name="node1", workload_name="web", reason=Reason.NOT_FOUND,
                  workload=workload, container_id=container_id)


class Recorder:
    """A transport that records (argv, stdin) and answers every command with `result`."""

    def __init__(self, exit_code: int = 0) -> None:
        self.node = NODE
        self.calls: list[tuple[tuple[str, ...], str | None]] = []
        self.exit_code = exit_code

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        self.calls.append((tuple(argv), stdin))
        return CommandResult(exit_code=self.exit_code, stdout="", stderr="", duration=0.0)


def test_create_plays_the_labelled_manifest_from_stdin() -> None:
    create = action(ActionKind.CREATE)
    labels = bringup_labels(create, "demo", restart_count=2)
    command = bringup_command(create, NODE, labels)
    assert command.argv == ("podman", "--log-level", "warn", "kube", "play", "--quiet",
                            "--start", "-")
    assert command.verb == "kube play"
    assert command.stdin is not None
    (pod,) = yaml.safe_load_all(command.stdin)
    assert pod["metadata"]["labels"][LABEL_PROJECT] == "demo"
    assert pod["metadata"]["labels"][LABEL_WORKLOAD] == "web"
    assert pod["metadata"]["labels"][LABEL_RESTART_COUNT] == "2"
    assert pod["metadata"]["labels"] == labels


def test_start_starts_the_pods_with_general_options() -> None:
    command = bringup_command(action(ActionKind.START, container_id=PODS), NODE, {})
    assert command.argv == ("podman", "--log-level", "warn", "pod", "start", "--", "p1", "p2")
    assert command.stdin is None and command.verb == "pod start"


def test_a_podman_workload_still_runs_a_container() -> None:
    podman_workload = Workload(name="web", agent="a", runtime="podman", runtime_config_text="",
                               runtime_config=PodmanConfig(image="localhost/x:1"))
    command = bringup_command(action(ActionKind.CREATE, podman_workload), NODE, {"k": "v"})
    assert command.argv[:3] == ("podman", "run", "--detach") and command.stdin is None
    start = bringup_command(action(ActionKind.START, podman_workload, "c1"), NODE, {})
    assert start.argv == ("podman", "start", "--", "c1")


def test_the_played_pods_become_the_entry_id() -> None:
    output = (FIXTURES / "kube-play-two-pods.txt").read_text()
    result = CommandResult(exit_code=0, stdout=output, stderr="", duration=0.1)
    assert started_container(action(ActionKind.CREATE), result) == unit_id([
        "5d1c81f9fcba9a026610eef77695bc84c9166c41f677885bbee56991c22f032f",
        "eab2d26f6c4a7ba4b1fa1e73298d0cc662dcb8bdd0f9ad5e9b8da3c1c53aee70"])
    assert started_container(action(ActionKind.START, container_id=PODS), result) == PODS


def test_removal_stops_then_removes_the_pods_by_id_not_kube_down() -> None:
    transport = Recorder()
    assert remove_container(transport, NODE, PODS, stop_timeout=4).ok
    assert transport.calls == [
        (("podman", "pod", "stop", "--ignore", "--time", "4", "--", "p1", "p2"), None),
        (("podman", "pod", "rm", "--ignore", "--", "p1", "p2"), None)]


def test_removal_of_a_container_is_unchanged_and_a_failed_stop_stops_there() -> None:
    transport = Recorder(exit_code=125)
    assert not remove_container(transport, NODE, "c1", stop_timeout=4).ok
    assert transport.calls == [
        (("podman", "stop", "--ignore", "--time", "4", "--", "c1"), None)]


def test_leftovers_of_a_failed_play_are_force_removed() -> None:
    assert discard_argv(NODE, PODS) == ("podman", "pod", "rm", "--ignore", "--force", "--time",
                                        "0", "--", "p1", "p2")
    assert discard_argv(NODE, "c1") == ("podman", "rm", "--ignore", "--", "c1")


def test_watch_feed_folds_pods_and_forgets_all_of_a_removed_workload() -> None:
    """The event feed (watch) keeps containers with their pod; its observation folds them like
    observe_node does, and removing the pods entry drops their infra container too, which no
    event filtered on the project's label would report gone."""
    labels = ((LABEL_PROJECT, "demo"), (LABEL_WORKLOAD, "web"))
    feed = NodeFeed(TransportPool(), NODE, project="demo", timeout=1.0, poll_interval=0.1,
                    on_change=lambda: None)
    feed.error = None
    feed.containers = {
        "app": ObservedContainer(id="app", name="web-srv", node_name="node1", image="i",
                                 state="running", labels=labels, pod_id="p1"),
        "infra": ObservedContainer(id="infra", name="p1-infra", node_name="node1", image="i",
                                   state="running", pod_id="p1"),
        "other": ObservedContainer(id="other", name="other", node_name="node1", image="i",
                                   state="running")}
    (other, unit) = sorted(feed.observation().containers, key=lambda c: c.id)
    assert unit.id == unit_id(["p1"]) and unit.members == ("app",) and other.id == "other"
    feed.forget(unit.id)
    assert list(feed.containers) == ["other"] and {"app", "infra"} <= feed.removed
