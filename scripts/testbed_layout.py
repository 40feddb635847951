"""Pure layout of the SSH test bed: node addresses, names, paths and generated file contents.

No I/O: builds strings and values only; scripts/testbed.py writes and runs them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

RUN_BASE = Path("/run/ankplan-tb")  # node run dirs; short, podman puts socket paths below it
IMAGE_STORE = Path(os.environ.get("ANKPLAN_IMAGE_STORE", "/var/lib/ankplan-testbed/images"))
BUILD_SH = Path(__file__).resolve().parent.parent / "examples" / "images" / "build.sh"
PAUSE_SH = BUILD_SH.with_name("pause-image.sh")  # podman's pause image, for `kube play`
DEMO_IMAGE = "localhost/ankplan-demo:latest"
BRIDGE, BRIDGE_CIDR, SUBNET = "ankbr0", "10.231.0.1/24", "10.231.0"
SLOTS, NODES_PER_SLOT = 6, 40  # slot s holds nodes at .(11 + 40 s) .. .(50 + 40 s)
SSHD = "/usr/sbin/sshd"
PRIVATE_DIRS = {
    "podman": "/run/podman",
    "netns": "/run/netns",
    "networks": "/run/containers/networks",
}


class BedError(Exception):
    """A test-bed step failed; the message says which and why."""


@dataclass(frozen=True)
class Node:
    """One node: where its sshd listens and where its files live."""

    name: str
    index: int
    slot: int
    mode: str  # "netns" or "loopback"
    host: str
    port: int
    node_dir: str  # host key, containers.conf, storage.conf, storage/, networks/
    run_dir: str  # sshd_config, sshd.pid, podman tmp_dir and runroot, private /run dirs

    @property
    def netns(self) -> str | None:
        """Network namespace name, None in loopback mode."""
        if self.mode != "netns":
            return None
        return (
            f"ankplan-node{self.index}"
            if self.slot == 0
            else f"ankplan-s{self.slot}-node{self.index}"
        )

    @property
    def veth(self) -> str:
        """Host end of the node's veth pair."""
        return f"ankv{self.slot}n{self.index}"

    def path(self, where: str, name: str) -> Path:
        """A file in the node dir (`where="node"`) or run dir (`"run"`)."""
        return Path(self.node_dir if where == "node" else self.run_dir) / name


def make_nodes(bed_dir: Path, count: int, mode: str, slot: int) -> list[Node]:
    """The nodes of a bed (pure)."""
    if not 1 <= count <= NODES_PER_SLOT:
        raise BedError(f"--nodes must be 1..{NODES_PER_SLOT}, got {count}")
    prefix = SUBNET if mode == "netns" else "127.0.0"
    return [
        Node(
            name=f"node{i}",
            index=i,
            slot=slot,
            mode=mode,
            host=f"{prefix}.{10 + NODES_PER_SLOT * slot + i}",
            port=22,
            node_dir=str(bed_dir / f"node{i}"),
            run_dir=str(RUN_BASE / f"s{slot}" / f"node{i}"),
        )
        for i in range(1, count + 1)
    ]


# --- pure file contents ------------------------------------------------------------------------


def sshd_config(node: Node, bed_dir: Path) -> str:
    """The node's sshd_config: key-only root login, SetEnv selects the node's Podman."""
    return "\n".join(
        [
            f"ListenAddress {node.host}:{node.port}",
            f"HostKey {node.path('node', 'ssh_host_ed25519_key')}",
            f"PidFile {node.path('run', 'sshd.pid')}",
            # A copy of <bed dir>/authorized_keys: StrictModes refuses keys below /tmp (1777).
            f"AuthorizedKeysFile {node.path('run', 'authorized_keys')}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "MaxStartups 100:30:200",
            "MaxSessions 100",
            "Subsystem sftp internal-sftp",
            (
                f"SetEnv CONTAINERS_CONF={node.path('node', 'containers.conf')}"
                f" CONTAINERS_STORAGE_CONF={node.path('node', 'storage.conf')}"
                f" CONTAINERS_REGISTRIES_CONF={node.path('node', 'registries.conf')}"
            ),
            "",
        ]
    )


def containers_conf(node: Node) -> str:
    """The node's containers.conf; podman reads only this file when CONTAINERS_CONF is set."""
    return (
        f"[containers]\ndefault_ulimits = []\n[network]\n"
        f'network_config_dir = "{node.path("node", "networks")}"\n'
        f'[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        f'lock_type = "file"\ntmp_dir = "{node.path("run", "libpod")}"\n'
    )


def storage_conf(node: Node, image_store: Path) -> str:
    """The node's storage.conf: its own graphroot/runroot plus the shared read-only image store."""
    return (
        f'[storage]\ndriver = "overlay"\ngraphroot = "{node.path("node", "storage")}"\n'
        f'runroot = "{node.path("run", "runroot")}"\n[storage.options]\n'
        f'additionalimagestores = ["{image_store / "graph"}"]\n'
    )


def inventory_yaml(nodes: list[Node]) -> str:
    """ankplan inventory for the bed; paths are relative to the inventory file."""
    lines = [
        "defaults:",
        "  connection: ssh",
        "  user: root",
        "  port: 22",
        "  identity_file: id_ed25519",
        "  known_hosts_file: known_hosts",
        "  connect_timeout: 5",
        "nodes:",
    ]
    lines += [f"  {n.name}: {{host: {n.host}, port: {n.port}}}" for n in nodes]
    lines += ["agents:"] + [f"  {n.name}: {n.name}" for n in nodes]
    return "\n".join(lines) + "\n"


def ssh_config(nodes: list[Node], bed_dir: Path) -> str:
    """OpenSSH client config: `ssh -F ssh_config node1` with strict host keys."""
    blocks = [f"Host {n.name}\n  HostName {n.host}\n  Port {n.port}\n" for n in nodes]
    common = (
        f"Host *\n  User root\n  IdentityFile {bed_dir / 'id_ed25519'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {bed_dir / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n  ConnectTimeout 5\n"
    )
    return "".join(blocks) + common
