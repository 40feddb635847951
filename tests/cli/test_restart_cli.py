"""`ankplan restart` argument handling through `main(argv, env)`; no node is reached.

The restarts themselves run on the real test bed (tests/integration/test_day2.py); the plan
is tested in tests/unit/test_restart_plan.py and the engine in tests/executors/test_apply.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clirun import run_cli as run_ankplan

MANIFEST = """\
apiVersion: v1
workloads:
  kuksa-bridge:
    runtime: podman
    agent: a1
    runtimeConfig: "image: localhost/ankplan-demo:latest"
  police-websocket:
    runtime: podman
    agent: a1
    dependencies: {kuksa-bridge: ADD_COND_RUNNING}
    runtimeConfig: "image: localhost/ankplan-demo:latest"
"""


@pytest.fixture
def manifest(tmp_path: Path) -> str:
    path = tmp_path / "manifest.yaml"
    path.write_text(MANIFEST)
    return str(path)


def test_unknown_name_is_one_line_with_a_suggestion(manifest: str) -> None:
    status, out, err = run_ankplan("restart", "kuksa-brige", manifest, "--yes")
    assert status == 1 and out == ""
    assert err == ("ankplan: error: workload 'kuksa-brige' is not in the manifest\n"
                   "  hint: did you mean 'kuksa-bridge'?\n")


def test_unknown_name_without_a_close_match_lists_the_workloads(manifest: str) -> None:
    status, _, err = run_ankplan("restart", "zzz", manifest)
    assert status == 1
    assert "hint: workloads: kuksa-bridge, police-websocket" in err


def test_a_name_is_needed(manifest: str) -> None:
    status, _, err = run_ankplan("restart", manifest)
    assert status == 1 and "ankplan: error: no workload named" in err
    assert "Traceback" not in err


def test_help_names_the_dependents_option() -> None:
    status, out, _ = run_ankplan("restart", "--help")
    assert status == 0
    assert "--with-dependents" in out and "--stop-timeout" in out
