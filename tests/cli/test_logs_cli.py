"""`ankplan logs` through `main(argv, env)`, with fake nodes in the Env (tests/cli/clirun.py).

The same command against real SSH nodes is in tests/integration/test_watch.py.
"""

# ruff: noqa: F401, F811 - the fixtures `fleet` and `files` come from clirun
from __future__ import annotations

import shlex

from clirun import LOG_TEXT, MANIFEST, StaticNode, files, fleet, run_cli


def test_logs_of_two_workloads_with_prefixes(fleet: dict[str, StaticNode],
                                            files: list[str]) -> None:
    status, out, err = run_cli("logs", "zenoh-router", "carla-spawner", *files, "--tail", "5",
                               nodes=fleet)
    assert status == 0, err
    assert "zenoh-router  | connecting\n" in out
    assert "carla-spawner | ERROR: Cannot connect to CARLA\n" in out
    sh = [argv for argv in fleet["node1"].calls if argv[0] == "sh"]
    assert sh[0][2].startswith("exec podman logs --tail 5 -- zenoh0router")
    assert sh[0][2].endswith(" 2>&1")


def test_logs_of_one_workload_has_no_prefix(fleet: dict[str, StaticNode],
                                           files: list[str]) -> None:
    _, out, _ = run_cli("logs", "zenoh-router", *files, nodes=fleet)
    assert out == "connecting\nERROR: Cannot connect to CARLA\n"


def test_logs_errors(fleet: dict[str, StaticNode], files: list[str]) -> None:
    status, _, err = run_cli("logs", "kuksa-bridge", *files, nodes=fleet)
    assert status == 1 and "workload 'kuksa-bridge' has no container on node2" in err
    status, _, err = run_cli("logs", "camera-bridge", *files, nodes=fleet)
    assert status == 1 and "node node3 (workload camera-bridge) could not be observed" in err
    status, _, err = run_cli("logs", *files, nodes=fleet)
    assert status == 1 and "no workload named" in err




def logs_argv(node: StaticNode) -> list[str]:
    """The podman words of the last `sh -c 'exec podman logs ... 2>&1'` sent to `node`."""
    script = [argv for argv in node.calls if argv[0] == "sh"][-1][2]
    return shlex.split(script.removeprefix("exec ").removesuffix(" 2>&1"))


def test_podman_style_options(fleet: dict[str, StaticNode], files: list[str]) -> None:
    """-n/--tail, -t/--timestamps, --since and -f/--follow mean what they mean in podman."""
    node = fleet["node1"]
    status, _, err = run_cli("logs", "zenoh-router", *files, "-n", "3", "-t", "--since", "10m",
                             nodes=fleet)
    assert status == 0, err
    assert logs_argv(node) == ["podman", "logs", "--timestamps", "--tail", "3", "--since",
                               "10m", "--", "zenoh0router" + "f" * 52]
    run_cli("logs", "zenoh-router", *files, "--tail", "0", "--timestamps", nodes=fleet)
    assert logs_argv(node)[2:5] == ["--timestamps", "--tail", "0"]
    status, out, _ = run_cli("logs", "zenoh-router", *files, "-f", nodes=fleet)
    assert status == 0 and out == LOG_TEXT  # streamed until the container's log ended
    assert logs_argv(node)[2] == "--follow"
    status, _, err = run_cli("logs", "zenoh-router", *files, "-n", "-1", nodes=fleet)
    assert status == 1 and "argument -n/--tail: must not be negative" in err


def test_manifest_by_filename_since_f_is_follow(fleet: dict[str, StaticNode],
                                                files: list[str]) -> None:
    manifest, *rest = files
    status, out, _ = run_cli("logs", "zenoh-router", "--filename", manifest, *rest, nodes=fleet)
    assert status == 0 and out == LOG_TEXT
    status, out, _ = run_cli("logs", "zenoh-router", "-", *rest, nodes=fleet, stdin=MANIFEST)
    assert status == 0 and out == LOG_TEXT
    status, out, _ = run_cli("logs", "zenoh-router", "-f", manifest, *rest, nodes=fleet)
    assert status == 0 and out == LOG_TEXT  # -f is --follow; the manifest stays positional
    assert logs_argv(fleet["node1"])[2] == "--follow"
