"""The console script (cli/entry.py): which local reads it begins before the CLI is imported,
and that the command then uses them instead of running them again.

Runs `python -m ankplan` in fresh interpreters; the local podman is a shell script that logs its
calls (no container is made).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ankplan.cli.entry import LOCAL_IMAGES_ARGV, early_reads
from ankplan.inventories import default_inventory
from ankplan.podman import images_argv

POLICE = str(Path(__file__).resolve().parents[2] / "examples" / "police" / "manifest.yaml")


def test_the_early_read_is_the_image_table_the_default_node_asks_for() -> None:
    assert LOCAL_IMAGES_ARGV == images_argv(default_inventory().nodes[0])


@pytest.mark.parametrize(("argv", "begun"), [
    (["plan", "m.yaml"], True),
    (["apply", "--yes", "m.yaml"], True),
    (["--debug", "apply", "m.yaml", "--project", "p"], True),
    (["apply", "-i", "inventory.yaml", "m.yaml"], False),
    (["plan", "-iinventory.yaml", "m.yaml"], False),
    (["plan", "--inventory=inventory.yaml", "m.yaml"], False),
    (["plan", "--help"], False),
    (["apply", "-h"], False),
    (["validate", "m.yaml"], False),
    (["delete", "m.yaml"], False),
    (["--version"], False),
    ([], False),
])
def test_only_plan_and_apply_on_the_default_inventory_begin_the_image_read(
        argv: list[str], begun: bool) -> None:
    assert early_reads(argv) == ((LOCAL_IMAGES_ARGV,) if begun else ())


def test_the_read_begins_before_the_cli_is_imported() -> None:
    probe = (
        "import sys\n"
        "import ankplan.executors.early as early\n"
        "def begin(argv):\n"
        "    print(tuple(argv), sorted(m for m in ('ankplan.cli.main', 'ankplan.model')\n"
        "                              if m in sys.modules), flush=True)\n"
        "early.begin = begin\n"
        "sys.argv = ['ankplan', 'plan', '--project', 'p', '/no/such/manifest.yaml']\n"
        "from ankplan.cli.entry import entry\n"
        "entry()\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1, done.stderr  # the manifest is missing: reported, no traceback
    assert done.stdout.splitlines()[0] == f"{LOCAL_IMAGES_ARGV!r} []"
    assert "Traceback" not in done.stderr


def test_plan_reads_the_local_image_table_once(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    podman = tmp_path / "bin" / "podman"
    podman.parent.mkdir()
    podman.write_text(f'#!/bin/sh\necho "$*" >> {log}\n'
                      'case "$1" in images|ps) echo "[]";; esac\n')
    podman.chmod(0o755)
    env = {**os.environ, "PATH": f"{podman.parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "ankplan", "plan", "--project", "early",
                           POLICE], capture_output=True, text=True, timeout=60, check=False,
                          env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "will be created" in done.stdout
    assert "is not on the node: podman will pull it" in done.stdout  # the (empty) table was read
    calls = log.read_text().splitlines()
    assert calls.count("images --format json") == 1, calls
    assert calls.count("ps --all --format json") == 1, calls
