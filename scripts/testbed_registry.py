"""An image registry on the test bed: Debian's `docker-registry` (CNCF distribution 2.8).

Does I/O in `start_registry` (runs the registry, waits for it); the rest builds strings. The
registry listens on node1's address (inside node1's network namespace in netns mode, a
loopback address in loopback mode), so only the bed reaches it; it dies with node1 on `down`.
Each node's own registries.conf (sshd SetEnv) marks it insecure (plain HTTP): nothing changes
in the host's Podman configuration.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from testbed_layout import BedError, Node
from testbed_nodes import port_open

REGISTRY_PORT = 5000
REGISTRY = "docker-registry"


def registry_address(nodes: list[Node]) -> str:
    """`host:port` of the bed's registry: node1's address."""
    return f"{nodes[0].host}:{REGISTRY_PORT}"


def registries_conf(address: str) -> str:
    """A node's registries.conf: the bed registry, reachable over plain HTTP."""
    return (
        "# ankplan test-bed node: the bed's own registry speaks plain HTTP\n"
        f'[[registry]]\nlocation = "{address}"\ninsecure = true\n'
    )


def registry_config(address: str, data_dir: Path) -> str:
    """The registry's config.yml: filesystem storage in data_dir, listening on address."""
    return (
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {data_dir}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {address}\n  secret: ankplan-testbed\n"
    )


def start_registry(node: Node, address: str) -> None:
    """Run the registry as node1 (its network namespace), unless it answers already."""
    host, port = address.rsplit(":", 1)
    if port_open(host, int(port)):
        return
    binary = shutil.which(REGISTRY)
    if binary is None:
        raise BedError(f"{REGISTRY} is not installed: apt-get install docker-registry "
                       "(scripts/install-deps.sh does)")
    config = node.path("run", "registry.yml")
    config.write_text(registry_config(address, node.path("node", "registry")))
    argv = [binary, "serve", str(config)]
    if node.netns:
        argv = ["nsenter", f"--net=/run/netns/{node.netns}", "--", *argv]
    with open(node.path("run", "registry.log"), "ab") as log:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True)
    deadline = time.monotonic() + 10
    while not port_open(host, int(port), 0.2):
        if time.monotonic() > deadline:
            log_text = node.path("run", "registry.log").read_text()[-300:]
            raise BedError(f"the registry did not listen on {address} within 10 s: {log_text}")
        time.sleep(0.05)
