"""The pure event knowledge (podman/events.py) against events recorded from Podman 4.3.1:
a container's whole life (create, init, start, died, cleanup, remove) replayed into state."""

from __future__ import annotations

from pathlib import Path

from ankplan.model import ExecutionState, Node, ObservedContainer
from ankplan.podman import execution_state, fold_pods
from ankplan.podman.events import (
    apply_event,
    events_argv,
    parse_event,
    split_timed_ps,
    timed_ps_argv,
)

FIXTURE = Path(__file__).parent / "fixtures" / "4.3.1" / "events.ndjson"


def recorded() -> list[str]:
    return FIXTURE.read_text().splitlines()


def test_parses_every_recorded_event() -> None:
    events = [parse_event(line) for line in recorded()]
    assert [e.status for e in events if e] == ["create", "init", "start", "died", "cleanup",
                                                "remove"]
    died = next(e for e in events if e and e.status == "died")
    assert died.exit_code == 3 and died.name == "evrec" and len(died.container_id) == 64
    assert ("ankplan.project", "rec") in died.labels
    assert 1.7e9 < died.time < 2e9  # unix seconds, with the fraction
    assert parse_event("") is None and parse_event("level=warning msg=x") is None
    assert parse_event('{"Type": "image", "Status": "pull"}') is None


def test_a_life_replayed_ends_removed_and_each_step_is_right() -> None:
    containers: dict[str, ObservedContainer] = {}
    seen = []
    for line in recorded():
        event = parse_event(line)
        assert event is not None
        containers = apply_event(containers, event, "n1")
        seen.append((event.status, [c.state for c in containers.values()]))
    assert seen == [("create", ["created"]), ("init", ["created"]), ("start", ["running"]),
                    ("died", ["exited"]), ("cleanup", ["exited"]), ("remove", [])]


def test_labels_and_exit_code_come_from_the_events() -> None:
    containers: dict[str, ObservedContainer] = {}
    for line in recorded()[:4]:  # up to died
        event = parse_event(line)
        assert event is not None
        containers = apply_event(containers, event, "n1")
    (container,) = containers.values()
    assert container.project == "rec" and container.workload_name == "evrec"
    assert container.restart_count == 2 and container.exit_code == 3
    assert container.node_name == "n1" and container.finished_at > container.started_at > 0


def test_a_known_container_never_moves_back_and_unknown_ends_are_ignored() -> None:
    running = ObservedContainer(id="c1", name="w", node_name="n1", image="i", state="running",
                                started_at=5.0)
    create = parse_event('{"ID": "c1", "Name": "w", "Status": "create", "Type": "container"}')
    died = parse_event('{"ID": "c2", "Status": "died", "ContainerExitCode": 1, '
                       '"Type": "container"}')
    assert create is not None and died is not None
    assert apply_event({"c1": running}, create, "n1") == {"c1": running}
    assert apply_event({"c1": running}, died, "n1") == {"c1": running}


def test_command_lines() -> None:
    node = Node(name="n", podman=("sudo", "podman"))
    argv = events_argv(node, project="police", since=1732900000.5)
    assert argv == ("sudo", "podman", "events", "--format", "json", "--since",
                    "1732900000.500", "--filter", "label=ankplan.project=police", "--filter",
                    "type=container")
    timed = timed_ps_argv(node)
    assert timed[:3] == ("sudo", "sh", "-c") and timed[4:] == (
        "sh", "sudo", "podman", "ps", "--all", "--format", "json")
    assert split_timed_ps("1732900000.25\n[]\n") == (1732900000.25, "[]\n")
    assert split_timed_ps("[]") == (None, "[]")


def test_a_pod_containers_events_carry_its_pod_and_fold_into_the_workload() -> None:
    """Events of a container `kube play` made (recorded, events-pod.ndjson): PodID on every
    status but `died`; replayed and folded, the workload is Failed with the exit code."""
    lines = (FIXTURE.parent / "events-pod.ndjson").read_text().splitlines()
    events = [parse_event(line) for line in lines]
    pod = "bd588fe1d7d8b18191c45a3db8b48106acf33a94d68443546d70c9fd82d81302"
    assert [e.pod_id for e in events if e] == [pod, pod, pod, "", pod, pod]
    containers: dict[str, ObservedContainer] = {}
    for event in events[:4]:  # up to died
        assert event is not None
        containers = apply_event(containers, event, "n1")
    (unit,) = fold_pods(tuple(containers.values()), (), "n1")
    assert unit.id == f"pods:{pod}" and unit.workload_name == "w"
    assert execution_state(unit) == ExecutionState(state="Failed", sub_state="ExecFailed",
                                                   info="Exit code: '3'")


def test_a_checks_late_starting_status_does_not_undo_a_known_health() -> None:
    """Podman 4.3 words a `health_status` event with the status from before its check: the
    first check's event says "starting" after ankplan noted the check's pass."""
    healthy = ObservedContainer(id="c1", name="w", node_name="n1", image="i", state="running",
                                health="healthy")

    def health(status: str) -> ObservedContainer:
        event = parse_event('{"ID": "c1", "Name": "w", "Status": "health_status", '
                            f'"health_status": "{status}", "Type": "container"}}')
        assert event is not None
        return apply_event({"c1": healthy}, event, "n1")["c1"]

    assert health("starting").health == "healthy"
    assert health("unhealthy").health == "unhealthy"
    start = parse_event('{"ID": "c1", "Name": "w", "Status": "start", "Type": "container"}')
    assert start is not None
    assert apply_event({"c1": healthy}, start, "n1")["c1"].health == "starting"  # restarted


def test_every_containers_events_without_a_project() -> None:
    argv = events_argv(Node(name="n"), project=None)
    assert argv == ("podman", "events", "--format", "json", "--filter", "type=container")
