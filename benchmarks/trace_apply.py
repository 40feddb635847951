#!/usr/bin/env python3
"""Where one `ankplan apply` spends its time: a timestamped trace of one apply of the police
example from empty on the local Podman (process start, imports, each command it runs, each
step's state changes, the end), times in ms since the process began.

Does I/O: runs ankplan in this process with its local transport wrapped to log every command,
and removes the bp-* containers before and after. Prints the trace, then the time spent per
command kind. usage: trace_apply.py [--keep]
"""

from __future__ import annotations

import os
import time

_T0 = time.time()  # as early as possible; the process began a little earlier (see below)


def _process_start() -> float:
    """Unix time when this process began (from /proc, 10 ms resolution)."""
    with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
        ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        up = float(uptime.read().split()[0])
    return time.time() - up + ticks / os.sysconf("SC_CLK_TCK")


import argparse
import resource
import sys
import tempfile
import threading
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_apply import PROJECT, WORKLOADS, bench_manifest, remove

START = _process_start()
LINES: list[tuple[float, str]] = []
SPENT: dict[str, list[float]] = defaultdict(list)


def log(text: str, at: float | None = None) -> None:
    """One trace line at `at` (unix time, default now)."""
    LINES.append(((at or time.time()) - START, f"[{threading.current_thread().name}] {text}"))


def kind(argv: Sequence[str]) -> str:
    """A short name for a command: `podman run`, `sh (prepare)`, ..."""
    words = [w for w in argv if not w.startswith("-")]
    if words and words[0].endswith("podman"):
        return f"podman {words[1] if len(words) > 1 else ''}"
    if words and words[0] in ("sh", "/bin/sh"):
        script = " ".join(argv)
        for key, name in (("startedAt", "record start"), ("read -r applied", "prepare folder"),
                          ("/*/applied.json", "read records"), ("rm -rf --", "forget folder")):
            if key in script:
                return f"sh ({name})"
        return "sh (lock)" if "lock" in script else "sh"
    return words[0] if words else "?"


def main() -> int:
    global START
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    args = parser.parse_args()
    log(f"trace script running (python start-up took {1000 * (_T0 - START):.0f} ms)", _T0)
    names = [f"bp-{name}" for name in WORKLOADS]
    remove(names)
    with tempfile.TemporaryDirectory(prefix="ankplan-trace-") as folder:
        manifest = bench_manifest(Path(folder))
        began = time.time()
        START = began
        argv = ["apply", "--yes", "--project", PROJECT, str(manifest)]
        from ankplan.cli.entry import early_reads
        from ankplan.executors import early

        for read in early_reads(argv):  # as the console script does (cli/entry.py)
            early.begin(read)
        log("early reads begun; import ankplan.cli.main")
        from ankplan.cli import main as cli_main
        from ankplan.executors import apply_state, transport
        log("imported")
        wrap_transport(transport)
        wrap_board(apply_state)
        code = cli_main.main(argv)
        log(f"ankplan main returned {code}")
        own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                                resource.RUSAGE_CHILDREN))
        log(f"CPU seconds: this process {own.ru_utime + own.ru_stime:.3f}, the commands it "
            f"waited for {children.ru_utime + children.ru_stime:.3f}")
    if not args.keep:
        remove(names)
    for at, text in sorted(LINES):
        print(f"{1000 * at:8.1f} ms  {text}", file=sys.stderr)
    print("\ncommands: count, total ms, median ms", file=sys.stderr)
    for name, durations in sorted(SPENT.items(), key=lambda item: -sum(item[1])):
        durations.sort()
        print(f"  {name:24} {len(durations):3} {1000 * sum(durations):8.1f} "
              f"{1000 * durations[len(durations) // 2]:8.1f}", file=sys.stderr)
    return 0


def wrap_transport(transport: object) -> None:
    local = transport.LocalTransport  # type: ignore[attr-defined]
    original = local.run

    def run(self: object, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> object:
        name = kind(argv)
        began = time.time()
        result = original(self, argv, timeout=timeout, stdin=stdin)
        ended = time.time()
        SPENT[name].append(ended - began)
        if name == "podman run" and not result.stdout.strip():
            log(f"podman run printed no id: exit {result.exit_code}, stderr {result.stderr!r}")
        log(f"{name:22} {1000 * (ended - began):6.1f} ms  (began {1000 * (began - START):.1f})",
            ended)
        return result

    local.run = run
    opened = local.open_stream

    def open_stream(self: object, argv: Sequence[str], *, timeout: float) -> object:
        name, began = f"{kind(argv)} stream", time.time()
        handle = opened(self, argv, timeout=timeout)
        first_line = handle.readline  # type: ignore[attr-defined]

        def readline(timeout: float | None = None) -> str | None:
            line = first_line(timeout=timeout)
            if handle.readline is readline:  # type: ignore[attr-defined]
                handle.readline = first_line  # type: ignore[attr-defined]
                ended = time.time()
                SPENT[name].append(ended - began)
                log(f"{name:22} {1000 * (ended - began):6.1f} ms to its first line "
                    f"(began {1000 * (began - START):.1f})", ended)
            return line

        handle.readline = readline  # type: ignore[attr-defined]
        return handle

    local.open_stream = open_stream


def wrap_board(apply_state: object) -> None:
    board = apply_state.Board  # type: ignore[attr-defined]
    original = board._emit

    def emit(self: object, progress: object, to_state: str, message: str,
             outcome: str = "") -> None:
        log(f"  {progress.workload_name}: {to_state} {outcome}")  # type: ignore[attr-defined]
        original(self, progress, to_state, message, outcome)

    board._emit = emit


if __name__ == "__main__":
    sys.exit(main())
