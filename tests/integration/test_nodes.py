"""Observing real test-bed nodes over real SSH: one connection and one podman call per node,
node isolation, quoting of hostile arguments, foreign containers, and `ankplan nodes`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ankplan.cli import main as cli_main
from ankplan.cli.env import Env
from ankplan.errors import RemoteCommandError
from ankplan.executors.observe import observe_nodes
from ankplan.executors.transport import (
    CommandResult,
    StreamHandle,
    TransportPool,
    check_result,
    connect,
)
from ankplan.inventories.load import load_inventory
from ankplan.model import Connection, Node, PodmanConfig, Workload
from ankplan.podman import execution_state, run_argv

pytestmark = pytest.mark.integration

IMAGE = "localhost/ankplan-demo:latest"
SLEEPER = ("sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait")


class CountingTransport:
    """Wraps a real transport and records every argv it runs."""

    def __init__(self, inner: Any, calls: list[tuple[str, ...]]) -> None:
        self.inner = inner
        self.node = inner.node
        self.calls = calls

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        self.calls.append(tuple(argv))
        return self.inner.run(argv, timeout=timeout, stdin=stdin)

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> StreamHandle:
        return self.inner.open_stream(argv, timeout=timeout)

    def close(self) -> None:
        self.inner.close()


class CountingConnector:
    """A real `connect` that counts connections and commands per node."""

    def __init__(self) -> None:
        self.connects: Counter[str] = Counter()
        self.calls: dict[str, list[tuple[str, ...]]] = defaultdict(list)

    def __call__(self, node: Node, *, accept_new_host_keys: bool) -> CountingTransport:
        self.connects[node.name] += 1
        transport = connect(node, accept_new_host_keys=accept_new_host_keys)
        return CountingTransport(transport, self.calls[node.name])


def bed_nodes(testbed: Any, tmp_path: Path) -> tuple[Node, ...]:
    path = testbed.write_inventory(tmp_path / "inventory.yaml",
                                   {n.name: n.name for n in testbed.nodes})
    return load_inventory(str(path), ssh_config="").nodes


def podman_ok(testbed: Any, node_name: str, *args: str) -> str:
    proc = testbed.podman(node_name, *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_observe_three_nodes_one_connection_and_one_call_each(clean_nodes: Any,
                                                             tmp_path: Path) -> None:
    project = f"it-{uuid.uuid4().hex[:8]}"
    for index, node in enumerate(clean_nodes.nodes, start=1):
        for number in range(index):  # node1: 1 container, node2: 2, node3: 3
            podman_ok(clean_nodes, node.name, "run", "-d", "--name", f"w{number}",
                      "--label", f"ankplan.project={project}",
                      "--label", f"ankplan.workload=w{number}",
                      "--label", "ankplan.restart-count=4", IMAGE, *SLEEPER)
    podman_ok(clean_nodes, "node3", "run", "--name", "done", IMAGE, "true")
    connector = CountingConnector()
    with TransportPool(connector=connector) as pool:
        live = observe_nodes(pool, bed_nodes(clean_nodes, tmp_path))
    assert dict(connector.connects) == {"node1": 1, "node2": 1, "node3": 1}
    for node_name, calls in connector.calls.items():
        assert calls == [("podman", "ps", "--all", "--format", "json")], node_name
    counts = {o.node_name: len(o.containers) for o in live.nodes}
    assert counts == {"node1": 1, "node2": 2, "node3": 4}  # each node sees only its own
    node3 = live.node("node3")
    assert node3 is not None
    by_name = {c.name: c for c in node3.containers}
    assert str(execution_state(by_name["w2"])) == "Running(Ok)"
    assert str(execution_state(by_name["done"])) == "Succeeded(Ok)"
    assert by_name["w2"].project == project and by_name["w2"].restart_count == 4
    assert by_name["w2"].started_at > 0
    assert not by_name["done"].owned
    assert len(live.owned_containers(project)) == 6


def test_hostile_arguments_are_not_run_by_the_remote_shell(clean_nodes: Any,
                                                          tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:8]
    markers = [f"/tmp/pwned-{token}-{i}" for i in range(4)]
    hostile = [f"$(touch {markers[0]})", ";", "touch", markers[1], f"`touch {markers[2]}`",
               f"&& touch {markers[3]}", "'", '"', "\\", "*"]
    node = bed_nodes(clean_nodes, tmp_path)[0]
    with TransportPool() as pool:
        transport = pool.get(node)
        echoed = transport.run(["echo", *hostile], timeout=10)
        assert echoed.exit_code == 0
        assert echoed.stdout == " ".join(hostile) + "\n"
        workload = Workload(name=f"hostile-{token}", agent="node1", runtime="podman",
                            runtime_config_text="",
                            runtime_config=PodmanConfig(image=IMAGE, command_args=("echo",
                                                                                   *hostile)))
        created = transport.run(run_argv(node, workload, {"note": f"$(touch {markers[0]})"}),
                                timeout=60)
        assert created.exit_code == 0, created.stderr
        bad_name = Workload(name=f"x;touch {markers[1]}", agent="node1", runtime="podman",
                            runtime_config_text="", runtime_config=PodmanConfig(image=IMAGE))
        rejected = transport.run(run_argv(node, bad_name, {}), timeout=60)
        assert rejected.exit_code != 0
    logs = podman_ok(clean_nodes, "node1", "logs", f"hostile-{token}")
    assert logs == " ".join(hostile)
    label = podman_ok(clean_nodes, "node1", "inspect", "--format",
                      "{{index .Config.Labels \"note\"}}", f"hostile-{token}")
    assert label == f"$(touch {markers[0]})"
    for marker in markers:
        assert clean_nodes.ssh("node1", ["test", "-e", marker]).returncode == 1, marker
        assert not Path(marker).exists()


def test_foreign_container_with_a_taken_name_is_reported_and_untouched(clean_nodes: Any,
                                                                       tmp_path: Path) -> None:
    foreign_id = podman_ok(clean_nodes, "node2", "run", "-d", "--name", "web", IMAGE, *SLEEPER)
    with TransportPool() as pool:
        live = observe_nodes(pool, bed_nodes(clean_nodes, tmp_path))
    node2 = live.node("node2")
    assert node2 is not None and node2.reachable
    (web,) = [c for c in node2.containers if c.name == "web"]
    assert web.id == foreign_id
    assert not web.owned and web.project == "" and web.workload_name == ""
    assert web.state == "running"
    assert podman_ok(clean_nodes, "node2", "inspect", "--format", "{{.Id}} {{.State.Status}}",
                     "web") == f"{foreign_id} running"


def run_cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("nodes",))
    stdout, stderr = io.StringIO(), io.StringIO()
    status = cli_main.main(list(argv), Env(stdout=stdout, stderr=stderr, environ={}))
    return status, stdout.getvalue(), stderr.getvalue()


def test_nodes_command_reports_every_node(clean_nodes: Any, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    podman_ok(clean_nodes, "node1", "run", "-d", "--name", "a", "--label", "ankplan.project=p1",
              IMAGE, *SLEEPER)
    podman_ok(clean_nodes, "node1", "create", "--name", "b", "--label", "ankplan.project=p2",
              IMAGE, "true")
    podman_ok(clean_nodes, "node1", "create", "--name", "c", IMAGE, "true")
    inventory = clean_nodes.write_inventory(tmp_path / "inv.yaml", {})
    status, stdout, stderr = run_cli(monkeypatch, "nodes", "-i", str(inventory), "-o", "json",
                                     "--ssh-config", "")
    assert (status, stderr) == (0, "")
    report = {node["name"]: node for node in json.loads(stdout)["nodes"]}
    assert sorted(report) == ["node1", "node2", "node3"]
    node1 = report["node1"]
    assert node1["ok"] and node1["reachable"]
    assert node1["host_key_status"] == "known"
    assert node1["host_key"].startswith("ssh-ed25519 SHA256:")
    assert (node1["podman_version"], node1["oci_runtime"], node1["rootless"]) == ("4.3.1",
                                                                                "runc", False)
    assert (node1["owned_containers"], node1["containers"]) == (2, 3)
    assert report["node2"]["owned_containers"] == 0
    status, stdout, _ = run_cli(monkeypatch, "nodes", "-i", str(inventory), "--project", "p1",
                                "--ssh-config", "")
    assert status == 0
    (row,) = [line for line in stdout.splitlines() if line.startswith("node1 ")]
    assert row.split()[-4:] == ["4.3.1", "runc", "rootful", "1"]
    assert stdout.rstrip().endswith("3 nodes: 3 ok, 0 failed.")


def test_failed_podman_command_is_a_remote_command_error(testbed: Any, tmp_path: Path) -> None:
    node = bed_nodes(testbed, tmp_path)[0]
    argv = ["podman", "inspect", "no-such-container"]
    with TransportPool() as pool:
        result = pool.get(node).run(argv, timeout=30)
    assert result.exit_code == 125 and "no such object" in result.stderr
    with pytest.raises(RemoteCommandError, match="node node1: podman failed: Error: "):
        check_result(node, argv, result)


def test_stream_lives_as_long_as_its_channel(testbed: Any, tmp_path: Path) -> None:
    """The apply lock's building block: `flock -n F -c 'echo locked; cat'` over a channel."""
    node = bed_nodes(testbed, tmp_path)[0]
    lock_file = f"/tmp/ankplan-it-lock-{uuid.uuid4().hex[:8]}"
    holder = ["flock", "-n", lock_file, "-c", "echo locked; cat"]
    try:
        with TransportPool() as pool:
            transport = pool.get(node)
            with transport.open_stream(holder, timeout=10) as stream:
                assert stream.readline(timeout=10) == "locked\n"
                assert stream.exit_code() is None
                assert transport.run(["flock", "-n", lock_file, "true"], timeout=10).exit_code == 1
            deadline = time.monotonic() + 5
            while transport.run(["flock", "-n", lock_file, "true"], timeout=10).exit_code != 0:
                assert time.monotonic() < deadline, "lock still held after the stream closed"
                time.sleep(0.1)
    finally:
        testbed.ssh("node1", ["rm", "-f", lock_file])


def test_ssh_config_supplies_host_user_key_and_known_hosts(testbed: Any, tmp_path: Path) -> None:
    inventory_path = tmp_path / "inventory.yaml"
    inventory_path.write_text("defaults: {connection: ssh}\n"
                              "nodes: {node1: {}, node3: {}}\n")
    inventory = load_inventory(str(inventory_path), ssh_config=str(testbed.dir / "ssh_config"))
    node1 = inventory.node("node1")
    assert node1 is not None
    assert (node1.host, node1.user) == (testbed.node("node1").host, "root")
    assert node1.known_hosts_file == str(testbed.known_hosts)
    with TransportPool() as pool:
        live = observe_nodes(pool, inventory.nodes)
    assert [o.error for o in live.nodes] == [None, None]


def test_ssh_agent_keys_are_used(testbed: Any, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not socket_path.exists():
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.05)
        environ = {**os.environ, "SSH_AUTH_SOCK": str(socket_path)}
        subprocess.run(["ssh-add", "-q", str(testbed.key)], env=environ, check=True,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/id_* to fall back on
        bed_node = testbed.node("node1")
        node = Node(name="node1", connection=Connection.SSH, host=bed_node.host,
                    port=bed_node.port, user="root", known_hosts_file=str(testbed.known_hosts))
        with TransportPool() as pool:
            (observation,) = observe_nodes(pool, [node]).nodes
        assert observation.error is None
        subprocess.run(["ssh-add", "-D"], env=environ, check=True, capture_output=True)
        with TransportPool() as pool:
            (observation,) = observe_nodes(pool, [node]).nodes
        assert observation.error == (f"authentication failed for user root on "
                                     f"{bed_node.host}:{bed_node.port}: no key to offer")
        assert "ssh-add" in observation.hint
    finally:
        agent.terminate()
        agent.wait(timeout=5)
