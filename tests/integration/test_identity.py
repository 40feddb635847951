"""Project identity, secrets, big specs, strays and forgeries on the real test bed (issue 10).

Does I/O: runs ankplan in-process against the bed's nodes, and podman over SSH to make
containers the way the previous release or a person would. Every container is removed after
each test (clean_nodes).
"""

from __future__ import annotations

import io
import json
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from ankplan.cli import main as cli_main
from ankplan.cli.env import Env
from ankplan.executors.apply import ApplyOptions, Outcome, apply_plan
from ankplan.executors.transport import TransportPool
from ankplan.inventories.load import load_inventory
from ankplan.manifests.load import load_manifest
from ankplan.model import (
    LABEL_SOURCE,
    LABEL_SPEC,
    Action,
    ActionKind,
    Manifest,
    Node,
    Plan,
    PlanStep,
    PodmanConfig,
    Reason,
    Workload,
)
from ankplan.planner.hashing import canonical_json, canonical_spec, labels_for
from ankplan.podman import run_argv

pytestmark = pytest.mark.integration

IMAGE = "localhost/ankplan-demo:latest"
HOST = socket.gethostname()
# Every label the previous release put on a container (ankplan.dependencies only with
# dependencies); it had no ankplan.source.
PREVIOUS_RELEASE_LABELS = {"ankplan.project", "ankplan.workload", "ankplan.agent",
                           "ankplan.spec-hash", "ankplan.spec", "ankplan.restart-count",
                           "ankplan.managed-by"}


def run_cli(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ankplan in-process without a terminal; (exit status, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(""), environ=environ or {},
              stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    status = cli_main.main(list(argv), env)
    return status, stdout.getvalue(), stderr.getvalue()


def workload(agent: str, args: list[str], *, options: list[str] | None = None,
             needs: dict[str, str] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"image": IMAGE, "commandArgs": args}
    if options:
        config["commandOptions"] = options
    entry: dict[str, Any] = {"runtime": "podman", "agent": agent, "restartPolicy": "NEVER",
                             "runtimeConfig": yaml.safe_dump(config, sort_keys=False)}
    if needs:
        entry["dependencies"] = needs
    return entry


def write_manifest(path: Path, workloads: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "workloads": workloads},
                                   sort_keys=False))
    return path


def inspect(bed: Any, node: str, name: str) -> dict[str, Any]:
    proc = bed.podman(node, "inspect", name)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout)[0])


def names_on(bed: Any, node: str) -> set[str]:
    return set(bed.podman(node, "ps", "-a", "--format", "{{.Names}}").stdout.split())


def assert_clean(text: str) -> None:
    assert "Traceback" not in text and "internal error" not in text, text


# --- item 1: project identity --------------------------------------------------------------------


def test_two_repositories_with_the_same_folder_name_share_a_node(clean_nodes: Any,
                                                                  demo_image: str,
                                                                  tmp_path: Path) -> None:
    """one/app/m.yaml (billing) and two/app/m.yaml (frontend) on node3: neither apply nor
    destroy of one touches the other's container, until its project is named explicitly."""
    one = write_manifest(tmp_path / "one" / "app" / "m.yaml",
                         {"billing": workload("node3", ["stub", "idle"])})
    two = write_manifest(tmp_path / "two" / "app" / "m.yaml",
                         {"frontend": workload("node3", ["stub", "idle"])})
    inventory = str(clean_nodes.write_inventory(tmp_path / "inv.yaml", {"node3": "node3"}))
    status, out, err = run_cli("apply", str(one), "-i", inventory, "--yes")
    assert status == 0, out + err
    billing = inspect(clean_nodes, "node3", "billing")
    assert billing["Config"]["Labels"][LABEL_SOURCE] == f"{HOST}:{one.resolve()}"

    status, out, err = run_cli("apply", str(two), "-i", inventory, "--yes")
    assert status == 0, out + err
    assert "will be removed" not in out
    assert "Kept: containers of related projects" in out
    assert f"node3/billing ({billing['Id'][:12]}): created from {HOST}:{one.resolve()}" in out
    assert inspect(clean_nodes, "node3", "billing")["Id"] == billing["Id"]
    frontend = inspect(clean_nodes, "node3", "frontend")["Config"]["Labels"]
    billing_project = billing["Config"]["Labels"]["ankplan.project"]
    assert frontend["ankplan.project"] != billing_project
    assert frontend["ankplan.project"].startswith("app-") and billing_project.startswith("app-")
    assert f"adopt with --project {billing_project}" in out

    status, out, err = run_cli("destroy", str(two), "-i", inventory, "--yes")
    assert status == 0, out + err
    assert names_on(clean_nodes, "node3") == {"billing"}
    # Named explicitly, the other project is the user's to change.
    status, out, err = run_cli("destroy", str(two), "-i", inventory, "--yes",
                               environ={"ANKPLAN_PROJECT": billing_project})
    assert status == 0, out + err
    assert names_on(clean_nodes, "node3") == set()


def test_containers_of_the_previous_release_are_recognised_not_recreated(
        clean_nodes: Any, demo_image: str, tmp_path: Path) -> None:
    """Containers labelled exactly as the previous release labels them (project = folder name,
    no source label) are this manifest's after the upgrade: no change, a change replaces only
    what changed and waits on the adopted dependency, and an old container of a workload this
    manifest does not define is kept."""
    path = tmp_path / "police" / "m.yaml"
    old = {"router": workload("node1", ["stub", "idle"]),
           "client": workload("node1", ["stub", "idle"], needs={"router": "ADD_COND_RUNNING"}),
           "retired": workload("node1", ["stub", "idle"])}
    previous = load_manifest([str(write_manifest(path, old))])
    for item in previous.workloads:
        labels = labels_for(item, "police")  # what the previous release wrote: no source
        assert set(labels) - {"ankplan.dependencies"} == PREVIOUS_RELEASE_LABELS
        assert labels[LABEL_SPEC] == canonical_json(canonical_spec(item))  # in full, as then
        proc = clean_nodes.podman("node1", *run_argv(Node(name="node1"), item, labels)[1:])
        assert proc.returncode == 0, proc.stderr
    ids = {name: inspect(clean_nodes, "node1", name)["Id"] for name in old}
    del old["retired"]
    write_manifest(path, old)
    inventory = str(clean_nodes.write_inventory(tmp_path / "inv.yaml", {"node1": "node1"}))

    status, out, err = run_cli("plan", str(path), "-i", inventory, "--detailed-exitcode")
    assert status == 0, out + err
    assert "No changes." in out
    assert f"node1/retired ({ids['retired'][:12]}): made by an older ankplan for project " \
           "police" in out

    old["client"] = workload("node1", ["stub", "env"], needs={"router": "ADD_COND_RUNNING"})
    write_manifest(path, old)
    status, out, err = run_cli("apply", str(path), "-i", inventory, "--yes", "--timeout", "60")
    assert status == 0, out + err
    assert "-/+ node1/client must be replaced" in out and "will be created" not in out
    assert inspect(clean_nodes, "node1", "router")["Id"] == ids["router"]
    assert inspect(clean_nodes, "node1", "retired")["Id"] == ids["retired"]
    client = inspect(clean_nodes, "node1", "client")
    assert client["Id"] != ids["client"] and client["State"]["Status"] == "running"
    assert client["Config"]["Labels"]["ankplan.project"].startswith("police-")
    assert client["Config"]["Labels"][LABEL_SOURCE] == f"{HOST}:{path.resolve()}"
    status, out, err = run_cli("plan", str(path), "-i", inventory, "--detailed-exitcode")
    assert status == 0 and "No changes." in out, out + err


# --- item 2: every env spelling, secrets never shown ------------------------------------------


def test_every_env_spelling_reaches_the_container_and_never_the_output(
        clean_nodes: Any, demo_image: str, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:8]
    secret = {index: f"s3cr3t-{token}-{index}" for index in range(1, 9)}
    options = ["-e", f"V1={secret[1]}", f"-eV2={secret[2]}", f"-e=V3={secret[3]}",
               "--env", f"V4={secret[4]}", f"--env=V5={secret[5]}", "-ie", f"V6={secret[6]}",
               f"-iteV7={secret[7]}", f"-ie=V8={secret[8]}"]
    path = write_manifest(tmp_path / "envs" / "m.yaml", {
        "envs": workload("node2", ["stub", "idle"], options=options)})
    inventory = str(clean_nodes.write_inventory(tmp_path / "inv.yaml", {"node2": "node2"}))
    shown: list[str] = []

    def cli(*argv: str) -> tuple[int, str, str]:
        result = run_cli(*argv)
        shown.extend(result[1:])
        return result

    assert cli("plan", str(path), "-i", inventory)[0] == 0
    assert cli("plan", str(path), "-i", inventory, "--output", "json")[0] == 0
    saved = tmp_path / "saved.plan"
    assert cli("plan", str(path), "-i", inventory, "--out", str(saved))[0] == 0
    shown.append(saved.read_text())
    status, out, err = cli("apply", str(saved))  # the secrets come from the manifest
    assert status == 0, out + err
    inspected = inspect(clean_nodes, "node2", "envs")
    env = dict(item.partition("=")[::2] for item in inspected["Config"]["Env"])
    assert {f"V{index}": env.get(f"V{index}") for index in secret} == {
        f"V{index}": value for index, value in secret.items()}
    shown.append(json.dumps(inspected["Config"]["Labels"]))

    options[1] = f"V1=changed-{secret[1]}"
    write_manifest(path, {"envs": workload("node2", ["stub", "idle"], options=options)})
    status, out, err = cli("apply", str(path), "-i", inventory, "--yes", "--output", "json")
    assert status == 0, out + err
    assert any('"env V1 changed"' in line for line in out.splitlines()), out
    shown.append(json.dumps(inspect(clean_nodes, "node2", "envs")["Config"]["Labels"]))
    status, out, err = cli("destroy", str(path), "-i", inventory, "--yes")
    assert status == 0, out + err
    for text in shown:
        assert_clean(text)
        assert token not in text, text


# --- item 5: big specs -----------------------------------------------------------------------


def test_200_kb_arguments_next_to_a_healthy_workload(clean_nodes: Any, demo_image: str,
                                                     tmp_path: Path) -> None:
    """Refused up front naming workload and limit; 100 KB is applied next to a healthy
    workload; and a command over the limit fails alone, the node's connection stays up."""
    inventory_path = clean_nodes.write_inventory(tmp_path / "inv.yaml", {"node1": "node1"})
    inventory = str(inventory_path)
    small = workload("node1", ["stub", "idle"])
    huge = write_manifest(tmp_path / "huge" / "m.yaml", {
        "big": workload("node1", ["stub", "idle", "x" * 200_000]), "small": small})
    for command in (["validate"], ["plan", "-i", inventory], ["apply", "-i", inventory, "--yes"]):
        status, out, err = run_cli(command[0], str(huge), *command[1:])
        assert status == 1, out + err
        assert_clean(out + err)
        assert ("workload 'big': commandArgs[2] is 200,000 bytes, over Linux's limit of 131,072 "
                "bytes for one argument (MAX_ARG_STRLEN)") in out + err
    assert names_on(clean_nodes, "node1") == set()

    fits = write_manifest(tmp_path / "fits" / "m.yaml", {
        "big": workload("node1", ["stub", "idle", "x" * 100_000]), "small": small})
    status, out, err = run_cli("apply", str(fits), "-i", inventory, "--yes")
    assert status == 0, out + err
    big = inspect(clean_nodes, "node1", "big")
    assert big["State"]["Status"] == "running" and len(big["Config"]["Cmd"][2]) == 100_000
    assert len(big["Config"]["Labels"][LABEL_SPEC]) < 4096
    assert inspect(clean_nodes, "node1", "small")["State"]["Status"] == "running"
    assert run_cli("plan", str(fits), "-i", inventory, "--detailed-exitcode")[0] == 0
    run_cli("destroy", str(fits), "-i", inventory, "--yes")

    # What validation stops can still reach the executor (a hand-made plan): it fails alone.
    manifest = Manifest(api_version="v1", workloads=tuple(
        Workload(name=name, agent="node1", runtime="podman", runtime_config_text="",
                 runtime_config=PodmanConfig(image=IMAGE, command_args=("stub", "idle", *extra)))
        for name, extra in (("big", ("x" * 200_000,)), ("small", ()))))
    nodes = load_inventory(inventory, ssh_config="")
    steps = tuple(PlanStep(id=index, action=Action(
        kind=ActionKind.CREATE, node_name="node1", workload_name=item.name,
        reason=Reason.NOT_FOUND, workload=item)) for index, item in
        enumerate(manifest.workloads, start=1))
    with TransportPool() as pool:
        result = apply_plan(Plan(project=f"big-{uuid.uuid4().hex[:6]}", steps=steps), pool=pool,
                            inventory=nodes, manifest=manifest,
                            options=ApplyOptions(timeout=60))
        outcome = {item.workload_name: (item.outcome, item.reason) for item in result.results}
        assert outcome["small"][0] is Outcome.DONE, outcome
        assert outcome["big"][0] is Outcome.FAILED and "MAX_ARG_STRLEN" in outcome["big"][1]
        transport = pool.get(nodes.nodes[0])
        assert transport.run(["podman", "ps", "-q"], timeout=30).ok  # the same connection
        with pytest.raises(Exception, match="MAX_ARG_STRLEN"):  # over sshd's packet limit
            transport.run(["echo", "y" * 300_000], timeout=30)
        assert transport.run(["true"], timeout=30).ok


# --- item 7: strays and forgeries -------------------------------------------------------------


def test_a_stray_warns_and_a_forged_duplicate_is_removed_under_its_own_name(
        clean_nodes: Any, demo_image: str, tmp_path: Path) -> None:
    project = f"forge-{uuid.uuid4().hex[:6]}"
    path = write_manifest(tmp_path / "m.yaml", {"w1": workload("node1", ["stub", "idle"])})
    inventory = str(clean_nodes.write_inventory(tmp_path / "inv.yaml", {"node1": "node1"}))
    status, out, err = run_cli("apply", str(path), "-i", inventory, "--yes", "--project",
                               project)
    assert status == 0, out + err
    real = inspect(clean_nodes, "node1", "w1")["Id"]
    for name, labels in (("stray", [f"ankplan.project={project}"]),
                         ("evil", [f"ankplan.project={project}", "ankplan.workload=w1"])):
        label_args = [word for label in labels for word in ("--label", label)]
        proc = clean_nodes.podman("node1", "run", "-d", "--name", name, *label_args, IMAGE,
                                  "stub", "idle")
        assert proc.returncode == 0, proc.stderr
    evil = inspect(clean_nodes, "node1", "evil")["Id"]

    status, out, err = run_cli("apply", str(path), "-i", inventory, "--yes", "--project",
                               project)
    assert status == 0, out + err
    assert "ankplan: warning: node1: container stray (" in err  # warnings go to stderr
    assert "incomplete" not in out + err
    assert f"  - node1/evil ({evil[:12]}) will be removed" in out
    assert f"its container w1 ({real[:12]}) stays" in out
    summary = out.rsplit("\n\n", 2)[-2]
    assert f"node1/evil ({evil[:12]})  done" in summary and "node1/w1" not in summary, summary
    assert inspect(clean_nodes, "node1", "w1")["Id"] == real
    assert names_on(clean_nodes, "node1") == {"w1", "stray"}
