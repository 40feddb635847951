"""Restart delay of a workload killed with `kill -9`, under `--supervisor systemd`, on a systemd
bed of each flavour (bookworm: systemd 252 unit; trixie: systemd 257 Quadlet file with
RestartSteps=): N kills in a row, the delay from each kill to the new container's start.

Usage: .venv/bin/python benchmarks/systemd_restart_delay.py [SUITE...] [--kills N]
Does I/O: brings up a 1-node systemd bed per suite (a locked slot), runs ankplan, ssh.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from systemd_bed import claim_slot, load_bed, run_bed

MANIFEST = """apiVersion: v1
workloads:
  crashy:
    runtime: podman
    agent: a1
    restartPolicy: ALWAYS
    runtimeConfig: |
      image: localhost/ankplan-demo:latest
      commandArgs: ["stub", "idle"]
"""
KILL = ("old=$(podman inspect -f '{{.Id}} {{.State.Pid}}' crashy); set -- $old; "
        "t0=$(date +%s.%N); kill -9 $2; "
        "while :; do set -- $(podman inspect -f '{{.Id}} {{.State.Status}} {{.State.StartedAt}}' "
        "crashy 2>/dev/null) x x x; "
        "[ \"$2\" = running ] && [ \"$1\" != \"${old%% *}\" ] && break; sleep 0.05; done; "
        "s=$(date -d \"$(echo $3 $4 | cut -c1-30)\" +%s.%N); echo \"$s $t0\"")


def measure(suite: str, kills: int) -> list[float]:
    slot, fd = claim_slot()
    assert slot >= 0, "no free systemd-bed slot"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            proc = run_bed("up", str(folder), str(slot), "1", suite=suite)
            assert proc.returncode == 0, proc.stderr
            bed = load_bed(folder)
            (folder / "m.yaml").write_text(MANIFEST)
            bed.write_inventory(folder / "i.yaml", {"a1": "node1"}, "systemd")
            status = os.system(f"{sys.executable} -m ankplan apply -y -m {folder}/m.yaml "
                               f"-i {folder}/i.yaml --project bench >/dev/null")
            assert status == 0, "apply failed"
            delays = []
            for _ in range(kills):
                started, killed = map(float, bed.sh("node1", KILL).split())
                delays.append(started - killed)
            return delays
        finally:
            run_bed("down", str(slot))
            os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("suites", nargs="*", default=["bookworm", "trixie"])
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    for suite in args.suites:
        started = time.monotonic()
        delays = measure(suite, args.kills)
        print(f"{suite}: " + ", ".join(f"{d:.2f}" for d in delays)
              + f" s  ({time.monotonic() - started:.0f} s in all)", flush=True)


if __name__ == "__main__":
    main()
