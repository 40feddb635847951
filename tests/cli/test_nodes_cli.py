"""`ankplan nodes` through `main(argv, env)`: fake node a answers, node b is unreachable.

The same command against real SSH nodes (host keys, sudo, rootless) is in
tests/integration/test_nodes.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import run_cli
from fakepodman import FakeNode

from ankplan.model import Node

INVENTORY = """\
nodes:
  a: {connection: local}
  b: {connection: local}
"""


@pytest.fixture
def inventory(tmp_path: Path) -> str:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)
    return str(path)


def test_report_on_stdout_failures_on_stderr(inventory: str) -> None:
    nodes = {"a": FakeNode(Node(name="a"))}
    status, out, err = run_cli("nodes", "-i", inventory, nodes=nodes)
    assert status == 1
    lines = out.splitlines()
    assert lines[0].split() == ["NODE", "ADDRESS", "STATUS", "EVENTS", "HOST", "KEY", "PODMAN",
                                "RUNTIME", "MODE", "OWNED"]
    assert lines[1].split()[:2] == ["a", "local"] and "4.3.1" in lines[1]
    assert lines[2].split()[:3] == ["b", "local", "failed"]
    assert lines[-1] == "2 nodes: 1 ok, 1 failed."
    assert err == ("ankplan: error: node b: connection refused\n"
                   "  hint: is sshd running there?\n")


def test_output_json(inventory: str) -> None:
    nodes = {"a": FakeNode(Node(name="a")), "b": FakeNode(Node(name="b"))}
    status, out, err = run_cli("nodes", "-i", inventory, "-o", "json", nodes=nodes)
    assert status == 0 and err == ""
    document = json.loads(out)
    assert [(n["name"], n["ok"], n["oci_runtime"]) for n in document["nodes"]] == [
        ("a", True, "runc"), ("b", True, "runc")]


def test_inventory_from_the_environment(inventory: str) -> None:
    nodes = {"a": FakeNode(Node(name="a")), "b": FakeNode(Node(name="b"))}
    status, out, _ = run_cli("nodes", "-o", "json", nodes=nodes,
                             environ={"ANKPLAN_INVENTORY": inventory})
    assert status == 0 and json.loads(out)["inventory"] == inventory
