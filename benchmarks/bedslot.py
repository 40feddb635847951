"""A test bed of N real SSH nodes for a benchmark: claim a free slot, bring it up, take it down.

Does I/O: takes the slot's owner lock in /run/ankplan-tb (the one pytest sessions take, so a
test session never picks a slot a benchmark uses), runs scripts/testbed.py up/down. A slot
running a bed someone brought up by hand is skipped.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTBED = ROOT / "scripts" / "testbed.py"
LOCK_DIR = Path("/run/ankplan-tb")
SLOTS = 6
PREFERRED = (5, 3, 1, 4, 2, 0)  # pytest sessions start at slot 0; benchmarks start at the top


def _bed_runs(slot: int) -> bool:
    """True when the slot's state file names a bed whose sshd processes still run."""
    try:
        state = json.loads((LOCK_DIR / f"s{slot}.json").read_text())
    except (OSError, ValueError):
        return False
    return any(node.get("sshd_pid") and Path(f"/proc/{node['sshd_pid']}").exists()
               for node in state.get("nodes", ()))


def claim_slot(preferred: Sequence[int] = PREFERRED) -> tuple[int, int]:
    """(slot, lock fd) of a free slot; close the fd to release it. Exits when none is free."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for slot in preferred:
        fd = os.open(LOCK_DIR / f"s{slot}.owner.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if not _bed_runs(slot):
            return slot, fd
        os.close(fd)
    raise SystemExit(f"bench: no free test-bed slot among {list(preferred)}")


@contextmanager
def running_bed(nodes: int, *, slot: int | None = None, owner: str = "bench",
                preferred: Sequence[int] = PREFERRED) -> Iterator[dict[str, Any]]:
    """A bed of `nodes` nodes in a claimed slot; yields bed.json's content (plus `up_seconds`)."""
    claimed, fd = claim_slot((slot,) if slot is not None else preferred)
    with tempfile.TemporaryDirectory(prefix="ankplan-bench-bed-") as bed_dir:
        started = time.perf_counter()
        try:
            up = subprocess.run([sys.executable, str(TESTBED), "up", "--nodes", str(nodes),
                                 "--dir", bed_dir, "--slot", str(claimed), "--owner", owner],
                                capture_output=True, text=True, check=False)
            if up.returncode != 0:
                raise SystemExit(f"bench: test bed did not come up: {up.stderr.strip()}")
            bed = json.loads((Path(bed_dir) / "bed.json").read_text())
            bed["up_seconds"] = time.perf_counter() - started
            yield bed
        finally:
            subprocess.run([sys.executable, str(TESTBED), "down", "--dir", bed_dir],
                           capture_output=True, check=False)
            os.close(fd)


def main(argv: list[str] | None = None) -> int:
    """`bedslot.py --nodes N -- COMMAND ... {bed} ...`: run COMMAND with a bed up, `{bed}`
    replaced by the bed's folder; the bed goes down afterwards. Exit code: COMMAND's."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--owner", default="bench")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    with running_bed(args.nodes, owner=args.owner) as bed:
        return subprocess.run([word.replace("{bed}", bed["dir"]) for word in command],
                              check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
