"""`ankplan apply`, `delete` and `destroy` through `main(argv, env)` against fake nodes.

Nodes a and b are tests/fakepodman.py simulations handed out by the Env's connector: apply
really runs podman run/stop/rm on them (simulated), takes their apply locks, and the tests read
back what the nodes hold. The same commands against real SSH nodes are in
tests/integration/test_apply_testbed.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import run_cli
from fakepodman import FakeNode

from ankplan.model import Node

MANIFEST = """\
apiVersion: v1
workloads:
  router:
    runtime: podman
    agent: agent_a
    runtimeConfig: |
      image: localhost/img:1
      commandArgs: [serve]
  client:
    runtime: podman
    agent: agent_b
    dependencies: {router: ADD_COND_RUNNING}
    runtimeConfig: |
      image: localhost/img:1
      commandArgs: [serve]
"""
INVENTORY = """\
nodes:
  a: {connection: local}
  b: {connection: local}
agents: {agent_a: a, agent_b: b}
"""


@pytest.fixture
def nodes() -> dict[str, FakeNode]:
    return {name: FakeNode(Node(name=name)) for name in ("a", "b")}


@pytest.fixture
def args(tmp_path: Path) -> list[str]:
    """The manifest, -i INVENTORY and --project of these tests."""
    (tmp_path / "manifest.yaml").write_text(MANIFEST)
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    return [str(tmp_path / "manifest.yaml"), "-i", str(tmp_path / "inventory.yaml"),
            "--project", "demo"]


def names_on(node: FakeNode) -> list[str]:
    return sorted(container.name for container in node.containers.values())


def test_apply_creates_in_order_and_reports(nodes: dict[str, FakeNode], args: list[str]) -> None:
    status, out, err = run_cli("apply", *args, "--yes", nodes=nodes)
    assert status == 0, err
    assert (names_on(nodes["a"]), names_on(nodes["b"])) == (["router"], ["client"])
    assert nodes["b"].first_call("run", "client") > nodes["a"].first_call("run", "router")
    assert nodes["a"].locks_taken == nodes["b"].locks_taken == 1
    # stdout: the plan and the summary; stderr: the progress lines.
    assert out.startswith("ankplan will perform the following actions:")
    assert "Plan: 2 to create, 0 to replace, 0 to start, 0 to remove." in out
    assert out.endswith("Apply complete: 2 done.\n")
    assert "a/router: Running(Ok) (done)" in err and "Running(Ok)" not in out.split("Plan:")[0]
    labels = next(iter(nodes["a"].containers.values())).labels
    assert labels["ankplan.project"] == "demo" and labels["ankplan.workload"] == "router"
    status, out, _ = run_cli("apply", *args, "--yes", nodes=nodes)
    assert status == 0 and out.endswith("hidden)\nNo changes. Your workloads match the manifest.\n")
    assert nodes["a"].count("run") == 1  # nothing ran again


def test_apply_asks_and_refuses_without_a_terminal(nodes: dict[str, FakeNode],
                                                   args: list[str]) -> None:
    status, out, err = run_cli("apply", *args, nodes=nodes)
    assert status == 1
    assert "ankplan: error: apply needs confirmation, but stdin is not a terminal" in err
    assert "hint: pass --yes" in err and "Plan: 2 to create" in out
    assert not nodes["a"].containers and not nodes["b"].containers
    status, _, err = run_cli("apply", *args, nodes=nodes, tty=True, stdin="no\n")
    assert status == 1 and err.endswith("Apply cancelled.\n")
    assert "Only 'yes' will be accepted" in err and not nodes["a"].containers
    status, _, _ = run_cli("apply", *args, nodes=nodes, tty=True, stdin="yes\n")
    assert status == 0 and names_on(nodes["a"]) == ["router"]


def test_apply_output_json_is_ndjson(nodes: dict[str, FakeNode], args: list[str]) -> None:
    status, out, err = run_cli("apply", *args, "--yes", "-o", "json", nodes=nodes)
    assert status == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0]["type"] == "plan" and records[0]["plan"]["summary"]["create"] == 2
    assert {r["type"] for r in records[1:-1]} == {"event"}
    assert records[-1]["type"] == "summary" and records[-1]["converged"] is True
    assert err == ""  # no progress lines mixed into anything


def test_apply_a_saved_plan_and_refuse_it_when_stale(nodes: dict[str, FakeNode],
                                                     args: list[str], tmp_path: Path) -> None:
    planfile = str(tmp_path / "tfplan")
    assert run_cli("plan", *args, f"-out={planfile}", nodes=nodes).status == 0
    status, out, err = run_cli("apply", planfile, "--yes", nodes=nodes)
    assert status == 0, err
    assert names_on(nodes["b"]) == ["client"] and out.endswith("Apply complete: 2 done.\n")
    assert run_cli("plan", *args, "--out", planfile, nodes=nodes).status == 0  # no changes
    nodes["b"].containers.clear()  # someone removed the client by hand
    status, out, err = run_cli("apply", planfile, "--yes", nodes=nodes)
    assert status == 1 and out == ""
    assert "ankplan: error: the saved plan is stale: the nodes changed since it was made" in err
    assert "hint: make and review a new plan: ankplan plan --out FILE" in err


def test_apply_reads_the_manifest_from_stdin(nodes: dict[str, FakeNode],
                                             args: list[str]) -> None:
    _, *rest = args
    status, _, err = run_cli("apply", "-", *rest, "--yes", nodes=nodes, stdin=MANIFEST)
    assert status == 0, err
    assert names_on(nodes["a"]) == ["router"]


def test_apply_of_an_unreachable_node_changes_nothing(nodes: dict[str, FakeNode],
                                                      args: list[str]) -> None:
    del nodes["b"]
    status, out, err = run_cli("apply", *args, "--yes", nodes=nodes)
    assert status == 1
    assert "ankplan: error: node b: connection refused" in err
    assert not nodes["a"].containers and "Plan:" not in out


# --- delete and destroy ---------------------------------------------------------------------


@pytest.fixture
def applied(nodes: dict[str, FakeNode], args: list[str]) -> dict[str, FakeNode]:
    assert run_cli("apply", *args, "--yes", nodes=nodes).status == 0
    return nodes


@pytest.mark.parametrize("where", ["positional", "-f", "--filename"])
def test_delete_names_the_manifest_any_way(applied: dict[str, FakeNode], args: list[str],
                                           where: str) -> None:
    manifest, *rest = args
    words = [manifest] if where == "positional" else [where, manifest]
    status, out, err = run_cli("delete", "client", *words, *rest, "--yes", nodes=applied)
    assert status == 0, err
    assert names_on(applied["b"]) == [] and names_on(applied["a"]) == ["router"]
    assert "b/client will be removed" in out and out.endswith("Delete complete: 1 done.\n")


def test_delete_warns_about_dependents_and_removes_them_first(
        applied: dict[str, FakeNode], args: list[str]) -> None:
    status, _, err = run_cli("delete", "router", *args, "--yes", nodes=applied)
    assert status == 0
    assert ("ankplan: warning: client depends on router (ADD_COND_RUNNING) and is not "
            "deleted") in err
    assert names_on(applied["a"]) == []


def test_delete_without_a_manifest_needs_project(applied: dict[str, FakeNode],
                                                 args: list[str]) -> None:
    _, *rest = args  # -i INVENTORY --project demo
    status, _, err = run_cli("delete", "client", *rest, "--yes", nodes=applied)
    assert status == 0, err
    assert names_on(applied["b"]) == []
    status, _, err = run_cli("delete", "client", "-i", rest[1], nodes=applied)
    assert status == 1 and "no manifest file given" in err
    status, _, err = run_cli("delete", *args, nodes=applied)
    assert status == 1 and "no workload named" in err


def test_destroy_removes_everything_of_the_project(applied: dict[str, FakeNode],
                                                   args: list[str]) -> None:
    status, out, err = run_cli("destroy", *args, "--yes", "-o", "json", nodes=applied)
    assert status == 0, err
    assert not applied["a"].containers and not applied["b"].containers
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0]["plan"]["summary"]["remove"] == 2
    removed = [r["workload"] for r in records[-1]["results"]]
    assert removed == ["client", "router"]  # the dependent first


def test_debug_names_how_apply_observes_each_node(nodes: dict[str, FakeNode],
                                                  args: list[str]) -> None:
    status, _, err = run_cli("--debug", "apply", *args, "--yes", nodes=nodes)
    assert status == 0, err
    lines = [line for line in err.splitlines() if line.startswith("ankplan: debug: observe")]
    assert [line.split(": ")[2] for line in lines] == ["observe a", "observe b"], err
    assert all(": polling (apply judges a started step by its own podman command's answer"
               in line for line in lines)
    assert "debug:" not in run_cli("destroy", *args[1:], "--yes", nodes=nodes)[2]
