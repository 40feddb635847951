"""Which command line sizes a test-bed node runs, refuses (`Argument list too long`), or answers
by dropping the whole SSH connection: the limits podman/limits.py is built on.

Does I/O: raw paramiko to node1 of a running bed, without ankplan's guard. usage:
  python3 benchmarks/bedslot.py --nodes 1 -- python3 benchmarks/probe_command_size.py --bed {bed}
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import paramiko


def attempt(bed: Path, record: dict[str, object], size: int) -> tuple[str, bool, str]:
    """(what `echo <size bytes>` gave, connection still up, what the next command gave)."""
    node = record["nodes"][0]  # type: ignore[index]
    client = paramiko.SSHClient()
    client.load_host_keys(str(bed / str(record["known_hosts"])))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(node["host"], port=int(node["port"]), username="root",
                   key_filename=str(bed / str(record["key"])), look_for_keys=False,
                   allow_agent=False, timeout=5)
    try:
        _, out, err = client.exec_command("echo " + "x" * (size - 5), timeout=10)
        result = f"exit {out.channel.recv_exit_status()} {err.read().decode()[:40].strip()}"
    except Exception as error:  # noqa: BLE001 - what happened is the measurement
        result = f"raised {type(error).__name__}"
    transport = client.get_transport()
    alive = transport is not None and transport.is_active()
    try:
        _, out, _ = client.exec_command("true", timeout=5)
        out.channel.recv_exit_status()
        second = "next command ok"
    except Exception as error:  # noqa: BLE001
        second = f"next command: {type(error).__name__}"
    client.close()
    return result, alive, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bed", required=True, help="folder of a running test bed (bed.json)")
    bed = Path(parser.parse_args().bed)
    record = json.loads((bed / "bed.json").read_text())
    for size in (131_071, 131_072, 200_000, 262_000):
        print(f"{size:>7,} bytes:", *attempt(bed, record, size))
    low, high = 200_000, 300_000  # bisect the size at which sshd drops the connection
    while high - low > 1:
        middle = (low + high) // 2
        kept = attempt(bed, record, middle)[2] == "next command ok"
        low, high = (middle, high) if kept else (low, middle)
    print(f"largest command keeping the connection: {low:,} bytes; {high:,} bytes:",
          *attempt(bed, record, high))


if __name__ == "__main__":
    main()
