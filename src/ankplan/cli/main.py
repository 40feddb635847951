"""Entry point: parses arguments, dispatches to a command module, maps errors to exit codes.

`main(argv, env)` is the only place that catches exceptions; it never lets a traceback reach
the user unless --debug is given.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import NoReturn

from ankplan import __version__
from ankplan.cli.entry import asks_help, command_word
from ankplan.cli.env import Env, ExitStatus
from ankplan.errors import AnkplanError, DiagnosticsError, one_line

# Each module registers its sub-commands with `register(subparsers)`; the parser's `func`
# default is then called as func(args, env) -> ExitStatus.
COMMAND_MODULES = ("validate", "nodes", "plan", "apply", "delete", "graph", "get", "logs", "watch",
                   "completion", "restart")
# The module that registers each command: only that module is imported to run the command,
# which keeps start-up short (the others pull in paramiko, rich, the planner, ...).
COMMAND_HOMES = {"validate": "validate", "schema": "validate", "nodes": "nodes", "plan": "plan",
                 "apply": "apply", "delete": "delete", "destroy": "delete", "graph": "graph",
                 "get": "get", "logs": "logs", "watch": "watch", "completion": "completion",
                 "restart": "restart"}


def _modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """Every command module, or only the one that runs the command named in argv."""
    word = command_word(argv)
    if word is None and "--version" in argv:
        return ()
    home = COMMAND_HOMES.get(word) if word else None
    if home in COMMAND_MODULES and not asks_help(argv):
        return (home,)
    return COMMAND_MODULES


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser; with `argv`, only the sub-command it names is registered."""
    parser = argparse.ArgumentParser(
        prog="ankplan", allow_abbrev=False,
        description="Plan and apply Eclipse Ankaios manifests on Podman hosts, agentless.",
    )
    parser.add_argument("--version", action="version", version=f"ankplan {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show Python tracebacks for unexpected errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _modules_for(argv):
        module = importlib.import_module(f"ankplan.cli.commands.{module_name}")
        module.register(subparsers)
    for each in _every_parser(parser):
        each.allow_abbrev = False  # `--detail` must not mean --detailed-exitcode
    return parser


class _ArgumentError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so main() keeps control, and that
    suggests the closest choice for a mistyped one."""

    def error(self, message: str) -> None:  # type: ignore[override]
        wrong = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if wrong:
            message += did_you_mean(wrong.group(1), re.findall(r"'([^']*)'", wrong.group(2)))
        raise _ArgumentError(f"{self.prog}: error: {message}")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`; did you mean 'plan'?` for the closest candidates (options: also those that `word`
    abbreviates, which are refused but recognised), or "" when none is close."""
    import difflib  # only on a mistyped word (~1 ms of start-up otherwise)

    typed = word.split("=", 1)[0]
    candidates = sorted(set(candidates))
    close = [c for c in candidates if typed.startswith("--") and c.startswith(typed)][:3]
    close = close or difflib.get_close_matches(typed, candidates, n=1, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> int:
    """Run one ankplan command and return its exit status."""
    env = env or Env()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser(argv)
        _make_raising(parser)
        with contextlib.redirect_stdout(env.stdout):  # --help and --version print to stdout
            args, extras = parser.parse_known_args(argv)
        _take_late_positionals(parser, args, extras)
        if not getattr(args, "func", None):
            parser.print_help(env.stderr)
            return ExitStatus.ERROR
        from ankplan.cli.options import fill_environment_defaults

        fill_environment_defaults(args, env.environ)
        with _warnings_to(env):
            return int(args.func(args, env))
    except _ArgumentError as error:
        env.stderr.write(f"{error.message}\n")
        return ExitStatus.ERROR
    except SystemExit as exit_:  # --help and --version
        return int(exit_.code or 0) if isinstance(exit_.code, int) else ExitStatus.ERROR
    except DiagnosticsError as error:
        from ankplan.cli.views.diagnostics import print_diagnostics

        print_diagnostics(env, error.diagnostics, fmt="text")
        env.stderr.write(f"ankplan: error: {error.summary}\n")
        return ExitStatus.ERROR
    except AnkplanError as error:
        env.stderr.write(f"ankplan: error: {error.summary}\n")
        for line in (error.detail.splitlines() if error.detail else []):
            env.stderr.write(f"  {line}\n")
        if error.hint:
            env.stderr.write(f"  hint: {error.hint}\n")
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        env.stderr.write("ankplan: interrupted\n")
        return ExitStatus.CTRL_C
    except BrokenPipeError:
        return ExitStatus.ERROR
    except Exception as error:  # noqa: BLE001 - the one place that catches everything
        if debug:
            import traceback

            traceback.print_exc(file=env.stderr)
        env.stderr.write(f"ankplan: internal error: {type(error).__name__}: {error}\n"
                         "  re-run with --debug for the traceback, and please report it\n")
        return ExitStatus.ERROR


class _WarningLines(logging.Handler):
    """Writes each warning ankplan's modules log as one `ankplan: warning:` line, once."""

    def __init__(self, env: Env) -> None:
        super().__init__(logging.WARNING)
        self.env = env
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = one_line(record.getMessage())
        with self.lock or contextlib.nullcontext():
            if message in self.seen:
                return
            self.seen.add(message)
        self.env.stderr.write(f"ankplan: warning: {message}\n")


@contextlib.contextmanager
def _warnings_to(env: Env) -> Iterator[None]:
    """While inside, warnings logged under the `ankplan` logger go to env.stderr."""
    logger = logging.getLogger("ankplan")
    handler = _WarningLines(env)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _take_late_positionals(parser: argparse.ArgumentParser, args: argparse.Namespace,
                           extras: list[str]) -> None:
    """Words after an option (`plan a.yaml --project p b.yaml`) land in argparse's leftovers;
    they join the command's positional `words` instead of being refused. Unknown options are
    refused with the closest option of the command."""
    words = getattr(args, "words", None)
    unknown = [word for word in extras if (word.startswith("-") and word != "-")
               or not isinstance(words, list)]
    if unknown:
        options = _option_strings(_command_parser(parser, args))
        hints = "".join(did_you_mean(word, options) for word in unknown if word.startswith("-"))
        parser.error(f"unrecognized arguments: {' '.join(unknown)}{hints}")
    if isinstance(words, list):
        words.extend(extras)


def _command_parser(parser: argparse.ArgumentParser,
                    args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub-)sub-parser that parsed this command line, e.g. that of `get workloads`."""
    for dest in ("command", "resource"):
        subparsers = next((a for a in parser._actions
                           if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, dest, None)
        if subparsers is None or chosen not in subparsers.choices:
            break
        parser = subparsers.choices[chosen]
    return parser


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    return [option for action in parser._actions for option in action.option_strings]


def _every_parser(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and every sub-command's parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _every_parser(sub)


def _make_raising(parser: argparse.ArgumentParser) -> None:
    """Every parser raises instead of exiting."""
    for each in _every_parser(parser):
        each.__class__ = _Parser


def entry() -> None:
    """Runs the command, then ends the process at once (see `end_process`). The console
    script enters through `ankplan.cli.entry`, which first begins the early local reads."""
    end_process(main())


def end_process(status: int) -> NoReturn:
    """Flush stdout and stderr and end the process with `status`, skipping the interpreter's
    teardown: freeing every imported module's objects costs ~12-19 ms on each run, and would
    wait for idle worker threads. Every command has released its nodes (locks, pools,
    commands it ran) before main() returns; what a node still holds (a lock shell, a stream)
    ends with the process's pipes and connections, as when it is killed. A stream that cannot
    be flushed (a closed pipe) turns a success into an error, as Python's own exit does."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or ExitStatus.ERROR
    os._exit(status)
