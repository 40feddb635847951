"""`ankplan watch FILE...`: supervise the workloads for a while with restart policies and back-off.

Does I/O: reads the files, runs the watch loop (podman on the nodes), installs SIGINT/SIGTERM
handlers that end the loop cleanly (containers are left as they are). Shows a live table on a
terminal, one line per event otherwise, NDJSON with --output json. Exit 0; 3 not stable before
--duration (--until-stable); 4 a workload exhausted --max-restarts; 1 error.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Self

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ankplan.cli.options import add_node_options, load_inventory_from_args, open_pool
from ankplan.cli.views.apply import json_line

RECONNECT_AFTER = 5.0  # seconds before watch tries again to reach a node that failed
from ankplan.cli.commands.get import STATE_STYLE
from ankplan.cli.commands.plan import project_name
from ankplan.cli.env import Env, ExitStatus, signals_set
from ankplan.executors.watch import Watch, WatchEvent, WatchOptions, WatchResult, WorkloadView
from ankplan.manifests.load import load_manifest
from ankplan.planner.restarts import DEFAULT_DELAYS, DEFAULT_RESET_AFTER, BackoffPolicy
from ankplan.podman import parse_go_duration


def duration(text: str) -> float:
    """Seconds from `90`, `1.5`, `90s`, `2m` or `1m30s` (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        try:
            value = parse_go_duration(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90, 90s, 2m)"
                                             ) from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def backoff_delays(text: str) -> tuple[float, ...]:
    """`0,5,10,20,30` -> (0.0, 5.0, ...): the delay before each restart; the last repeats."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("give at least one delay, e.g. 0,5,10,20,30")
    return tuple(duration(part) for part in parts)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `watch` sub-command."""
    parser = subparsers.add_parser(
        "watch", help="supervise the workloads: restart policies with back-off, health checks",
        description="Observe the nodes every tick and act like an Ankaios agent: restart "
                    "workloads by their restartPolicy (ON_FAILURE: non-zero exit, ALWAYS: any "
                    "exit, NEVER: never) with back-off, re-create containers removed by hand, "
                    "start workloads whose dependency conditions became true, run podman "
                    "health checks. Ctrl-C ends it and leaves the containers as they are. "
                    "Exit 0; 3 not stable before --duration; 4 gave up (--max-restarts).")
    parser.add_argument("files", nargs="+", metavar="FILE", help="Ankaios manifest file(s)")
    add_node_options(parser)
    parser.add_argument("--agent", metavar="NAME", default=None,
                        help="run every workload on this agent (like `ank apply --agent`)")
    group = parser.add_argument_group("watch")
    group.add_argument("--duration", type=duration, default=None, metavar="D",
                       help="end after D (e.g. 90, 90s, 5m; default: until Ctrl-C)")
    group.add_argument("--until-stable", action="store_true",
                       help="end once every workload reached its expected state and stayed "
                            "there for --settle; exit 3 if not before --duration")
    group.add_argument("--settle", type=duration, default=5.0, metavar="S",
                       help="how long everything must stay unchanged to count as stable "
                            "(default 5s)")
    group.add_argument("--max-restarts", type=_count, default=None, metavar="N",
                       help="give up on a workload after N restarts in this run (exit 4)")
    group.add_argument("--backoff", type=backoff_delays, default=DEFAULT_DELAYS,
                       metavar="D1,D2,...",
                       help="delay before the 1st, 2nd, ... restart of a crash loop; the last "
                            "repeats (default 0,5,10,20,30 as in the guide)")
    group.add_argument("--backoff-reset", type=duration, default=DEFAULT_RESET_AFTER,
                       metavar="S", help="clean running time that resets the back-off "
                                         f"(default {DEFAULT_RESET_AFTER:g}s)")
    group.add_argument("--tick", type=duration, default=0.5, metavar="S",
                       help="time between observations (default 0.5s)")
    group.add_argument("--stop-timeout", type=int, default=10, metavar="SECONDS",
                       help="seconds between SIGTERM and SIGKILL when a restart stops a "
                            "running (unhealthy) container (default 10)")
    group.add_argument("--output", choices=("text", "json"), default="text",
                       help="text: live table on a terminal, else one line per event; "
                            "json: NDJSON events")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Load, then run the loop with the chosen display; the exit status says how it ended."""
    manifest = load_manifest(args.files, agent_override=args.agent)
    inventory = load_inventory_from_args(args)
    options = WatchOptions(
        project=project_name(args), tick=max(args.tick, 0.05), duration=args.duration,
        until_stable=args.until_stable, settle=args.settle, forks=args.forks,
        timeout=args.timeout, stop_timeout=args.stop_timeout,
        backoff=BackoffPolicy(delays=args.backoff, reset_after=args.backoff_reset,
                              max_restarts=args.max_restarts))
    cancel = threading.Event()
    display = Display(env, args.output)
    # A node that was unreachable is tried again every few ticks, so it rejoins when it is back.
    interrupts = signals_set(cancel, env, "ending the watch, containers are left as they are")
    with open_pool(args, retry_failed_after=RECONNECT_AFTER) as pool, interrupts, \
            display:
        watch = Watch(manifest, inventory, pool, options, cancel=cancel, on_event=display.event,
                      on_tick=display.tick)
        result = watch.run()
    display.summary(result, options)
    return exit_status(result, options)


def exit_status(result: WatchResult, options: WatchOptions) -> ExitStatus:
    """4 when a workload gave up, 3 when --until-stable was not reached, else 0."""
    if result.gave_up:
        return ExitStatus.GAVE_UP
    if options.until_stable and not result.stable:
        return ExitStatus.NOT_STABLE
    return ExitStatus.SUCCESS


# --- display -----------------------------------------------------------------------------------


def event_line(event: WatchEvent) -> str:
    """`12:03:04 node1/kuksa-bridge Running(Ok) -> Failed(ExecFailed): Exit code: '1'`."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
    address = f"{event.node}/{event.workload}" if event.workload else (event.node or "watch")
    if event.kind == "state":
        change = f"{event.from_state} -> {event.to_state}" if event.from_state else event.to_state
        return f"{stamp} {address} {change}" + (f": {event.reason}" if event.reason else "")
    return f"{stamp} {address} {event.kind}: {event.reason}"


def view_table(views: tuple[WorkloadView, ...]) -> Table:
    """The live table: workload, node, state, restarts, next restart, info."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("WORKLOAD", "NODE", "STATE", "RESTARTS", "NEXT RESTART", "INFO"):
        table.add_column(column, overflow="fold")
    for view in views:
        upcoming = "gave up" if view.gave_up else (
            "" if view.next_restart_in is None else f"in {view.next_restart_in:.1f}s")
        state = view.state + (" (crash-looping)" if view.next_restart_in is not None else "")
        style = STATE_STYLE.get(view.state.split("(")[0], "")
        table.add_row(view.workload, view.node or "-", Text(state, style=style),
                      str(view.restarts), upcoming, view.info)
    return table


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
        return Group(view_table(self.views))

    def event(self, event: WatchEvent) -> None:
        """One event: an NDJSON record, a line, or a line above the live table."""
        if self.mode == "json":
            self.env.stdout.write(json_line({"type": "event", **event.as_json()}))
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

    def summary(self, result: WatchResult, options: WatchOptions) -> None:
        """The closing line (stderr), or a summary record with --output json (stdout)."""
        if self.mode == "json":
            self.env.stdout.write(json_line({
                "type": "summary", "stable": result.stable, "gave_up": list(result.gave_up),
                "interrupted": result.interrupted, "ticks": result.ticks,
                "elapsed": round(result.elapsed, 3), "restarts": result.restarts,
                "exit_code": int(exit_status(result, options))}))
            return
        parts = [f"{result.restarts} restart(s)", f"{result.ticks} ticks"]
        if options.until_stable:
            parts.append("stable" if result.stable else "NOT stable before --duration")
        if result.gave_up:
            parts.append("gave up on: " + ", ".join(result.gave_up))
        ended = "interrupted" if result.interrupted else "ended"
        self.env.stderr.write(f"Watch {ended} after {result.elapsed:.1f}s: "
                              f"{', '.join(parts)}.\n")
