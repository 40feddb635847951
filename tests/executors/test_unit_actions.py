"""How the engine's commands change for a workload a systemd unit runs: it comes up by writing
and starting its unit (the id read back), a RESTART restarts the unit, and a teardown removes
the unit before the container (pure command choice, no transport)."""

from __future__ import annotations

from ankplan.executors.actions import (
    bringup_command,
    bringup_labels,
    started_container,
    unit_to_remove,
)
from ankplan.executors.transport import CommandResult
from ankplan.model import Action, ActionKind, Node, PodmanConfig, Reason, Supervisor, Workload
from ankplan.podman.systemd_unit import unit_name

NODE = Node(name="node1", supervisor=Supervisor.SYSTEMD)
WEB = Workload(name="web", agent="a1", runtime="podman", runtime_config_text="",
               runtime_config=PodmanConfig(image="localhost/x:1"))
UNIT = unit_name("proj", "web")


def action(kind: ActionKind, *, unit: str = UNIT, container_unit: str = "") -> Action:
    return Action(kind=kind, node_name="node1", workload_name="web", reason=Reason.NOT_FOUND,
                  workload=WEB, container_id="old-id", unit=unit, container_unit=container_unit)


def test_a_unit_workload_comes_up_through_its_unit() -> None:
    create = action(ActionKind.CREATE)
    command = bringup_command(create, NODE, bringup_labels(create, "proj"))
    assert command.verb == "systemctl start" and command.argv[-3:-1] == (
        "X-Ankplan-Project=proj", "start")
    assert UNIT in command.argv and command.stdin is not None
    assert "--label=ankplan.unit=" + UNIT in command.stdin
    result = CommandResult(exit_code=0, stdout="new-id\n", stderr="", duration=0.1)
    assert started_container(create, result) == "new-id"
    start = action(ActionKind.START)  # an exited container: the unit runs a new one
    assert bringup_command(start, NODE, bringup_labels(start, "proj")).verb == "systemctl start"
    assert started_container(start, result) == "new-id"


def test_a_restart_restarts_the_unit_and_without_a_unit_podman_starts() -> None:
    restart = action(ActionKind.RESTART, container_unit=UNIT)
    command = bringup_command(restart, NODE, bringup_labels(restart, "proj"))
    assert command.verb == "systemctl restart" and command.argv[-1] == UNIT
    plain = action(ActionKind.START, unit="")
    assert bringup_command(plain, NODE, bringup_labels(plain, "proj")).verb == "start"
    assert started_container(plain, CommandResult(exit_code=0, stdout="x", duration=0.1,
                                                  stderr="")) == "old-id"


def test_teardown_removes_the_containers_unit_first() -> None:
    assert unit_to_remove(action(ActionKind.REPLACE, container_unit=UNIT), NODE, "proj") == UNIT
    assert unit_to_remove(action(ActionKind.REPLACE, unit=UNIT), NODE, "proj") == ""
    assert unit_to_remove(action(ActionKind.RESTART, container_unit=UNIT), NODE, "proj") == ""
    # a workload leaving a systemd node loses its unit even when its container vanished
    assert unit_to_remove(action(ActionKind.REMOVE, unit=""), NODE, "proj") == UNIT
    watch_node = Node(name="node1")
    assert unit_to_remove(action(ActionKind.REMOVE, unit=""), watch_node, "proj") == ""
