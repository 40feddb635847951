"""What podman-kube costs on a test-bed node: one observation without pods (one `podman ps`) and
with pods (`podman ps` + `podman pod ps`), each call alone, and `podman kube play -` of one pod
against `podman run -d`. Medians over a kept SSH connection.

Does I/O: ankplan's SSH transport to node1 of a running bed; removes every pod and container
there before and after. usage:
  python3 benchmarks/bedslot.py --nodes 1 -- .venv/bin/python benchmarks/probe_kube_costs.py --bed {bed}
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from ankplan.executors.observe import observe_node
from ankplan.executors.transport import TransportPool
from ankplan.model import Connection, Node

IMAGE = "localhost/ankplan-demo:latest"
POD = ("apiVersion: v1\nkind: Pod\nmetadata: {{name: p{0}, labels: {{ankplan.project: probe}}}}\n"
       f"spec: {{{{containers: [{{{{name: c, image: {IMAGE}}}}}]}}}}\n")
CLEAN = "podman pod rm -a -f -t 0 >/dev/null; podman rm -a -f -t 0 >/dev/null"


def median_ms(work: Callable[[], object], rounds: int) -> float:
    """The median duration of `work` in milliseconds."""
    durations = []
    for _ in range(rounds):
        began = time.perf_counter()
        work()
        durations.append(time.perf_counter() - began)
    return statistics.median(durations) * 1000


def main() -> None:
    """Measure and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bed", type=Path, required=True, help="a running bed's folder")
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    record = json.loads((args.bed / "bed.json").read_text())
    first = record["nodes"][0]
    node = Node(name=first["name"], connection=Connection.SSH, host=first["host"],
                port=int(first["port"]), user="root", identity_file=str(args.bed / record["key"]),
                known_hosts_file=str(args.bed / record["known_hosts"]))
    with TransportPool() as pool:
        transport = pool.get(node)

        def run(*argv: str, stdin: str | None = None) -> None:
            result = transport.run(list(argv), timeout=120, stdin=stdin)
            assert result.ok, result.stderr

        run("sh", "-c", CLEAN)
        for index in range(10):
            run("podman", "run", "-d", "--name", f"c{index}", IMAGE)
        rounds = args.rounds
        plain = median_ms(lambda: observe_node(pool, node), rounds)
        for index in range(3):
            run("podman", "kube", "play", "--quiet", "-", stdin=POD.format(index))
        pods = median_ms(lambda: observe_node(pool, node), rounds)
        ps = median_ms(lambda: run("podman", "ps", "--all", "--format", "json"), rounds)
        pod_ps = median_ms(lambda: run("podman", "pod", "ps", "--format", "json"), rounds)
        counter = iter(range(100, 200))

        def play_and_remove() -> float:
            index = next(counter)
            began = time.perf_counter()
            run("podman", "kube", "play", "--quiet", "-", stdin=POD.format(index))
            took = time.perf_counter() - began
            run("podman", "pod", "rm", "-f", "-t", "0", f"p{index}")
            return took

        play = statistics.median(play_and_remove() for _ in range(5)) * 1000
        names = iter(range(100, 200))
        runs = median_ms(lambda: run("podman", "run", "-d", "--name", f"r{next(names)}", IMAGE), 5)
        run("sh", "-c", CLEAN)
    print(f"observe_node, 10 containers, no pods (1 call):             {plain:6.0f} ms")
    print(f"observe_node, 10 containers + 3 pods (2 calls):           {pods:6.0f} ms")
    print(f"  podman ps --all --format json (16 containers):          {ps:6.0f} ms")
    print(f"  podman pod ps --format json (3 pods):                   {pod_ps:6.0f} ms")
    print(f"podman kube play - (one pod, one container), median of 5: {play:6.0f} ms")
    print(f"podman run -d (one container), median of 5:               {runs:6.0f} ms")


if __name__ == "__main__":
    main()
