"""`plan` and `apply` reach and observe the nodes while they read the manifests
(cli/nodes_ahead.py): the nodes' answers overlap ankplan's own work, and a broken manifest or
inventory still gives the error it gave before, at once.

In-process runs (tests/cli/clirun.py) with fake nodes (tests/fakepodman.py); the real overlap
on Podman is measured by benchmarks/bench_apply.py and bench_many_nodes.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from clirun import run_cli
from fakepodman import FakeNode

from ankplan.cli.commands import apply as apply_command
from ankplan.cli.commands import plan as plan_command
from ankplan.executors.transport import CommandResult
from ankplan.model import Node

MANIFEST = """\
apiVersion: v1
workloads:
  router:
    runtime: podman
    agent: agent_A
    runtimeConfig: |
      image: localhost/router:1
"""


class ObservedFirst(FakeNode):
    """A fake node that tells when its `podman ps` ran."""

    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.listed = threading.Event()

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        if tuple(argv[:2]) == ("podman", "ps"):
            self.listed.set()
        return super().run(argv, timeout=timeout, stdin=stdin)


@pytest.mark.parametrize(("module", "argv"), [(plan_command, ("plan",)),
                                              (apply_command, ("apply", "--yes"))])
def test_the_node_is_observed_while_the_manifest_is_read(
        module: Any, argv: tuple[str, ...], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest reader here waits for the node's `podman ps`: it returns only because the
    observation runs beside it (read one after the other, the wait would time out)."""
    (tmp_path / "manifest.yaml").write_text(MANIFEST)
    node = ObservedFirst(Node(name="local"))
    seen: list[bool] = []
    original = module.load_manifest_from_args

    def reading(*args: Any, **kwargs: Any) -> Any:
        seen.append(node.listed.wait(5.0))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "load_manifest_from_args", reading)
    status, out, err = run_cli(*argv, str(tmp_path / "manifest.yaml"), nodes={"local": node})
    assert seen == [True], err
    assert status == 0 and "local/router" in out


class Slow(FakeNode):
    """A node that takes `delay` seconds to answer anything."""

    delay = 3.0

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        time.sleep(self.delay)
        return super().run(argv, timeout=timeout, stdin=stdin)


@pytest.mark.parametrize("command", [("plan",), ("apply", "--yes")])
def test_a_broken_manifest_is_reported_without_waiting_for_a_slow_node(
        command: tuple[str, ...], tmp_path: Path) -> None:
    (tmp_path / "manifest.yaml").write_text("apiVersion: v1\nworkloads: [\n")
    began = time.monotonic()
    status, out, err = run_cli(*command, str(tmp_path / "manifest.yaml"),
                               nodes={"local": Slow(Node(name="local"))})
    assert status == 1 and out == ""
    assert "manifest.yaml" in err and "ankplan: error:" in err
    assert time.monotonic() - began < Slow.delay - 1.0


@pytest.mark.parametrize("command", [("plan",), ("apply", "--yes")])
def test_with_both_broken_the_manifest_error_comes_first_as_before(
        command: tuple[str, ...], tmp_path: Path) -> None:
    """The inventory is now read first (its nodes are reached while the manifest is read), yet
    the manifest's error is the one shown, as when the manifest was read first."""
    (tmp_path / "manifest.yaml").write_text("apiVersion: v1\nworkloads: [\n")
    (tmp_path / "inventory.yaml").write_text("nodes: [\n")
    status, _, err = run_cli(*command, str(tmp_path / "manifest.yaml"), "-i",
                             str(tmp_path / "inventory.yaml"))
    assert status == 1
    assert "manifest.yaml" in err and "inventory.yaml" not in err


@pytest.mark.parametrize("command", [("plan",), ("apply", "--yes")])
def test_a_broken_inventory_alone_is_reported(command: tuple[str, ...], tmp_path: Path) -> None:
    (tmp_path / "manifest.yaml").write_text(MANIFEST)
    (tmp_path / "inventory.yaml").write_text("nodes: [\n")
    status, out, err = run_cli(*command, str(tmp_path / "manifest.yaml"), "-i",
                               str(tmp_path / "inventory.yaml"))
    assert status == 1 and out == ""
    assert "inventory.yaml" in err


class ImagesFirst(FakeNode):
    """A fake node whose writer lock answers only once its image table was listed."""

    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.listed_images = threading.Event()
        self.images_before_lock: list[bool] = []

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        if tuple(argv[:2]) == ("podman", "images"):
            self.listed_images.set()
        return super().run(argv, timeout=timeout, stdin=stdin)

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> Any:
        if argv[0] == "sh" and "flock" in argv[2]:
            self.images_before_lock.append(self.listed_images.wait(5.0))
        return super().open_stream(argv, timeout=timeout)


def test_apply_lists_the_local_image_table_while_it_takes_the_lock(tmp_path: Path) -> None:
    """The image table is no writer's state, so apply reads it beside the writer lock (it is
    the slowest read of a local observation); containers and records wait for the lock."""
    (tmp_path / "manifest.yaml").write_text(MANIFEST)
    node = ImagesFirst(Node(name="local"))
    status, out, err = run_cli("apply", "--yes", str(tmp_path / "manifest.yaml"),
                               nodes={"local": node})
    assert node.images_before_lock == [True], err
    assert status == 0 and "local/router" in out
    calls = [argv for _, argv in node.calls]
    lock = next(i for i, argv in enumerate(calls) if argv[0] == "sh" and "flock" in argv[2])
    first_ps = next(i for i, argv in enumerate(calls) if tuple(argv[:2]) == ("podman", "ps"))
    assert lock < first_ps  # the containers are listed under the lock
