"""How long a command line ankplan sends to a node may be: Linux's and OpenSSH's limits.

Pure: no I/O. Over SSH, sshd runs the command as ONE argument of the login shell
(`$SHELL -c '<command>'`), so the whole quoted command line must fit Linux's limit for a single
argument, MAX_ARG_STRLEN (32 pages: 131,072 bytes with its closing NUL); longer ones fail with
`Argument list too long`, and requests over sshd's packet limit (256 KiB) make sshd drop the
whole connection, with every other command on it. Locally each argument has the same limit.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

MAX_ARG_STRLEN = 131_072  # bytes of one argument including its NUL (Linux, 32 pages of 4 KiB)
MAX_ARGUMENT_BYTES = MAX_ARG_STRLEN - 1
MAX_COMMAND_BYTES = MAX_ARGUMENT_BYTES  # a whole command line sent over SSH
# Kept for the labels ankplan adds to `podman run` (spec label at most 4 KiB, source label at
# most 1 KiB, the rest well under 1 KiB); a workload's own words get the remainder.
LABEL_RESERVE = 8_192
MAX_WORKLOAD_BYTES = MAX_COMMAND_BYTES - LABEL_RESERVE


def command_bytes(argv: Sequence[str]) -> int:
    """The size of `argv` as sent over SSH: shell-quoted, joined with spaces, UTF-8."""
    return len(shlex.join(argv).encode("utf-8", "surrogateescape"))


def argument_bytes(word: str) -> int:
    """The size of one argument as the kernel counts it, without its NUL."""
    return len(word.encode("utf-8", "surrogateescape"))


def too_long(argv: Sequence[str]) -> str | None:
    """Why `argv` cannot be sent as one command line (naming the limit), or None."""
    size = command_bytes(argv)
    if size <= MAX_COMMAND_BYTES:
        return None
    return (f"the command line is {size:,} bytes, over the {MAX_ARG_STRLEN:,}-byte limit of one "
            "argument (Linux MAX_ARG_STRLEN); a node reached over SSH gets the whole command "
            "line as one argument of its shell")
