"""The console script `ankplan` and `python -m ankplan`: begins the local reads the command will
ask for first, then imports and runs the CLI (`ankplan.cli.main`).

Does I/O: may start `podman images` on this machine (read-only, see `ankplan.executors.early`)
before the CLI's modules are imported: that import takes ~50 ms of one core, the read ~30 ms of
the other, and `plan` and `apply` need both before their first step. Imports nothing else of
ankplan before the read has begun.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

# The commands that read the local image table first (with their other observations), and that
# table's command for the local node of the default inventory: podman.images_argv(node), which a
# test keeps equal. Another local podman command is not begun early (nothing would take it).
READS_LOCAL_IMAGES = frozenset({"plan", "apply"})
LOCAL_IMAGES_ARGV = ("podman", "images", "--format", "json")


def command_word(argv: Sequence[str]) -> str | None:
    """The command `argv` (program left out) names: its first word that is no option (the
    global options take no value), or None."""
    return next((word for word in argv if not word.startswith("-")), None)


def asks_help(argv: Sequence[str]) -> bool:
    """True when `argv` asks for help (-h, --help) rather than to run a command."""
    return "-h" in argv or "--help" in argv


def early_reads(argv: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """The read-only local commands to begin for the command line `argv` (program left out):
    the local image table for `plan` and `apply` with the default inventory (all on this
    machine). None for help, other commands, or an inventory (`-i`), whose nodes may all be
    remote: a read nobody takes only costs CPU, but it costs it. A wrong guess costs only
    that: the transport takes an answer for exactly the argv it runs."""
    if command_word(argv) not in READS_LOCAL_IMAGES or asks_help(argv):
        return ()
    if any(word.startswith("--inventory") or (word.startswith("-i") and not word.startswith("--"))
           for word in argv):
        return ()
    return (LOCAL_IMAGES_ARGV,)


def entry() -> None:
    """Console-script entry point."""
    from ankplan.executors import early

    for argv in early_reads(sys.argv[1:]):
        early.begin(argv)
    from ankplan.cli.main import entry as run_cli

    run_cli()
