"""`ankplan get`, `logs` and `watch` through `main(argv, env)`, with faked nodes.

`open_pool` of each command is replaced by a TransportPool whose connector returns a fake node
answering `podman ps`, `podman logs` (through `sh -c`) and nothing else; node3 is unreachable.
The same commands against real SSH nodes are in tests/integration/test_watch.py.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from ankplan.cli import main as cli_main
from ankplan.cli.commands import get as get_cli
from ankplan.cli.commands import logs as logs_cli
from ankplan.cli.commands import watch as watch_cli
from ankplan.cli.env import Env, ExitStatus
from ankplan.errors import ConnectError
from ankplan.executors.transport import CommandResult, TransportPool
from ankplan.executors.watch import WatchEvent, WatchOptions, WatchResult
from ankplan.model import Node
from ankplan.planner.restarts import BackoffPolicy

PROJECT = "p"
IMAGE = "localhost/ankplan-demo:latest"
MANIFEST = f"""\
apiVersion: v1
workloads:
  zenoh-router:
    runtime: podman
    agent: a1
    restartPolicy: ALWAYS
    runtimeConfig: "image: {IMAGE}"
  carla-spawner:
    runtime: podman
    agent: a1
    restartPolicy: ON_FAILURE
    runtimeConfig: "image: {IMAGE}"
  kuksa-bridge:
    runtime: podman
    agent: a2
    dependencies:
      zenoh-router: ADD_COND_RUNNING
      carla-spawner: ADD_COND_RUNNING
    runtimeConfig: "image: {IMAGE}"
  camera-bridge:
    runtime: podman
    agent: a3
    runtimeConfig: "image: {IMAGE}"
"""
INVENTORY = """\
nodes:
  node1: {connection: local}
  node2: {connection: local}
  node3: {connection: local}
agents: {a1: node1, a2: node2, a3: node3}
"""


def ps_entry(name: str, state: str, exit_code: int = 0, restarts: int = 0,
             age: float = 75, health: str = "") -> dict[str, Any]:
    now = time.time()
    return {"Id": f"{name:x<12}".replace("-", "0")[:12] + "f" * 52, "Names": [name],
            "Image": IMAGE, "State": state, "ExitCode": exit_code, "StartedAt": int(now - age),
            "ExitedAt": int(now - 5) if state == "exited" else -62135596800,
            "Status": f"Up 1 minute ({health})" if health else state,
            "Labels": {"ankplan.project": PROJECT, "ankplan.workload": name,
                       "ankplan.restart-count": str(restarts)}}


class FakeNode:
    """Answers ps with fixed containers, logs with fixed lines; records every argv."""

    def __init__(self, node: Node, containers: list[dict[str, Any]]) -> None:
        self.node, self.containers, self.calls = node, containers, []

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        self.calls.append(tuple(argv))
        if argv[:2] == ("podman", "ps"):
            return CommandResult(exit_code=0, stdout=json.dumps(self.containers), stderr="",
                                 duration=0.0)
        text = "connecting\nERROR: Cannot connect to CARLA\n"
        if argv[0] == "sh" and "logs" in argv[2]:  # `sh -c 'exec podman logs ... 2>&1'`
            return CommandResult(exit_code=0, stdout=text, stderr="", duration=0.0)
        if argv[:2] == ("podman", "logs"):
            return CommandResult(exit_code=0, stdout=text, stderr="", duration=0.0)
        return CommandResult(exit_code=0, stdout="", stderr="", duration=0.0)

    def close(self) -> None:
        pass


@pytest.fixture
def nodes(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeNode]:
    fakes = {
        "node1": FakeNode(Node(name="node1"), [
            ps_entry("zenoh-router", "running", health="healthy"),
            ps_entry("carla-spawner", "exited", exit_code=1, restarts=5, age=30)]),
        "node2": FakeNode(Node(name="node2"), []),
    }

    def connect(node: Node, **_: object) -> FakeNode:
        if node.name not in fakes:
            raise ConnectError(node.name, "connection refused", hint="is sshd running there?")
        return fakes[node.name]

    for module in (get_cli, logs_cli, watch_cli):
        monkeypatch.setattr(module, "open_pool",
                            lambda args, **_: TransportPool(connector=connect))
    return fakes


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    (tmp_path / "manifest.yaml").write_text(MANIFEST)
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    return [str(tmp_path / "manifest.yaml"), "-i", str(tmp_path / "inventory.yaml"),
            "--project", PROJECT]


def run_cli(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(""), environ={},
              stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    status = cli_main.main(list(argv), env)
    return status, stdout.getvalue(), stderr.getvalue()


def rows(table: str) -> dict[str, str]:
    return {line.split()[0]: line for line in table.splitlines()[1:] if line.strip()}


# --- get workloads --------------------------------------------------------------------------------


def test_table_shows_every_workload_in_ankaios_terms(nodes: Any, files: list[str]) -> None:
    status, out, err = run_cli("get", "workloads", *files)
    assert status == ExitStatus.ERROR  # node3 could not be observed
    assert "ankplan: warning: node node3 could not be observed: connection refused" in err
    assert "hint: is sshd running there?" in err
    header = out.splitlines()[0].split()
    assert header[:5] == ["WORKLOAD", "NAME", "AGENT", "NODE", "EXECUTION"]
    table = rows(out)
    router = table["zenoh-router"].split()
    assert router[:5] == ["zenoh-router", "a1", "node1", "Running(Ok)", "0"]
    assert router[5] in ("1m15s", "1m16s")  # uptime, from whole seconds
    assert "health: healthy" in table["zenoh-router"]
    spawner = table["carla-spawner"].split()
    assert spawner[:6] == ["carla-spawner", "a1", "node1", "Failed(ExecFailed)", "5", "1"]
    bridge = table["kuksa-bridge"]
    assert "Pending(WaitingToStart)" in bridge and "node2" in bridge
    assert "waiting for carla-spawner to be running" in bridge
    camera = table["camera-bridge"]
    assert "AgentDisconnected" in camera and "node unreachable: connection refused" in camera


def test_names_filter_and_wide_columns(nodes: Any, files: list[str]) -> None:
    _, out, _ = run_cli("get", "workloads", "kuksa-bridge", "zenoh-router", *files,
                             "-o", "wide")
    table = rows(out)
    assert sorted(table) == ["kuksa-bridge", "zenoh-router"]
    assert "CONTAINER" in out.splitlines()[0] and "WAITING FOR" in out.splitlines()[0]
    assert "carla-spawner" in table["kuksa-bridge"].split("Pending(WaitingToStart)")[1]
    assert "zenoh0router" in table["zenoh-router"]  # the short container id


def test_json_and_yaml_records(nodes: Any, files: list[str]) -> None:
    _, out, _ = run_cli("get", "workloads", *files, "-o", "json")
    records = {r["name"]: r for r in json.loads(out)}
    spawner = records["carla-spawner"]
    assert spawner["executionState"] == {"state": "Failed", "subState": "ExecFailed",
                                         "additionalInfo": "Exit code: '1'"}
    assert (spawner["restartCount"], spawner["exitCode"], spawner["node"]) == (5, 1, "node1")
    assert spawner["container"]["startedAt"].endswith("+00:00")
    bridge = records["kuksa-bridge"]
    assert bridge["waitingFor"] == ["carla-spawner"]
    assert [(d["workload"], d["status"], d["current"]) for d in bridge["dependencies"]] == [
        ("carla-spawner", "WAITING", "Failed(ExecFailed)"), ("zenoh-router", "OK", "Running(Ok)")]
    assert records["zenoh-router"]["uptimeSeconds"] >= 75
    _, out, _ = run_cli("get", "workload", "kuksa-bridge", *files, "-o", "yaml")
    assert yaml.safe_load(out)["name"] == "kuksa-bridge"


def test_detailed_view_like_the_guide(nodes: Any, files: list[str]) -> None:
    _, out, _ = run_cli("get", "workload", "kuksa-bridge", *files)
    assert "State:           Pending(WaitingToStart)" in out
    assert "  - carla-spawner (ADD_COND_RUNNING): WAITING (current: Failed(ExecFailed))" in out
    assert "  - zenoh-router (ADD_COND_RUNNING): OK (current: Running(Ok))" in out
    _, out, _ = run_cli("get", "workload", "carla-spawner", *files)
    assert "Restart count:   5" in out
    assert "Last restart:" in out and ("(30s ago)" in out or "(31s ago)" in out)
    assert "Last error:      Container exited with code 1" in out
    assert "| ERROR: Cannot connect to CARLA" in out
    assert "Container:       carla0spawne on node1" in out
    logs_calls = [argv for argv in nodes["node1"].calls if argv[1] == "logs"]
    assert logs_calls and "--tail" in logs_calls[0]


def test_errors_are_one_line(nodes: Any, files: list[str]) -> None:
    status, _, err = run_cli("get", "workload", "nope", *files)
    assert status == 1 and "ankplan: error: workload 'nope' is not in the manifest" in err
    status, _, err = run_cli("get", "workload", "zenoh-router", "kuksa-bridge", *files)
    assert status == 1 and "needs exactly one workload name" in err
    status, _, err = run_cli("get", "workloads", "zenoh-router")
    assert status == 1 and "no manifest file given" in err
    assert "Traceback" not in err


def test_words_split_into_names_and_files() -> None:
    assert get_cli.split_words(["kuksa-bridge", "examples/police/manifest.yaml", "m.yml"],
                               ["-"]) == (["kuksa-bridge"],
                                          ["-", "examples/police/manifest.yaml", "m.yml"])


def test_duration_text() -> None:
    assert [get_cli.duration_text(s) for s in (None, 5, 75, 3700, 90000)] == [
        "", "5s", "1m15s", "1h1m", "1d1h"]


# --- logs -----------------------------------------------------------------------------------------


def test_logs_of_two_workloads_with_prefixes(nodes: Any, files: list[str]) -> None:
    status, out, err = run_cli("logs", "zenoh-router", "carla-spawner", *files, "--tail", "5")
    assert status == 0, err
    assert "zenoh-router  | connecting\n" in out
    assert "carla-spawner | ERROR: Cannot connect to CARLA\n" in out
    sh = [argv for argv in nodes["node1"].calls if argv[0] == "sh"]
    assert sh[0][2].startswith("exec podman logs --tail 5 -- zenoh0router")
    assert sh[0][2].endswith(" 2>&1")


def test_logs_of_one_workload_has_no_prefix(nodes: Any, files: list[str]) -> None:
    _, out, _ = run_cli("logs", "zenoh-router", *files)
    assert out == "connecting\nERROR: Cannot connect to CARLA\n"


def test_logs_errors(nodes: Any, files: list[str]) -> None:
    status, _, err = run_cli("logs", "kuksa-bridge", *files)
    assert status == 1 and "workload 'kuksa-bridge' has no container on node2" in err
    status, _, err = run_cli("logs", "camera-bridge", *files)
    assert status == 1 and "node node3 (workload camera-bridge) could not be observed" in err
    status, _, err = run_cli("logs", *files)
    assert status == 1 and "no workload named" in err


# --- watch ----------------------------------------------------------------------------------------


def test_watch_cli_lines_and_exit_code(nodes: Any, files: list[str]) -> None:
    status, out, err = run_cli("watch", *files, "--duration", "0.3", "--tick", "0.1",
                               "--until-stable", "--settle", "5s")
    assert status == ExitStatus.NOT_STABLE, err
    assert "node1/zenoh-router Running(Ok)" in out
    assert "node2/kuksa-bridge Pending(WaitingToStart): waiting for carla-spawner" in out
    assert "node3/camera-bridge AgentDisconnected: node unreachable: connection refused" in out
    assert "restart: ON_FAILURE restarts Failed(ExecFailed)" in out  # carla-spawner
    assert "Watch ended after" in err and "NOT stable before --duration" in err


def test_watch_cli_json_records(nodes: Any, files: list[str]) -> None:
    _, out, _ = run_cli("watch", *files, "--duration", "0.2", "--tick", "0.1", "--output",
                             "json")
    records = [json.loads(line) for line in out.splitlines()]
    assert records[-1]["type"] == "summary" and records[-1]["exit_code"] == 0
    event = next(r for r in records if r.get("workload") == "zenoh-router")
    assert set(event) == {"type", "time", "node", "workload", "from", "to", "reason", "kind"}


def test_watch_option_parsing() -> None:
    assert watch_cli.duration("90") == 90.0 and watch_cli.duration("1m30s") == 90.0
    assert watch_cli.backoff_delays("0,5, 10,20,30s") == (0, 5, 10, 20, 30)
    status, _, err = run_cli("watch", "m.yaml", "--backoff", "0,x")
    assert status == 1 and "not a duration: 'x'" in err
    status, _, err = run_cli("watch", "m.yaml", "--duration", "-3")
    assert status == 1 and "must not be negative" in err


def test_watch_exit_status() -> None:
    options = WatchOptions(project="p", until_stable=True, backoff=BackoffPolicy())
    result = WatchResult(stable=False, gave_up=(), interrupted=False, ticks=1, elapsed=1.0,
                         restarts=0)
    assert watch_cli.exit_status(result, options) is ExitStatus.NOT_STABLE
    stable = WatchResult(stable=True, gave_up=(), interrupted=False, ticks=1, elapsed=1.0,
                         restarts=0)
    assert watch_cli.exit_status(stable, options) is ExitStatus.SUCCESS
    gave_up = WatchResult(stable=True, gave_up=("x",), interrupted=False, ticks=1, elapsed=1.0,
                          restarts=3)
    assert watch_cli.exit_status(gave_up, options) is ExitStatus.GAVE_UP


def test_event_lines() -> None:
    when = time.mktime((2026, 11, 27, 12, 3, 4, 0, 0, -1))
    change = WatchEvent(time=when, node="node1", workload="kuksa-bridge",
                        from_state="Running(Ok)", to_state="Failed(ExecFailed)",
                        reason="Exit code: '1'")
    assert watch_cli.event_line(change) == (
        "12:03:04 node1/kuksa-bridge Running(Ok) -> Failed(ExecFailed): Exit code: '1'")
    restart = WatchEvent(time=when, node="node1", workload="kuksa-bridge", from_state="x",
                         to_state="Pending(Starting)", reason="ON_FAILURE ...", kind="restart")
    assert watch_cli.event_line(restart) == "12:03:04 node1/kuksa-bridge restart: ON_FAILURE ..."
