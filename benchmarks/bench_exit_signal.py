#!/usr/bin/env python3
"""Benchmark: how soon an outside supervisor on a node with only Podman and a POSIX shell learns
that a container exited, and what waiting for it costs: `podman events` (what `watch` follows;
the bed's events backend is `file`) vs `podman wait --interval I` (Podman polls the container's
state every I), each held open on the node's kept SSH connection.

Does I/O: uses a running test bed (--bed DIR) or brings one up (benchmarks/bedslot.py); creates
and removes its own containers on node1. Delays are measured from the container's real exit
(`State.FinishedAt`: conmon's exit file) to the moment the answer reached this process; the bed's
nodes share this machine's clock.
usage: bench_exit_signal.py [--bed DIR | --slot N] [--rounds 8] [--idle 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bedslot import running_bed
from bench_watch import IMAGE, _time, bed_nodes, descendants_cpu, system_ssh

from ankplan.executors.transport import StreamHandle, Transport, TransportPool
from ankplan.model import Node

NAME = "bench-exit-signal"
INTERVALS = ("250ms", "100ms", "20ms")  # 250ms is podman wait's default


def _arrival(stream: StreamHandle, until: str, seen: dict[str, float], key: str) -> None:
    """Read `stream` until a line containing `until` (any line when ""); note when it came."""
    try:
        while (line := stream.readline(timeout=20)) is not None:
            if until in line:
                seen[key] = time.time()
                return
    except TimeoutError:
        return


def one_round(transport: Transport, events: StreamHandle,
              tail: StreamHandle) -> dict[str, float]:
    """Start the container (it exits 1 after 2 s) with every waiter open; their delays."""
    transport.run(("podman", "start", NAME), timeout=60)
    waiters = {f"podman wait --interval {interval}": transport.open_stream(
        ("podman", "wait", "--interval", interval, NAME), timeout=30) for interval in INTERVALS}
    seen: dict[str, float] = {}
    threads = [threading.Thread(target=_arrival, args=(stream, "", seen, key))
               for key, stream in waiters.items()]
    threads.append(threading.Thread(target=_arrival, args=(events, '"died"', seen,
                                                           "podman events (file backend)")))
    threads.append(threading.Thread(target=_arrival, args=(tail, '"died"', seen,
                                                           "tail -f of the events file")))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for stream in waiters.values():
        stream.close()
    finished = transport.run(("podman", "inspect", "--format", "{{json .State.FinishedAt}}",
                              NAME), timeout=30).stdout.strip().strip('"')
    exited = _time(finished.replace(" +0000 UTC", "Z").replace(" ", "T"))
    return {key: at - exited for key, at in seen.items()}


def events_file(bed: dict[str, Any]) -> str:
    """The bed node's events file (its containers.conf sets tmp_dir under its run folder)."""
    return str(Path(bed["nodes"][0]["run_dir"]) / "libpod" / "events" / "events.log")


def tail_argv(path: str) -> tuple[str, ...]:
    """Follow the events file as coreutils `tail` does (inotify), only this container's lines."""
    return ("sh", "-c", 'exec tail -n 0 -F "$1" | grep --line-buffered "$2"', "sh", path, NAME)


def bench_delays(bed: dict[str, Any], node: Node, rounds: int) -> None:
    system_ssh(node, ["podman", "rm", "-f", "-t", "0", "--ignore", NAME])
    system_ssh(node, ["podman", "create", "--name", NAME, IMAGE, "stub", "job", "2", "1"])
    delays: dict[str, list[float]] = {}
    with TransportPool() as pool:
        transport = pool.get(node)
        events = transport.open_stream(("podman", "events", "--format", "json", "--filter",
                                        f"container={NAME}"), timeout=30)
        tail = transport.open_stream(tail_argv(events_file(bed)), timeout=30)
        time.sleep(0.5)
        for _ in range(rounds):
            for key, delay in one_round(transport, events, tail).items():
                delays.setdefault(key, []).append(delay)
        events.close()
        tail.close()
    system_ssh(node, ["podman", "rm", "-f", "-t", "0", "--ignore", NAME])
    print(f"exit -> the supervisor knows, on {node.name} over its kept SSH connection "
          f"({rounds} exits, all waiters at once; from State.FinishedAt)")
    for key, values in sorted(delays.items(), key=lambda item: statistics.median(item[1])):
        print(f"  {key:<34} median {statistics.median(values):.3f} s   min {min(values):.3f} s"
              f"   max {max(values):.3f} s   ({len(values)} exits)")


def bench_idle_cost(bed: dict[str, Any], node: Node, seconds: float) -> None:
    """CPU (every process under the node's sshd) of one idle waiter for `seconds`."""
    root = int((Path(bed["nodes"][0]["run_dir"]) / "sshd.pid").read_text().split()[0])
    system_ssh(node, ["podman", "rm", "-f", "-t", "0", "--ignore", NAME])
    system_ssh(node, ["podman", "run", "-d", "--name", NAME, IMAGE, "stub", "idle"])
    commands: dict[str, tuple[str, ...] | None] = {
        "nothing (the kept connection alone)": None,
                "podman events (file backend)": ("podman", "events", "--format", "json",
                                                 "--filter", f"container={NAME}")}
    commands["tail -f of the events file"] = tail_argv(events_file(bed))
    commands |= {f"podman wait --interval {interval}": ("podman", "wait", "--interval",
                                                         interval, NAME)
                 for interval in INTERVALS}
    print(f"idle waiting on {node.name} for {seconds:g} s, one running container, CPU seconds "
          "of every process under the node's sshd")
    with TransportPool() as pool:
        transport = pool.get(node)
        transport.run(("true",), timeout=30)
        for label, argv in commands.items():
            stream = transport.open_stream(argv, timeout=30) if argv else None
            time.sleep(1.0)  # past the command's own start
            before = descendants_cpu([root])
            time.sleep(seconds)
            cpu = descendants_cpu([root]) - before
            if stream is not None:
                stream.close()
            print(f"  {label:<40} {cpu:.2f} CPU-s   ({cpu / seconds * 100:.1f}% of a core)")
    system_ssh(node, ["podman", "rm", "-f", "-t", "0", "--ignore", NAME])


def benchmark(bed: dict[str, Any], rounds: int, idle: float) -> None:
    node = bed_nodes(bed)[0]
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    bench_delays(bed, node, rounds)
    bench_idle_cost(bed, node, idle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bed", help="folder of a running test bed (bed.json)")
    parser.add_argument("--slot", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds per idle waiter")
    args = parser.parse_args(argv)
    if args.bed:
        benchmark(json.loads((Path(args.bed) / "bed.json").read_text()), args.rounds, args.idle)
        return 0
    with running_bed(1, slot=args.slot, owner="bench-exit-signal") as bed:
        benchmark(bed, args.rounds, args.idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
