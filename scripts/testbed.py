#!/usr/bin/env python3
"""Test bed of N real SSH nodes, each with its own sshd and its own Podman, on one machine.

Does I/O: runs ip, nsenter, unshare, sshd, ssh-keygen, podman and docker-registry (root only);
see docs testbed.md.  usage: testbed.py up --nodes N [--dir D] [--mode netns|loopback] [--slot S]
                        testbed.py down [--dir D] [--purge] | status [--dir D]
                        testbed.py registry [--dir D]  (start the bed's registry, print host:port)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from testbed_layout import (
    BRIDGE,
    BRIDGE_CIDR,
    BUILD_SH,
    DEMO_IMAGE,
    IMAGE_STORE,
    PAUSE_SH,
    PRIVATE_DIRS,
    RUN_BASE,
    SLOTS,
    BedError,
    Node,
    containers_conf,
    inventory_yaml,
    make_nodes,
    ssh_config,
    sshd_config,
    storage_conf,
)
from testbed_nodes import (
    SSHD,
    leftover_indices,
    node_argv,
    node_from_run_dir,
    port_open,
    read_json,
    remove_bridge_if_unused,
    run,
    scan_processes,
    sshd_pid,
    teardown_nodes,
)
from testbed_registry import registries_conf, registry_address, start_registry

# --- small I/O helpers ----------------------------------------------------------------------


def write_if_changed(path: Path, content: str, mode: int = 0o644) -> bool:
    """Write `content` unless the file already holds it; True when written."""
    try:
        if path.read_text() == content:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content)
    tmp.chmod(mode)
    tmp.replace(path)
    return True


# --- bring-up --------------------------------------------------------------------------------


def ensure_keys(bed_dir: Path, nodes: list[Node]) -> None:
    """Generate the client key and each node's host key where missing (in parallel)."""
    wanted = [(bed_dir / "id_ed25519", "ankplan-testbed-client")]
    wanted += [(n.path("node", "ssh_host_ed25519_key"), f"{n.name}-host") for n in nodes]
    jobs = []
    for key, comment in wanted:
        if not key.exists() or not key.with_suffix(".pub").exists():
            key.parent.mkdir(parents=True, exist_ok=True)
            key.unlink(missing_ok=True)
            jobs.append(
                subprocess.Popen(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
                    stdout=subprocess.DEVNULL,
                )
            )
    if any(job.wait() != 0 for job in jobs):
        raise BedError("ssh-keygen failed")


def bed_files(
    bed_dir: Path, nodes: list[Node], image_store: Path
) -> dict[Path, tuple[str, int, str]]:
    """Every file the bed needs: path -> (content, mode, node name or "" for client files)."""
    pub = (bed_dir / "id_ed25519.pub").read_text()
    known = "".join(
        f"{n.name},{n.host} "
        + " ".join(n.path("node", "ssh_host_ed25519_key.pub").read_text().split()[:2])
        + "\n"
        for n in nodes
    )
    files = {
        bed_dir / "authorized_keys": (pub, 0o600, ""),
        bed_dir / "known_hosts": (known, 0o644, ""),
        bed_dir / "ssh_config": (ssh_config(nodes, bed_dir), 0o644, ""),
        bed_dir / "inventory.yaml": (inventory_yaml(nodes), 0o644, ""),
    }
    registry = registry_address(nodes)
    for n in nodes:
        files[n.path("node", "registries.conf")] = (registries_conf(registry), 0o644, n.name)
        files[n.path("node", "containers.conf")] = (containers_conf(n), 0o644, n.name)
        files[n.path("node", "storage.conf")] = (storage_conf(n, image_store), 0o644, n.name)
        files[n.path("run", "sshd_config")] = (sshd_config(n, bed_dir), 0o600, n.name)
        files[n.path("run", "authorized_keys")] = (pub, 0o600, "")
        files[n.path("run", "node.json")] = (json.dumps(asdict(n), indent=1) + "\n", 0o644, n.name)
        files[n.path("run", "bashrc")] = (
            "# ankplan test-bed node: stock, nothing to load\n",
            0o644,
            n.name,
        )
    return files


def changed_nodes(files: dict[Path, tuple[str, int, str]]) -> set[str]:
    """Names of nodes whose files on disk differ from `files` (so their sshd must restart)."""
    changed = set()
    for path, (content, _, owner) in files.items():
        try:
            same = path.read_text() == content
        except OSError:
            same = False
        if owner and not same:
            changed.add(owner)
    return changed


def node_healthy(node: Node) -> bool:
    """True when the node's sshd runs from its current config and answers."""
    if node.netns and not (
        Path("/run/netns", node.netns).exists()
        and Path("/sys/class/net", node.veth, "master").exists()
    ):
        return False
    return sshd_pid(node) is not None and port_open(node.host, node.port)


def ensure_network(nodes: list[Node]) -> None:
    """Create the bridge if needed and a netns + veth pair per node (nodes are new)."""
    host_cmds = []
    if not Path("/sys/class/net", BRIDGE).exists():
        host_cmds.append(f"link add {BRIDGE} type bridge")
    addrs = run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE], check=False).stdout
    if BRIDGE_CIDR not in addrs:
        host_cmds.append(f"addr replace {BRIDGE_CIDR} dev {BRIDGE}")
    # Fixed MACs (bridge and nodes): a re-created node or bridge keeps its MAC, so the
    # neighbour caches of the host and of the other nodes never point at a vanished address.
    host_cmds.append(f"link set {BRIDGE} address 02:a7:ff:00:00:01 up")
    for n in nodes:
        mac = f"02:a7:{n.slot:02x}:00:{n.index:02x}"
        host_cmds += [
            f"netns add {n.netns}",
            (
                f"link add {n.veth} address {mac}:01 type veth "
                f"peer name eth0 address {mac}:00 netns {n.netns}"
            ),
            f"link set {n.veth} master {BRIDGE} up",
        ]
    run(["ip", "-batch", "-"], stdin="\n".join(host_cmds) + "\n")
    jobs = [
        (
            n,
            subprocess.Popen(
                ["ip", "-n", n.netns, "-batch", "-"],
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for n in nodes
    ]
    for node, job in jobs:
        _, err = job.communicate(
            f"addr add {node.host}/24 dev eth0\nlink set eth0 up\nlink set lo up\n"
        )
        if job.returncode != 0:
            raise BedError(f"configuring {node.netns} failed: {err.strip()}")


def start_sshds(nodes: list[Node]) -> None:
    """Start every node's sshd in its netns and private mount ns; wait until all listen."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    for target in PRIVATE_DIRS.values():
        Path(target).mkdir(parents=True, exist_ok=True)  # mount points for the private dirs
    for node in nodes:
        for sub in (*PRIVATE_DIRS, "libpod", "runroot"):
            node.path("run", sub).mkdir(parents=True, exist_ok=True)
        node.path("run", "sshd.pid").unlink(missing_ok=True)
    jobs = [
        (
            n,
            subprocess.Popen(
                node_argv(n, [SSHD, "-f", str(n.path("run", "sshd_config"))]),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for n in nodes
    ]
    for node, job in jobs:
        _, err = job.communicate()
        if job.returncode != 0:
            raise BedError(f"sshd of {node.name} did not start: {err.strip()}")
    deadline = time.monotonic() + 10
    waiting = list(nodes)
    while waiting:
        waiting = [n for n in waiting if not (sshd_pid(n) and port_open(n.host, n.port, 0.2))]
        if waiting and time.monotonic() > deadline:
            raise BedError(f"sshd of {', '.join(n.name for n in waiting)} not listening after 10 s")
        time.sleep(0.01 if waiting else 0)


def seed_image_store(image_store: Path) -> subprocess.Popen[str]:
    """Start building the demo image into the shared image store (a no-op when up to date)."""
    return subprocess.Popen(
        [str(BUILD_SH), "--store", str(image_store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def seed_pause_image(image_store: Path) -> None:
    """Put Podman's pause image (for `kube play` and pods) into the shared store, once."""
    proc = run([str(PAUSE_SH), "--store", str(image_store)], check=False)
    if proc.returncode != 0:
        raise BedError(f"building podman's pause image failed: {proc.stderr.strip()}")


def ssh_argv(bed_dir: Path, node: Node, argv: list[str]) -> list[str]:
    """System ssh client argv that runs argv on the node with strict host keys."""
    return ["ssh", "-F", str(bed_dir / "ssh_config"), node.name, shlex.join(argv)]


def verify_image(bed_dir: Path, node: Node) -> None:
    """Check over SSH that the node logs in with the key and sees the demo image."""
    proc = run(
        ssh_argv(bed_dir, node, ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"]),
        check=False,
    )
    if proc.returncode != 0 or DEMO_IMAGE not in proc.stdout.split():
        raise BedError(
            f"{node.name} does not see {DEMO_IMAGE} over ssh: "
            f"{(proc.stderr or proc.stdout).strip() or 'image missing'}"
        )


def bed_lock() -> int:
    """Take the machine-wide test-bed lock (beds of all slots share the bridge); close fd to free."""
    RUN_BASE.mkdir(parents=True, exist_ok=True)
    fd = os.open(RUN_BASE / "op.lock", os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def up(bed_dir: Path, count: int, mode: str, slot: int, owner: str, verify: bool) -> dict:
    """Bring the bed to N running nodes from whatever state is left; returns bed.json's content."""
    nodes = make_nodes(bed_dir, count, mode, slot)
    build = seed_image_store(IMAGE_STORE)
    ensure_keys(bed_dir, nodes)
    files = bed_files(bed_dir, nodes, IMAGE_STORE)
    changed = changed_nodes(files)
    keep = {n.index for n in nodes if n.name not in changed and node_healthy(n)}
    leftovers = sorted(leftover_indices(slot, scan_processes()) - keep)
    stale = [node_from_run_dir(slot, index) for index in leftovers]
    teardown_nodes(stale + [n for n in nodes if n.index not in keep and n not in stale])
    for path, (content, mode_bits, _) in files.items():
        write_if_changed(path, content, mode_bits)
    save_bed(bed_dir, bed_record(bed_dir, nodes, mode, slot, owner))  # `down` can undo a failed up
    fresh = [n for n in nodes if n.index not in keep]
    if fresh and mode == "netns":
        ensure_network(fresh)
    if build.wait() != 0:
        raise BedError(f"building the demo image failed: {build.communicate()[1].strip()}")
    seed_pause_image(IMAGE_STORE)
    if fresh:
        start_sshds(fresh)
    bed = bed_record(bed_dir, nodes, mode, slot, owner)
    save_bed(bed_dir, bed, RUN_BASE / f"s{slot}.json")
    if verify:
        verify_image(bed_dir, nodes[0])
    return bed


def save_bed(bed_dir: Path, bed: dict, *more: Path) -> None:
    """Write bed.json (and copies, such as the slot's state file) when its content changed."""
    for path in (bed_dir / "bed.json", *more):
        write_if_changed(path, json.dumps(bed, indent=1) + "\n")


def bed_record(bed_dir: Path, nodes: list[Node], mode: str, slot: int, owner: str) -> dict:
    """bed.json: what fixtures need to reach the nodes."""
    return {
        "dir": str(bed_dir),
        "mode": mode,
        "slot": slot,
        "owner": owner,
        "bridge": BRIDGE,
        "image_store": str(IMAGE_STORE),
        "key": "id_ed25519",
        "known_hosts": "known_hosts",
        "ssh_config": "ssh_config",
        "inventory": "inventory.yaml",
        "registry": registry_address(nodes),  # started on demand: `testbed.py registry`
        "nodes": [
            {
                "name": n.name,
                "host": n.host,
                "port": n.port,
                "netns": n.netns,
                "node_dir": n.node_dir,
                "run_dir": n.run_dir,
                "sshd_pid": sshd_pid(n),
            }
            for n in nodes
        ],
    }


def down(bed_dir: Path, purge: bool) -> None:
    """Remove everything the bed made; safe when parts (or all) are already gone."""
    bed = read_json(bed_dir / "bed.json")
    if bed is None:
        return
    slot = int(bed["slot"])
    fd = bed_lock()
    try:
        state = read_json(RUN_BASE / f"s{slot}.json")
        if state is None or state.get("dir") == str(bed_dir):  # else another bed took the slot
            stale = [
                node_from_run_dir(slot, i) for i in sorted(leftover_indices(slot, scan_processes()))
            ]
            teardown_nodes(stale)
            (RUN_BASE / f"s{slot}.json").unlink(missing_ok=True)
            remove_bridge_if_unused()
        for node in bed["nodes"]:
            for sub in ("storage", "networks", "registry"):
                shutil.rmtree(Path(node["node_dir"], sub), ignore_errors=True)
        (bed_dir / "bed.json").unlink(missing_ok=True)
        if purge:
            shutil.rmtree(bed_dir, ignore_errors=True)
    finally:
        os.close(fd)


def registry(bed_dir: Path) -> str:
    """Start the bed's registry on node1 unless it runs; its `host:port`."""
    bed = read_json(bed_dir / "bed.json")
    if bed is None:
        raise BedError(f"no test bed in {bed_dir}")
    node1 = node_from_run_dir(int(bed["slot"]), 1)
    address = registry_address([node1])
    start_registry(node1, address)
    return address


def status(bed_dir: Path) -> bool:
    """Print each node's state; True when all nodes run and answer."""
    bed = read_json(bed_dir / "bed.json")
    if bed is None:
        print(f"no test bed in {bed_dir}")
        return False
    healthy = True
    for record in bed["nodes"]:
        node = node_from_run_dir(int(bed["slot"]), int(record["name"].removeprefix("node")))
        ok = node.node_dir == record["node_dir"] and node_healthy(node)
        healthy = healthy and ok
        print(f"{record['name']:8} {record['host']}:{record['port']:<5} {'up' if ok else 'DOWN'}")
    return healthy


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="testbed.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "status", "registry"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--dir", default=".testbed", help="bed folder (default .testbed)")
    sub.choices["up"].add_argument("--nodes", type=int, required=True)
    sub.choices["up"].add_argument("--mode", choices=("netns", "loopback"), default="netns")
    sub.choices["up"].add_argument(
        "--slot",
        type=int,
        choices=range(SLOTS),
        default=0,
        help="which address range to use; 0 (default): 10.231.0.11+",
    )
    sub.choices["up"].add_argument("--owner", default="cli", help="who made the bed (recorded)")
    sub.choices["up"].add_argument(
        "--no-verify", action="store_true", help="skip the SSH check that node1 sees the demo image"
    )
    sub.choices["down"].add_argument("--purge", action="store_true", help="also delete --dir")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("testbed.py: error: must run as root", file=sys.stderr)
        return 1
    bed_dir = Path(args.dir).resolve()
    started = time.monotonic()
    try:
        if args.command == "up":
            bed_dir.mkdir(parents=True, exist_ok=True)
            bed_dir.chmod(0o700)
            fd = bed_lock()
            try:
                bed = up(bed_dir, args.nodes, args.mode, args.slot, args.owner, not args.no_verify)
            finally:
                os.close(fd)
            print(
                f"test bed up: {len(bed['nodes'])} nodes ({args.mode}) in {bed_dir} "
                f"[{time.monotonic() - started:.2f} s]"
            )
        elif args.command == "down":
            down(bed_dir, args.purge)
            print(f"test bed down: {bed_dir} [{time.monotonic() - started:.2f} s]")
        elif args.command == "registry":
            print(registry(bed_dir))
        else:
            return 0 if status(bed_dir) else 1
    except BedError as exc:
        print(f"testbed.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
