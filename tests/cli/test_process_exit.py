"""How the `ankplan` process ends (cli/main.py `end_process`): its output is whole, a closed
stdout is an error without a traceback, and it does not linger for work it has abandoned.

Runs `python -m ankplan` in a fresh interpreter, as users run the console script; the slow
node is a local node whose podman program is a shell script that sleeps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from clirun import run_cli

ANKPLAN = (sys.executable, "-m", "ankplan")
# Python buffers stdout on a pipe unless PYTHONUNBUFFERED says otherwise: as users run it.
POLICE = str(Path(__file__).resolve().parents[2] / "examples" / "police" / "manifest.yaml")
BUFFERED = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


def test_all_output_reaches_a_pipe() -> None:
    """What is still in stdout's buffer when main() returns is written: a short answer (it
    stays in the buffer until the end) and a long one (the schema, more than the buffer)."""
    for argv in (("validate", POLICE), ("schema",)):
        done = subprocess.run([*ANKPLAN, *argv], capture_output=True, text=True, timeout=60,
                              check=False, env=BUFFERED)
        status, out, _ = run_cli(*argv)
        assert done.returncode == status == 0, done.stderr
        assert done.stdout == out and out.strip()
    json.loads(done.stdout)


def test_a_closed_stdout_is_an_error_without_a_traceback() -> None:
    """Like `ankplan validate x.yaml | head -c 0`: the reader is gone before ankplan writes,
    and the answer is short enough to wait in stdout's buffer until the end."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([*ANKPLAN, "validate", POLICE], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60, check=False, env=BUFFERED)
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


def test_a_broken_manifest_ends_the_process_without_waiting_for_a_slow_node(
        tmp_path: Path) -> None:
    """apply reaches the node while it reads the manifest (cli/nodes_ahead.py); the manifest is
    broken, the node answers after 20 s. The process reports the manifest's error and ends at
    once: it neither waits for the node's commands nor for the threads that ran them."""
    slow = tmp_path / "slow-podman"
    slow.write_text("#!/bin/sh\nexec sleep 20\n")
    slow.chmod(0o755)
    (tmp_path / "inventory.yaml").write_text(
        f"nodes:\n  local: {{connection: local, podman: {json.dumps(str(slow))}}}\n")
    (tmp_path / "manifest.yaml").write_text("apiVersion: v1\nworkloads: [\n")
    began = time.monotonic()
    done = subprocess.run([*ANKPLAN, "apply", "--yes", "-i", str(tmp_path / "inventory.yaml"),
                           str(tmp_path / "manifest.yaml")], capture_output=True, text=True,
                          timeout=60, check=False)
    took = time.monotonic() - began
    assert done.returncode == 1
    assert "manifest.yaml" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert took < 10, f"the process lingered {took:.1f} s for the slow node"
