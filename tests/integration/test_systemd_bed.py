"""The systemd test bed: nodes boot systemd as PID 1 (252 / 257) with Podman (4.3 / 5.4) and sshd inside, each
with its own Podman, reachable over SSH only with the host keys the bed recorded.

Integration tests: scripts/systemd-bed.sh's nodes, the system ssh client.
"""

from __future__ import annotations

import dataclasses

import pytest
from conftest import DEMO_IMAGE
from systemd_bed import SystemdBed

pytestmark = pytest.mark.integration


def test_nodes_run_systemd_podman_and_the_demo_image(clean_systemd_bed: SystemdBed) -> None:
    bed = clean_systemd_bed
    for node in bed.nodes:
        out = bed.sh(node.name, "systemctl is-system-running; cat /proc/1/comm; "
                                "systemctl --version | head -1; podman --version; "
                                f"podman image exists {DEMO_IMAGE} && echo image")
        state, init, systemd, podman, image = out.splitlines()
        assert state in ("running", "degraded") and init == "systemd", out
        want = ("systemd 252 ", "podman version 4.3") if bed.suite == "bookworm" else (
            "systemd 257 ", "podman version 5.4")
        assert systemd.startswith(want[0]) and podman.startswith(want[1]), out
        assert image == "image"
    bed.sh("node1", f"podman run -d --name only-here {DEMO_IMAGE} stub idle")
    assert "only-here" not in bed.sh("node2", "podman ps -a --format '{{.Names}}'")


def test_host_keys_are_checked_strictly(clean_systemd_bed: SystemdBed, tmp_path) -> None:
    bed = clean_systemd_bed
    # node2's address with node1's key: a host presenting another key is refused
    lines = bed.known_hosts.read_text().splitlines()
    key_of_node1 = lines[0].split(" ", 1)[1]
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{bed.node('node2').host} {key_of_node1}\n")
    forged = dataclasses.replace(bed, dir=tmp_path)
    (tmp_path / "id_ed25519").symlink_to(bed.key)
    proc = forged.ssh("node2", ["true"])
    assert proc.returncode == 255 and "Host key verification failed" in proc.stderr, proc.stderr
    assert bed.ssh("node2", ["true"]).returncode == 0
