"""CLI options shared by the commands, and the helpers that use them; commands import only this,
never each other.

No I/O at import. Helpers read files (manifests, inventory, stdin for `-`), open connections
through the Env, take the apply lock, prompt for confirmation and run plans on the nodes.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from ankplan.cli.env import Env, ExitStatus, signals_set
from ankplan.errors import AnkplanError, PlanError
from ankplan.inventories import default_inventory
from ankplan.model import Inventory, LiveState, Manifest, Node, Plan, Project, Supervisor

if TYPE_CHECKING:
    from ankplan.executors.lock import LockKeeper
    from ankplan.executors.transport import TransportPool

DEFAULT_FORKS = 10
DEFAULT_COMMAND_TIMEOUT = 30.0
DEFAULT_WAIT_TIMEOUT = 120.0
PROJECT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DEFAULT_PROJECT = "default"
PROMPT = "Do you want to perform these actions? Only 'yes' will be accepted: "


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    return _whole_number(text, 1, "must be at least 1")


def non_negative_int(text: str) -> int:
    """argparse type: a whole number, 0 or more."""
    return _whole_number(text, 0, "must not be negative")


def _whole_number(text: str, minimum: int, refusal: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(refusal)
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):  # nan and inf pass float() but no deadline can use them
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


_PROJECT_HINT = "use 1-63 characters from a-z, 0-9, _ and -, starting with a letter or digit"


def project_type(text: str) -> str:
    """argparse type (and ANKPLAN_PROJECT's): a valid project name."""
    if not PROJECT_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"invalid project name {text!r}; {_PROJECT_HINT}")
    return text


# --- defaults from the environment: flag > variable > built-in default ----------------------

# option dest -> (variable, argparse type, built-in default). An option listed here has default
# None in argparse; `fill_environment_defaults` puts in the variable's value, else the default.
ENVIRONMENT_DEFAULTS: dict[str, tuple[str, Callable[[str], object], object]] = {
    "inventory": ("ANKPLAN_INVENTORY", str, None),
    "forks": ("ANKPLAN_FORKS", positive_int, DEFAULT_FORKS),
    "project": ("ANKPLAN_PROJECT", project_type, None),
}


def fill_environment_defaults(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Options not given on the command line take their ANKPLAN_* variable, else the default.

    A variable with a bad value is an error naming the variable, as a bad flag would be."""
    for dest, (variable, convert, default) in ENVIRONMENT_DEFAULTS.items():
        if not hasattr(args, dest) or getattr(args, dest) is not None:
            continue
        text = environ.get(variable, "")
        try:
            setattr(args, dest, convert(text) if text else default)
        except argparse.ArgumentTypeError as error:
            raise AnkplanError(f"environment variable {variable}={text!r}: {error}",
                               hint=f"fix or unset {variable}") from None


# --- manifests: positional files, -f/--filename, and - for stdin ----------------------------


def add_manifest_options(parser: argparse.ArgumentParser, *, names_help: str | None = None,
                         short_f: bool = True) -> None:
    """Positional manifest files (and workload names when `names_help` is given), plus
    -f/--filename FILE (repeatable; only --filename where -f means --follow); `-` is stdin."""
    if names_help is None:
        parser.add_argument("words", nargs="*", metavar="FILE",
                            help="Ankaios manifest file(s); - reads stdin")
    else:
        parser.add_argument("words", nargs="*", metavar="NAME|FILE", help=(
            f"{names_help}, and the manifest file(s): a word containing '.' or '/' is a file "
            "(workload names cannot contain either), every other word is a workload name; "
            "- reads stdin"))
    flags = ("-f", "--filename") if short_f else ("--filename",)
    parser.add_argument(*flags, "-m", "--manifest", dest="filenames", action="append",
                        default=[], metavar="FILE",
                        help="a manifest file, explicitly (repeatable; - reads stdin)")


def manifest_words(args: argparse.Namespace, *, names: bool = False,
                   ) -> tuple[list[str], list[str]]:
    """(workload names, manifest files) from the positional words and -f/--filename."""
    words = list(args.words)
    name_words = [word for word in words if names and not is_file_word(word)]
    files = list(args.filenames) + [word for word in words if not names or is_file_word(word)]
    if not files:
        raise AnkplanError("no manifest file given",
                           hint="name it like `examples/police/manifest.yaml`, or with "
                                "--filename FILE (- reads stdin)")
    if files.count("-") > 1:
        raise AnkplanError("stdin (-) can be given only once")
    return name_words, files


def is_file_word(word: str) -> bool:
    """True for a word that names a manifest file rather than a workload."""
    return word == "-" or "." in word or "/" in word


def load_manifest_from_args(args: argparse.Namespace, env: Env, *,
                            stdin: str | None = None) -> Manifest:
    """The manifest of args.files; `-` is `stdin` when given, else read from the Env's stdin."""
    from ankplan.manifests.load import load_manifest

    files = list(args.files)
    if "-" in files and stdin is None:
        stdin = env.stdin.read()
    return load_manifest(files, agent_override=getattr(args, "agent", None), stdin=stdin)


# --- output format ---------------------------------------------------------------------------


def add_output_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                      choices: Sequence[str], *, help: str,
                      format_alias: bool = False) -> None:
    """-o/--output FORMAT (and --format, the older spelling, where it existed)."""
    flags = ("-o", "--output", "--format") if format_alias else ("-o", "--output")
    parser.add_argument(*flags, dest="output", choices=tuple(choices), default=choices[0],
                        metavar="FORMAT", help=f"{help} (one of: {', '.join(choices)})")


# --- nodes -----------------------------------------------------------------------------------


def add_node_options(parser: argparse.ArgumentParser) -> None:
    """Add -i/--inventory, --ssh-config, --forks, --accept-new-host-keys, --timeout, --project."""
    group = parser.add_argument_group("nodes")
    group.add_argument("-i", "--inventory", metavar="FILE", default=None,
                       help="inventory mapping agents to nodes (default: $ANKPLAN_INVENTORY, "
                            "else every agent on the local Podman)")
    group.add_argument("--ssh-config", metavar="FILE", default=None,
                       help="ssh_config for HostName/User/Port/IdentityFile (default "
                            "~/.ssh/config when present; '' for none)")
    group.add_argument("--forks", type=positive_int, default=None, metavar="N",
                       help=f"nodes handled in parallel (default: $ANKPLAN_FORKS, else "
                            f"{DEFAULT_FORKS})")
    group.add_argument("--accept-new-host-keys", action="store_true",
                       help="learn host keys of UNKNOWN nodes into known_hosts (a changed key "
                            "is always refused)")
    group.add_argument("--timeout", type=_positive_float, default=DEFAULT_COMMAND_TIMEOUT,
                       metavar="SECONDS",
                       help=f"limit for each podman command (default {DEFAULT_COMMAND_TIMEOUT:g})")
    group.add_argument("--project", metavar="NAME", default=None,
                       help="project name stored in the ankplan.project label (default: "
                            "$ANKPLAN_PROJECT, else the manifests' folder name plus a hash of "
                            "their path; docs/projects.md)")


def add_supervisor_option(parser: argparse.ArgumentParser) -> None:
    """--supervisor of plan and apply: who keeps the workloads up after apply, on every node."""
    parser.add_argument("--supervisor", choices=[s.value for s in Supervisor], default=None,
                        help="watch: `ankplan watch` restarts workloads while it runs; systemd: "
                             "one systemd unit per workload on its node restarts it and starts "
                             "it at boot (default: the inventory's `supervisor`, else watch)")


def load_inventory_from_args(args: argparse.Namespace) -> Inventory:
    """The inventory named by --inventory (embedded default without), honouring --ssh-config
    and --supervisor (which overrides every node's `supervisor`)."""
    if args.inventory is None:  # without reading yaml, the schemas or ~/.ssh/config
        inventory = default_inventory()
    else:
        from ankplan.inventories.load import load_inventory

        inventory = load_inventory(args.inventory, ssh_config=args.ssh_config)
    supervisor = getattr(args, "supervisor", None)
    if supervisor is None:
        return inventory
    return replace(inventory, nodes=tuple(replace(node, supervisor=Supervisor(supervisor))
                                          for node in inventory.nodes))


def open_pool(args: argparse.Namespace, env: Env, *,
              retry_failed_after: float | None = None) -> TransportPool:
    """A connection pool for this run; use it as a context manager so it closes everything.

    `retry_failed_after`: seconds after which a node whose connect failed is tried again (for
    long-running commands such as watch; one-shot commands keep the first failure)."""
    return env.pool(accept_new_host_keys=bool(args.accept_new_host_keys),
                    retry_failed_after=retry_failed_after)


# --- the project -----------------------------------------------------------------------------

PROJECT_ENV = "ANKPLAN_PROJECT"
STDIN_PATH = "<stdin>"  # stands for a manifest read from stdin, in the folder ankplan runs in
SOURCE_LIMIT = 1024  # characters of the source label; longer path lists are cut with "…"
_HASH_DIGITS = 8


def folder_name(first_file: str) -> str:
    """The first manifest's folder name as a project name, e.g. examples/police -> police.

    Lower-cased, every run of characters outside [a-z0-9_-] turned into "-", at most 63
    characters; "default" when nothing is left. The previous release used it as the name.
    """
    folder = os.getcwd() if first_file == "-" else os.path.dirname(os.path.realpath(first_file))
    name = re.sub(r"[^a-z0-9_-]+", "-", os.path.basename(folder).lower()).strip("-_")[:63]
    return name or DEFAULT_PROJECT


def manifest_paths(files: Sequence[str]) -> tuple[str, ...]:
    """The manifests' absolute real paths, in the order given; stdin as `<cwd>/<stdin>`."""
    return tuple(os.path.join(os.getcwd(), STDIN_PATH) if path == "-" else os.path.realpath(path)
                 for path in files)


def derived_project_name(folder: str, paths: Sequence[str]) -> str:
    """`<folder>-<8 hex digits of sha256 of the sorted real paths>`: two manifest sets in
    different places never share it, the same set always gets it."""
    digest = hashlib.sha256("\n".join(sorted(set(paths))).encode()).hexdigest()[:_HASH_DIGITS]
    return f"{folder[:63 - 1 - _HASH_DIGITS]}-{digest}"


def source_label(host: str, paths: Sequence[str]) -> str:
    """`host:/real/path/m.yaml[,/other.yaml]`, cut to SOURCE_LIMIT characters."""
    text = f"{host}:{','.join(paths)}"
    return text if len(text) <= SOURCE_LIMIT else text[:SOURCE_LIMIT - 1] + "…"


def explicit_project(args: argparse.Namespace) -> str | None:
    """--project, else $ANKPLAN_PROJECT (already in args), checked; None when neither."""
    given = getattr(args, "project", None)
    if given is None:
        return None
    if not PROJECT_PATTERN.match(given):
        raise AnkplanError(f"invalid project name {given!r}", hint=_PROJECT_HINT)
    return str(given)


def project_name(args: argparse.Namespace, manifest: Manifest | None = None) -> Project:
    """The project of this run, the same way for every command (docs/projects.md).

    Named by --project, else $ANKPLAN_PROJECT: every container with that label is the
    project's. Else derived from the manifests' real paths (`derived_project_name`), and then
    the containers the previous release made under the folder's name count too, for the
    workloads `manifest` defines. New containers record their source (host and paths).
    """
    files = list(getattr(args, "files", None) or ())
    paths = manifest_paths(files)
    source = source_label(os.uname().nodename, paths) if paths else ""
    explicit = explicit_project(args)
    if explicit is not None:
        return Project(name=explicit, source=source)
    if not files:
        raise AnkplanError("which project? give the manifest file(s), or --project NAME",
                           hint=f"or set {PROJECT_ENV}")
    legacy = folder_name(files[0])
    return Project(name=derived_project_name(legacy, paths), source=source, legacy_name=legacy,
                   legacy_workloads=manifest.names() if manifest is not None else ())


# --- changing nodes: apply, delete, destroy --------------------------------------------------


def add_apply_options(parser: argparse.ArgumentParser) -> None:
    """Options of every command that changes nodes: apply, delete, destroy."""
    group = parser.add_argument_group("apply")
    group.add_argument("-y", "--yes", action="store_true",
                       help="do not ask for confirmation (needed when stdin is no terminal)")
    group.add_argument("--parallelism", type=positive_int, default=10, metavar="N",
                       help="podman commands running at once over all nodes (default 10)")
    add_lock_timeout(group)
    group.add_argument("--stop-timeout", type=int, default=10, metavar="SECONDS",
                       help="seconds between SIGTERM and SIGKILL when stopping (default 10)")
    add_output_option(group, ("text", "json"),
                      help="text for people; json: NDJSON records (plan, events, summary)")
    for action in parser._actions:
        if action.dest == "timeout":
            action.default = DEFAULT_WAIT_TIMEOUT
            action.help = ("limit for every wait (dependency condition, container start) and "
                           f"podman command (default {DEFAULT_WAIT_TIMEOUT:g})")


def add_lock_timeout(group: argparse._ArgumentGroup) -> None:
    """--lock-timeout, for every command that changes containers."""
    group.add_argument("--lock-timeout", type=float, default=0.0, metavar="SECONDS",
                       help="wait this long for another writer's lock on a node (apply, "
                            "watch, delete, destroy, restart of the same project; default 0: "
                            "refuse)")


def _holder_argv(args: argparse.Namespace) -> list[str]:
    return ["ankplan", args.command, *(getattr(args, "workloads", None) or []), *args.files]


@contextmanager
def lock_nodes(args: argparse.Namespace, pool: TransportPool, nodes: Sequence[Node], *,
               project: str) -> Iterator[None]:
    """Hold the writer lock of `project` on `nodes` for the block (one-shot writers: apply,
    delete, destroy, restart); raises LockError naming the holder when another writer has it."""
    from ankplan.executors.lock import acquire_locks, this_process

    holder = this_process(_holder_argv(args))
    with acquire_locks(pool, nodes, holder=holder, project=project,
                       lock_timeout=args.lock_timeout, forks=args.forks):
        yield


@contextmanager
def long_writer_lock(args: argparse.Namespace, pool: TransportPool, nodes: Sequence[Node], *,
                     project: str) -> Iterator[LockKeeper]:
    """The writer lock for a long-running writer (watch): see executors/lock.LockKeeper."""
    from ankplan.executors.lock import LockKeeper, this_process

    keeper = LockKeeper(pool, nodes, holder=this_process(_holder_argv(args)), project=project,
                        forks=args.forks)
    with keeper:
        keeper.start(args.lock_timeout)
        yield keeper


def carry_out(args: argparse.Namespace, env: Env, the_plan: Plan, *, manifest: Manifest,
              inventory: Inventory, pool: TransportPool, confirm: bool = True,
              verb: str = "Apply") -> ExitStatus:
    """Show the plan, confirm, execute it with progress, and report; the exit status."""
    from ankplan.cli.views.apply import Progress, json_line, render_summary_text, summary_record
    from ankplan.cli.views.events import ModeReport
    from ankplan.executors.apply import ApplyOptions, apply_plan, observation_modes

    _show_plan(args, env, the_plan)
    if the_plan.errors:
        count = len(the_plan.errors)
        raise PlanError(f"the plan is incomplete ({count} error{'s' if count != 1 else ''}); "
                        "nothing was changed", detail="\n".join(the_plan.errors),
                        hint="fix the errors listed above")
    # a workload that cannot start (Pending(StartingFailed)) leaves the run unconverged
    failed = ExitStatus.ERROR if the_plan.starting_failed else ExitStatus.SUCCESS
    if the_plan.is_empty():
        if args.output == "json":
            env.stdout.write(json_line({"type": "summary", "converged": not the_plan
                                        .starting_failed, "results": []}))
        return failed
    if confirm and not args.yes and not _confirmed(env, verb):
        env.stderr.write(f"{verb} cancelled.\n")
        return ExitStatus.ERROR
    options = ApplyOptions(parallelism=args.parallelism, timeout=args.timeout,
                           stop_timeout=args.stop_timeout)
    modes = ModeReport(env) if getattr(args, "debug", False) else None
    if modes is not None:  # then each node's mode once a step waits on observed state
        modes.report(observation_modes(the_plan, inventory, manifest))
    cancel = threading.Event()
    interrupts = signals_set(cancel, env, "finishing running podman commands, starting nothing new")
    with interrupts, Progress(env, args.output, the_plan.changes(),
                              command=verb.lower()) as progress:
        result = apply_plan(the_plan, pool=pool, inventory=inventory, manifest=manifest,
                            options=options, on_event=progress, cancel=cancel,
                            on_modes=modes.report if modes is not None else None)
    if args.output == "json":
        env.stdout.write(json_line(summary_record(result)))
    else:
        env.stdout.write("\n" + render_summary_text(result, verb))
    if cancel.is_set():
        return ExitStatus.CTRL_C
    return failed if result.converged else ExitStatus.ERROR


def _show_plan(args: argparse.Namespace, env: Env, the_plan: Plan) -> None:
    from ankplan.cli.views.apply import json_line
    from ankplan.cli.views.plan import plan_document, render_plan_text, render_plan_warnings

    env.stderr.write(render_plan_warnings(the_plan))
    if args.output == "json":
        env.stdout.write(json_line({"type": "plan", "plan": plan_document(the_plan)}))
    else:
        env.stdout.write(render_plan_text(the_plan, color=env.colors))
    env.stdout.flush()


def _confirmed(env: Env, verb: str) -> bool:
    """Ask on a terminal; without one, refuse and tell to pass --yes."""
    if not env.stdin_isatty:
        raise AnkplanError(f"{verb.lower()} needs confirmation, but stdin is not a terminal",
                           hint="pass --yes to go ahead without asking (e.g. in CI)")
    env.stderr.write("\n" + PROMPT)
    env.stderr.flush()
    return env.stdin.readline().strip() == "yes"


def warn_partial_observations(env: Env, live: LiveState) -> None:
    """Print a warning for each part of a node's observation that failed (images, stats)."""
    for observation in live.nodes:
        for warning in observation.warnings:
            env.stderr.write(f"ankplan: warning: node {observation.node_name}: {warning}\n")
