"""scripts/podman-setup.sh diagnoses Podman's known failures and fixes only what is needed.

Integration tests: real Podman, pointed at a scratch containers.conf through CONTAINERS_CONF
(podman then reads only that file), with a fake crun that fails the way crun does on these hosts.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.integration

SETUP = REPO / "scripts" / "podman-setup.sh"
FAKE_CRUN = """#!/bin/sh
case "$*" in
  *--version*) echo "crun version 1.8.1"; exit 0 ;;
  *" create "*|*" run "*)
    echo "cgroups in hybrid mode not supported, drop all controllers from cgroupv2" >&2
    exit 1 ;;
esac
exec runc "$@"
"""


def run_setup(conf: Path) -> subprocess.CompletedProcess[str]:
    """Run podman-setup.sh against the scratch config."""
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    return subprocess.run(
        ["bash", str(SETUP)], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_crun_hybrid_cgroup_failure_switches_to_runc_and_second_run_is_ok(
    tmp_path: Path, demo_image: str
) -> None:
    crun = tmp_path / "crun"
    crun.write_text(FAKE_CRUN)
    crun.chmod(0o755)
    conf = tmp_path / "containers.conf"
    conf.write_text(f'[engine]\nruntime = "crun"\n[engine.runtimes]\ncrun = ["{crun}"]\n')
    first = run_setup(conf)
    assert first.returncode == 0, first.stderr
    assert f'ankplan setup: set runtime = "runc" in {conf} because: ' in first.stdout
    assert "cgroups in hybrid mode not supported" in first.stdout
    text = conf.read_text()
    assert re.search(r'^runtime = "runc"$', text, re.MULTILINE)
    assert f'crun = ["{crun}"]' in text  # the rest of the file is kept
    # every reported change is in the file, and nothing else was added
    for key in re.findall(r"ankplan setup: set (\w+) = ", first.stdout):
        assert re.search(rf"^{key} = ", text, re.MULTILINE)
    if "default_ulimits" not in first.stdout:
        assert "default_ulimits" not in text
    second = run_setup(conf)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "local podman OK"
    assert conf.read_text() == text


def test_unknown_failure_is_reported_not_patched(tmp_path: Path, demo_image: str) -> None:
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\nruntime = "no-such-runtime"\n')
    proc = run_setup(conf)
    assert proc.returncode == 1
    assert proc.stderr.startswith("ankplan setup: error: ")
    assert "no-such-runtime" in proc.stderr
    assert conf.read_text() == '[engine]\nruntime = "no-such-runtime"\n'
