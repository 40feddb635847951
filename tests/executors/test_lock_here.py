"""The writer lock ankplan takes itself on a local node (executors/lock_here.py), with the real
flock(2): named as the lock shell names it, excluding the lock shell and being excluded by it,
refusing with the holder named, freed when its process dies."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from ankplan.errors import LockError
from ankplan.executors import lock, lock_here
from ankplan.executors.transport import LocalTransport, TransportPool
from ankplan.model import Node

NODE = Node(name="local")


def holder(command: str) -> lock.Holder:
    return lock.this_process(["ankplan", "apply", command])


@pytest.fixture
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The locks of this process's own taking go to a folder of the test's."""
    folder = tmp_path / "locks"
    monkeypatch.setattr(lock_here, "lock_directory", lambda: str(folder))
    return folder


def local_pool() -> TransportPool:
    return TransportPool(connector=lambda node, **_: LocalTransport(node))


@pytest.mark.parametrize("data", [b"", b"a", b"0|||podman", b"x" * 300, bytes(range(256))])
def test_the_checksum_is_that_of_posix_cksum(data: bytes) -> None:
    printed = subprocess.run(["cksum"], input=data, capture_output=True, check=True).stdout
    assert lock_here.cksum(data) == int(printed.split()[0])


@pytest.mark.parametrize("podman", [("podman",), ("/opt/my podman/podman",)])
@pytest.mark.parametrize("project", ["", "police"])
@pytest.mark.parametrize("conf", [{}, {"CONTAINERS_CONF": "/etc/x.conf"},
                                  {"CONTAINERS_STORAGE_CONF": "/s.conf", "CONTAINERS_CONF": "c"}])
def test_the_lock_file_is_the_one_the_lock_shell_names(
        podman: tuple[str, ...], project: str, conf: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF"):
        monkeypatch.delenv(name, raising=False)
    for name, value in conf.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # where a user other than root locks
    node = Node(name="local", podman=podman)
    named = subprocess.run(["sh", "-c", lock.LOCK_PATH_SCRIPT + 'printf "%s" "$f"', "sh",
                            shlex.join(podman), project], capture_output=True, text=True,
                           check=True).stdout
    assert lock_here.lock_file(node, project) == named


def test_the_lock_is_taken_without_a_command_and_refuses_a_second_writer(
        lock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Sequence[str]] = []
    monkeypatch.setattr(subprocess.Popen, "__init__", lambda self, argv, *_, **__: (
        started.append(argv), pytest.fail(f"a process was started: {argv}")))
    with local_pool() as pool:
        first = lock.acquire_locks(pool, [NODE], project="p", holder=holder("first.yaml"))
        assert started == []  # no shell, no process
        monkeypatch.undo()
        monkeypatch.setattr(lock_here, "lock_directory", lambda: str(lock_dir))
        with pytest.raises(LockError) as refused:
            lock.acquire_locks(pool, [NODE], project="p", holder=holder("second.yaml"))
        first.release()
        lock.acquire_locks(pool, [NODE], project="p", holder=holder("third.yaml")).release()
    path = lock_here.lock_file(NODE, "p")
    assert path.startswith(str(lock_dir)) and path.endswith("-p.lock")
    assert refused.value.summary.startswith("node local: another apply holds the lock of "
                                            "project p: held by ")
    assert refused.value.summary.endswith("ankplan apply first.yaml")
    assert refused.value.detail == f"lock file: {path}"
    assert Path(path + ".holder").read_text().strip().endswith("third.yaml")


class Shell(LocalTransport):
    """The local transport taking the lock through the lock shell, as on a remote node."""

    runs_here = False


def test_the_lock_taken_here_and_the_lock_shell_exclude_each_other(
        lock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = lock_here.lock_file(NODE, "p")
    lock_dir.mkdir()
    monkeypatch.setattr(lock, "LOCK_PATH_SCRIPT", f"f={shlex.quote(path)}; ")
    with (local_pool() as here,
          TransportPool(connector=lambda node, **_: Shell(node)) as shell):
        held = lock.acquire_locks(here, [NODE], project="p", holder=holder("here.yaml"))
        with pytest.raises(LockError, match="here.yaml") as refused:
            lock.acquire_locks(shell, [NODE], project="p", holder=holder("shell.yaml"))
        assert refused.value.detail == f"lock file: {path}"
        held.release()
        held = lock.acquire_locks(shell, [NODE], project="p", holder=holder("shell.yaml"))
        with pytest.raises(LockError, match="shell.yaml"):
            lock.acquire_locks(here, [NODE], project="p", holder=holder("here.yaml"))
        held.release()
        lock.acquire_locks(here, [NODE], project="p", holder=holder("here.yaml"),
                           lock_timeout=5).release()  # the shell may take a moment to end


@pytest.mark.parametrize("taken_by", ["here", "shell"])
def test_the_lock_of_a_killed_process_frees_itself(
        taken_by: str, lock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer killed while it holds the lock, whether it took it itself or through the lock
    shell: the next writer is refused while it lives, and gets the lock once it is gone."""
    path = lock_here.lock_file(NODE)
    lock_dir.mkdir()
    monkeypatch.setattr(lock, "LOCK_PATH_SCRIPT", f"f={shlex.quote(path)}; ")
    script = (f"import sys, time\nsys.path[:0] = {sys.path!r}\n"
              "from ankplan.executors import lock, lock_here\n"
              "from ankplan.executors.transport import LocalTransport, TransportPool\n"
              "from ankplan.model import Node\n"
              f"lock_here.lock_directory = lambda: {str(lock_dir)!r}\n"
              f"lock.LOCK_PATH_SCRIPT = {lock.LOCK_PATH_SCRIPT!r}\n"
              f"LocalTransport.runs_here = {taken_by == 'here'}\n"
              "pool = TransportPool(connector=lambda node, **_: LocalTransport(node))\n"
              "held = lock.acquire_locks(pool, [Node(name='local')],"
              " holder=lock.this_process(['ankplan', 'apply', 'killed.yaml']))\n"
              "print('held', flush=True)\ntime.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with local_pool() as pool:
            with pytest.raises(LockError, match="killed.yaml"):
                lock.acquire_locks(pool, [NODE], holder=holder("mine.yaml"))
            child.kill()
            child.wait()
            lock.acquire_locks(pool, [NODE], holder=holder("mine.yaml"),
                               lock_timeout=5).release()  # a lock shell may take a moment
    finally:
        child.kill()


def test_the_keeper_holds_a_lock_taken_here_and_retakes_it(lock_dir: Path) -> None:
    with local_pool() as pool, lock.LockKeeper(
            pool, [NODE], project="p",
            holder=lock.this_process(["ankplan", "watch", "m.yaml"])) as keeper:
        keeper.start()
        assert keeper.held("local")
        with pytest.raises(LockError, match="another watch holds the lock"):
            lock.acquire_locks(pool, [NODE], project="p", holder=holder("m.yaml"))
        keeper._locks.handles["local"].close()  # the lock went
        assert not keeper.held("local")
        deadline = time.monotonic() + 10
        while not keeper.held("local") and time.monotonic() < deadline:
            keeper.refresh()
            time.sleep(0.05)
        assert keeper.held("local")


def test_a_directory_that_cannot_be_used_is_refused_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(lock_here, "lock_directory", lambda: str(blocker / "locks"))
    with local_pool() as pool, pytest.raises(LockError) as refused:
        lock.acquire_locks(pool, [NODE], holder=holder("m.yaml"))
    assert refused.value.summary == (
        f"node local: cannot find a place for the writer lock: cannot use lock directory "
        f"{blocker / 'locks'} (Not a directory)")


def test_a_lock_file_that_cannot_be_opened_is_refused_with_the_reason(lock_dir: Path) -> None:
    lock_dir.mkdir()
    path = Path(lock_here.lock_file(NODE, "p"))
    path.mkdir()  # a directory where the file should be
    with local_pool() as pool, pytest.raises(LockError) as refused:
        lock.acquire_locks(pool, [NODE], project="p", holder=holder("m.yaml"))
    assert refused.value.summary == (f"node local: cannot take the writer lock: cannot open "
                                     f"{path} (Is a directory)")


def test_a_node_whose_podman_has_a_prefix_is_locked_through_the_shell() -> None:
    assert lock_here.takes_here(NODE)
    assert not lock_here.takes_here(Node(name="local", podman=("sudo", "podman")))


def test_the_lock_file_is_not_left_to_the_commands_ankplan_runs(lock_dir: Path) -> None:
    """A podman run started while the lock is held (conmon lives on) must not inherit it."""
    with local_pool() as pool:
        held = lock.acquire_locks(pool, [NODE], project="p", holder=holder("m.yaml"))
        child = subprocess.Popen(["sleep", "30"], close_fds=False)
        try:
            held.release()
            lock.acquire_locks(pool, [NODE], project="p", holder=holder("m.yaml")).release()
        finally:
            child.kill()
            child.wait()
    assert os.path.exists(lock_here.lock_file(NODE, "p"))
