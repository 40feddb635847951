"""`ankplan get workloads|workload` through `main(argv, env)`, with fake nodes in the Env.

node1 and node2 answer `podman ps` with fixed containers (tests/cli/clirun.py); node3 is
unreachable. The same command against real SSH nodes is in tests/integration/test_watch.py.
"""

# ruff: noqa: F401, F811 - the fixtures `fleet` and `files` come from clirun
from __future__ import annotations

import json
import re

import yaml
from clirun import MANIFEST, StaticNode, files, fleet, run_cli

from ankplan.cli.env import ExitStatus
from ankplan.cli.views.status import duration_text
from ankplan.cli.views.table import fit_columns


def rows(table: str) -> dict[str, str]:
    return {line.split()[0]: line for line in table.splitlines()[1:] if line.strip()}


def test_table_shows_every_workload_in_ankaios_terms(fleet: dict[str, StaticNode],
                                                     files: list[str]) -> None:
    status, out, err = run_cli("get", "workloads", *files, nodes=fleet)
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


def test_names_filter_and_wide_columns(fleet: dict[str, StaticNode], files: list[str]) -> None:
    _, out, _ = run_cli("get", "workloads", "kuksa-bridge", "zenoh-router", *files,
                             "-o", "wide", nodes=fleet)
    table = rows(out)
    assert sorted(table) == ["kuksa-bridge", "zenoh-router"]
    assert "CONTAINER" in out.splitlines()[0] and "WAITING FOR" in out.splitlines()[0]
    assert "carla-spawner" in table["kuksa-bridge"].split("Pending(WaitingToStart)")[1]
    assert "zenoh0router" in table["zenoh-router"]  # the short container id


def test_json_and_yaml_records(fleet: dict[str, StaticNode], files: list[str]) -> None:
    _, out, _ = run_cli("get", "workloads", *files, "-o", "json", nodes=fleet)
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
    _, out, _ = run_cli("get", "workload", "kuksa-bridge", *files, "-o", "yaml", nodes=fleet)
    assert yaml.safe_load(out)["name"] == "kuksa-bridge"


def test_detailed_view_like_the_guide(fleet: dict[str, StaticNode], files: list[str]) -> None:
    _, out, _ = run_cli("get", "workload", "kuksa-bridge", *files, nodes=fleet)
    assert "State:           Pending(WaitingToStart)" in out
    assert "  - carla-spawner (ADD_COND_RUNNING): WAITING (current: Failed(ExecFailed))" in out
    assert "  - zenoh-router (ADD_COND_RUNNING): OK (current: Running(Ok))" in out
    _, out, _ = run_cli("get", "workload", "carla-spawner", *files, nodes=fleet)
    assert "Restart count:   5" in out
    assert "Last restart:" in out and ("(30s ago)" in out or "(31s ago)" in out)
    assert "Last error:      Container exited with code 1" in out
    assert "| ERROR: Cannot connect to CARLA" in out
    assert "Container:       carla0spawne on node1" in out
    logs_calls = [argv for argv in fleet["node1"].calls if argv[1] == "logs"]
    assert logs_calls and "--tail" in logs_calls[0]


def stats_calls(fleet: dict[str, StaticNode]) -> list[tuple[str, ...]]:
    return [argv for fake in fleet.values() for argv in fake.calls if argv[1] == "stats"]


def test_resources_only_where_shown(fleet: dict[str, StaticNode], files: list[str]) -> None:
    run_cli("get", "workloads", *files, nodes=fleet)
    assert stats_calls(fleet) == []  # the plain table has no resource columns: no stats call
    _, out, _ = run_cli("get", "workloads", *files, "-o", "wide", nodes=fleet)
    assert stats_calls(fleet) == [("podman", "stats", "--no-stream", "--format", "json")] * 2
    assert out.splitlines()[0].split()[-2:] == ["CPU", "MEMORY"]  # no unit runs one: no UNIT
    table = rows(out)
    assert table["zenoh-router"].rstrip().endswith("1.27%  569.3kB / 67.11MB")
    assert "%" not in table["carla-spawner"]  # exited: no resource use


def test_resources_in_json_and_detail(fleet: dict[str, StaticNode], files: list[str]) -> None:
    _, out, _ = run_cli("get", "workloads", *files, "-o", "json", nodes=fleet)
    records = {r["name"]: r for r in json.loads(out)}
    assert records["zenoh-router"]["resources"] == {
        "cpuPercent": 1.27, "memoryUsageBytes": 569_300, "memoryLimitBytes": 67_110_000,
        "memory": "569.3kB / 67.11MB"}
    assert records["carla-spawner"]["resources"] is None
    _, out, _ = run_cli("get", "workload", "zenoh-router", *files, nodes=fleet)
    assert "Resources:       CPU 1.27%, memory 569.3kB / 67.11MB" in out


def test_failed_stats_is_a_warning(fleet: dict[str, StaticNode], files: list[str]) -> None:
    fleet["node1"].failing["stats"] = "Error: unable to obtain cgroup stats"
    _, out, err = run_cli("get", "workloads", *files, "-o", "wide", nodes=fleet)
    assert ("ankplan: warning: node node1: podman stats failed, so no resource use is shown: "
            "podman failed: Error: unable to obtain cgroup stats (exit code 125)") in err
    assert rows(out)["zenoh-router"].split()[-2:] == ["-", "-"]


def test_errors_are_one_line(fleet: dict[str, StaticNode], files: list[str]) -> None:
    status, _, err = run_cli("get", "workload", "nope", *files, nodes=fleet)
    assert status == 1 and "ankplan: error: workload 'nope' is not in the manifest" in err
    status, _, err = run_cli("get", "workload", "zenoh-router", "kuksa-bridge", *files, nodes=fleet)
    assert status == 1 and "needs exactly one workload name" in err
    status, _, err = run_cli("get", "workloads", "zenoh-router", nodes=fleet)
    assert status == 1 and "no manifest file given" in err
    assert "Traceback" not in err


def test_duration_text() -> None:
    assert [duration_text(s) for s in (None, 5, 75, 3700, 90000)] == [
        "", "5s", "1m15s", "1h1m", "1d1h"]




# --- tables fit the terminal ------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def terminal_lines(out: str) -> list[str]:
    return [ANSI.sub("", line).rstrip() for line in out.splitlines()]


def test_at_80_columns_one_line_per_workload_with_name_and_state(
        fleet: dict[str, StaticNode], files: list[str]) -> None:
    _, out, _ = run_cli("get", "workloads", *files, nodes=fleet, tty=True, width=80)
    lines = terminal_lines(out)
    assert len(lines) == 5  # header + 4 workloads: no cell folded onto a second line
    assert all(len(line) <= 80 for line in lines), lines
    header = lines[0]
    assert header.startswith("WORKLOAD NAME") and "EXECUTION STATE" in header
    assert "AGENT" not in header and "EXIT CODE" not in header  # dropped: least important
    assert "NODE" in header and "RESTARTS" in header
    table = rows("\n".join(lines))
    assert table["kuksa-bridge"].split()[:3] == ["kuksa-bridge", "node2",
                                                 "Pending(WaitingToStart)"]
    assert table["camera-bridge"].endswith("…")  # ADDITIONAL INFO cut, not folded


def test_at_200_columns_every_column(fleet: dict[str, StaticNode], files: list[str]) -> None:
    _, out, _ = run_cli("get", "workloads", *files, nodes=fleet, tty=True, width=200)
    lines = terminal_lines(out)
    assert len(lines) == 5 and all(len(line) <= 200 for line in lines)
    assert lines[0].split() == ["WORKLOAD", "NAME", "AGENT", "NODE", "EXECUTION", "STATE",
                                "RESTARTS", "EXIT", "CODE", "UPTIME", "ADDITIONAL", "INFO"]
    assert "…" not in out
    assert ("waiting for carla-spawner to be running: it is Failed(ExecFailed) and "
            "restartPolicy ON_FAILURE restarts it") in rows("\n".join(lines))["kuksa-bridge"]


def test_wide_may_be_wider_than_the_terminal_but_never_folds(
        fleet: dict[str, StaticNode], files: list[str]) -> None:
    _, out, _ = run_cli("get", "workloads", *files, "-o", "wide", nodes=fleet, tty=True,
                        width=80)
    lines = terminal_lines(out)
    assert len(lines) == 5 and max(len(line) for line in lines) > 80
    assert "…" not in out
    assert lines[0].split()[-8:] == ["ADDITIONAL", "INFO", "CONTAINER", "IMAGE", "WAITING",
                                     "FOR", "CPU", "MEMORY"]
    assert "zenoh0router  localhost/ankplan-demo:latest" in rows("\n".join(lines))["zenoh-router"]


def test_narrow_terminal_keeps_name_and_state() -> None:
    natural, priorities = [13, 5, 5, 23, 8, 9, 6, 40], [0, 6, 1, 0, 2, 5, 3, 4]
    elastic = [False] * 7 + [True]
    assert fit_columns(natural, priorities, elastic, 40).indexes == (0, 3)
    assert fit_columns(natural, priorities, elastic, 200).widths == tuple(natural)
    at_80 = fit_columns(natural, priorities, elastic, 80)
    assert at_80.indexes == (0, 2, 3, 4, 6, 7) and at_80.total == 80
    assert at_80.widths[-1] == 80 - (13 + 5 + 23 + 8 + 6) - 5 * 2  # info takes what is left


def test_a_new_column_joins_by_its_priority() -> None:
    """How `get -o wide` gains a column: a Column with a priority; the narrow table drops the
    least important first (here the new one, priority 7)."""
    natural, elastic = [13, 23, 10], [False, False, False]
    assert fit_columns(natural, [0, 0, 7], elastic, 40).indexes == (0, 1)
    assert fit_columns(natural, [0, 0, 7], elastic, 50).indexes == (0, 1, 2)
    assert fit_columns(natural, [0, 0, 7], elastic, None).indexes == (0, 1, 2)


# --- manifests: positional, -f/--filename, stdin ----------------------------------------------


def test_manifest_by_filename_flag_and_stdin(fleet: dict[str, StaticNode],
                                             files: list[str]) -> None:
    manifest, *rest = files
    by_flag = run_cli("get", "workloads", "-f", manifest, *rest, "-o", "json", nodes=fleet)
    by_long = run_cli("get", "workloads", "--filename", manifest, *rest, "-o", "json",
                      nodes=fleet)
    from_stdin = run_cli("get", "workloads", "-", *rest, "-o", "json", nodes=fleet,
                         stdin=MANIFEST)
    names = [sorted(r["name"] for r in json.loads(result.out))
             for result in (by_flag, by_long, from_stdin)]
    assert names[0] == names[1] == names[2] == ["camera-bridge", "carla-spawner",
                                                "kuksa-bridge", "zenoh-router"]


def test_yaml_records_equal_the_json_ones(fleet: dict[str, StaticNode], files: list[str]) -> None:
    """Every record, typed states included, dumps as YAML too (safe_dump refuses str subclasses
    such as the State enums), and a state shown without a substate has subState ""."""
    _, as_json, _ = run_cli("get", "workloads", *files, "-o", "json", nodes=fleet)
    _, as_yaml, _ = run_cli("get", "workloads", *files, "-o", "yaml", nodes=fleet)
    records = json.loads(as_json)
    assert yaml.safe_load(as_yaml) == records
    camera = next(r for r in records if r["name"] == "camera-bridge")
    assert camera["executionState"]["state"] == "AgentDisconnected"
    assert camera["executionState"]["subState"] == ""
