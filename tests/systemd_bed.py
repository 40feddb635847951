"""The systemd test bed as the tests reach it: nodes booting systemd as PID 1 with Podman and
sshd inside (bookworm: 252 and 4.3; trixie: 257 and 5.4 with Quadlet), started by
scripts/systemd-bed.sh (a session fixture in conftest.py).

Does I/O: runs scripts/systemd-bed.sh, podman on the host (to reboot a node) and ssh.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BED_SH = REPO / "scripts" / "systemd-bed.sh"
LOCK_DIR = Path("/run/ankplan-tb")
SLOTS = 6
# Everything ankplan's units and containers leave on a node, removed between tests: the units
# named ankplan-*.service (the bed runs nothing else of that name), all containers, the folders.
CLEAN_NODE = (
    "for f in /etc/systemd/system/ankplan-*.service; do [ -e \"$f\" ] || continue; "
    "u=${f##*/}; systemctl disable --now -q \"$u\" 2>/dev/null; rm -f \"$f\"; "
    "systemctl reset-failed \"$u\" 2>/dev/null; done; "
    "for f in /etc/containers/systemd/ankplan-*.container; do [ -e \"$f\" ] || continue; "
    "u=${f##*/}; u=${u%.container}.service; systemctl stop \"$u\" 2>/dev/null; rm -f \"$f\"; "
    "systemctl reset-failed \"$u\" 2>/dev/null; done; "
    "rm -rf /etc/systemd/system/ankplan-*.service.d; systemctl daemon-reload; "
    "podman rm -a -f -t 0 >/dev/null; rm -rf /var/lib/ankplan"
)


@dataclass(frozen=True)
class SystemdNode:
    """One node: its name in inventories, its address, and the host container that is it."""

    name: str
    host: str
    container: str


@dataclass(frozen=True)
class SystemdBed:
    """A running systemd bed: its folder, nodes, client key and known_hosts."""

    dir: Path
    nodes: tuple[SystemdNode, ...]
    suite: str = "bookworm"  # bookworm: systemd 252, Podman 4.3; trixie: 257, 5.4 with Quadlet

    @property
    def quadlet(self) -> bool:
        """True when ankplan writes Quadlet files on these nodes (Podman >= 4.4)."""
        return self.suite != "bookworm"

    @property
    def key(self) -> Path:
        """The client's private key."""
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        """Every node's host key, read from the node itself (not scanned)."""
        return self.dir / "known_hosts"

    def node(self, node_name: str) -> SystemdNode:
        """The node called `node_name`."""
        return next(node for node in self.nodes if node.name == node_name)

    def write_inventory(self, path: Path, agents: dict[str, str],
                        supervisor: str | None = None) -> Path:
        """An ankplan inventory at `path` mapping agent -> node name (every node with
        `supervisor` when given); returns `path`."""
        lines = ["defaults:", "  connection: ssh", "  user: root", "  port: 22",
                 f"  identity_file: {self.key}", f"  known_hosts_file: {self.known_hosts}",
                 "  connect_timeout: 5"]
        if supervisor:
            lines.append(f"  supervisor: {supervisor}")
        lines.append("nodes:")
        lines += [f"  {n.name}: {{host: {n.host}}}" for n in self.nodes]
        lines += ["agents:"] + [f"  {agent}: {node}" for agent, node in sorted(agents.items())]
        path.write_text("\n".join(lines) + "\n")
        return path

    def ssh(self, node_name: str, argv: list[str] | tuple[str, ...],
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run argv (quoted with shlex.join) on the node over SSH, strict host keys; not
        checked."""
        ssh = ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=yes",
               "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "IdentitiesOnly=yes",
               "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-i", str(self.key),
               f"root@{self.node(node_name).host}", shlex.join(argv)]
        return subprocess.run(ssh, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)

    def sh(self, node_name: str, script: str, timeout: float = 120) -> str:
        """Run a shell script on the node; its stdout (fails the test on a non-zero exit)."""
        proc = self.ssh(node_name, ["sh", "-c", script], timeout=timeout)
        assert proc.returncode == 0, f"{script!r} on {node_name}: {proc.stderr}"
        return proc.stdout

    def reboot(self, node_name: str) -> float:
        """`podman restart` of the node's container (systemd stops every unit, then boots
        again); waits until the node's systemd is up and sshd answers. Seconds it took."""
        started = time.monotonic()
        container = self.node(node_name).container
        subprocess.run(["podman", "restart", "-t", "30", container], check=True,
                       capture_output=True, timeout=120)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            state = subprocess.run(["podman", "exec", container, "systemctl",
                                    "is-system-running"], capture_output=True, text=True,
                                   check=False).stdout.strip()
            if state in ("running", "degraded") and self.ssh(node_name, ["true"]).returncode == 0:
                return time.monotonic() - started
            time.sleep(0.25)
        raise AssertionError(f"{node_name} did not come back after podman restart")

    def clean(self) -> None:
        """Remove ankplan's units, every container and ankplan's folders on every node."""
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            list(pool.map(lambda n: self.sh(n.name, CLEAN_NODE), self.nodes))


def run_bed(*args: str, timeout: float = 600,
            suite: str = "bookworm") -> subprocess.CompletedProcess[str]:
    """Run scripts/systemd-bed.sh with args, for the flavour `suite` (bookworm, trixie)."""
    return subprocess.run([str(BED_SH), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False,
                          env={**os.environ, "SUITE": suite})


def claim_slot() -> tuple[int, int]:
    """Lock a free systemd-bed slot for this session: (slot, lock fd); (-1, -1) when none is
    free."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for slot in range(SLOTS):
        fd = os.open(LOCK_DIR / f"systemd-s{slot}.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return slot, fd
    return -1, -1


def load_bed(bed_dir: Path) -> SystemdBed:
    """The bed described by bed_dir/bed.env (NODEi=<container> <address> lines)."""
    nodes, suite = [], "bookworm"
    for line in (bed_dir / "bed.env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "SUITE":
            suite = value
        elif key.startswith("NODE"):
            container, host = value.split()
            nodes.append(SystemdNode(name=f"node{key[4:]}", host=host, container=container))
    return SystemdBed(dir=bed_dir, nodes=tuple(nodes), suite=suite)
