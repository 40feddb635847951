"""`runtime: podman-kube` on the real test bed: `podman kube play` from stdin over SSH, pods found
by the labels ankplan writes into the kube YAML, `get`, `logs`, replace on a manifest change,
removal, `destroy`, several pods in one manifest (and `ankplan restart` of them), a failed play
cleaned up, and `watch` restarting a failed pod by its restartPolicy.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli

from ankplan.executors.ssh import SshTransport
from ankplan.model import Connection, Node

pytestmark = pytest.mark.integration

IMAGE = "localhost/ankplan-demo:latest"
AGENTS = {"a1": "node1", "a2": "node2", "a3": "node3"}
SERVE = "trap 'exit 0' TERM; echo \"$GREETING from $HOSTNAME\"; while true; do sleep 1; done"


def kube_pod(name: str, greeting: str, *, script: str = SERVE, policy: str = "Never") -> str:
    """A two-document kube manifest: a ConfigMap and a Pod reading it through envFrom."""
    return yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-config"},
         "data": {"GREETING": greeting}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
         "spec": {"restartPolicy": policy, "containers": [
             {"name": "main", "image": IMAGE, "command": ["sh", "-c", script],
              "envFrom": [{"configMapRef": {"name": f"{name}-config"}}]}]}},
    ], sort_keys=False)


def kube_workload(agent: str, manifest: str, *, policy: str = "NEVER",
                  play_options: tuple[str, ...] = ()) -> dict[str, Any]:
    config: dict[str, Any] = {"manifest": manifest, "downOptions": ["--force"]}
    if play_options:
        config["playOptions"] = list(play_options)
    return {"runtime": "podman-kube", "agent": agent, "restartPolicy": policy,
            "runtimeConfig": yaml.safe_dump(config, sort_keys=False)}


class Project:
    """One test's manifest, inventory and project name; podman over SSH on the nodes."""

    def __init__(self, testbed: Any, tmp_path: Path, workloads: dict[str, Any]) -> None:
        self.testbed = testbed
        self.name = f"kt-{uuid.uuid4().hex[:10]}"
        self.manifest = tmp_path / "manifest.yaml"
        self.inventory = testbed.write_inventory(tmp_path / "inventory.yaml", AGENTS)
        self.write(workloads)

    def write(self, workloads: dict[str, Any]) -> None:
        self.manifest.write_text(yaml.safe_dump({"apiVersion": "v1", "workloads": workloads}))

    def cli(self, command: str, *extra: str) -> tuple[int, str, str]:
        return run_cli(command, str(self.manifest), "-i", str(self.inventory), "--project",
                       self.name, *extra)

    def apply(self) -> str:
        status, out, err = self.cli("apply", "--yes")
        assert status == 0, out + err
        return out

    def pods(self, node: str) -> list[dict[str, Any]]:
        """This project's pods on `node` (`podman pod ps`, filtered by ankplan's label)."""
        proc = self.testbed.podman(node, "pod", "ps", "--format", "json", "--filter",
                                   f"label=ankplan.project={self.name}")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout or "[]")

    def started_at(self, node: str) -> dict[str, tuple[str, str]]:
        """When each of this project's containers on `node` last started (RFC 3339, ns)."""
        proc = self.testbed.podman(node, "ps", "-aq", "--filter",
                                   f"label=ankplan.project={self.name}")
        assert proc.returncode == 0, proc.stderr
        inspect = self.testbed.podman(node, "inspect", *proc.stdout.split())
        assert inspect.returncode == 0, inspect.stderr
        return {c["Name"]: _instant(c["State"]["StartedAt"]) for c in json.loads(inspect.stdout)}

    def status(self, workload_name: str) -> dict[str, Any]:
        status, out, err = run_cli("get", "workload", workload_name, str(self.manifest), "-i",
                                   str(self.inventory), "--project", self.name, "-o", "json")
        assert status == 0, out + err
        record: dict[str, Any] = json.loads(out)
        return record

    def logs(self, *names: str) -> str:
        status, out, err = run_cli("logs", *names, str(self.manifest), "-i",
                                   str(self.inventory), "--project", self.name)
        assert status == 0, out + err
        return out


def _instant(stamp: str) -> tuple[str, str]:
    """A podman time such as 2026-11-27T05:51:02.5426Z as a comparable pair: Go drops the
    fraction's trailing zeros, so it is padded back to nanoseconds."""
    seconds, _, fraction = stamp.rstrip("Z").partition(".")
    return seconds, fraction.ljust(9, "0")


def node_is_empty(testbed: Any, node: str) -> None:
    """No pod and no container at all on the node (infra containers included)."""
    pods = testbed.podman(node, "pod", "ps", "-q")
    containers = testbed.podman(node, "ps", "-aq")
    assert (pods.stdout.strip(), containers.stdout.strip()) == ("", "")


def test_kube_workload_applied_shown_replaced_removed_and_destroyed(
        clean_nodes: Any, tmp_path: Path) -> None:
    project = Project(clean_nodes, tmp_path, {
        "web": kube_workload("a1", kube_pod("web", "hello v1"))})
    plan_status, plan_out, _ = project.cli("plan")
    assert plan_status == 0 and "+ node1/web will be created" in plan_out
    project.apply()
    (pod,) = project.pods("node1")
    assert pod["Name"] == "web" and pod["Status"] == "Running"
    assert pod["Labels"]["ankplan.workload"] == "web"
    assert pod["Labels"]["ankplan.spec-hash"].startswith("v1:")
    record = project.status("web")
    assert record["executionState"] == {"state": "Running", "subState": "Ok",
                                        "additionalInfo": ""}
    assert record["container"]["pods"] == ["web"]
    assert "hello v1 from web" in project.logs("web")  # the ConfigMap reached the container
    assert project.cli("plan", "--detailed-exitcode")[0] == 0  # converged

    project.write({"web": kube_workload("a1", kube_pod("web", "hello v2"))})
    _, plan_out, _ = project.cli("plan")
    assert "-/+ node1/web must be replaced" in plan_out and "manifest changed" in plan_out
    project.apply()
    (new_pod,) = project.pods("node1")
    assert new_pod["Id"] != pod["Id"]
    assert "hello v2" in project.logs("web") and "hello v1" not in project.logs("web")

    project.write({"other": kube_workload("a2", kube_pod("other", "hi"))})
    _, plan_out, _ = project.cli("plan")
    assert "- node1/web will be removed" in plan_out and "+ node2/other" in plan_out
    project.apply()
    assert project.pods("node1") == [] and len(project.pods("node2")) == 1
    node_is_empty(clean_nodes, "node1")  # its infra container went with the pod

    status, out, err = project.cli("destroy", "--yes")
    assert status == 0, out + err
    for node in ("node1", "node2"):
        node_is_empty(clean_nodes, node)


def test_several_pods_in_one_manifest_are_one_workload(clean_nodes: Any,
                                                        tmp_path: Path) -> None:
    manifest = kube_pod("front", "front says hi") + "---\n" + yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "back"},
        "spec": {"selector": {"matchLabels": {"app": "back"}}, "template": {
            "metadata": {"labels": {"app": "back"}},
            "spec": {"containers": [{"name": "api", "image": IMAGE, "command": [
                "sh", "-c", "trap 'exit 0' TERM; echo back is up; while true; do sleep 1; done"]}]},
        }}})
    project = Project(clean_nodes, tmp_path, {"stack": kube_workload("a3", manifest)})
    project.apply()
    pods = project.pods("node3")
    assert len(pods) == 2 and {p["Labels"]["ankplan.workload"] for p in pods} == {"stack"}
    assert {p["Labels"].get("app") for p in pods} == {None, "back"}  # own labels kept
    record = project.status("stack")
    assert record["executionState"]["state"] == "Running"
    assert sorted(record["container"]["pods"]) == sorted(p["Name"] for p in pods)
    logs = project.logs("stack")
    assert "front-main front says hi" in logs  # several containers: lines carry their names
    assert "back is up" in logs
    assert project.cli("plan", "--detailed-exitcode")[0] == 0
    started = project.started_at("node3")
    status, out, err = run_cli("restart", "stack", str(project.manifest), "-i",
                               str(project.inventory), "--project", project.name, "--yes")
    assert status == 0, out + err
    again = project.started_at("node3")
    assert sorted(again) == sorted(started)  # the same pods and containers, started again
    assert all(again[name] > started[name] for name in started)
    assert {p["Id"] for p in project.pods("node3")} == {p["Id"] for p in pods}
    assert project.status("stack")["executionState"]["state"] == "Running"
    assert project.cli("destroy", "--yes")[0] == 0
    node_is_empty(clean_nodes, "node3")


def test_failed_play_is_cleaned_up_and_a_foreign_pod_is_never_touched(
        clean_nodes: Any, tmp_path: Path) -> None:
    # a pod ankplan does not own holds the name "taken"
    clean_nodes.podman("node1", "pod", "create", "--name", "taken")
    missing = kube_pod("lost", "x").replace(IMAGE, "localhost/no-such-image:1")
    project = Project(clean_nodes, tmp_path, {
        "taker": kube_workload("a1", kube_pod("taken", "mine")),
        "lost": kube_workload("a1", missing)})
    status, out, err = project.cli("apply", "--yes")
    assert status == 1
    assert "podman kube play failed" in out + err
    assert 'name "taken" is in use' in out + err
    assert project.pods("node1") == []  # the half-made pod of the failed pull was removed
    foreign = clean_nodes.podman("node1", "pod", "ps", "--format", "{{.Name}}").stdout.split()
    assert foreign == ["taken"]
    project.write({"taker": kube_workload("a1", kube_pod("taken", "mine"),
                                          play_options=("--replace",))})
    status, out, err = project.cli("plan")
    assert status == 1 and "playOptions --replace would let podman delete pods" in out + err


def test_watch_restarts_a_failed_pod_by_its_restart_policy(clean_nodes: Any,
                                                           tmp_path: Path) -> None:
    project = Project(clean_nodes, tmp_path, {
        "again": kube_workload("a2", kube_pod("again", "up"), policy="ON_FAILURE"),
        "once": kube_workload("a2", kube_pod("once", "up"), policy="NEVER")})
    project.apply()
    before = {p["Name"]: p["Id"] for p in project.pods("node2")}
    for container in ("again-main", "once-main"):
        assert clean_nodes.podman("node2", "kill", container).returncode == 0
    deadline = time.monotonic() + 20
    while project.status("again")["executionState"]["state"] != "Failed":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert project.status("again")["executionState"] == {
        "state": "Failed", "subState": "ExecFailed", "additionalInfo": "Exit code: '137'"}
    status, out, err = project.cli("watch", "--until-stable", "--settle", "2", "--duration", "40",
                                   "--output", "json")
    assert status == 0, out + err
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    restarts = [e for e in events if e.get("kind") == "restart"]
    assert [e["workload"] for e in restarts] == ["again"], "\n".join(map(json.dumps, events))
    again = project.status("again")
    assert again["executionState"]["state"] == "Running" and again["restartCount"] == 1
    after = {p["Name"]: p["Id"] for p in project.pods("node2")}
    assert after["again"] != before["again"]  # a new pod, as Ankaios re-creates
    assert after["once"] == before["once"]  # NEVER: left as it failed
    assert project.status("once")["executionState"]["state"] == "Failed"


def test_ssh_transport_pipes_stdin_intact(testbed: Any) -> None:
    bed_node = testbed.nodes[0]
    node = Node(name=bed_node.name, connection=Connection.SSH, host=bed_node.host,
                port=bed_node.port, user="root", identity_file=str(testbed.key),
                known_hosts_file=str(testbed.known_hosts))
    text = "".join(f"line {index}: {'ü' * (index % 50)}\n" for index in range(20000))
    transport = SshTransport.open(node)
    try:
        result = transport.run(["sha256sum"], timeout=30, stdin=text)
        empty = transport.run(["wc", "-c"], timeout=30, stdin="")
    finally:
        transport.close()
    assert result.ok and result.stdout.split()[0] == hashlib.sha256(text.encode()).hexdigest()
    assert len(text.encode()) > 500_000 and empty.stdout.strip() == "0"
