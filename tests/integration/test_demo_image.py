"""The demo image's stub workload behaves as tests and examples rely on (local Podman).

Integration tests: real containers of localhost/ankplan-demo:latest on this machine's Podman.
"""

from __future__ import annotations

import socket
import subprocess
import time

import pytest
from conftest import BUILD_SH, LocalPodman

pytestmark = pytest.mark.integration


def start(podman: LocalPodman, image: str, *argv: str, network: str = "bridge") -> str:
    """Run a labelled container detached; returns its id."""
    proc = podman.run("run", "-d", "--label", podman.label, "--network", network, image, *argv)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def wait_for_log(podman: LocalPodman, container: str, text: str, timeout: float = 10) -> str:
    """Container logs once they contain text (fails after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = podman.run("logs", container)
        if text in logs.stdout + logs.stderr:
            return logs.stdout + logs.stderr
        assert time.monotonic() < deadline, f"no {text!r} in logs: {logs.stdout}{logs.stderr}"
        time.sleep(0.2)


def wait_exit_code(podman: LocalPodman, container: str, timeout: float = 10) -> int:
    """Exit code once the container has exited (fails after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        state = podman.run(
            "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container
        )
        status, code = state.stdout.split()
        if status in ("exited", "stopped"):
            return int(code)
        assert time.monotonic() < deadline, f"{container} still {status}"
        time.sleep(0.2)


def free_port() -> int:
    """A TCP port that is free on this machine right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_job_logs_and_exits_with_its_code(local_podman: LocalPodman, demo_image: str) -> None:
    proc = local_podman.run(
        "run", "--rm", "--label", local_podman.label, demo_image, "stub", "job", "0", "3"
    )
    assert proc.returncode == 3
    assert "done, exit code 3" in proc.stdout


def test_stop_is_prompt_and_exits_zero(local_podman: LocalPodman, demo_image: str) -> None:
    server = start(local_podman, demo_image, "stub", "serve", "8080")
    wait_for_log(local_podman, server, "serving HTTP on port 8080")
    started = time.monotonic()
    assert local_podman.run("stop", "-t", "10", server).returncode == 0
    assert time.monotonic() - started < 3
    assert wait_exit_code(local_podman, server) == 0


def test_client_reports_connection_and_fails_when_it_is_lost(
    local_podman: LocalPodman, demo_image: str
) -> None:
    server = start(local_podman, demo_image, "stub", "serve", "8080")
    address = local_podman.run(
        "inspect", "--format", "{{.NetworkSettings.IPAddress}}", server
    ).stdout.strip()
    client = start(local_podman, demo_image, "stub", "client", "--needs", f"{address}:8080")
    wait_for_log(local_podman, client, f"connected to {address}:8080")
    local_podman.run("stop", "-t", "10", server)
    assert wait_exit_code(local_podman, client) == 1
    assert f"ERROR: lost connection to {address}:8080" in wait_for_log(
        local_podman, client, "ERROR"
    )


def test_client_waits_for_a_late_dependency(local_podman: LocalPodman, demo_image: str) -> None:
    port = free_port()
    client = start(
        local_podman,
        demo_image,
        "stub",
        "client",
        "--port",
        str(free_port()),
        "--needs",
        f"127.0.0.1:{port}",
        network="host",
    )
    time.sleep(1.5)
    server = start(local_podman, demo_image, "stub", "serve", str(port), network="host")
    wait_for_log(local_podman, client, f"connected to 127.0.0.1:{port}")
    assert (
        local_podman.run("inspect", "--format", "{{.State.Status}}", client).stdout.strip()
        == "running"
    )
    local_podman.run("stop", "-t", "10", server, client)


def test_client_without_its_dependency_fails_after_waiting(
    local_podman: LocalPodman, demo_image: str
) -> None:
    proc = local_podman.run(
        "run",
        "--rm",
        "--label",
        local_podman.label,
        "-e",
        "STUB_CONNECT_WAIT=1",
        "--network",
        "host",
        demo_image,
        "stub",
        "client",
        "--needs",
        f"127.0.0.1:{free_port()}",
    )
    assert proc.returncode == 1
    assert "cannot connect to 127.0.0.1:" in proc.stderr


def test_env_prints_environment_and_health_file_follows_the_file(
    local_podman: LocalPodman, demo_image: str
) -> None:
    ctr = local_podman.run(
        "run",
        "-d",
        "--label",
        local_podman.label,
        "-e",
        "DEMO_SECRET=s3cr3t",
        demo_image,
        "stub",
        "env",
    ).stdout.strip()
    wait_for_log(local_podman, ctr, "DEMO_SECRET=s3cr3t")
    assert local_podman.run("exec", ctr, "stub", "health-file", "/tmp/healthy").returncode == 1
    assert local_podman.run("exec", ctr, "touch", "/tmp/healthy").returncode == 0
    assert local_podman.run("exec", ctr, "stub", "health-file", "/tmp/healthy").returncode == 0
    started = time.monotonic()
    local_podman.run("stop", "-t", "10", ctr)
    assert time.monotonic() - started < 3


def test_build_is_skipped_when_the_image_is_current(demo_image: str) -> None:
    proc = subprocess.run([str(BUILD_SH)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout
