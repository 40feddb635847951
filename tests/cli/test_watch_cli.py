"""`ankplan watch` through `main(argv, env)`, with fake nodes in the Env (tests/cli/clirun.py).

The watch loop against real SSH nodes, and the signals, are in tests/integration/test_watch.py.
"""

# ruff: noqa: F401, F811 - the fixtures `fleet` and `files` come from clirun
from __future__ import annotations

import json
import time

from clirun import MANIFEST, StaticNode, files, fleet, run_cli

from ankplan.cli.commands.watch import backoff_delays, duration, exit_status
from ankplan.cli.env import ExitStatus
from ankplan.cli.views.events import watch_event_record
from ankplan.cli.views.watch import event_line
from ankplan.executors.watch import WatchEvent, WatchOptions, WatchResult
from ankplan.planner.restarts import BackoffPolicy


def test_watch_cli_lines_and_exit_code(fleet: dict[str, StaticNode], files: list[str]) -> None:
    status, out, err = run_cli("watch", *files, "--poll", "--duration", "0.3", "--tick", "0.1",
                               "--until-stable", "--settle", "5s", nodes=fleet)
    assert status == ExitStatus.NOT_STABLE, err
    assert "node1/zenoh-router Running(Ok)" in out
    assert "node2/kuksa-bridge Pending(WaitingToStart): waiting for carla-spawner" in out
    assert "node3/camera-bridge AgentDisconnected: node unreachable: connection refused" in out
    assert "restart: ON_FAILURE restarts Failed(ExecFailed)" in out  # carla-spawner
    assert "Watch ended after" in err and "NOT stable before --duration" in err


def test_watch_cli_json_records(fleet: dict[str, StaticNode], files: list[str]) -> None:
    _, out, _ = run_cli("watch", *files, "--poll", "--duration", "0.2", "--tick", "0.1",
                        "--output", "json", nodes=fleet)
    records = [json.loads(line) for line in out.splitlines()]
    assert records[-1]["type"] == "summary" and records[-1]["exit_code"] == 0
    event = next(r for r in records if r.get("workload") == "zenoh-router")
    assert set(event) == {"type", "command", "time", "node", "workload", "from", "to", "kind",
                          "reason", "action", "elapsed", "outcome", "subject"}  # events-json.md
    assert event["command"] == "watch" and event["outcome"] is None


def test_watch_option_parsing() -> None:
    assert duration("90") == 90.0 and duration("1m30s") == 90.0
    assert backoff_delays("0,5, 10,20,30s") == (0, 5, 10, 20, 30)
    status, _, err = run_cli("watch", "m.yaml", "--backoff", "0,x", nodes=fleet)
    assert status == 1 and "not a duration: 'x'" in err
    status, _, err = run_cli("watch", "m.yaml", "--duration", "-3", nodes=fleet)
    assert status == 1 and "must not be negative" in err


def test_watch_exit_status() -> None:
    options = WatchOptions(project="p", until_stable=True, backoff=BackoffPolicy())
    result = WatchResult(stable=False, gave_up=(), interrupted=False, ticks=1, elapsed=1.0,
                         restarts=0)
    assert exit_status(result, options) is ExitStatus.NOT_STABLE
    stable = WatchResult(stable=True, gave_up=(), interrupted=False, ticks=1, elapsed=1.0,
                         restarts=0)
    assert exit_status(stable, options) is ExitStatus.SUCCESS
    gave_up = WatchResult(stable=True, gave_up=("x",), interrupted=False, ticks=1, elapsed=1.0,
                          restarts=3)
    assert exit_status(gave_up, options) is ExitStatus.GAVE_UP
    interrupted = WatchResult(stable=False, gave_up=("x",), interrupted=True, ticks=1,
                              elapsed=1.0, restarts=3)
    assert exit_status(interrupted, options) is ExitStatus.CTRL_C  # 130, as apply and logs -f


def test_watch_manifest_by_filename_and_stdin(fleet: dict[str, StaticNode],
                                              files: list[str]) -> None:
    manifest, *rest = files
    for words, stdin in ((["-f", manifest], ""), (["--filename", manifest], ""),
                         (["-"], MANIFEST)):
        status, out, err = run_cli("watch", *words, *rest, "--poll", "--duration", "0.2", "--tick", "0.1",
                                   "-o", "json", nodes=fleet, stdin=stdin)
        assert status == 0, err
        assert json.loads(out.splitlines()[-1])["type"] == "summary"


def test_event_lines() -> None:
    when = time.mktime((2026, 11, 27, 12, 3, 4, 0, 0, -1))
    change = WatchEvent(time=when, node="node1", workload="kuksa-bridge",
                        from_state="Running(Ok)", to_state="Failed(ExecFailed)",
                        reason="Exit code: '1'")
    assert event_line(change) == (
        "12:03:04 node1/kuksa-bridge Running(Ok) -> Failed(ExecFailed): Exit code: '1'")
    restart = WatchEvent(time=when, node="node1", workload="kuksa-bridge", from_state="x",
                         to_state="Pending(Starting)", reason="ON_FAILURE ...", kind="restart")
    assert event_line(restart) == "12:03:04 node1/kuksa-bridge restart: ON_FAILURE ..."


def test_a_restarts_action_says_how_it_was_carried_out() -> None:
    """A restart is the `start` of the same container or the `replace` by a new one."""
    for action in ("start", "replace"):
        restart = WatchEvent(time=1.0, node="node1", workload="w", from_state="x",
                             to_state="Pending(Starting)", reason="ON_FAILURE ...",
                             kind="restart", action=action)
        assert watch_event_record(restart)["action"] == action
    state = WatchEvent(time=1.0, node="node1", workload="w", from_state="", to_state="y",
                       action="start")
    assert watch_event_record(state)["action"] is None


def debug_modes(err: str) -> dict[str, list[str]]:
    """node -> the observation modes `--debug` named for it, in order."""
    modes: dict[str, list[str]] = {}
    for line in err.splitlines():
        if line.startswith("ankplan: debug: observe "):
            node, mode = line.removeprefix("ankplan: debug: observe ").split(": ", 1)
            modes.setdefault(node, []).append(mode)
    return modes


def test_debug_names_how_each_node_is_observed_and_why(fleet: dict[str, StaticNode],
                                                       files: list[str]) -> None:
    """node1 and node2's `podman events` end at once (the fake streams log text), so they are
    polled, saying why; node3 cannot be reached; --poll polls every node."""
    _, _, err = run_cli("--debug", "watch", *files, "--duration", "0.3", "--tick", "0.1",
                        nodes=fleet)
    modes = debug_modes(err)
    assert set(modes) == {"node1", "node2", "node3"}, err
    assert modes["node1"][-1] == "polling (`podman events` ends at once on this node)"
    assert modes["node3"][0].startswith("unreachable (")
    assert all(len(shown) == len(set(shown)) for shown in modes.values())  # changes only
    _, _, err = run_cli("--debug", "watch", *files, "--poll", "--duration", "0.2",
                        "--tick", "0.1", nodes=fleet)
    polled = "polling (events off: one `podman ps` per node per tick)"
    assert debug_modes(err) == {name: [polled] for name in ("node1", "node2", "node3")}
    _, _, err = run_cli("watch", *files, "--duration", "0.2", "--tick", "0.1", nodes=fleet)
    assert debug_modes(err) == {}
