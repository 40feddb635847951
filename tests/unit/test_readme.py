"""The README stays true: its layout section names the folders that exist, and every ankplan
command line in its examples parses with the real argument parser."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from ankplan.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    return README[start:README.index("\n## ", start + 1)]


def test_layout_section_is_true_to_the_tree() -> None:
    block = section("How the code is laid out").split("```")[1]
    listed = {path.rstrip(",/") for line in block.splitlines() if line.strip()
              for path in re.findall(r"[\w./-]+/|[\w-]+\.py", line.split("  ")[0])}
    for path in listed:
        folder = ROOT / (path if "/" in path or not path.endswith(".py") else
                         f"src/ankplan/{path}")
        assert folder.exists(), path
    packages = {f"src/ankplan/{p.parent.relative_to(ROOT / 'src/ankplan')}"
                for p in (ROOT / "src/ankplan").rglob("__init__.py")} - {"src/ankplan/."}
    assert packages <= listed, packages - listed


def example_command_lines() -> list[str]:
    lines = []
    for kind, block in re.findall(r"```(sh|console)\n(.*?)```", README, re.DOTALL):
        for line in block.splitlines():
            if kind == "console" and not line.startswith("$ "):
                continue  # output, not a command
            line = line.removeprefix("$ ").split("  #")[0].strip()
            if line.startswith("ankplan "):
                lines.append(line)
    return lines


@pytest.mark.parametrize("line", example_command_lines())
def test_example_command_lines_parse(line: str) -> None:
    argv = shlex.split(line)[1:]
    parser = cli_main.build_parser(argv)
    cli_main._make_raising(parser)
    args, extras = parser.parse_known_args(argv)
    cli_main._take_late_positionals(parser, args, extras)
    assert getattr(args, "func", None), line


def test_there_are_examples_for_the_main_commands() -> None:
    commands = {line.split()[1] for line in example_command_lines()}
    assert {"validate", "graph", "nodes", "plan", "apply", "get", "logs", "watch", "delete",
            "destroy"} <= commands
