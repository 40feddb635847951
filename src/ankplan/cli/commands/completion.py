"""`ankplan completion bash|zsh|fish`: print a shell completion script.

Reads the real argument parser, so the script completes exactly the sub-commands, options and
option values ankplan has; workload names come from the manifests already on the command line
(the script calls `ankplan completion --workloads FILE...`, which prints them). No I/O besides
that manifest read and the Env's stdout.
"""

from __future__ import annotations

import argparse

from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.views.completion import (
    SHELLS,
    CommandSpec,
    CompletionSpec,
    OptionSpec,
    render_completion,
)
from ankplan.errors import AnkplanError
from ankplan.manifests.load import check_manifest

# Commands whose positional words are workload names as well as manifest files.
NAME_COMMANDS = ("delete", "logs", "get workloads", "get workload")
# Options whose value is a path (by their metavar).
FILE_METAVARS = ("FILE", "PLANFILE")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `completion` sub-command."""
    parser = subparsers.add_parser(
        "completion", help="print a shell completion script (bash, zsh or fish)",
        description="Print a completion script for sub-commands, options, their values and "
                    "workload names. bash: `source <(ankplan completion bash)` (e.g. in "
                    "~/.bashrc); zsh: `source <(ankplan completion zsh)`; fish: `ankplan "
                    "completion fish | source`.")
    parser.add_argument("shell", nargs="?", choices=SHELLS, help="the shell")
    parser.add_argument("--workloads", nargs="+", metavar="FILE", default=None,
                        help=argparse.SUPPRESS)  # used by the scripts: names in these files
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Print the script, or (for the scripts themselves) the workload names of --workloads."""
    if args.workloads is not None:
        manifest, _ = check_manifest(args.workloads)
        env.stdout.write("".join(f"{name}\n" for name in manifest.names()) if manifest else "")
        return ExitStatus.SUCCESS
    if args.shell is None:
        raise AnkplanError("which shell?", hint="ankplan completion bash|zsh|fish")
    from ankplan.cli.main import build_parser  # the full parser, every command registered

    env.stdout.write(render_completion(args.shell, completion_spec(build_parser())))
    return ExitStatus.SUCCESS


def completion_spec(parser: argparse.ArgumentParser) -> CompletionSpec:
    """What the completion scripts need to know, read from the parser."""
    commands: list[CommandSpec] = []
    for name, sub, help_text in _subcommands(parser):
        nested = _subcommands(sub)
        if nested:
            resources = tuple(nested_name for nested_name, _, _ in nested)
            commands.append(_command(name, sub, help_text, resources=resources))
            commands += [_command(f"{name} {n}", s, h) for n, s, h in nested]
        else:
            commands.append(_command(name, sub, help_text))
    top = tuple(_option(action) for action in parser._actions if action.option_strings)
    return CompletionSpec(commands=tuple(commands), options=top)


def _subcommands(parser: argparse.ArgumentParser,
                 ) -> list[tuple[str, argparse.ArgumentParser, str]]:
    action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
                  None)
    if action is None:
        return []
    helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
    return [(name, sub, helps.get(name, "")) for name, sub in action.choices.items()]


def _command(key: str, parser: argparse.ArgumentParser, help_text: str,
             resources: tuple[str, ...] = ()) -> CommandSpec:
    options = tuple(_option(action) for action in parser._actions
                    if action.option_strings and action.help != argparse.SUPPRESS)
    positional = next((a for a in parser._actions if not a.option_strings
                       and not isinstance(a, argparse._SubParsersAction)), None)
    listed = tuple(str(choice) for choice in positional.choices or ()) if positional else ()
    choices = resources or listed
    if choices:
        words = "choices"
    elif positional is None:
        words = "none"
    else:
        words = "names" if key in NAME_COMMANDS else "files"
    return CommandSpec(key=key, help=help_text, options=options, words=words, choices=choices)


def _option(action: argparse.Action) -> OptionSpec:
    return OptionSpec(flags=tuple(action.option_strings), takes_value=action.nargs != 0,
                      choices=tuple(str(choice) for choice in action.choices or ()),
                      is_file=action.metavar in FILE_METAVARS,
                      help=action.help if isinstance(action.help, str) else "")
