"""ProxyJump from ssh_config on the real test bed: node3's sshd is made reachable only from
node1's network namespace (an iptables rule inside node3's own namespace, removed afterwards),
and ankplan reaches it through node1 as OpenSSH does, checking the jump host's key strictly."""

from __future__ import annotations

import io
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ankplan.cli import main as cli_main
from ankplan.cli.env import Env

pytestmark = pytest.mark.integration

MANIFEST = """\
apiVersion: v1
workloads:
  behind-jump:
    runtime: podman
    agent: agent_3
    restartPolicy: NEVER
    runtimeConfig: |
      image: localhost/ankplan-demo:latest
      commandArgs: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
"""


def run_cli(*argv: str) -> tuple[int, str, list[str]]:
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(""), environ={},
              stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    status = cli_main.main(list(argv), env)
    return status, stdout.getvalue(), stderr.getvalue().splitlines()


def nsenter_iptables(netns: str, *rule: str) -> None:
    subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "iptables", *rule], check=True,
                   capture_output=True, timeout=30)


@pytest.fixture
def node3_behind_node1(clean_nodes: Any) -> Iterator[Any]:
    """While inside, node3's port 22 answers only connections from node1's address."""
    bed = json.loads((clean_nodes.dir / "bed.json").read_text())
    netns = next(node["netns"] for node in bed["nodes"] if node["name"] == "node3")
    assert netns, "this test needs a bed in netns mode"
    rule = ["INPUT", "-p", "tcp", "--dport", "22", "!", "-s", clean_nodes.node("node1").host,
            "-j", "REJECT", "--reject-with", "tcp-reset"]
    nsenter_iptables(netns, "-I", *rule)
    try:
        yield clean_nodes
    finally:
        nsenter_iptables(netns, "-D", *rule)


def jump_config(testbed: Any, tmp_path: Path, known_hosts: Path | None = None) -> Path:
    """The bed's ssh_config with `ProxyJump node1` for node3 (and another known_hosts)."""
    text = (testbed.dir / "ssh_config").read_text()
    assert "Host node3\n" in text
    text = text.replace("Host node3\n", "Host node3\n  ProxyJump node1\n")
    if known_hosts is not None:
        text = text.replace(f"UserKnownHostsFile {testbed.known_hosts}",
                            f"UserKnownHostsFile {known_hosts}")
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return path


def inventory(tmp_path: Path, *names: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text("defaults: {connection: ssh}\n"
                    f"nodes: {{{', '.join(f'{name}: {{}}' for name in names)}}}\n"
                    "agents: {agent_3: node3}\n")
    return path


def report(stdout: str) -> dict[str, Any]:
    return {node["name"]: node for node in json.loads(stdout)["nodes"]}


def test_node_reachable_only_through_another(node3_behind_node1: Any, tmp_path: Path) -> None:
    bed = node3_behind_node1
    inv = inventory(tmp_path, "node1", "node2", "node3")
    status, stdout, stderr = run_cli("nodes", "-i", str(inv), "--ssh-config",
                                     str(bed.dir / "ssh_config"), "-o", "json")
    assert status == 1  # directly, node3 is out of reach
    assert stderr[0] == (f"ankplan: error: node node3: connection refused by "
                         f"{bed.node('node3').host}:22")
    config = jump_config(bed, tmp_path)
    status, stdout, stderr = run_cli("nodes", "-i", str(inv), "--ssh-config", str(config),
                                     "-o", "json")
    assert (status, stderr) == (0, [])
    nodes = report(stdout)
    assert nodes["node3"]["ok"] and nodes["node3"]["podman_version"] == "4.3.1"
    assert nodes["node3"]["host_key"] != nodes["node1"]["host_key"]  # node3's own key checked


def test_apply_and_destroy_through_the_jump_host(node3_behind_node1: Any,
                                                 tmp_path: Path) -> None:
    bed = node3_behind_node1
    config = jump_config(bed, tmp_path)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(MANIFEST)
    project = f"it-{uuid.uuid4().hex[:8]}"
    common = ("-i", str(inventory(tmp_path, "node3")), "--ssh-config", str(config),
              "--project", project)
    status, stdout, stderr = run_cli("apply", "--yes", str(manifest), *common)
    assert status == 0, stderr
    seen = subprocess.run(["ssh", "-F", str(config), "node3", ("podman ps --format '{{.Names}} "
                           "{{.Labels}}'")], capture_output=True, text=True, timeout=60,
                          check=False)  # OpenSSH through the same jump host
    assert seen.returncode == 0, seen.stderr
    assert "behind-jump" in seen.stdout and project in seen.stdout
    status, stdout, stderr = run_cli("plan", str(manifest), *common)
    assert status == 0 and "No changes." in stdout
    status, stdout, stderr = run_cli("destroy", "--yes", str(manifest), *common)
    assert status == 0, stderr
    gone = subprocess.run(["ssh", "-F", str(config), "node3", ("podman ps -a --format "
                           "'{{.Names}}'")], capture_output=True, text=True, timeout=60,
                          check=False)
    assert gone.returncode == 0 and "behind-jump" not in gone.stdout


def test_jump_host_key_is_checked_strictly(node3_behind_node1: Any, tmp_path: Path) -> None:
    bed = node3_behind_node1
    host1 = bed.node("node1").host
    known_hosts = tmp_path / "known_hosts"
    lines = bed.known_hosts.read_text().splitlines()
    known_hosts.write_text("\n".join(line for line in lines if not line.startswith("node1,"))
                           + "\n")
    inv = inventory(tmp_path, "node3")
    config = jump_config(bed, tmp_path, known_hosts)
    status, _, stderr = run_cli("nodes", "-i", str(inv), "--ssh-config", str(config))
    assert status == 1
    assert stderr[0].startswith(f"ankplan: error: node node3: jump host node1: host key of "
                                f"{host1}:22 is not known (ssh-ed25519 SHA256:")
    assert "--accept-new-host-keys" in stderr[1]
    status, stdout, stderr = run_cli("nodes", "-i", str(inv), "--ssh-config", str(config),
                                     "--accept-new-host-keys", "-o", "json")
    assert (status, stderr) == (0, [])
    assert report(stdout)["node3"]["host_key_status"] == "known"  # node3 itself was known
    learned = known_hosts.read_text().splitlines()[-1]
    assert learned.startswith(f"{host1} ssh-ed25519 ")  # the jump host's key, as ssh writes it
    node2_key = next(" ".join(line.split()[1:3]) for line in lines if line.startswith("node2,"))
    known_hosts.write_text(known_hosts.read_text().replace(learned, f"{host1} {node2_key}"))
    status, _, stderr = run_cli("nodes", "-i", str(inv), "--ssh-config", str(config),
                                "--accept-new-host-keys")
    assert status == 1
    assert stderr[0].startswith(f"ankplan: error: node node3: jump host node1: host key of "
                                f"{host1}:22 has CHANGED")
