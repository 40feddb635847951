"""The SSH test bed gives each node its own Podman, strict host keys and clean up/down cycles.

Integration tests: real sshd nodes in network namespaces, real Podman, the system ssh client.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import DEMO_IMAGE, TestBed, load_bed, run_testbed

pytestmark = pytest.mark.integration


def names_on(testbed: TestBed, node_name: str) -> list[str]:
    """Container names on the node (all states)."""
    proc = testbed.podman(node_name, "ps", "-a", "--format", "{{.Names}}")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def alive(pid: int) -> bool:
    """True when pid runs (an exited, not yet reaped process does not count)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def processes_naming(text: str) -> list[int]:
    """Pids of live processes whose command line contains text."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode():
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if alive(pid) and pid != os.getpid()]


def bed_record(testbed: TestBed) -> dict:
    """bed.json of the running bed."""
    return json.loads((testbed.dir / "bed.json").read_text())


def up_again(testbed: TestBed) -> subprocess.CompletedProcess[str]:
    """`testbed.py up` with the running bed's own settings."""
    record = bed_record(testbed)
    return run_testbed(
        "up",
        "--nodes",
        str(len(record["nodes"])),
        "--dir",
        str(testbed.dir),
        "--mode",
        record["mode"],
        "--slot",
        str(record["slot"]),
        "--owner",
        record["owner"],
    )


def file_snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Modification time and content of every regular file under folder (storage left out)."""
    snapshot = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "storage" not in path.relative_to(folder).parts:
            snapshot[str(path)] = (path.stat().st_mtime_ns, path.read_bytes())
    return snapshot


def test_container_made_on_node1_is_invisible_on_node2_and_host(clean_nodes: TestBed) -> None:
    bed = clean_nodes
    made = bed.podman("node1", "run", "-d", "--name", "iso-check", DEMO_IMAGE, "stub", "idle")
    assert made.returncode == 0, made.stderr
    assert "iso-check" in names_on(bed, "node1")
    assert "iso-check" not in names_on(bed, "node2")
    host = subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.ID}}"], capture_output=True, text=True, check=False
    )
    assert made.stdout.strip()[:12] not in host.stdout.split()


def test_same_container_name_on_two_nodes(clean_nodes: TestBed) -> None:
    bed = clean_nodes
    ids = []
    for node in ("node1", "node2"):
        proc = bed.podman(node, "run", "-d", "--name", "twin", DEMO_IMAGE, "stub", "serve", "8080")
        assert proc.returncode == 0, proc.stderr
        ids.append(proc.stdout.strip())
    assert ids[0] != ids[1]
    for node in ("node1", "node2"):
        state = bed.podman(node, "inspect", "--format", "{{.State.Status}}", "twin")
        assert state.stdout.strip() == "running", state.stderr


def test_every_node_sees_the_shared_demo_image_and_runs_it(testbed: TestBed) -> None:
    for node in testbed.nodes:
        images = testbed.podman(node.name, "images", "--format", "{{.Repository}}:{{.Tag}}")
        assert DEMO_IMAGE in images.stdout.split(), images.stderr
    run = testbed.podman("node3", "run", "--rm", DEMO_IMAGE, "stub", "job", "0", "7")
    assert run.returncode == 7, run.stderr
    assert "done, exit code 7" in run.stdout


def test_strict_host_key_checking_with_generated_known_hosts(
    testbed: TestBed, tmp_path: Path
) -> None:
    node1 = testbed.node("node1")
    ok = testbed.ssh("node1", ["true"])
    assert ok.returncode == 0, ok.stderr
    # node2's key written down for node1's address must be refused.
    lines = testbed.known_hosts.read_text().splitlines()
    node2_key = next(line for line in lines if line.startswith("node2,")).split(" ", 1)[1]
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{node1.host} {node2_key}\n")
    bad = subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={wrong}",
            "-o",
            "BatchMode=yes",
            "-i",
            str(testbed.key),
            f"root@{node1.host}",
            "true",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
        check=False,
    )
    assert bad.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in bad.stderr


def test_unknown_host_is_refused_and_password_login_is_off(
    testbed: TestBed, tmp_path: Path
) -> None:
    node1 = testbed.node("node1")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    proc = subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={empty}",
            "-o",
            "BatchMode=yes",
            "-i",
            str(testbed.key),
            f"root@{node1.host}",
            "true",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 255 and "Host key verification failed" in proc.stderr
    nokey = subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={testbed.known_hosts}",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityFile=/dev/null",
            f"root@{node1.host}",
            "true",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
        check=False,
    )
    assert nokey.returncode == 255 and "Permission denied (publickey)" in nokey.stderr


def test_nodes_reach_each_other_with_host_and_bridge_networks(clean_nodes: TestBed) -> None:
    bed = clean_nodes
    node1 = bed.node("node1")
    served = bed.podman(
        "node1",
        "run",
        "-d",
        "--network",
        "host",
        "--name",
        "web",
        DEMO_IMAGE,
        "stub",
        "serve",
        "18080",
    )
    assert served.returncode == 0, served.stderr
    for network in ("host", "bridge"):
        probe = bed.podman(
            "node2",
            "run",
            "--rm",
            "--network",
            network,
            DEMO_IMAGE,
            "sh",
            "-c",
            f"for i in 1 2 3 4 5; do nc {node1.host} 18080 -e true && exit 0;"
            " sleep 0.2; done; exit 1",
        )
        assert probe.returncode == 0, (network, probe.stderr)


def test_up_twice_changes_nothing(testbed: TestBed) -> None:
    before_record = bed_record(testbed)
    before_files = file_snapshot(testbed.dir)
    proc = up_again(testbed)
    assert proc.returncode == 0, proc.stderr
    assert bed_record(testbed) == before_record  # same sshd pids: nothing restarted
    assert file_snapshot(testbed.dir) == before_files


def test_up_converges_after_the_sshds_were_killed(clean_nodes: TestBed) -> None:
    bed = clean_nodes
    assert (
        bed.podman(
            "node1", "run", "-d", "--name", "leftover", DEMO_IMAGE, "stub", "idle"
        ).returncode
        == 0
    )
    old_pids = [n["sshd_pid"] for n in bed_record(bed)["nodes"]]
    for pid in old_pids:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    assert bed.ssh("node1", ["true"]).returncode == 255
    proc = up_again(bed)
    assert proc.returncode == 0, proc.stderr
    new_pids = [n["sshd_pid"] for n in bed_record(bed)["nodes"]]
    assert not set(new_pids) & set(old_pids)
    assert bed.ssh("node1", ["true"]).returncode == 0
    assert names_on(bed, "node1") == []  # a restarted node starts with empty storage


def test_down_removes_everything_then_up_works(testbed: TestBed) -> None:
    record = bed_record(testbed)
    known_hosts = testbed.known_hosts.read_text()
    assert (
        testbed.podman(
            "node1", "run", "-d", "--name", "gone", DEMO_IMAGE, "stub", "idle"
        ).returncode
        == 0
    )
    os.kill(record["nodes"][1]["sshd_pid"], signal.SIGKILL)  # down must cope with a dead sshd
    down = run_testbed("down", "--dir", str(testbed.dir))
    assert down.returncode == 0, down.stderr
    netns = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout
    for node in record["nodes"]:
        assert node["netns"] not in netns
        assert not Path(node["run_dir"]).exists()
        assert not Path(node["node_dir"], "storage").exists()
        assert not alive(node["sshd_pid"])
    assert processes_naming(record["nodes"][0]["run_dir"] + "/") == []
    up = up_again_from(record)
    assert up.returncode == 0, up.stderr
    bed = load_bed(testbed.dir)
    assert testbed.known_hosts.read_text() == known_hosts  # host keys are kept
    assert bed.ssh("node2", ["true"]).returncode == 0
    assert names_on(bed, "node1") == []


def up_again_from(record: dict) -> subprocess.CompletedProcess[str]:
    """`testbed.py up` with the settings of a bed.json record."""
    return run_testbed(
        "up",
        "--nodes",
        str(len(record["nodes"])),
        "--dir",
        record["dir"],
        "--mode",
        record["mode"],
        "--slot",
        str(record["slot"]),
        "--owner",
        record["owner"],
    )
