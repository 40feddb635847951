"""CLI conventions shared by every command: did-you-mean, no abbreviated options, defaults from
the environment (flag > ANKPLAN_* variable > built-in default), errors only on stderr."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest
from clirun import run_cli
from fakepodman import FakeNode

from ankplan.cli.main import build_parser
from ankplan.cli.options import DEFAULT_FORKS, fill_environment_defaults
from ankplan.errors import AnkplanError
from ankplan.model import Node

MANIFEST = """\
apiVersion: v1
workloads:
  web:
    runtime: podman
    agent: agent_A
    runtimeConfig: "image: localhost/web:1"
"""


@pytest.fixture
def manifest(tmp_path: Path) -> str:
    path = tmp_path / "manifest.yaml"
    path.write_text(MANIFEST)
    return str(path)


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every (sub-)sub-command's parser by its words, e.g. "get workloads"."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {k}": v for k, v in subparsers(sub).items()})
    return found


# --- did you mean ---------------------------------------------------------------------------


def test_mistyped_subcommand_gets_a_suggestion(manifest: str) -> None:
    status, out, err = run_cli("plna", manifest)
    assert status == 1 and out == ""
    assert "invalid choice: 'plna'" in err and err.rstrip().endswith("did you mean 'plan'?")
    status, _, err = run_cli("get", "worklods", manifest)
    assert status == 1 and "did you mean 'workloads'?" in err
    status, _, err = run_cli("completion", "bsh")
    assert status == 1 and "did you mean 'bash'?" in err


def test_mistyped_option_and_value_get_a_suggestion(manifest: str) -> None:
    status, out, err = run_cli("plan", manifest, "--detaled-exitcode")
    assert status == 1 and out == ""
    assert ("unrecognized arguments: --detaled-exitcode; did you mean "
            "'--detailed-exitcode'?") in err
    status, _, err = run_cli("get", "workloads", manifest, "-o", "jsn")
    assert status == 1 and "did you mean 'json'?" in err
    status, _, err = run_cli("validate", manifest, "--strikt")
    assert status == 1 and "did you mean '--strict'?" in err


def test_abbreviated_options_are_refused_everywhere(manifest: str) -> None:
    """`--detail` used to mean --detailed-exitcode; no parser accepts abbreviations now."""
    status, _, err = run_cli("plan", manifest, "--detail")
    assert status == 1
    assert "unrecognized arguments: --detail; did you mean '--detailed-exitcode'?" in err
    tried = 0
    for words, parser in subparsers(build_parser()).items():
        assert parser.allow_abbrev is False
        positional = {"completion": "bash", "schema": "", "nodes": "", "get": ""}.get(
            words, manifest)
        options = {o for a in parser._actions for o in a.option_strings}
        for option in sorted(o for o in options if o.startswith("--") and len(o) > 6):
            prefix = option[:-2]
            if any(other.startswith(prefix) and other != option for other in options):
                continue  # ambiguous anyway
            status, _, err = run_cli(*words.split(), prefix, *filter(None, [positional]))
            assert status == 1 and f"unrecognized arguments: {prefix}" in err, (words, prefix)
            tried += 1
    assert tried > 40


# --- defaults from the environment ------------------------------------------------------------


def parsed(*argv: str) -> argparse.Namespace:
    return build_parser(list(argv)).parse_args(list(argv))


def test_flag_beats_variable_beats_default(manifest: str) -> None:
    args = parsed("plan", manifest)
    fill_environment_defaults(args, {})
    assert (args.forks, args.inventory) == (DEFAULT_FORKS, None)
    args = parsed("plan", manifest)
    fill_environment_defaults(args, {"ANKPLAN_FORKS": "3", "ANKPLAN_INVENTORY": "fleet.yaml"})
    assert (args.forks, args.inventory) == (3, "fleet.yaml")
    args = parsed("plan", manifest, "--forks", "7", "-i", "other.yaml")
    fill_environment_defaults(args, {"ANKPLAN_FORKS": "3", "ANKPLAN_INVENTORY": "fleet.yaml"})
    assert (args.forks, args.inventory) == (7, "other.yaml")
    args = parsed("plan", manifest)
    with pytest.raises(AnkplanError, match="environment variable ANKPLAN_FORKS='0': must be "
                                           "at least 1"):
        fill_environment_defaults(args, {"ANKPLAN_FORKS": "0"})


def test_environment_defaults_reach_the_commands(manifest: str, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("nodes:\n  edge: {connection: local}\ndefault_node: edge\n")
    nodes = {"edge": FakeNode(Node(name="edge"))}
    result = run_cli("plan", manifest, nodes=nodes,
                     environ={"ANKPLAN_INVENTORY": str(inventory), "ANKPLAN_FORKS": "2"})
    assert result.status == 0 and "edge/web will be created" in result.out
    result = run_cli("plan", manifest, nodes=nodes, environ={"ANKPLAN_FORKS": "many"})
    assert result.status == 1 and result.out == ""
    assert result.err == ("ankplan: error: environment variable ANKPLAN_FORKS='many': not a "
                          "number: 'many'\n  hint: fix or unset ANKPLAN_FORKS\n")
    result = run_cli("plan", manifest, "--forks", "4", nodes=nodes,
                     environ={"ANKPLAN_INVENTORY": str(inventory), "ANKPLAN_FORKS": "many"})
    assert result.status == 0  # the flag wins: the bad variable is not even read


# --- streams ------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ("validate", "missing.yaml"), ("graph", "missing.yaml"), ("plan", "missing.yaml"),
    ("apply", "missing.yaml", "--yes"), ("delete", "web", "missing.yaml"),
    ("destroy", "missing.yaml"), ("get", "workloads", "missing.yaml"),
    ("logs", "web", "missing.yaml"), ("watch", "missing.yaml"), ("nodes", "-i", "missing.yaml"),
    ("completion",), ("plan",)])
def test_errors_go_to_stderr_only(argv: tuple[str, ...]) -> None:
    status, out, err = run_cli(*argv)
    assert status == 1 and out == "", argv
    assert ": error:" in err and "Traceback" not in err


def test_commands_never_import_each_other() -> None:
    """Shared helpers live in cli/options.py and renderers in cli/views/, so a command module
    imports neither another command nor anything but those from the CLI."""
    commands = Path(build_parser.__code__.co_filename).parent / "commands"
    for module in sorted(commands.glob("*.py")):
        tree = ast.parse(module.read_text())
        imported = [node.module or "" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)]
        imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names]
        assert not [name for name in imported if name.startswith("ankplan.cli.commands")], module
