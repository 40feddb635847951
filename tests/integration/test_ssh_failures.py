"""Every SSH/podman failure on a real test-bed node is one clear line naming the node, with a
hint, and never hides the other nodes' results (`ankplan nodes` and observe_nodes)."""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ankplan.cli import main as cli_main
from ankplan.cli.env import Env
from ankplan.errors import ConnectError
from ankplan.executors.observe import observe_nodes
from ankplan.executors.transport import TransportPool
from ankplan.inventories.load import load_inventory

pytestmark = pytest.mark.integration

BROKEN = "node2"


def write_inventory(testbed: Any, path: Path, **broken: Any) -> Path:
    """Inventory of the bed with `broken` settings applied to node2 only."""
    nodes = {n.name: {"host": n.host, "port": n.port} for n in testbed.nodes}
    nodes[BROKEN].update(broken)
    data = {"defaults": {"connection": "ssh", "user": "root", "identity_file": str(testbed.key),
                         "known_hosts_file": str(testbed.known_hosts), "connect_timeout": 5},
            "nodes": nodes}
    path.write_text(yaml.safe_dump(data))
    return path


def run_nodes(monkeypatch: pytest.MonkeyPatch, inventory: Path,
              *extra: str) -> tuple[int, str, list[str]]:
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("nodes",))
    stdout, stderr = io.StringIO(), io.StringIO()
    status = cli_main.main(["nodes", "-i", str(inventory), "--ssh-config", "", "-o", "json",
                            *extra], Env(stdout=stdout, stderr=stderr, environ={}))
    return status, stdout.getvalue(), stderr.getvalue().splitlines()


def assert_only_node2_fails(monkeypatch: pytest.MonkeyPatch, inventory: Path, reason: str,
                            hint: str, *extra: str) -> dict[str, Any]:
    status, stdout, stderr = run_nodes(monkeypatch, inventory, *extra)
    assert status == 1
    assert len(stderr) == 2, stderr  # one error line and one hint line
    assert stderr[0].startswith(f"ankplan: error: node {BROKEN}: "), stderr
    assert reason in stderr[0], stderr
    assert stderr[1].startswith("  hint: ") and hint in stderr[1], stderr
    report = {node["name"]: node for node in json.loads(stdout)["nodes"]}
    assert [name for name, node in sorted(report.items()) if node["ok"]] == ["node1", "node3"]
    assert report["node1"]["podman_version"] == "4.3.1"
    assert reason in report[BROKEN]["error"]
    return report


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True,
                   capture_output=True)
    return path


def node2_host(testbed: Any) -> str:
    return testbed.node(BROKEN).host


def known_hosts_without_node2(testbed: Any, path: Path) -> Path:
    lines = testbed.known_hosts.read_text().splitlines()
    kept = [line for line in lines if node2_host(testbed) not in line.split()[0].split(",")]
    assert len(kept) == len(lines) - 1
    path.write_text("\n".join(kept) + "\n")
    return path


def test_changed_host_key_refused_even_with_accept_new(testbed: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    impostor = keygen(tmp_path / "impostor")
    known_hosts = known_hosts_without_node2(testbed, tmp_path / "known_hosts")
    key_type, key = Path(f"{impostor}.pub").read_text().split()[:2]
    with known_hosts.open("a") as file:
        file.write(f"{BROKEN},{node2_host(testbed)} {key_type} {key}\n")
    inventory = write_inventory(testbed, tmp_path / "inv.yaml", known_hosts_file=str(known_hosts))
    for extra in ((), ("--accept-new-host-keys",)):
        assert_only_node2_fails(monkeypatch, inventory, "has CHANGED",
                                f"ssh-keygen -R {node2_host(testbed)} -f {known_hosts}", *extra)
    assert key in known_hosts.read_text()  # never overwritten


def test_unknown_host_key_refused_then_learned(testbed: Any, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    known_hosts = known_hosts_without_node2(testbed, tmp_path / "known_hosts")
    inventory = write_inventory(testbed, tmp_path / "inv.yaml", known_hosts_file=str(known_hosts))
    assert_only_node2_fails(monkeypatch, inventory, "is not known (ssh-ed25519 SHA256:",
                            "--accept-new-host-keys")
    status, stdout, _ = run_nodes(monkeypatch, inventory, "--accept-new-host-keys")
    assert status == 0
    report = {node["name"]: node for node in json.loads(stdout)["nodes"]}
    assert report[BROKEN]["host_key_status"] == "learned"
    assert report["node1"]["host_key_status"] == "known"
    assert node2_host(testbed) in known_hosts.read_text()
    status, stdout, _ = run_nodes(monkeypatch, inventory)  # strict again: now known
    assert status == 0
    assert json.loads(stdout)["nodes"][1]["host_key_status"] == "known"


def test_missing_known_hosts_file(testbed: Any, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no" / "known_hosts"
    inventory = write_inventory(testbed, tmp_path / "inv.yaml", known_hosts_file=str(missing))
    assert_only_node2_fails(monkeypatch, inventory, f"known_hosts file {missing} not found",
                            "ssh-keyscan -p 22")
    assert not missing.exists()


def test_refused_port(testbed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = write_inventory(testbed, tmp_path / "inv.yaml", port=2)
    assert_only_node2_fails(monkeypatch, inventory,
                            f"connection refused by {node2_host(testbed)}:2", "sshd running")


def test_bad_user_key(testbed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stranger = keygen(tmp_path / "stranger")
    inventory = write_inventory(testbed, tmp_path / "inv.yaml", identity_file=str(stranger))
    assert_only_node2_fails(monkeypatch, inventory, "authentication failed for user root",
                            "authorized_keys")


def test_key_readable_by_others_refused(testbed: Any, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "id_copy"
    key.write_bytes(testbed.key.read_bytes())
    key.chmod(0o640)
    inventory = write_inventory(testbed, tmp_path / "inv.yaml", identity_file=str(key))
    assert_only_node2_fails(monkeypatch, inventory, "accessible by others (mode 0640)",
                            f"chmod 600 {key}")


def test_podman_missing(testbed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = write_inventory(testbed, tmp_path / "inv.yaml", podman=["podman-nope"])
    report = assert_only_node2_fails(
        monkeypatch, inventory, "podman not installed (or wrong podman command 'podman-nope')",
        "set `podman:`")
    assert report[BROKEN]["reachable"] is True


def test_observe_keeps_other_nodes_when_one_fails(testbed: Any, tmp_path: Path) -> None:
    inventory = load_inventory(str(write_inventory(testbed, tmp_path / "inv.yaml", port=2)),
                               ssh_config="")
    with TransportPool() as pool:
        live = observe_nodes(pool, inventory.nodes)
        with pytest.raises(ConnectError) as caught:  # the failure is remembered, not retried
            pool.get(inventory.node(BROKEN))
    assert caught.value.summary == (f"node {BROKEN}: connection refused by "
                                    f"{node2_host(testbed)}:2")
    assert [o.node_name for o in live.nodes if o.reachable] == ["node1", "node3"]
    assert live.node(BROKEN).error == f"connection refused by {node2_host(testbed)}:2"


def test_command_timeout_kills_only_that_command(testbed: Any, tmp_path: Path) -> None:
    inventory = load_inventory(str(write_inventory(testbed, tmp_path / "inv.yaml")),
                               ssh_config="")
    with TransportPool() as pool:
        transport = pool.get(inventory.node("node1"))
        started = time.monotonic()
        with pytest.raises(ConnectError, match="node node1: command timed out after 0.5 s"):
            transport.run(["sleep", "30"], timeout=0.5)
        assert time.monotonic() - started < 3
        assert transport.run(["echo", "still here"], timeout=10).stdout == "still here\n"
