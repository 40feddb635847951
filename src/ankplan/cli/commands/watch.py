"""`ankplan watch FILE...`: supervise the workloads for a while with restart policies and back-off.

Does I/O: reads the files, runs the watch loop (podman on the nodes), installs SIGINT/SIGTERM
handlers that end the loop cleanly (containers are left as they are). Shows a live table on a
terminal, one line per event otherwise, NDJSON with --output json. Exit 0; 3 not stable before
--duration (--until-stable); 4 a workload exhausted --max-restarts; 1 error.
"""

from __future__ import annotations

import argparse
import threading

from ankplan.cli.env import Env, ExitStatus, signals_set
from ankplan.cli.options import (
    add_lock_timeout,
    add_manifest_options,
    add_node_options,
    add_output_option,
    load_inventory_from_args,
    load_manifest_from_args,
    long_writer_lock,
    manifest_words,
    non_negative_int,
    open_pool,
    project_name,
)
from ankplan.cli.views.events import ModeReport
from ankplan.cli.views.watch import Display
from ankplan.executors.watch import Watch, WatchOptions, WatchResult, WorkloadView
from ankplan.planner.restarts import DEFAULT_DELAYS, DEFAULT_RESET_AFTER, BackoffPolicy
from ankplan.podman import parse_go_duration

RECONNECT_AFTER = 5.0  # seconds before watch tries again to reach a node that failed


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
    add_manifest_options(parser)
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
    group.add_argument("--max-restarts", type=non_negative_int, default=None, metavar="N",
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
    group.add_argument("--poll", action="store_true",
                       help="observe with one `podman ps` per node every tick instead of "
                            "following each node's `podman events`")
    add_lock_timeout(group)
    add_output_option(group, ("text", "json"),
                      help="text: live table on a terminal, else one line per event; "
                           "json: NDJSON events")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Load, then run the loop with the chosen display; the exit status says how it ended."""
    _, args.files = manifest_words(args)
    manifest = load_manifest_from_args(args, env)
    inventory = load_inventory_from_args(args)
    project = project_name(args, manifest)
    options = WatchOptions(
        project=project, tick=max(args.tick, 0.05), duration=args.duration,
        until_stable=args.until_stable, settle=args.settle, forks=args.forks,
        timeout=args.timeout, stop_timeout=args.stop_timeout, events=not args.poll,
        backoff=BackoffPolicy(delays=args.backoff, reset_after=args.backoff_reset,
                              max_restarts=args.max_restarts))
    cancel = threading.Event()
    display = Display(env, args.output)
    # A node that was unreachable is tried again every few ticks, so it rejoins when it is back.
    interrupts = signals_set(cancel, env, "ending the watch, containers are left as they are")
    nodes = {node.name: node for w in manifest.workloads
             if (node := inventory.node_for_agent(w.agent)) is not None}
    with open_pool(args, env, retry_failed_after=RECONNECT_AFTER) as pool, \
            long_writer_lock(args, pool, tuple(nodes.values()),
                             project=project.name) as locks, interrupts, display:
        modes = ModeReport(env) if args.debug else None

        def tick(views: tuple[WorkloadView, ...]) -> None:
            display.tick(views)
            if modes is not None:
                modes.report(watch.observation_modes())

        watch = Watch(manifest, inventory, pool, options, cancel=cancel, on_event=display.event,
                      on_tick=tick, locks=locks)
        result = watch.run()
    code = exit_status(result, options)
    display.summary(result, options, code)
    return code


def exit_status(result: WatchResult, options: WatchOptions) -> ExitStatus:
    """130 when ended by SIGINT/SIGTERM, 4 when a workload gave up, 3 when --until-stable was
    not reached, else 0."""
    if result.interrupted:
        return ExitStatus.CTRL_C
    if result.gave_up:
        return ExitStatus.GAVE_UP
    if options.until_stable and not result.stable:
        return ExitStatus.NOT_STABLE
    return ExitStatus.SUCCESS
