"""Running ankplan in-process for the CLI tests: `run_cli(argv, nodes=...)`.

The Env's connector hands out fake nodes by name (tests/fakepodman.py simulates podman; the
StaticNode here answers `podman ps` with fixed containers); a node without a fake is
unreachable. Also the manifest and inventory the get/logs/watch tests share.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import pytest

from ankplan.cli import main as cli_main
from ankplan.cli.env import Env
from ankplan.errors import ConnectError
from ankplan.executors.transport import CommandResult, StreamHandle
from ankplan.model import Node
from ankplan.podman import nodestore


class FakeTransport(Protocol):
    """What a fake node offers (the Transport protocol without `node`)."""

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult: ...

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> StreamHandle: ...

    def close(self) -> None: ...


class Result(NamedTuple):
    """What one command did: exit status, stdout, stderr."""

    status: int
    out: str
    err: str


def connector(nodes: Mapping[str, FakeTransport]):  # type: ignore[no-untyped-def]
    """connect(node) for the Env: the fake of that name, else ConnectError (unreachable)."""
    def connect(node: Node, **_: object) -> FakeTransport:
        if node.name not in nodes:
            raise ConnectError(node.name, "connection refused", hint="is sshd running there?")
        return nodes[node.name]
    return connect


NO_NODES: Mapping[str, FakeTransport] = {}


def run_cli(*argv: str, nodes: Mapping[str, FakeTransport] | None = NO_NODES,
            stdin: str = "", environ: Mapping[str, str] | None = None, tty: bool = False,
            width: int | None = None) -> Result:
    """main(argv, env) with StringIO streams; `tty` makes stdout (and stdin) a terminal of
    `width` columns, without colour. `nodes`: the fake nodes by name (by default none: every
    node is unreachable); None for the real transports (local Podman, SSH)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(stdin),
              environ={"NO_COLOR": "1", **(environ or {})}, stdout_isatty=tty,
              stderr_isatty=False, stdin_isatty=tty, width=width,
              connector=None if nodes is None else connector(nodes))
    status = cli_main.main(list(argv), env)
    return Result(status=status, out=stdout.getvalue(), err=stderr.getvalue())


# --- a fixed fleet for get, logs and watch --------------------------------------------------

PROJECT = "p"
IMAGE = "localhost/ankplan-demo:latest"
MANIFEST = f"""\
apiVersion: v1
workloads:
  zenoh-router:
    runtime: podman
    agent: a1
    restartPolicy: ALWAYS
    runtimeConfig: "image: {IMAGE}"
  carla-spawner:
    runtime: podman
    agent: a1
    restartPolicy: ON_FAILURE
    runtimeConfig: "image: {IMAGE}"
  kuksa-bridge:
    runtime: podman
    agent: a2
    dependencies:
      zenoh-router: ADD_COND_RUNNING
      carla-spawner: ADD_COND_RUNNING
    runtimeConfig: "image: {IMAGE}"
  camera-bridge:
    runtime: podman
    agent: a3
    runtimeConfig: "image: {IMAGE}"
"""
INVENTORY = """\
nodes:
  node1: {connection: local}
  node2: {connection: local}
  node3: {connection: local}
agents: {a1: node1, a2: node2, a3: node3}
"""
LOG_TEXT = "connecting\nERROR: Cannot connect to CARLA\n"


def ps_entry(name: str, state: str, exit_code: int = 0, restarts: int = 0,
             age: float = 75, health: str = "") -> dict[str, Any]:
    """One `podman ps --format json` entry of a container ankplan owns in PROJECT."""
    now = time.time()
    return {"Id": f"{name:x<12}".replace("-", "0")[:12] + "f" * 52, "Names": [name],
            "Image": IMAGE, "State": state, "ExitCode": exit_code, "StartedAt": int(now - age),
            "ExitedAt": int(now - 5) if state == "exited" else -62135596800,
            "Status": f"Up 1 minute ({health})" if health else state,
            "Labels": {"ankplan.project": PROJECT, "ankplan.workload": name,
                       "ankplan.restart-count": str(restarts)}}


class StaticNode:
    """Answers ps with fixed containers, stats with one sample per running container (as
    podman 4.3 prints them) and logs with LOG_TEXT; records every argv. A podman subcommand
    in `failing` exits 125 with `failing[subcommand]` on stderr."""

    def __init__(self, containers: list[dict[str, Any]]) -> None:
        self.containers, self.calls = containers, []
        self.failing: dict[str, str] = {}

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        self.calls.append(tuple(argv))
        if argv[0] == "podman" and argv[1] in self.failing:
            return CommandResult(exit_code=125, stdout="", stderr=self.failing[argv[1]],
                                 duration=0.0)
        if argv[:2] == ("podman", "ps"):
            return CommandResult(exit_code=0, stdout=json.dumps(self.containers), stderr="",
                                 duration=0.0)
        if argv[:2] == ("podman", "stats"):
            samples = [{"id": c["Id"][:12], "name": c["Names"][0], "cpu_percent": "1.27%",
                        "mem_usage": "569.3kB / 67.11MB", "mem_percent": "0.85%"}
                       for c in self.containers if c["State"] == "running"]
            return CommandResult(exit_code=0, stdout=json.dumps(samples), stderr="",
                                 duration=0.0)
        if argv[0] == "sh" and argv[2] == nodestore.READ_SCRIPT:  # no records on this node
            return CommandResult(exit_code=0, stdout="", stderr="", duration=0.0)
        if argv[0] == "sh" and argv[2] == nodestore.READ_ALL_SCRIPT:  # ps, and no images
            stdout = (f"\n{nodestore.PS_MARK}\n{json.dumps(self.containers)}\n"
                      f"{nodestore.PS_MARK} 0\n{nodestore.IMAGES_MARK}\n[]\n")
            return CommandResult(exit_code=0, stdout=stdout, stderr="", duration=0.0)
        logs = (argv[0] == "sh" and "logs" in argv[2]) or argv[:2] == ("podman", "logs")
        return CommandResult(exit_code=0, stdout=LOG_TEXT if logs else "", stderr="",
                             duration=0.0)

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> StreamHandle:
        from fakepodman import FakeStream, HeldLock

        self.calls.append(tuple(argv))
        if argv[0] == "sh" and "flock" in argv[2]:
            return HeldLock()
        return FakeStream(LOG_TEXT)

    def close(self) -> None:
        pass


@pytest.fixture
def fleet() -> dict[str, StaticNode]:
    """node1 runs zenoh-router (healthy) and a crash-looping carla-spawner; node2 nothing;
    node3 is unreachable."""
    return {
        "node1": StaticNode([ps_entry("zenoh-router", "running", health="healthy"),
                             ps_entry("carla-spawner", "exited", exit_code=1, restarts=5,
                                      age=30)]),
        "node2": StaticNode([]),
    }


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    """The manifest, -i inventory and --project arguments of the fleet."""
    (tmp_path / "manifest.yaml").write_text(MANIFEST)
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    return [str(tmp_path / "manifest.yaml"), "-i", str(tmp_path / "inventory.yaml"),
            "--project", PROJECT]
