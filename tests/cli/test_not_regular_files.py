"""A FIFO (or socket, device, directory) given for any file ankplan reads is refused at once with
one located line; nothing waits on it. Each command runs in-process with main(argv, env), in a
thread that must finish within seconds (a FIFO without a writer would block an open() for ever).
Also: what those files make ankplan warn about reaches stderr once, as `ankplan: warning:`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from clirun import MANIFEST, Result
from clirun import run_cli as run_in_process


def run_cli(*argv: str, limit: float = 10.0) -> tuple[int, list[str]]:
    """Exit status and stderr lines of `ankplan argv` with the real transports; fails if it
    runs longer than `limit` seconds."""
    result: list[Result] = []
    worker = threading.Thread(target=lambda: result.append(run_in_process(*argv, nodes=None)),
                              daemon=True)
    worker.start()
    worker.join(limit)
    assert result, f"ankplan {' '.join(argv)} still runs after {limit} s (blocked on a file?)"
    return result[0].status, result[0].err.splitlines()


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "app" / "manifest.yaml"
    path.parent.mkdir()
    path.write_text(MANIFEST)
    return path


def ssh_inventory(tmp_path: Path, **settings: str) -> Path:
    """An inventory with one SSH node at a closed local port (never reached in these tests)."""
    fields = {"host": "127.0.0.1", "port": "1", "user": "root", **settings}
    path = tmp_path / "inventory.yaml"
    path.write_text("nodes:\n  n1: {" + ", ".join(f"{k}: '{v}'" if k != "port" else f"{k}: {v}"
                                                  for k, v in fields.items()) + "}\n"
                    "default_node: n1\n")
    return path


FIFO_LINE = "error: is a FIFO (named pipe), not a regular file [not-a-file]"


@pytest.mark.parametrize("command", ["validate", "plan", "apply", "graph"])
def test_fifo_as_manifest(fifo: Path, command: str) -> None:
    status, lines = run_cli(command, str(fifo))
    assert status == 1
    assert lines[0] == f"{fifo}: {FIFO_LINE}", lines


@pytest.mark.parametrize("command", ["plan", "apply", "nodes"])
def test_fifo_as_inventory(fifo: Path, manifest: Path, command: str) -> None:
    status, lines = run_cli(command, *([str(manifest)] if command != "nodes" else []),
                            "-i", str(fifo))
    assert status == 1
    assert lines[0] == f"{fifo}: {FIFO_LINE}", lines
    assert lines[-1] == f"ankplan: error: inventory {fifo} is invalid (1 error)"


def test_fifo_as_ssh_config(fifo: Path, tmp_path: Path) -> None:
    status, lines = run_cli("nodes", "-i", str(ssh_inventory(tmp_path)), "--ssh-config",
                            str(fifo))
    assert status == 1
    assert lines[0] == f"{fifo}: {FIFO_LINE}", lines
    assert lines[1] == "  hint: give --ssh-config a regular file ('' for none)"
    assert lines[-1] == f"ankplan: error: cannot read ssh config {fifo}"


def test_fifo_as_identity_file(fifo: Path, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    inventory = ssh_inventory(tmp_path, identity_file=str(fifo),
                              known_hosts_file=str(known_hosts))
    status, lines = run_cli("nodes", "-i", str(inventory), "--ssh-config", "")
    assert status == 1
    assert lines == [(f"ankplan: error: node n1: identity file {fifo} is a FIFO (named pipe), "
                     "not a regular file"),
                     "  hint: give identity_file as the path of a private key file"]


def test_fifo_as_known_hosts(fifo: Path, tmp_path: Path) -> None:
    inventory = ssh_inventory(tmp_path, known_hosts_file=str(fifo))
    for extra in ((), ("--accept-new-host-keys",)):
        status, lines = run_cli("nodes", "-i", str(inventory), "--ssh-config", "", *extra)
        assert status == 1
        assert lines == [(f"ankplan: error: node n1: cannot read known_hosts file {fifo}: is a "
                         "FIFO (named pipe), not a regular file"),
                         ("  hint: give known_hosts_file (or UserKnownHostsFile) as a regular "
                         "file")]


def test_fifo_as_saved_plan(fifo: Path) -> None:
    status, lines = run_cli("apply", "--yes", str(fifo))
    assert status == 1
    assert lines[0] == f"{fifo}: {FIFO_LINE}", lines


def test_directory_and_device_refused_too(tmp_path: Path) -> None:
    status, lines = run_cli("validate", "/dev/null")
    assert status == 1
    assert lines[0] == "/dev/null: error: is a character device, not a regular file [not-a-file]"
    status, lines = run_cli("nodes", "-i", str(tmp_path))
    assert status == 1
    assert lines[0] == f"{tmp_path}: error: is a directory, not a manifest file [not-a-file]"
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    inventory = ssh_inventory(tmp_path, identity_file=str(tmp_path),
                              known_hosts_file=str(known_hosts))
    status, lines = run_cli("nodes", "-i", str(inventory), "--ssh-config", "")
    assert lines[0] == (f"ankplan: error: node n1: identity file {tmp_path} is a directory, "
                        "not a regular file")


def test_ssh_config_warnings_printed_once_each_on_stderr(tmp_path: Path) -> None:
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("Host n1 n2\n  ProxyCommand nc %h %p\n  HostName 127.0.0.1\n"
                          f"  UserKnownHostsFile {tmp_path}/missing_known_hosts\n")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("defaults: {connection: ssh}\nnodes: {n1: {}, n2: {}}\n")
    status, lines = run_cli("nodes", "-i", str(inventory), "--ssh-config", str(ssh_config))
    assert status == 1
    warning = (f"ankplan: warning: {ssh_config}:2: ProxyCommand is not supported by ankplan and "
               "is ignored")
    assert lines.count(warning) == 1 and lines[0] == warning
    assert [line for line in lines if line.startswith("ankplan: error:")] == [
        f"ankplan: error: node {name}: known_hosts file {tmp_path}/missing_known_hosts not found"
        for name in ("n1", "n2")]
