"""Session fixtures: the demo image, a real 3-node SSH test bed, a 2-node bed with systemd as
PID 1 (systemd_bed.py), and container clean-up.

Does I/O: runs examples/images/build.sh, scripts/testbed.py, scripts/systemd-bed.sh, ssh and
podman. Nothing here skips:
when the bed cannot come up, every test that needs it errors with the reason.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from systemd_bed import SystemdBed
from systemd_bed import claim_slot as claim_systemd_slot
from systemd_bed import load_bed as load_systemd_bed
from systemd_bed import run_bed as run_systemd_bed

REPO = Path(__file__).resolve().parent.parent
TESTBED_PY = REPO / "scripts" / "testbed.py"
BUILD_SH = REPO / "examples" / "images" / "build.sh"
DEMO_IMAGE = "localhost/ankplan-demo:latest"
BED_NODES = 3
LOCK_DIR = Path("/run/ankplan-tb")  # testbed.py's run base; slot owner locks live here
SLOTS = 6
SYSTEMD_BED_NODES = 3
# bookworm: systemd 252 + Podman 4.3 (generated-style units); trixie: systemd 257 + Podman 5.4
# (Quadlet files). Every test on the systemd bed runs on both.
SYSTEMD_BED_SUITES = ("bookworm", "trixie")
# Pods first (their infra containers cannot go alone), then containers, then networks.
CLEAN_NODE = ("podman pod rm -a -f -t 0 >/dev/null; podman rm -a -f -t 0 >/dev/null; "
              "podman network prune -f >/dev/null")


@dataclass(frozen=True)
class BedNode:
    """One test-bed node as the tests reach it."""

    name: str
    host: str
    port: int


@dataclass(frozen=True)
class TestBed:
    """A running test bed: its folder, nodes, client key and known_hosts."""

    __test__ = False  # not a test class

    dir: Path
    nodes: tuple[BedNode, ...]
    key: Path
    known_hosts: Path
    inventory_path: Path

    def node(self, node_name: str) -> BedNode:
        """The node called `node_name`."""
        return next(node for node in self.nodes if node.name == node_name)

    def write_inventory(self, path: Path, agents: dict[str, str]) -> Path:
        """Write an ankplan inventory at `path` mapping agent -> node name; returns `path`."""
        path = Path(path)
        lines = [
            "defaults:",
            "  connection: ssh",
            "  user: root",
            "  port: 22",
            f"  identity_file: {self.key}",
            f"  known_hosts_file: {self.known_hosts}",
            "  connect_timeout: 5",
            "nodes:",
        ]
        lines += [f"  {n.name}: {{host: {n.host}, port: {n.port}}}" for n in self.nodes]
        lines += ["agents:"] + [f"  {agent}: {node}" for agent, node in sorted(agents.items())]
        path.write_text("\n".join(lines) + "\n")
        return path

    def ssh_argv(self, node_name: str, argv: list[str] | tuple[str, ...]) -> list[str]:
        """System ssh argv running argv (quoted with shlex.join) on the node, strict host keys."""
        node = self.node(node_name)
        return [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-i",
            str(self.key),
            "-p",
            str(node.port),
            f"root@{node.host}",
            shlex.join(argv),
        ]

    def ssh(
        self, node_name: str, argv: list[str] | tuple[str, ...], timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run argv on the node over SSH; returns the completed process (not checked)."""
        return subprocess.run(
            self.ssh_argv(node_name, argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def podman(
        self, node_name: str, *args: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run `podman *args` on the node over SSH."""
        return self.ssh(node_name, ["podman", *args], timeout=timeout)

    def store_folder(self, node_name: str) -> str:
        """The tree of workload folders ankplan keeps for this node's Podman (nodestore.py)."""
        from ankplan.model import Node
        from ankplan.podman import nodestore

        proc = self.ssh(node_name, list(nodestore.read_argv(Node(name=node_name), "none")))
        assert proc.returncode == 0, proc.stderr
        return nodestore.parse_store(proc.stdout, "none").folder

    def remove_all_containers(self) -> None:
        """Remove every pod and container on every node (in parallel), and ankplan's folders
        there."""

        def clean(name: str) -> None:
            self.ssh(
                name,
                ["sh", "-c", CLEAN_NODE],
            )
            folder = self.store_folder(name)
            if folder.startswith("/var/lib/ankplan/podman-"):
                self.ssh(name, ["rm", "-rf", "--", folder])

        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            list(pool.map(clean, [n.name for n in self.nodes]))


def run_cli(*argv: str) -> tuple[int, str, str]:
    """ankplan in-process without a terminal: (exit status, stdout, stderr)."""
    from ankplan.cli import main as cli_main
    from ankplan.cli.env import Env

    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(""), environ={},
              stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    return cli_main.main(list(argv), env), stdout.getvalue(), stderr.getvalue()


def run_testbed(*args: str) -> subprocess.CompletedProcess[str]:
    """Run scripts/testbed.py with args."""
    return subprocess.run(
        ["python3", str(TESTBED_PY), *args],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def load_bed(bed_dir: Path) -> TestBed:
    """The TestBed described by bed_dir/bed.json."""
    record = json.loads((bed_dir / "bed.json").read_text())
    nodes = tuple(BedNode(n["name"], n["host"], int(n["port"])) for n in record["nodes"])
    return TestBed(
        dir=bed_dir,
        nodes=nodes,
        key=bed_dir / record["key"],
        known_hosts=bed_dir / record["known_hosts"],
        inventory_path=bed_dir / record["inventory"],
    )


def claim_slot() -> tuple[int, int]:
    """Lock a free test-bed slot for this session: (slot, lock fd). Prefers slot 0.

    Slots hold separate address ranges, so concurrent sessions on one machine do not collide;
    a slot running a bed someone made by hand (owner other than pytest) is left alone if possible.
    """
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    claimed = []
    for slot in range(SLOTS):
        fd = os.open(LOCK_DIR / f"s{slot}.owner.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if not hand_made_bed_runs(slot):
            for _, other in claimed:
                os.close(other)
            return slot, fd
        claimed.append((slot, fd))
    if claimed:
        for _, other in claimed[1:]:
            os.close(other)
        return claimed[0]
    pytest.fail(f"no free test-bed slot: all {SLOTS} are in use by other test sessions")


def hand_made_bed_runs(slot: int) -> bool:
    """True when the slot runs a bed brought up by hand (not by a pytest session)."""
    try:
        state = json.loads((LOCK_DIR / f"s{slot}.json").read_text())
    except (OSError, ValueError):
        return False
    if state.get("owner") == "pytest":
        return False
    return any(
        n.get("sshd_pid") and Path(f"/proc/{n['sshd_pid']}").exists() for n in state["nodes"]
    )


@pytest.fixture(scope="session")
def demo_image() -> str:
    """Build localhost/ankplan-demo:latest in the local Podman (once); returns its name."""
    proc = subprocess.run([str(BUILD_SH)], capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        pytest.fail(f"building the demo image failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return DEMO_IMAGE


@pytest.fixture(scope="session")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBed]:
    """A running 3-node netns test bed (or the one ANKPLAN_TESTBED_DIR names), down at the end."""
    given = os.environ.get("ANKPLAN_TESTBED_DIR")
    if given:
        bed_dir = Path(given).resolve()
        proc = run_testbed("status", "--dir", str(bed_dir))
        if proc.returncode != 0:
            reason = f"{proc.stdout}{proc.stderr}".strip()
            pytest.fail(f"ANKPLAN_TESTBED_DIR={given} is not a running test bed:\n{reason}")
        yield load_bed(bed_dir)
        return
    slot, lock_fd = claim_slot()
    bed_dir = tmp_path_factory.mktemp("testbed")
    try:
        proc = run_testbed(
            "up",
            "--nodes",
            str(BED_NODES),
            "--dir",
            str(bed_dir),
            "--slot",
            str(slot),
            "--owner",
            "pytest",
        )
        if proc.returncode != 0:
            pytest.fail(
                f"the test bed did not come up: {proc.stderr.strip() or proc.stdout.strip()}"
            )
        yield load_bed(bed_dir)
    finally:
        run_testbed("down", "--dir", str(bed_dir))
        os.close(lock_fd)


@pytest.fixture
def clean_nodes(testbed: TestBed) -> Iterator[TestBed]:
    """The test bed; every container on every node is removed after the test."""
    yield testbed
    testbed.remove_all_containers()


@dataclass(frozen=True)
class LocalPodman:
    """Local Podman for one test: containers carrying `label` are removed after the test."""

    label_key: str
    label_value: str
    project: str  # a unique ankplan project name; its containers are removed too

    @property
    def label(self) -> str:
        """`key=value`, for `podman run --label` and `--filter label=`."""
        return f"{self.label_key}={self.label_value}"

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `podman *args` locally."""
        return subprocess.run(
            ["podman", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def cleanup(self) -> None:
        """Remove this test's containers."""
        for label in (self.label, f"ankplan.project={self.project}"):
            ids = self.run("ps", "-aq", "--filter", f"label={label}").stdout.split()
            if ids:
                self.run("rm", "-f", "-t", "0", *ids)


@pytest.fixture
def local_podman(demo_image: str) -> Iterator[LocalPodman]:
    """Local Podman with a per-test label; containers with it are removed after the test."""
    token = uuid.uuid4().hex[:10]
    podman = LocalPodman(label_key="ankplan-test", label_value=token, project=f"test-{token}")
    yield podman
    podman.cleanup()


@pytest.fixture(scope="session")
def bed_registry(testbed: TestBed) -> str:
    """The test bed's image registry (docker-registry on node1, plain HTTP, trusted only by the
    bed's nodes), started on first use; its `host:port`."""
    proc = run_testbed("registry", "--dir", str(testbed.dir))
    if proc.returncode != 0:
        pytest.fail(f"the bed's registry did not start: {proc.stderr.strip() or proc.stdout}")
    return proc.stdout.strip()


def run_ankplan(*argv: str) -> tuple[int, str, str]:
    """Run ankplan in-process without a terminal; (exit status, stdout, stderr)."""
    import io

    from ankplan.cli import main as cli_main
    from ankplan.cli.env import Env

    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(""), environ={},
              stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    status = cli_main.main(list(argv), env)
    return status, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="session", params=SYSTEMD_BED_SUITES)
def systemd_bed(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[SystemdBed]:
    """Three nodes with systemd as PID 1, Podman and sshd (scripts/systemd-bed.sh), of each
    flavour in SYSTEMD_BED_SUITES, down at the end; a flavour's node image is built on first
    use and cached (about 65 s once)."""
    suite = request.param
    slot, lock_fd = claim_systemd_slot()
    if slot < 0:
        pytest.fail("no free systemd-bed slot: all are in use by other test sessions")
    bed_dir = tmp_path_factory.mktemp(f"systemd-bed-{suite}")
    try:
        proc = run_systemd_bed("up", str(bed_dir), str(slot), str(SYSTEMD_BED_NODES),
                               suite=suite)
        if proc.returncode != 0:
            pytest.fail(f"the systemd bed did not come up: {proc.stderr.strip()[-2000:]}")
        yield load_systemd_bed(bed_dir)
    finally:
        run_systemd_bed("down", str(slot))
        os.close(lock_fd)


@pytest.fixture
def clean_systemd_bed(systemd_bed: SystemdBed) -> Iterator[SystemdBed]:
    """The systemd bed; ankplan's units, every container and ankplan's folders are removed
    after the test."""
    yield systemd_bed
    systemd_bed.clean()
