"""Local commands begun before ankplan has imported what asks for them: the console script starts
a read-only command (the local image table for `plan` and `apply`) while Python still imports the
CLI, the planner and the executors, and the local transport takes its answer when the same argv
is asked for.

Does I/O: starts local processes (subprocess, never a shell) and waits for their answers. Imports
nothing but the standard library, so starting costs the command no time. Only commands that
change nothing belong here: an answer is the node's state when the command began, and one older
than MAX_AGE seconds is dropped, so a slow start cannot hand out a stale table.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from typing import NamedTuple

MAX_AGE = 5.0  # seconds: an answer begun longer ago than this is not handed out


class Begun(NamedTuple):
    process: subprocess.Popen[str]
    began: float  # time.monotonic()


_BEGUN: dict[tuple[str, ...], Begun] = {}


def begin(argv: Sequence[str]) -> None:
    """Start `argv` now; `take(argv)` hands it out. A missing program starts nothing: the
    transport then reports it as it would have."""
    key = tuple(argv)
    if key in _BEGUN:
        return
    try:
        process = subprocess.Popen(list(key), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    except OSError:
        return
    _BEGUN[key] = Begun(process, time.monotonic())


def take(argv: Sequence[str], *, max_age: float = MAX_AGE) -> subprocess.Popen[str] | None:
    """The process begun for exactly `argv` (once), or None: none was begun, or it began more
    than `max_age` seconds ago (it is then ended and dropped)."""
    begun = _BEGUN.pop(tuple(argv), None)
    if begun is None:
        return None
    if time.monotonic() - begun.began > max_age:
        _end(begun.process)
        return None
    return begun.process


def drop_all() -> None:
    """End and forget every process begun and not taken."""
    while _BEGUN:
        _end(_BEGUN.popitem()[1].process)


def _end(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate()
