"""How apply shows progress and results: a rich live table on a terminal, plain lines
otherwise, NDJSON records with --output json; and the closing summary per step.

Writes to the Env's streams only (progress to stderr, results and JSON to stdout).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

from ankplan.cli.env import Env
from ankplan.cli.views.events import apply_event_record
from ankplan.executors.apply import ApplyEvent, ApplyResult, Outcome
from ankplan.model import Action, PlanStep

if TYPE_CHECKING:
    from rich.live import Live
    from rich.table import Table

OUTCOME_STYLE = {Outcome.DONE: "green", Outcome.STANDING_BY: "cyan", Outcome.FAILED: "red",
                 Outcome.SKIPPED: "yellow", Outcome.NOT_STARTED: "red",
                 Outcome.CANCELLED: "yellow"}


def json_line(record: dict[str, Any]) -> str:
    """One NDJSON record (compact, keys sorted, one trailing newline)."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"


class Progress:
    """Receives ApplyEvents from worker threads and shows them; use as a context manager."""

    def __init__(self, env: Env, output: str, steps: Sequence[PlanStep],
                 command: str = "apply") -> None:
        self._env = env
        self._command = command  # apply, delete or destroy: named in every JSON event
        self._lock = threading.Lock()
        self._began = time.monotonic()
        self._live: Live | None = None
        self._mode = "json" if output == "json" else (
            "live" if env.stderr_isatty else "lines")
        # subject -> [shown name, node, state, outcome or None, elapsed when ended or None]
        self._rows: dict[str, list[Any]] = {
            s.action.subject: [_row_name(s.action), s.action.node_name, "Pending(Initial)",
                               None, None] for s in steps}

    def __enter__(self) -> Self:
        if self._mode == "live":
            from rich.live import Live  # only on a terminal: rich costs ~50 ms of start-up

            self._live = Live(console=self._env.err_console(), get_renderable=self._table,
                              refresh_per_second=8, transient=False)
            self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.stop()

    def __call__(self, event: ApplyEvent) -> None:
        """Show one event (thread-safe)."""
        with self._lock:
            row = self._rows.setdefault(event.subject or f"{event.node}/{event.workload}",
                                        [event.workload, event.node, "", None, None])
            row[2] = event.to_state
            if event.outcome:
                row[3], row[4] = Outcome(event.outcome), event.elapsed
            if self._mode == "json":
                self._env.stdout.write(json_line(apply_event_record(event, self._command)))
                self._env.stdout.flush()
            elif self._mode == "lines":
                self._env.stderr.write(_plain_line(event))
                self._env.stderr.flush()

    def _table(self) -> Table:
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("WORKLOAD", "NODE", "STATE", "ELAPSED"):
            table.add_column(column, no_wrap=True, overflow="ellipsis")  # never fold a cell
        now = time.monotonic() - self._began
        with self._lock:
            rows = list(self._rows.values())
        for workload, node, state, outcome, ended in rows:
            style = OUTCOME_STYLE.get(outcome, "") if outcome else ""
            elapsed = ended if ended is not None else now
            table.add_row(workload, node, Text(state, style=style), f"{elapsed:.1f}s")
        return table


def _row_name(action: Action) -> str:
    """The workload, or for a duplicate container `name (id)` (see Action.subject)."""
    return action.subject.split("/", 1)[1] if action.subject != action.address \
        else action.workload_name


def _plain_line(event: ApplyEvent) -> str:
    """`[  1.2s] node1/kuksa-bridge: Running(Ok) (done)` plus the reason for a bad outcome."""
    subject = event.subject or f"{event.node}/{event.workload}"
    line = f"[{event.elapsed:6.1f}s] {subject}: {event.to_state}"
    if event.outcome:
        line += f" ({event.outcome})"
        if event.outcome != Outcome.DONE.value and event.message:
            line += "\n" + _indent(event.message)
    elif event.to_state.startswith("Pending(WaitingToStart") and event.message:
        line += f" - {event.message}"
    return line + "\n"


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# --- the closing summary ---------------------------------------------------------------------


def summary_counts(result: ApplyResult) -> dict[str, int]:
    """Steps per outcome, every outcome listed."""
    return {outcome.value: result.count(outcome) for outcome in Outcome}


def headline(result: ApplyResult, verb: str = "Apply") -> str:
    """`Apply complete: 6 done.` / `Apply incomplete: ...` / `Apply interrupted: ...`."""
    parts = [f"{count} {name.replace('-', ' ')}" for name, count in summary_counts(result).items()
             if count]
    word = "interrupted" if result.cancelled else (
        "complete" if result.converged else "incomplete")
    return f"{verb} {word}: {', '.join(parts) or 'nothing to do'}."


def render_summary_text(result: ApplyResult, verb: str = "Apply") -> str:
    """One line per step (address, outcome, state, time), reasons indented, then a headline."""
    lines = []
    if result.results:
        width = max(len(r.shown) for r in result.results)
        for item in result.results:
            lines.append(f"  {item.shown.ljust(width)}  {item.outcome.value:<11}  "
                         f"{item.state}  ({item.elapsed:.1f}s)")
            if item.outcome is not Outcome.DONE and item.reason:
                lines.append(_indent(item.reason))
        lines.append("")
    lines.append(headline(result, verb))
    if result.cancelled:
        lines.append("Nothing new was started after the interrupt. Re-run to converge.")
    return "\n".join(lines) + "\n"


def summary_record(result: ApplyResult) -> dict[str, Any]:
    """The result as a JSON record of type "summary"."""
    return {
        "type": "summary", "converged": result.converged, "cancelled": result.cancelled,
        "elapsed": round(result.elapsed, 3), "counts": summary_counts(result),
        "results": [{"id": r.step_id, "address": r.address, "node": r.node_name,
                     "workload": r.workload_name, "action": r.kind.value,
                     "outcome": r.outcome.value, "state": r.state, "reason": r.reason,
                     "elapsed": r.elapsed, "container_id": r.container_id or None,
                     "subject": r.shown}
                    for r in result.results]}

