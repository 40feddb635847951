#!/usr/bin/env python3
"""Benchmark: crash -> Running again under `ankplan watch` (events and --poll) vs Podman's own
restart policy and vs the floor of any outside supervisor (event delivery + `podman start`);
the CPU an idle watch costs (ankplan and the nodes' sshd/podman); one polling tick's cost.

Does I/O: uses a running test bed (--bed DIR with bed.json) or brings one up with
scripts/testbed.py in --slot and takes it down again; creates and removes its own containers.
The crash-to-running times come from `podman events` on the node (died -> next start of a
container of that name), so both contenders are measured on the same clock in the same run.
usage: bench_watch.py [--bed DIR | --slot N] [--seconds 40] [--ticks 20] [--idle 20]
(without --bed a 3-node bed is brought up in a free slot, see benchmarks/bedslot.py)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bedslot import running_bed

from ankplan.executors.observe import observe_nodes
from ankplan.executors.transport import CommandResult, TransportPool, connect
from ankplan.executors.watch import Watch, WatchOptions
from ankplan.model import (
    Connection,
    Inventory,
    Manifest,
    Node,
    PodmanConfig,
    RestartPolicy,
    Workload,
)
from ankplan.planner.restarts import BackoffPolicy

IMAGE = "localhost/ankplan-demo:latest"
PROJECT = "bench-watch"
PODMAN_OWN = "bench-podman-restart"  # the container Podman restarts by itself
CRASH_AFTER = 2  # seconds each crashing container runs before it exits 1


class Counting:
    """A connector that counts podman calls per node (to show one ps per node per tick)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, node: Node, *, accept_new_host_keys: bool) -> Any:
        inner = connect(node, accept_new_host_keys=accept_new_host_keys)
        counting = self

        class Wrapped:
            def __init__(self) -> None:
                self.node = inner.node

            def run(self, argv: Sequence[str], *, timeout: float,
                    stdin: str | None = None) -> CommandResult:
                counting.calls[node.name] += 1
                return inner.run(argv, timeout=timeout, stdin=stdin)

            def close(self) -> None:
                inner.close()

        return Wrapped()


def bed_nodes(bed: dict[str, Any]) -> list[Node]:
    """ankplan Nodes for every node of the bed."""
    bed_dir = Path(bed["dir"])
    return [Node(name=n["name"], connection=Connection.SSH, host=n["host"], port=n["port"],
                 user="root", identity_file=str(bed_dir / bed["key"]),
                 known_hosts_file=str(bed_dir / bed["known_hosts"]), connect_timeout=5)
            for n in bed["nodes"]]


def system_ssh(node: Node, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run argv on the node with OpenSSH's client."""
    ssh = ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=yes", "-o",
           f"UserKnownHostsFile={node.known_hosts_file}", "-o", "IdentitiesOnly=yes", "-o",
           "BatchMode=yes", "-i", node.identity_file, "-p", str(node.port),
           f"root@{node.host}", shlex.join(argv)]
    return subprocess.run(ssh, capture_output=True, text=True, timeout=300, check=False)


def workload(name: str, agent: str, *args: str,
             policy: RestartPolicy = RestartPolicy.NEVER) -> Workload:
    config = PodmanConfig(image=IMAGE, command_args=args)
    return Workload(name=name, agent=agent, runtime="podman", runtime_config_text=name,
                    runtime_config=config, restart_policy=policy)


def cleanup(nodes: list[Node]) -> None:
    """Remove the benchmark's containers from every node."""
    projects = " ".join(f"$(podman ps -aq --filter label=ankplan.project={PROJECT}{suffix})"
                        for suffix in ("", "-events", "-poll", "-idle"))
    script = f"podman rm -f -t 0 --ignore {PODMAN_OWN} {projects} >/dev/null 2>&1; true"
    for node in nodes:
        system_ssh(node, ["sh", "-c", script])


def _time(text: str) -> float:
    """Unix seconds from podman's `2026-11-27T06:20:07.973964819Z` (to the microsecond)."""
    day, _, rest = text.rstrip("Z").partition("T")
    clock, _, fraction = rest.partition(".")
    stamp = datetime.fromisoformat(f"{day}T{clock}+00:00").timestamp()
    return stamp + float("0." + (fraction or "0"))


def restart_gaps(node: Node, since: float, until: float
                 ) -> tuple[dict[str, list[float]], dict[str, set[str]]]:
    """Seconds from each `died` to the next `start` of a container of the same name, and the
    ids of the containers started under each name (one: restarted with `podman start`)."""
    # No --until: podman 4.3 with the file events logger sometimes stops early with it.
    result = system_ssh(node, ["podman", "events", "--stream=false", "--format", "json",
                               "--since", str(int(since))])
    if result.returncode != 0:
        raise SystemExit(f"podman events failed on {node.name}: {result.stderr.strip()}")
    died: dict[str, float] = {}
    gaps: dict[str, list[float]] = {}
    ids: dict[str, set[str]] = {}
    for line in result.stdout.splitlines():
        event = json.loads(line)
        name, status = event.get("Name", ""), event.get("Status", "")
        if event.get("Type") != "container" or not name or _time(event["Time"]) > until:
            continue
        if status == "died":
            died[name] = _time(event["Time"])
        elif status == "start":
            ids.setdefault(name, set()).add(event.get("ID", ""))
            if name in died:
                gaps.setdefault(name, []).append(_time(event["Time"]) - died.pop(name))
    return gaps, ids


def bench_restarts(nodes: list[Node], seconds: float) -> None:
    """Every contender crashes every CRASH_AFTER s on node1 at the same time for `seconds`:
    ankplan watch following events, ankplan watch --poll (tick 0.5 s), Podman by itself."""
    node = nodes[0]
    inventory = Inventory(nodes=(node,), agents=(("a1", node.name),))
    contenders = {"events": "bench-ankplan-events", "poll": "bench-ankplan-poll"}
    began = time.time()
    own = system_ssh(node, ["podman", "run", "-d", "--name", PODMAN_OWN,
                            "--restart=on-failure", IMAGE, "stub", "job", str(CRASH_AFTER), "1"])
    if own.returncode != 0:
        raise SystemExit(f"podman run failed: {own.stderr.strip()}")
    results: dict[str, Any] = {}

    def supervise(mode: str) -> None:
        manifest = Manifest(api_version="v1", workloads=(workload(
            contenders[mode], "a1", "stub", "job", str(CRASH_AFTER), "1",
            policy=RestartPolicy.ON_FAILURE),))
        options = WatchOptions(project=f"{PROJECT}-{mode}", duration=seconds,
                               events=mode == "events",
                               backoff=BackoffPolicy(delays=(0,)))  # reaction, not back-off
        with TransportPool() as pool:
            results[mode] = Watch(manifest, inventory, pool, options).run()

    threads = [threading.Thread(target=supervise, args=(mode,)) for mode in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gaps, ids = restart_gaps(node, began, time.time())
    print(f"crash -> running again on {node.name}, {seconds:g} s, a crash every "
          f"{CRASH_AFTER} s of running, all contenders at once (died event -> next start "
          "event, both stamped by the node's podman)")
    for label, name in (("ankplan watch (podman events)", contenders["events"]),
                        ("ankplan watch --poll (tick 0.5 s)", contenders["poll"]),
                        ("podman --restart=on-failure (conmon)", PODMAN_OWN)):
        values = gaps.get(name, [])
        if not values:
            print(f"  {label:<44} no restarts seen")
            continue
        print(f"  {label:<44} median {statistics.median(values):.3f} s   min "
              f"{min(values):.3f} s   max {max(values):.3f} s   ({len(values)} restarts, "
              f"{len(ids.get(name, ()))} container(s))")
    floor = bench_floor(node)
    events = gaps.get(contenders["events"], [])
    polled, own_gaps = gaps.get(contenders["poll"], []), gaps.get(PODMAN_OWN, [])
    if events and own_gaps:
        mine, theirs = statistics.median(events), statistics.median(own_gaps)
        print(f"verdict: crash to Running again: ankplan watch {mine:.3f} s vs podman "
              f"--restart=on-failure {theirs:.3f} s -> ankplan "
              f"{'ahead' if mine < theirs else 'NOT ahead'} ({mine / theirs:.2f}x)")
    if events and polled:
        print(f"verdict: watch reaction, events vs --poll: {statistics.median(events):.3f} s vs "
              f"{statistics.median(polled):.3f} s")
    if events and floor:
        ratio = statistics.median(events) / floor
        print(f"verdict: watch reaction (events): {statistics.median(events):.3f} s vs the "
              f"outside-supervisor floor {floor:.3f} s -> {ratio:.2f}x the floor "
              f"({'within' if ratio <= 1.3 else 'NOT within'} 1.3x)")


def bench_floor(node: Node, rounds: int = 8) -> float:
    """The floor of an outside supervisor on this node: how late `podman events` delivers a
    `died` over a kept SSH connection, plus what one `podman start` costs there."""
    name = "bench-floor"
    system_ssh(node, ["podman", "rm", "-f", "-t", "0", "--ignore", name])
    with TransportPool() as pool:
        transport = pool.get(node)
        stream = transport.open_stream(("podman", "events", "--format", "json", "--filter",
                                        f"container={name}"), timeout=30)
        delays, starts = [], []
        transport.run(("podman", "create", "--name", name, IMAGE, "stub", "job", "0", "1"),
                      timeout=60)
        time.sleep(0.5)
        for _ in range(rounds):
            began = time.monotonic()
            transport.run(("podman", "start", name), timeout=60)
            starts.append(time.monotonic() - began)
            while (line := stream.readline(timeout=30)) is not None:
                event = json.loads(line) if line.startswith("{") else {}
                if event.get("Status") == "died":
                    delays.append(time.time() - _time(event["Time"]))
                    break
            time.sleep(0.3)
        stream.close()
        transport.run(("podman", "rm", "-f", "-t", "0", name), timeout=60)
    delay, start = statistics.median(delays), statistics.median(starts)
    print(f"  floor on {node.name}: `died` delivered {delay:.3f} s after its timestamp "
          f"(median of {len(delays)}, min {min(delays):.3f}, max {max(delays):.3f}; "
          f"events backend of the bed: file) + `podman start` {start:.3f} s over the kept "
          f"connection = {delay + start:.3f} s")
    return delay + start


def descendants_cpu(roots: Sequence[int]) -> float:
    """CPU seconds (user + system, with reaped children) of `roots` and their descendants."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(value) for value in fields[11:15]) / ticks
    total = sum(times.get(root, 0.0) for root in roots)  # a root's c-times hold what it reaped
    for pid, cpu in times.items():
        ancestor = parents.get(pid, 0)
        while ancestor > 1 and ancestor not in roots:
            ancestor = parents.get(ancestor, 0)
        if ancestor in roots:
            total += cpu
    return total


def bench_idle(bed: dict[str, Any], nodes: list[Node], seconds: float) -> None:
    """CPU of a `seconds` watch of 8 running workloads on 3 nodes: the ankplan process and
    every process under the nodes' sshd (sessions, shells, podman), events vs --poll."""
    folder = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    agents = {f"a{index + 1}": node.name for index, node in enumerate(nodes)}
    document = {"apiVersion": "v1", "workloads": {
        f"idle-{index}": {"runtime": "podman", "agent": f"a{index % len(nodes) + 1}",
                          "restartPolicy": "ALWAYS",
                          "runtimeConfig": f"image: {IMAGE}\ncommandArgs: [stub, idle]\n"}
        for index in range(8)}}
    (folder / "m.yaml").write_text(json.dumps(document))
    node_lines = "".join(f"  {n.name}: {{host: {n.host}, port: {n.port}}}\n" for n in nodes)
    (folder / "inventory.yaml").write_text(
        "defaults: {connection: ssh, user: root, "
        f"identity_file: {nodes[0].identity_file}, known_hosts_file: "
        f"{nodes[0].known_hosts_file}}}\nnodes:\n{node_lines}agents: {json.dumps(agents)}\n")
    base = [sys.executable, "-m", "ankplan"]
    common = [str(folder / "m.yaml"), "-i", str(folder / "inventory.yaml"), "--project",
              f"{PROJECT}-idle"]
    subprocess.run([*base, "apply", *common, "--yes"], capture_output=True, check=True)
    roots = [int((Path(n["run_dir"]) / "sshd.pid").read_text().split()[0]) for n in bed["nodes"]]
    print(f"idle watch: {seconds:g} s, 8 running workloads on {len(nodes)} SSH nodes, CPU "
          "seconds (ankplan process + every process under the nodes' sshd)")
    figures = {}
    for label, extra in (("ankplan watch (podman events)", []),
                         ("ankplan watch --poll (tick 0.5 s)", ["--poll"])):
        before = descendants_cpu(roots)
        process = subprocess.Popen([*base, "watch", *common, "--duration", f"{seconds:g}",
                                    "--output", "json", *extra], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(process.pid, 0)
        own = usage.ru_utime + usage.ru_stime
        nodes_cpu = descendants_cpu(roots) - before
        figures[label] = own + nodes_cpu
        print(f"  {label:<36} total {own + nodes_cpu:.2f} s   (ankplan {own:.2f} s, nodes "
              f"{nodes_cpu:.2f} s)")
    events = figures["ankplan watch (podman events)"]
    print(f"verdict: idle watch of 8 workloads on 3 SSH nodes for {seconds:g} s: "
          f"{events:.2f} CPU-s (target < 1) -> {'met' if events < 1 else 'NOT met'}")
    subprocess.run([*base, "destroy", *common, "--yes"], capture_output=True, check=False)


def bench_ticks(nodes: list[Node], ticks: int) -> None:
    """The cost of one tick with 6 running workloads over 3 nodes, once everything settled."""
    agents = tuple((f"a{index + 1}", node.name) for index, node in enumerate(nodes))
    workloads = tuple(workload(f"bench-idle-{index}", agents[index % len(agents)][0], "stub",
                               "idle", policy=RestartPolicy.ALWAYS) for index in range(6))
    manifest = Manifest(api_version="v1", workloads=workloads)
    inventory = Inventory(nodes=tuple(nodes), agents=agents)
    counting = Counting()
    with TransportPool(connector=counting) as pool:
        watch = Watch(manifest, inventory, pool,
                      WatchOptions(project=PROJECT, until_stable=True, settle=1.0,
                                   duration=60.0))
        if not watch.run().stable:
            raise SystemExit("the tick benchmark's workloads did not settle")
        watch = Watch(manifest, inventory, pool, WatchOptions(project=PROJECT))
        calls_before = dict(counting.calls)
        tick_times = _timed(watch.tick, ticks)
        calls = {name: counting.calls[name] - calls_before.get(name, 0) for name in counting.calls}
        observe_times = _timed(lambda: observe_nodes(pool, nodes), ticks)
    print(f"one watch tick over {len(nodes)} nodes, 6 running workloads, connections kept open "
          f"({ticks} ticks)")
    print(f"  full tick (observe, health, plan, decide)   median "
          f"{statistics.median(tick_times) * 1000:.1f} ms   max {max(tick_times) * 1000:.1f} ms")
    print(f"  observe only (1 podman ps per node)          median "
          f"{statistics.median(observe_times) * 1000:.1f} ms   max "
          f"{max(observe_times) * 1000:.1f} ms")
    print("  podman calls per node per tick: " + ", ".join(
        f"{name}: {count / ticks:g}" for name, count in sorted(calls.items())))


def _timed(work: Any, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def benchmark(bed: dict[str, Any], seconds: float, ticks: int, idle: float) -> None:
    nodes = bed_nodes(bed)
    cleanup(nodes)
    print(f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f} (2 cores, possibly shared)")
    try:
        bench_restarts(nodes, seconds)
        bench_idle(bed, nodes, idle)
        bench_ticks(nodes, ticks)
    finally:
        cleanup(nodes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bed", help="folder of a running test bed (bed.json)")
    parser.add_argument("--slot", type=int, default=None,
                        help="test-bed slot to bring one up in (default: a free one)")
    parser.add_argument("--seconds", type=float, default=40.0,
                        help="how long both contenders crash-loop")
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle watch")
    args = parser.parse_args(argv)
    if args.bed:
        benchmark(json.loads((Path(args.bed) / "bed.json").read_text()), args.seconds,
                  args.ticks, args.idle)
        return 0
    with running_bed(3, slot=args.slot, owner="bench-watch") as bed:
        benchmark(bed, args.seconds, args.ticks, args.idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
