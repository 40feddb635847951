"""The apply lock's shell script with the real local `sh` and `flock` (no podman needed):
held while its stream is open, refused with the holder named, free again once closed or when
the holding process is killed."""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from ankplan.errors import LockError
from ankplan.executors import lock
from ankplan.executors.transport import (
    CommandResult,
    LocalTransport,
    StreamHandle,
    TransportPool,
)
from ankplan.model import Node

NODE = Node(name="local")


@pytest.fixture(autouse=True)
def through_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are of the lock shell: the local transport takes it like a remote one's
    (test_lock_here.py tests the lock ankplan takes itself on a local node)."""
    monkeypatch.setattr(LocalTransport, "runs_here", False)


@pytest.fixture
def lock_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = str(tmp_path / "ankplan-apply.lock")
    monkeypatch.setattr(lock, "LOCK_PATH_SCRIPT", f"f={shlex.quote(path)}; ")
    return path


def holder(command: str) -> lock.Holder:
    return lock.this_process(["ankplan", "apply", command])


def test_holder_describes_this_process() -> None:
    text = str(holder("police.yaml"))
    assert f"pid {lock.os.getpid()}" in text
    assert text.endswith(": ankplan apply police.yaml")
    assert "@" in text.split()[0]


def test_lock_is_exclusive_names_holder_and_frees_on_release(lock_file: str) -> None:
    with TransportPool(connector=lambda node, **_: LocalTransport(node)) as pool:
        first = lock.acquire_locks(pool, [NODE], holder=holder("first.yaml"))
        began = time.monotonic()
        with pytest.raises(LockError) as refused:
            lock.acquire_locks(pool, [NODE], holder=holder("second.yaml"))
        assert time.monotonic() - began < 2.0  # lock timeout 0: refused at once
        assert "another apply holds the lock" in refused.value.summary
        assert "ankplan apply first.yaml" in refused.value.summary
        assert refused.value.detail == f"lock file: {lock_file}"
        first.release()
        second = lock.acquire_locks(pool, [NODE], holder=holder("second.yaml"))
        second.release()
        assert Path(lock_file + ".holder").read_text().strip().endswith("second.yaml")


def test_lock_timeout_waits_for_the_holder(lock_file: str) -> None:
    with TransportPool(connector=lambda node, **_: LocalTransport(node)) as pool:
        first = lock.acquire_locks(pool, [NODE], holder=holder("first.yaml"))
        release = threading.Timer(0.8, first.release)
        release.start()
        began = time.monotonic()
        second = lock.acquire_locks(pool, [NODE], holder=holder("second.yaml"), lock_timeout=10)
        assert 0.7 < time.monotonic() - began < 5.0
        second.release()


def test_lock_argv_uses_the_podman_prefix() -> None:
    sudo_node = Node(name="n", podman=("sudo", "podman"))
    argv = lock.lock_argv(sudo_node, holder("a b.yaml"), "police")
    assert argv[:3] == ("sudo", "sh", "-c")
    assert argv[4:7] == ("sh", "sudo podman", "police")
    assert argv[7].endswith("ankplan apply 'a b.yaml'")


def lock_file_taken(pool: TransportPool, project: str = "") -> str:
    """The file the lock command takes for `project` on the local node (given back at once)."""
    handle, _, lock_file = lock.try_lock(pool, NODE, holder("m.yaml"), project)
    assert handle is not None, lock_file
    handle.close()
    return lock_file


def test_lock_file_is_per_project_and_refuses_odd_project_names() -> None:
    with TransportPool(connector=lambda node, **_: LocalTransport(node)) as pool:
        first = lock_file_taken(pool, "police")
        second = lock_file_taken(pool, "other")
        whole = lock_file_taken(pool)
        assert first.endswith("-police.lock") and second.endswith("-other.lock")
        assert first != second and whole.endswith(".lock") and "-police" not in whole
        with pytest.raises(LockError, match="invalid project name"):
            lock_file_taken(pool, "a b; rm -rf /")


def test_refusal_names_the_other_writer_and_its_command(lock_file: str) -> None:
    with TransportPool(connector=lambda node, **_: LocalTransport(node)) as pool:
        watching = lock.acquire_locks(pool, [NODE], project="p",
                                      holder=lock.this_process(["ankplan", "watch", "m.yaml"]))
        with pytest.raises(LockError) as refused:
            lock.acquire_locks(pool, [NODE], project="p", holder=holder("m.yaml"))
        watching.release()
    summary = refused.value.summary
    assert summary.startswith("node local: another watch holds the lock of project p: held by ")
    assert f"pid {lock.os.getpid()}" in summary and summary.endswith("ankplan watch m.yaml")


def test_keeper_refuses_to_start_while_held_then_retakes_a_lost_lock(lock_file: str) -> None:
    with TransportPool(connector=lambda node, **_: LocalTransport(node)) as pool:
        applying = lock.acquire_locks(pool, [NODE], project="p", holder=holder("m.yaml"))
        keeper = lock.LockKeeper(pool, [NODE], project="p",
                                 holder=lock.this_process(["ankplan", "watch", "m.yaml"]))
        with pytest.raises(LockError, match="another apply holds the lock"):
            keeper.start()
        applying.release()
        with lock.LockKeeper(pool, [NODE], project="p",
                             holder=lock.this_process(["ankplan", "watch", "m.yaml"])) as keeper:
            keeper.start(lock_timeout=5)  # the released lock's shell may take a moment to end
            assert keeper.held("local")
            keeper._locks.handles["local"].close()  # the lock went (as with its connection)
            assert not keeper.held("local")
            deadline = time.monotonic() + 10
            while not keeper.held("local") and time.monotonic() < deadline:
                keeper.refresh()  # tries again every RELOCK_INTERVAL
                time.sleep(0.05)
            assert keeper.held("local")
            with pytest.raises(LockError, match="another watch holds the lock"):
                lock.acquire_locks(pool, [NODE], project="p", holder=holder("m.yaml"))


class Counting(LocalTransport):
    """The local transport, counting the commands and streams it starts."""

    started: ClassVar[list[str]] = []

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        self.started.append("run")
        return super().run(argv, timeout=timeout, stdin=stdin)

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> StreamHandle:
        self.started.append("stream")
        return super().open_stream(argv, timeout=timeout)


def test_one_command_finds_the_lock_file_and_takes_it(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    """The real path script (under a private XDG_RUNTIME_DIR when not root): one shell per
    node and attempt, which names the file it took; the refusal names the same file."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    Counting.started = []
    with TransportPool(connector=lambda node, **_: Counting(node)) as pool:
        held = lock.acquire_locks(pool, [NODE], project="p", holder=holder("m.yaml"))
        assert Counting.started == ["stream"]
        with pytest.raises(LockError) as refused:
            lock.acquire_locks(pool, [NODE], project="p", holder=holder("m.yaml"))
        held.release()
        path = lock_file_taken(pool, "p")
    assert refused.value.detail == f"lock file: {path}"
    assert path.endswith("-p.lock") and Path(path + ".holder").exists()


def test_a_node_without_a_place_for_the_lock_is_refused_with_the_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lock, "LOCK_PATH_SCRIPT",
                        'echo "cannot use lock directory /nowhere/ankplan-1"; exit 3; ')
    with (TransportPool(connector=lambda node, **_: LocalTransport(node)) as pool,
          pytest.raises(LockError) as refused):
        lock.acquire_locks(pool, [NODE], holder=holder("m.yaml"))
    assert refused.value.summary == ("node local: cannot find a place for the writer lock: "
                                     "cannot use lock directory /nowhere/ankplan-1")


def nodes_with_own_locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         *names: str) -> list[Node]:
    """Local nodes whose lock files differ (one per podman command, as on the test bed); each
    lock attempt waits until every node's attempt has begun (for at most 5 s)."""
    begun = tmp_path / "begun"
    begun.mkdir()
    monkeypatch.setattr(lock, "LOCK_PATH_SCRIPT", (
        f'cd {shlex.quote(str(begun))}; : > "$1"; n=0; '
        f'while [ "$(ls | wc -l)" -lt {len(names)} ] && [ $n -lt 100 ]; do '
        'sleep 0.05; n=$((n+1)); done; '
        f'f={shlex.quote(str(tmp_path))}/"$1".lock; '))
    return [Node(name=name, podman=(f"podman-{name}",)) for name in names]


def test_the_nodes_are_locked_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each attempt here waits for the others to begin: one after the other, the first would
    wait 5 s and the run would take over 10 s."""
    nodes = nodes_with_own_locks(tmp_path, monkeypatch, "a", "b", "c")
    began = time.monotonic()
    with TransportPool(connector=lambda node, **_: LocalTransport(node)) as pool:
        held = lock.acquire_locks(pool, nodes, holder=holder("m.yaml"), forks=10)
        assert held.node_names == ("a", "b", "c")
        held.release()
    assert time.monotonic() - began < 5.0


def test_one_busy_node_refuses_all_and_frees_what_was_taken(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = nodes_with_own_locks(tmp_path, monkeypatch, "a", "b", "c")
    with TransportPool(connector=lambda node, **_: LocalTransport(node)) as pool:
        for name in ("a", "c"):  # the others' attempts have begun
            (tmp_path / "begun" / f"podman-{name}").touch()
        other = lock.acquire_locks(pool, [nodes[1]], holder=holder("other.yaml"))
        with pytest.raises(LockError) as refused:
            lock.acquire_locks(pool, nodes, holder=holder("m.yaml"))
        assert refused.value.summary.startswith("node b: another apply holds the lock")
        assert "other.yaml" in refused.value.summary
        assert refused.value.detail == f"lock file: {tmp_path}/podman-b.lock"
        for node in (nodes[0], nodes[2]):  # taken by the refused run, and given back
            lock.acquire_locks(pool, [node], holder=holder("third.yaml"),
                               lock_timeout=5).release()
        release = threading.Timer(0.8, other.release)
        release.start()
        began = time.monotonic()
        waited = lock.acquire_locks(pool, nodes, holder=holder("m.yaml"), lock_timeout=10)
        assert waited.node_names == ("a", "b", "c") and time.monotonic() - began > 0.7
        waited.release()
