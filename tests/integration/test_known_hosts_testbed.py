"""known_hosts as OpenSSH writes and reads it, against the real test-bed nodes: markers,
wildcards, negation, hashed names and several keys per host work for `ankplan nodes` (and for
the system ssh on the same file); a @revoked key is refused; a FIFO for a node's key file is
refused at once while the other nodes are checked."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ankplan.cli import main as cli_main
from ankplan.cli.env import Env

pytestmark = pytest.mark.integration


def run_nodes(inventory: Path, *extra: str) -> tuple[int, dict[str, Any], list[str]]:
    """`ankplan nodes -o json` in-process: (status, report by node name, stderr lines)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(""), environ={},
              stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    status = cli_main.main(["nodes", "-i", str(inventory), "--ssh-config", "", "-o", "json",
                            *extra], env)
    report = {node["name"]: node for node in json.loads(stdout.getvalue())["nodes"]}
    return status, report, stderr.getvalue().splitlines()


def bed_keys(testbed: Any) -> dict[str, str]:
    """node name -> `type base64` of its host key, from the bed's known_hosts."""
    keys = {}
    for line in testbed.known_hosts.read_text().splitlines():
        names, key_type, key = line.split()[:3]
        keys[names.split(",")[0]] = f"{key_type} {key}"
    return keys


def stranger(tmp_path: Path, name: str, key_type: str = "ed25519") -> str:
    """A host key no node has: `type base64`."""
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-f", str(tmp_path / name)],
                   check=True, capture_output=True)
    return " ".join((tmp_path / f"{name}.pub").read_text().split()[:2])


def inventory(testbed: Any, tmp_path: Path, known_hosts: Path, **node2: str) -> Path:
    path = testbed.write_inventory(tmp_path / "inventory.yaml", {})
    text = path.read_text().replace(str(testbed.known_hosts), str(known_hosts))
    if node2:
        host = testbed.node("node2").host
        fields = ", ".join(f"{key}: '{value}'" for key, value in node2.items())
        text = text.replace(f"node2: {{host: {host}, port: 22}}",
                            f"node2: {{host: {host}, port: 22, {fields}}}")
    path.write_text(text)
    return path


def system_ssh(testbed: Any, node_name: str, known_hosts: Path) -> subprocess.CompletedProcess[str]:
    """OpenSSH's verdict on the same known_hosts file."""
    argv = testbed.ssh_argv(node_name, ["true"])
    argv[argv.index(f"UserKnownHostsFile={testbed.known_hosts}")] = \
        f"UserKnownHostsFile={known_hosts}"
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def test_markers_wildcards_hashes_and_several_keys(testbed: Any, tmp_path: Path) -> None:
    keys = bed_keys(testbed)
    host1, host2, host3 = (testbed.node(name).host for name in ("node1", "node2", "node3"))
    other, other_ecdsa = stranger(tmp_path, "other"), stranger(tmp_path, "ecdsa", "ecdsa")
    revoked = stranger(tmp_path, "revoked")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(  # what ssh-keygen -H will hash: plain names, one per line after
        f"{host1} {other}\n"  # a second, wrong key for node1: any match is accepted
        f"{host1},node1 {keys['node1']}\n"
        f"{host3} {other_ecdsa}\n")  # node3 known with two key types
    subprocess.run(["ssh-keygen", "-H", "-f", str(known_hosts)], check=True, capture_output=True)
    os.unlink(f"{known_hosts}.old")
    prefix = host2.rsplit(".", 1)[0]
    with known_hosts.open("a") as file:
        file.write("# added by hand\n\n"
                   f"@cert-authority {prefix}.* {other}\n"
                   f"@revoked * {revoked}\n"
                   f"{host2[:-1]}?,!{host1},!{host3} {keys['node2']}\n"
                   f"nomatch-*,{host3},{prefix}.250 {keys['node3']}\n"
                   "broken-line-without-a-key\n")
    hashed = [line for line in known_hosts.read_text().splitlines() if line.startswith("|1|")]
    assert len(hashed) == 4 and all(host1 not in line for line in hashed)
    status, report, stderr = run_nodes(inventory(testbed, tmp_path, known_hosts))
    assert status == 0, stderr
    assert {name: (node["ok"], node["host_key_status"]) for name, node in report.items()} == {
        name: (True, "known") for name in ("node1", "node2", "node3")}
    lines = known_hosts.read_text().splitlines()
    ca_line = lines.index(next(line for line in lines if line.startswith("@cert-authority"))) + 1
    assert sorted(stderr) == sorted(
        [(f"ankplan: warning: {known_hosts}:{len(lines)}: expected a host pattern, a key type "
         "and a key; line skipped")]
        + [f"ankplan: warning: {known_hosts}:{ca_line}: @cert-authority line skipped for {host}: "
           "ankplan does not support host certificates" for host in (host1, host2, host3)])
    for name in ("node1", "node2", "node3"):  # OpenSSH accepts the same file (markers aside)
        assert system_ssh(testbed, name, known_hosts).returncode == 0, name


def test_revoked_key_of_a_node_is_refused(testbed: Any, tmp_path: Path) -> None:
    keys = bed_keys(testbed)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(testbed.known_hosts.read_text() + f"@revoked * {keys['node2']}\n")
    revoked_line = len(known_hosts.read_text().splitlines())
    host2 = testbed.node("node2").host
    for extra in ((), ("--accept-new-host-keys",)):
        status, report, stderr = run_nodes(inventory(testbed, tmp_path, known_hosts), *extra)
        assert status == 1
        assert [name for name, node in sorted(report.items()) if node["ok"]] == ["node1", "node3"]
        assert stderr[0].startswith(f"ankplan: error: node node2: host key of {host2}:22 "
                                    "(ssh-ed25519 SHA256:")
        assert stderr[0].endswith(f") is REVOKED by {known_hosts}:{revoked_line}; refusing to "
                                  "connect")
        assert stderr[1] == ("  hint: the node must get a new host key; if the @revoked line is "
                             f"wrong, remove it from {known_hosts}")
        assert len(stderr) == 2
    refused = system_ssh(testbed, "node2", known_hosts)  # OpenSSH refuses it too
    assert refused.returncode == 255 and "REVOKED HOST KEY" in refused.stderr


def test_fifo_as_a_nodes_key_file_fails_that_node_at_once(testbed: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "id_fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    status, report, stderr = run_nodes(inventory(testbed, tmp_path, testbed.known_hosts,
                                                 identity_file=str(fifo)))
    assert time.monotonic() - started < 15
    assert status == 1
    assert [name for name, node in sorted(report.items()) if node["ok"]] == ["node1", "node3"]
    assert report["node1"]["podman_version"] == "4.3.1"  # the others really were reached
    assert stderr == [(f"ankplan: error: node node2: identity file {fifo} is a FIFO (named pipe), "
                      "not a regular file"),
                      "  hint: give identity_file as the path of a private key file"]
