"""`ankplan completion bash|zsh|fish`: the scripts parse in their shells and complete
sub-commands, options, option values and workload names (bash through compgen, zsh through
bashcompinit, fish through `complete -C`). The shells come from scripts/install-deps.sh."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import run_cli

ROOT = Path(__file__).resolve().parents[2]
POLICE = ROOT / "examples" / "police" / "manifest.yaml"
POLICE_NAMES = ["camera-bridge", "camera-websocket", "carla-spawner", "kuksa-bridge",
                "police-websocket", "zenoh-router"]
# The scripts call `ankplan completion --workloads`: the ankplan of this venv comes first.
SHELL_ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("completion")
    written = {}
    for shell in ("bash", "zsh", "fish"):
        status, out, err = run_cli("completion", shell)
        assert status == 0 and err == "" and out
        written[shell] = folder / f"ankplan.{shell}"
        written[shell].write_text(out)
    return written


def shell(argv: list[str], script: str = "") -> str:
    done = subprocess.run(argv, input=script, capture_output=True, text=True, cwd=POLICE.parent,
                          env=SHELL_ENV, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name,check", [("bash", ["bash", "-n"]), ("zsh", ["zsh", "-n"]),
                                        ("fish", ["fish", "--no-execute"])])
def test_the_scripts_parse(scripts: dict[str, Path], name: str, check: list[str]) -> None:
    shell([*check, str(scripts[name])])


BASH_CASES = [
    (["ankplan", "pl"], ["plan"]),
    (["ankplan", "de"], ["delete", "destroy"]),
    (["ankplan", "plan", "--de"], ["--detailed-exitcode"]),
    (["ankplan", "plan", "-o", ""], ["text", "json"]),
    (["ankplan", "get", ""], ["workloads", "workload"]),
    (["ankplan", "get", "workloads", "-o", ""], ["table", "wide", "json", "yaml"]),
    (["ankplan", "logs", "--t"], ["--timeout", "--tail", "--timestamps"]),
    (["ankplan", "logs", "manifest.yaml", "k"], ["kuksa-bridge"]),
    (["ankplan", "delete", "-f", "manifest.yaml", "camera-"], ["camera-bridge",
                                                                "camera-websocket"]),
    (["ankplan", "completion", ""], ["bash", "zsh", "fish"]),
    (["ankplan", "plan", "--out", "manif"], ["manifest.yaml", "manifest-v0.1.yaml"]),
]


def test_bash_completes_through_compgen(scripts: dict[str, Path]) -> None:
    lines = [f"source {scripts['bash']}"]
    for words, _ in BASH_CASES:
        quoted = " ".join(f"'{word}'" for word in words)
        lines += [f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; COMPREPLY=()",
                  "_ankplan; echo \"${COMPREPLY[*]}\""]
    lines.append("complete -p ankplan")
    out = shell(["bash"], "\n".join(lines) + "\n").splitlines()
    for (words, expected), got in zip(BASH_CASES, out):
        assert sorted(got.split()) == sorted(expected), words
    assert out[-1] == "complete -F _ankplan ankplan"


def test_zsh_runs_the_same_function(scripts: dict[str, Path]) -> None:
    """zsh does its own prefix matching, so the candidates come unfiltered."""
    script = (f"source {scripts['zsh']}\n"
              "COMP_WORDS=(ankplan get workloads -o ''); COMP_CWORD=4\n"
              "emulate sh -c _ankplan; print -r -- \"${COMPREPLY[*]}\"\n"
              "COMP_WORDS=(ankplan logs manifest.yaml ''); COMP_CWORD=3\n"
              "emulate sh -c _ankplan; print -r -- \"${COMPREPLY[*]}\"\n")
    values, names = shell(["zsh", "-f"], script).splitlines()
    assert values.split() == ["table", "wide", "json", "yaml"]
    assert names.split()[:6] == POLICE_NAMES and "manifest.yaml" in names.split()


def test_fish_completes(scripts: dict[str, Path]) -> None:
    def complete(line: str) -> list[str]:
        command = f"source {scripts['fish']}; complete -C '{line}'"
        out = shell(["fish", "--no-config", "-c", command])
        return sorted(entry.split("\t")[0] for entry in out.splitlines())

    assert complete("ankplan pl") == ["plan"]
    assert complete("ankplan plan --detailed") == ["--detailed-exitcode"]
    assert complete("ankplan get workloads -o ") == ["json", "table", "wide", "yaml"]
    assert complete("ankplan get w") == ["workload", "workloads"]
    assert complete("ankplan logs manifest.yaml kuk") == ["kuksa-bridge"]


def test_workload_names_for_the_scripts() -> None:
    status, out, _ = run_cli("completion", "--workloads", str(POLICE))
    assert status == 0 and out.split() == sorted(POLICE_NAMES)
    status, out, err = run_cli("completion", "--workloads", "missing.yaml")
    assert (status, out, err) == (0, "", "")  # completion stays quiet
    status, out, err = run_cli("completion")
    assert status == 1 and out == "" and "which shell?" in err
