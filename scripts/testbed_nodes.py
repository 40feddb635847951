"""Processes of test-bed nodes: how to run a command as a node, find its processes, tear it down.

Does I/O: reads /proc, sends signals, runs nsenter/unshare/ip/podman, removes node folders.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from testbed_layout import BRIDGE, PRIVATE_DIRS, RUN_BASE, SSHD, BedError, Node


def run(
    argv: list[str], stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run argv; on failure raise BedError with its stderr."""
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise BedError(
            f"{shlex.join(argv)[:200]} failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    return proc


def read_json(path: Path) -> dict | None:
    """JSON object in `path`, or None when missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when host:port accepts a TCP connection."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def mounts_script(node: Node) -> str:
    """Shell lines that give the node private /run dirs (and a stock ~/.bashrc) in its mount ns."""
    lines = ["set -e"]
    for sub, target in PRIVATE_DIRS.items():
        if sub != "networks" or node.mode == "netns":  # loopback nodes share one IPAM state
            lines.append(f"mount --bind {shlex.quote(str(node.path('run', sub)))} {target}")
    bashrc = Path.home() / ".bashrc"
    if bashrc.exists():  # keep a heavy root ~/.bashrc out of every SSH command on the node
        lines.append(f"mount --bind {shlex.quote(str(node.path('run', 'bashrc')))} {bashrc}")
    return "; ".join(lines)


def node_argv(node: Node, argv: list[str], enter_pid: int | None = None) -> list[str]:
    """argv that runs `argv` as the node: its netns, private mounts and Podman configuration."""
    env = [
        "env",
        f"CONTAINERS_CONF={node.path('node', 'containers.conf')}",
        f"CONTAINERS_STORAGE_CONF={node.path('node', 'storage.conf')}",
        f"CONTAINERS_REGISTRIES_CONF={node.path('node', 'registries.conf')}",
    ]
    if enter_pid is not None:
        return ["nsenter", "-t", str(enter_pid), "-m", "-n", "--", *env, *argv]
    script = f"{mounts_script(node)}; exec {shlex.join(env + argv)}"
    inner = ["unshare", "--mount", "--propagation", "slave", "--", "sh", "-c", script]
    if node.netns and Path("/run/netns", node.netns).exists():
        return ["nsenter", f"--net=/run/netns/{node.netns}", "--", *inner]
    return inner


@dataclass(frozen=True)
class Proc:
    """One process as seen in /proc."""

    pid: int
    ppid: int
    argv: tuple[str, ...]
    net: str
    mnt: str


def scan_processes() -> list[Proc]:
    """Every process's argv, parent and namespaces, read from /proc."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        base = f"/proc/{entry.name}"
        try:
            argv = tuple(
                a.decode(errors="replace")
                for a in Path(base, "cmdline").read_bytes().split(b"\0")
                if a
            )
            ppid = int(Path(base, "stat").read_text().rsplit(")", 1)[1].split()[1])
            found.append(
                Proc(
                    int(entry.name),
                    ppid,
                    argv,
                    os.readlink(f"{base}/ns/net"),
                    os.readlink(f"{base}/ns/mnt"),
                )
            )
        except (OSError, IndexError, ValueError):
            continue
    return found


def is_sshd_of(argv: tuple[str, ...], config: str) -> bool:
    """True when argv is an sshd listener started with `-f config` (sshd retitles itself)."""
    line = " ".join(argv)
    return line.startswith((f"{SSHD} -f {config}", f"sshd: {SSHD} -f {config} "))


def sshd_pid(node: Node, procs: list[Proc] | None = None) -> int | None:
    """Pid of the node's listening sshd, when it runs."""
    config = str(node.path("run", "sshd_config"))
    try:
        pid = int(node.path("run", "sshd.pid").read_text().split()[0])
        argv = tuple(Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0"))
        if is_sshd_of(argv, config):
            return pid
    except (OSError, ValueError, IndexError):
        pass
    return next((p.pid for p in procs or [] if is_sshd_of(p.argv, config)), None)


def node_pids(node: Node, procs: list[Proc]) -> set[int]:
    """Processes of the node: in its netns or mount ns, naming its run dir, and their children."""
    marker = node.run_dir + "/"
    netns_id = None
    if node.netns and Path("/run/netns", node.netns).exists():
        netns_id = f"net:[{os.stat(Path('/run/netns', node.netns)).st_ino}]"
    host_mnt = os.readlink("/proc/self/ns/mnt")
    config = str(node.path("run", "sshd_config"))
    mounts = {p.mnt for p in procs if is_sshd_of(p.argv, config)} - {host_mnt}
    owned = {
        p.pid
        for p in procs
        if p.net == netns_id or p.mnt in mounts or any(marker in a for a in p.argv)
    }
    children: dict[int, list[int]] = {}
    for proc in procs:
        children.setdefault(proc.ppid, []).append(proc.pid)
    todo = list(owned)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in owned:
                owned.add(child)
                todo.append(child)
    return owned - {os.getpid(), os.getppid()}


def namespace_holder(node: Node, procs: list[Proc]) -> int | None:
    """A live process in the node's mount namespace (its sshd, else a conmon), to nsenter."""
    pid = sshd_pid(node, procs)
    if pid is not None:
        return pid
    host_mnt, marker = os.readlink("/proc/self/ns/mnt"), node.run_dir + "/"
    return next(
        (
            p.pid
            for p in procs
            if p.argv
            and p.argv[0].endswith("conmon")
            and p.mnt != host_mnt
            and any(marker in a for a in p.argv)
        ),
        None,
    )


def kill_and_wait(pids: set[int], grace: float) -> None:
    """SIGTERM all pids, wait up to `grace` seconds for all, then SIGKILL the rest."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            pids = {pid for pid in pids if Path(f"/proc/{pid}").exists() and not is_zombie(pid)}
            time.sleep(0.02)
        if not pids:
            return


def is_zombie(pid: int) -> bool:
    """True when pid has exited but not been reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


# --- teardown --------------------------------------------------------------------------------


def node_from_run_dir(slot: int, index: int) -> Node:
    """A node as recorded in its run dir (node.json), or a bare guess when that is gone."""
    run_dir = RUN_BASE / f"s{slot}" / f"node{index}"
    record = read_json(run_dir / "node.json")
    if record:
        return Node(**record)
    return Node(
        name=f"node{index}",
        index=index,
        slot=slot,
        mode="netns",
        host="",
        port=22,
        node_dir="",
        run_dir=str(run_dir),
    )


def leftover_indices(slot: int, procs: list[Proc]) -> set[int]:
    """Node numbers of this slot that left anything behind: netns, veth, run dir or process."""
    netns = r"ankplan-node(\d+)" if slot == 0 else rf"ankplan-s{slot}-node(\d+)"
    found = set()
    for folder, pattern in (
        ("/run/netns", netns),
        ("/sys/class/net", rf"ankv{slot}n(\d+)"),
        (str(RUN_BASE / f"s{slot}"), r"node(\d+)"),
    ):
        names = os.listdir(folder) if os.path.isdir(folder) else []
        found |= {int(m.group(1)) for m in map(re.compile(pattern).fullmatch, names) if m}
    marker = re.compile(rf"{re.escape(str(RUN_BASE))}/s{slot}/node(\d+)/")
    for proc in procs:
        found |= {int(m.group(1)) for a in proc.argv for m in [marker.search(a)] if m}
    return found


def has_containers(node: Node) -> bool:
    """True when the node's storage records any container (cheap: no podman call)."""
    if not node.node_dir:
        return False
    return bool(
        read_json_list(Path(node.node_dir, "storage", "overlay-containers", "containers.json"))
    )


def read_json_list(path: Path) -> list:
    """JSON list in `path`, or [] when missing or unreadable."""
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, list) else []
    except (OSError, ValueError):
        return []


def remove_containers(node: Node, procs: list[Proc]) -> None:
    """`podman rm -af` as the node, so its storage does not leak containers."""
    if not has_containers(node) or not Path(node.node_dir, "containers.conf").exists():
        return
    for sub in PRIVATE_DIRS:
        node.path("run", sub).mkdir(parents=True, exist_ok=True)
    argv = node_argv(node, ["podman", "rm", "-a", "-f", "-t", "0"], namespace_holder(node, procs))
    subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def teardown_nodes(nodes: list[Node], remove_storage: bool = True) -> None:
    """Remove the nodes' containers, processes, netns, veths and run dirs (and storage)."""
    if not nodes:
        return
    procs = scan_processes()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda node: remove_containers(node, procs), nodes))
    procs = scan_processes()
    kill_and_wait(set().union(*(node_pids(node, procs) for node in nodes)), grace=3.0)
    batch = [f"link del {n.veth}" for n in nodes if Path("/sys/class/net", n.veth).exists()]
    batch += [
        f"netns del {n.netns}" for n in nodes if n.netns and Path("/run/netns", n.netns).exists()
    ]
    if batch:
        run(["ip", "-force", "-batch", "-"], stdin="\n".join(batch) + "\n", check=False)
    for node in nodes:
        shutil.rmtree(node.run_dir, ignore_errors=True)
        if remove_storage and node.node_dir:
            for sub in ("storage", "networks", "registry"):
                shutil.rmtree(node.path("node", sub), ignore_errors=True)


def remove_bridge_if_unused() -> None:
    """Delete the shared bridge once no node of any slot is attached to it."""
    ports = Path("/sys/class/net", BRIDGE, "brif")
    if ports.is_dir() and not os.listdir(ports):
        run(["ip", "link", "del", BRIDGE], check=False)
