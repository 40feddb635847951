"""`ankplan validate`, `ankplan schema` and `ankplan graph`, run in-process."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
import yaml

from ankplan.cli.env import Env
from ankplan.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
POLICE = str(ROOT / "examples" / "police" / "manifest.yaml")
BAD = """apiVersion: v1
workloads:
  web:
    agent: agent_A
    runtime: podman
    restartpolicy: ALWAYS
    dependencies:
      ghost: ADD_COND_RUNNING
    runtimeConfig: |
      image: docker.io/library/nginx:1.27
      commandArgs: [sleep, 5]
"""
WARN_ONLY = BAD.replace("    restartpolicy: ALWAYS\n", "").replace("[sleep, 5]", "[sleep, '5']")


def run(*argv: str) -> tuple[int, str, str]:
    env = Env(stdout=StringIO(), stderr=StringIO(), stdin=StringIO(), environ={})
    status = main(list(argv), env=env)
    return status, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


@pytest.fixture
def bad(tmp_path: Path) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return str(path)


@pytest.fixture
def warn_only(tmp_path: Path) -> str:
    path = tmp_path / "warn.yaml"
    path.write_text(WARN_ONLY)
    return str(path)


def test_valid_manifest(tmp_path: Path) -> None:
    status, out, err = run("validate", POLICE)
    assert status == 0 and err == ""
    assert out == f"valid: {POLICE} (6 workloads)\n"


def test_text_shows_location_source_line_caret_hint_and_summary(bad: str) -> None:
    status, out, err = run("validate", bad)
    assert status == 1 and out == ""
    lines = err.splitlines()
    assert lines[0] == (f"{bad}:6:5: error: unknown key 'restartpolicy' in workload 'web' "
                        "[unknown-key]")
    assert lines[1] == "    6 |     restartpolicy: ALWAYS"
    assert lines[2] == "      |     ^~~~~~~~~~~~~"
    assert lines[3] == "  hint: did you mean 'restartPolicy'?"
    assert f"{bad}:11:28: error: workload 'web' runtimeConfig.commandArgs[1]" in err
    assert f"{bad}:8:7: warning: workload 'web' depends on 'ghost'" in err
    assert lines[-1] == "2 errors, 1 warning"
    assert err.index(": error:") < err.index(": warning:")


def test_json_is_stable(bad: str) -> None:
    status, out, err = run("validate", "--format", "json", bad)
    assert status == 1 and err == ""
    document = json.loads(out)
    assert document["format_version"] == 1 and document["valid"] is False
    assert (document["error_count"], document["warning_count"]) == (2, 1)
    assert document["diagnostics"][0] == {
        "severity": "error", "code": "unknown-key",
        "summary": "unknown key 'restartpolicy' in workload 'web'",
        "hint": "did you mean 'restartPolicy'?", "file": bad, "line": 6, "column": 5,
        "pointer": "/workloads/web/restartpolicy"}


def test_github_annotations(bad: str) -> None:
    status, out, _ = run("validate", "--format", "github", bad)
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == (f"::error file={bad},line=6,col=5,title=ankplan unknown-key::unknown key "
                        "'restartpolicy' in workload 'web'%0Ahint: did you mean 'restartPolicy'?")
    assert lines[2].startswith(f"::warning file={bad},line=8,col=7,title=ankplan "
                               "unknown-dependency::")


def test_warnings_fail_only_with_strict(warn_only: str) -> None:
    status, out, err = run("validate", warn_only)
    assert status == 0 and "0 errors, 1 warning" in err and out.startswith("valid:")
    status, out, err = run("validate", "--strict", warn_only)
    assert status == 1 and out == "" and "warnings fail with --strict" in err
    status, out, _ = run("validate", "--strict", "--format", "json", warn_only)
    assert status == 1 and json.loads(out)["valid"] is False


def test_agent_option(tmp_path: Path) -> None:
    path = tmp_path / "noagent.yaml"
    path.write_text(WARN_ONLY.replace("    agent: agent_A\n", ""))
    status, _, err = run("validate", str(path))
    assert status == 1 and "no agent for workload 'web'" in err
    assert run("validate", "--agent", "infotainment", str(path))[0] == 0


def test_missing_file_is_one_clean_line(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.yaml")
    status, _, err = run("validate", path)
    assert status == 1 and "Traceback" not in err
    assert err.splitlines()[0] == f"{path}: error: no such file [file-not-found]"


def test_several_files(tmp_path: Path, bad: str) -> None:
    status, _, err = run("validate", POLICE, POLICE)
    assert status == 1 and "is defined twice" in err


def test_each_checks_files_on_their_own() -> None:
    v01 = str(ROOT / "examples" / "police" / "manifest-v0.1.yaml")
    assert run("validate", POLICE, v01)[0] == 1  # one manifest: every workload twice
    status, out, _ = run("validate", "--each", POLICE, v01)
    assert status == 0
    assert out.splitlines() == [f"valid: {POLICE} (6 workloads)",
                                f"valid: {v01} (6 workloads; 0 errors, 1 warning)"]


def test_pre_commit_hook_definition() -> None:
    import re

    import yaml
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = hooks[0]
    assert hook["id"] == "ankplan-validate" and hook["entry"].startswith("ankplan validate")
    pattern = re.compile(hook["files"])
    for path in ("examples/police/manifest.yaml", "deploy/ankaios_manifest.yml",
                 "x/state.ank.yaml", "manifest-v0.1.yaml"):
        assert pattern.search(path), path
    for path in ("inventories/local.yaml", ".github/workflows/ci.yml", "manifest.json"):
        assert not pattern.search(path), path


def test_schema_command_prints_json_schema() -> None:
    status, out, _ = run("schema")
    schema = json.loads(out)
    assert status == 0 and schema["properties"]["apiVersion"]["enum"] == ["v1"]
    status, out, _ = run("schema", "--api-version", "v0.1")
    assert json.loads(out)["properties"]["apiVersion"]["enum"] == ["v0.1"]


def test_graph_text() -> None:
    status, out, err = run("graph", POLICE)
    assert status == 0 and err == ""
    assert "  wave 2: camera-bridge, kuksa-bridge\n" in out
    assert "  zenoh-router -> carla-spawner      RUNNING\n" in out
    assert out.endswith("Critical path (4 workloads): zenoh-router -> carla-spawner -> "
                        "camera-bridge -> camera-websocket\n")


def test_graph_dot_and_mermaid() -> None:
    status, dot, _ = run("graph", "--format", "dot", POLICE)
    assert status == 0 and dot.startswith("digraph ankplan {\n") and dot.endswith("}\n")
    assert '  "zenoh-router" -> "carla-spawner" [label="RUNNING", penwidth=2];' in dot
    assert dot.count(" -> ") == 7
    status, mermaid, _ = run("graph", "--format", "mermaid", str(ROOT / "examples" / "fallback"
                                                                  / "manifest.yaml"))
    assert mermaid.splitlines() == ["flowchart LR", '  w0["consumer"]', '  w1["fallback"]',
                                    '  w2["primary"]', "  w1 -->|RUNNING| w0",
                                    "  w2 -.->|FAILED| w1"]


def test_graph_json() -> None:
    _, out, _ = run("graph", "--format", "json", POLICE)
    document = json.loads(out)
    assert document["format_version"] == 1
    assert document["waves"][0] == ["zenoh-router"]
    assert {"from": "zenoh-router", "to": "carla-spawner",
            "condition": "ADD_COND_RUNNING"} in document["edges"]
    assert document["critical_path"][-1] == "camera-websocket"
    assert {w["name"]: w["wave"] for w in document["workloads"]}["police-websocket"] == 3


def test_graph_of_an_invalid_manifest_prints_diagnostics(bad: str) -> None:
    status, out, err = run("graph", bad)
    assert status == 1 and out == ""
    assert "unknown key 'restartpolicy'" in err
    assert f"ankplan: error: invalid manifest ({bad}): 2 errors" in err


def test_graph_of_a_cycle(tmp_path: Path) -> None:
    path = tmp_path / "cycle.yaml"
    path.write_text(WARN_ONLY.replace("ghost", "web"))
    status, _, err = run("graph", str(path))
    assert status == 1 and "dependency cycle: web -> web" in err


# --- the conventions: -o/--output (with --format as alias), -f/--filename, - for stdin -------


@pytest.mark.parametrize("command,formats", [
    ("validate", ("text", "json", "github")), ("graph", ("text", "dot", "mermaid", "json"))])
def test_output_option_and_its_format_alias(command: str, formats: tuple[str, ...]) -> None:
    for fmt in formats:
        outputs = {run(command, flag, fmt, POLICE)[1] for flag in ("-o", "--output", "--format")}
        assert len(outputs) == 1, (command, fmt)  # the three spellings agree
    assert json.loads(run(command, "-o", "json", POLICE)[1])["format_version"] == 1


def test_schema_as_yaml() -> None:
    status, out, _ = run("schema", "-o", "yaml")
    assert status == 0 and yaml.safe_load(out) == json.loads(run("schema")[1])


@pytest.mark.parametrize("command", ["validate", "graph"])
def test_manifest_from_stdin_and_by_filename(command: str) -> None:
    text = Path(POLICE).read_text()
    env = Env(stdout=StringIO(), stderr=StringIO(), stdin=StringIO(text), environ={})
    assert main([command, "-o", "json", "-"], env=env) == 0
    from_stdin = env.stdout.getvalue()  # type: ignore[attr-defined]
    by_flag = run(command, "-o", "json", "-f", POLICE)[1]
    by_long = run(command, "-o", "json", "--filename", POLICE)[1]
    if command == "graph":
        assert from_stdin == by_flag == by_long
    else:
        assert json.loads(from_stdin)["valid"] and json.loads(by_flag)["valid"]


def test_stdin_errors_point_at_stdin() -> None:
    env = Env(stdout=StringIO(), stderr=StringIO(), stdin=StringIO(BAD), environ={})
    assert main(["validate", "-"], env=env) == 1
    err = env.stderr.getvalue()  # type: ignore[attr-defined]
    assert err.startswith("<stdin>:6:5: error: unknown key 'restartpolicy'")
    status, _, err = run("validate", "-", "-f", "-")
    assert status == 1 and "stdin (-) can be given only once" in err
