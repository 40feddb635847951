"""How `watch` shows what happens: a live table on a terminal, one line per event otherwise,
NDJSON records with --output json, and the closing summary.

Writes to the Env's streams only (events and the table to stdout, the summary line to stderr).
"""

from __future__ import annotations

import time
from typing import Self

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ankplan.cli.env import Env
from ankplan.cli.views.apply import json_line
from ankplan.cli.views.events import watch_event_record
from ankplan.cli.views.status import STATE_STYLE
from ankplan.cli.views.table import Column, rich_table
from ankplan.executors.watch import WatchEvent, WatchOptions, WatchResult, WorkloadView


def event_line(event: WatchEvent) -> str:
    """`12:03:04 node1/kuksa-bridge Running(Ok) -> Failed(ExecFailed): Exit code: '1'`."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
    address = f"{event.node}/{event.workload}" if event.workload else (event.node or "watch")
    if event.kind == "state":
        change = f"{event.from_state} -> {event.to_state}" if event.from_state else event.to_state
        return f"{stamp} {address} {change}" + (f": {event.reason}" if event.reason else "")
    return f"{stamp} {address} {event.kind}: {event.reason}"


def _upcoming(view: WorkloadView) -> str:
    if view.gave_up:
        return "gave up"
    return "" if view.next_restart_in is None else f"in {view.next_restart_in:.1f}s"


def _state(view: WorkloadView) -> str:
    return view.state + (" (crash-looping)" if view.next_restart_in is not None else "")


# The live table: workload, node, state, restarts, next restart, info; fitted like `get`.
VIEW_COLUMNS: tuple[Column[WorkloadView], ...] = (
    Column(header="WORKLOAD", cell=lambda view: view.workload),
    Column(header="NODE", cell=lambda view: view.node or "-", priority=1),
    Column(header="STATE", cell=_state,
           style=lambda view: STATE_STYLE.get(view.state.split("(")[0], "")),
    Column(header="RESTARTS", cell=lambda view: str(view.restarts), priority=2),
    Column(header="NEXT RESTART", cell=_upcoming, priority=3),
    Column(header="INFO", cell=lambda view: view.info, priority=4, elastic=True),
)


def view_table(views: tuple[WorkloadView, ...], width: int | None) -> Table:
    """The live table fitted to `width` columns."""
    return rich_table(VIEW_COLUMNS, views, width)


class Display:
    """Shows events and the live table; a context manager around the loop."""

    def __init__(self, env: Env, output: str) -> None:
        self.env = env
        self.mode = "json" if output == "json" else ("live" if env.stdout_isatty else "lines")
        self.views: tuple[WorkloadView, ...] = ()
        self.live: Live | None = None

    def __enter__(self) -> Self:
        if self.mode == "live":
            self.live = Live(console=self.env.out_console(), get_renderable=self._renderable,
                             refresh_per_second=4, transient=False)
            self.live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.live is not None:
            self.live.stop()

    def _renderable(self) -> Group:
        return Group(view_table(self.views, self.env.width))

    def event(self, event: WatchEvent) -> None:
        """One event: an NDJSON record, a line, or a line above the live table."""
        if self.mode == "json":
            self.env.stdout.write(json_line(watch_event_record(event)))
        elif self.live is not None:
            self.live.console.print(Text(event_line(event)))
        else:
            self.env.stdout.write(event_line(event) + "\n")
        self.env.stdout.flush()

    def tick(self, views: tuple[WorkloadView, ...]) -> None:
        """The rows after a tick (the live table re-renders from them)."""
        self.views = views
        if self.live is not None:
            self.live.refresh()

    def summary(self, result: WatchResult, options: WatchOptions, exit_code: int) -> None:
        """The closing line (stderr), or a summary record with --output json (stdout)."""
        if self.mode == "json":
            self.env.stdout.write(json_line({
                "type": "summary", "stable": result.stable, "gave_up": list(result.gave_up),
                "interrupted": result.interrupted, "ticks": result.ticks,
                "elapsed": round(result.elapsed, 3), "restarts": result.restarts,
                "exit_code": int(exit_code)}))
            return
        parts = [f"{result.restarts} restart(s)", f"{result.ticks} ticks"]
        if options.until_stable:
            parts.append("stable" if result.stable else "NOT stable before --duration")
        if result.gave_up:
            parts.append("gave up on: " + ", ".join(result.gave_up))
        ended = "interrupted" if result.interrupted else "ended"
        self.env.stderr.write(f"Watch {ended} after {result.elapsed:.1f}s: "
                              f"{', '.join(parts)}.\n")
