"""CLI options shared by every command that reaches nodes, and the helpers that use them.

No I/O at import; `load_inventory_from_args` reads files and `open_pool` opens connections lazily.
"""

from __future__ import annotations

import argparse
import math

from ankplan.executors.transport import TransportPool
from ankplan.inventories.load import load_inventory
from ankplan.model import Inventory

DEFAULT_FORKS = 10
DEFAULT_COMMAND_TIMEOUT = 30.0


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
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


def add_node_options(parser: argparse.ArgumentParser) -> None:
    """Add -i/--inventory, --ssh-config, --forks, --accept-new-host-keys, --timeout, --project."""
    group = parser.add_argument_group("nodes")
    group.add_argument("-i", "--inventory", metavar="FILE", default=None,
                       help="inventory mapping agents to nodes (default: every agent on the "
                            "local Podman)")
    group.add_argument("--ssh-config", metavar="FILE", default=None,
                       help="ssh_config for HostName/User/Port/IdentityFile (default "
                            "~/.ssh/config when present; '' for none)")
    group.add_argument("--forks", type=positive_int, default=DEFAULT_FORKS, metavar="N",
                       help=f"nodes handled in parallel (default {DEFAULT_FORKS})")
    group.add_argument("--accept-new-host-keys", action="store_true",
                       help="learn host keys of UNKNOWN nodes into known_hosts (a changed key "
                            "is always refused)")
    group.add_argument("--timeout", type=_positive_float, default=DEFAULT_COMMAND_TIMEOUT,
                       metavar="SECONDS",
                       help=f"limit for each podman command (default {DEFAULT_COMMAND_TIMEOUT:g})")
    group.add_argument("--project", metavar="NAME", default=None,
                       help="project name stored in the ankplan.project label (default: "
                            "derived from the manifest)")


def load_inventory_from_args(args: argparse.Namespace) -> Inventory:
    """The inventory named by --inventory (embedded default without), honouring --ssh-config."""
    return load_inventory(args.inventory, ssh_config=args.ssh_config)


def open_pool(args: argparse.Namespace, *,
              retry_failed_after: float | None = None) -> TransportPool:
    """A connection pool for this run; use it as a context manager so it closes everything.

    `retry_failed_after`: seconds after which a node whose connect failed is tried again (for
    long-running commands such as watch; one-shot commands keep the first failure)."""
    return TransportPool(accept_new_host_keys=bool(args.accept_new_host_keys),
                         retry_failed_after=retry_failed_after)
