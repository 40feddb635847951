"""The node folder's shell commands (podman/nodestore.py) run by a real `sh` on this machine.

A CONTAINERS_CONF of the test's own gives the folder tree a key no one else uses; the test
removes what it wrote.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import stat
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ankplan.executors import lock
from ankplan.executors.observe import observe_node
from ankplan.executors.transport import CommandResult, LocalTransport, TransportPool
from ankplan.model import Connection, Node, PodmanConfig, RestartPolicy, Workload, WorkloadFile
from ankplan.podman import nodestore

NODE = Node(name="local")
BINARY = bytes(range(256))  # every byte value, NUL and newlines included


@pytest.fixture
def transport(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalTransport]:
    monkeypatch.setenv("CONTAINERS_CONF", str(tmp_path / "containers.conf"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # where non-root users write
    local = LocalTransport(NODE)
    yield local
    local.run(nodestore.forget_argv(NODE, "proj", "web"), timeout=10)


def workload(*files: WorkloadFile, policy: RestartPolicy = RestartPolicy.NEVER) -> Workload:
    return Workload(name="web", agent="a", runtime="podman", runtime_config_text="",
                    runtime_config=PodmanConfig(image="i"), restart_policy=policy,
                    files=files)


def prepare(transport: LocalTransport, item: Workload, *, new: bool) -> Path:
    argv, stdin = nodestore.prepare_argv(NODE, "proj", item, new_container=new)
    result = transport.run(argv, timeout=10, stdin=stdin)
    assert result.ok, result.stderr
    return Path(result.stdout.strip())


def read(transport: LocalTransport) -> nodestore.StoreView:
    result = transport.run(nodestore.read_argv(NODE, "proj"), timeout=10)
    assert result.ok, result.stderr
    return nodestore.parse_store(result.stdout, "proj")


def test_files_records_and_forgetting_on_a_real_shell(transport: LocalTransport) -> None:
    hostile = "it's \"quoted\" $(touch /tmp/pwned) `id`\n\\n; rm -rf /\n"
    first = workload(WorkloadFile(mount_point="/etc/app.conf", data=hostile),
                     WorkloadFile(mount_point="/bin/blob",
                                  binary_data=base64.b64encode(BINARY).decode()))
    folder = prepare(transport, first, new=True)
    assert folder.name == "web" and folder.parent.name == "proj"
    assert (folder / "files/etc/app.conf").read_text() == hostile
    assert (folder / "files/bin/blob").read_bytes() == BINARY
    assert stat.S_IMODE((folder / "files/etc/app.conf").stat().st_mode) == 0o644
    assert stat.S_IMODE(folder.parent.parent.parent.stat().st_mode) == 0o700  # the base
    assert not Path("/tmp/pwned").exists()

    argv, stdin = nodestore.record_start_argv(NODE, "proj", "web", "v1:abc", "c0ffee")
    assert transport.run(argv, timeout=10, stdin=stdin).ok
    view = read(transport)
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert view.boot_id == boot and view.folder == str(folder.parent.parent)
    (run,) = view.runs
    assert (run.container_id, run.spec_hash, run.boot_id) == ("c0ffee", "v1:abc", boot)
    assert run.started_at > 1_600_000_000
    assert view.applied[0].restart_policy == "NEVER"

    # an in-place update rewrites the record only; files and the run stay
    prepare(transport, workload(*first.files, policy=RestartPolicy.ALWAYS), new=False)
    view = read(transport)
    assert view.applied[0].restart_policy == "ALWAYS" and view.runs
    assert (folder / "files/bin/blob").exists()

    # a new container: fresh files (a file gone from the manifest goes), no run yet
    prepare(transport, workload(WorkloadFile(mount_point="/etc/app.conf", data="v2")),
            new=True)
    assert (folder / "files/etc/app.conf").read_text() == "v2"
    assert not (folder / "files/bin").exists() and read(transport).runs == ()

    assert transport.run(nodestore.forget_argv(NODE, "proj", "web"), timeout=10).ok
    assert not folder.exists() and not folder.parent.exists()
    assert read(transport).applied == ()


def test_the_folder_tree_is_keyed_by_the_podman_it_serves(transport: LocalTransport,
                                                          tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    mine = prepare(transport, workload(), new=True)
    monkeypatch.setenv("CONTAINERS_CONF", str(tmp_path / "another.conf"))
    other = LocalTransport(NODE)
    assert read(other).applied == ()  # another Podman on the same filesystem: another tree
    monkeypatch.setenv("CONTAINERS_CONF", str(tmp_path / "containers.conf"))
    assert read(transport).applied and mine.exists()
    if os.getuid() != 0:
        assert str(mine).startswith(str(tmp_path / "data" / "ankplan"))


def test_records_are_read_by_the_shell_itself_also_without_a_last_newline(
        transport: LocalTransport) -> None:
    """The read command forks no `id` or `cat` (each costs a node a process): it reads the user
    ID and the records with shell builtins, and a record cut before its newline is still read
    apart from the next one."""
    folder = prepare(transport, workload(), new=True)
    argv, stdin = nodestore.record_start_argv(NODE, "proj", "web", "v1:abc", "c0ffee")
    assert transport.run(argv, timeout=10, stdin=stdin).ok
    applied = folder / "applied.json"
    applied.write_text(applied.read_text().rstrip("\n"))
    view = read(transport)
    assert [r.container_id for r in view.runs] == ["c0ffee"] and len(view.applied) == 1
    script = nodestore.READ_SCRIPT
    assert "id -u" in script and "/proc/self/status" in script  # `id` only without /proc
    assert "cat " not in script


def record(transport: LocalTransport, item: Workload, container_id: str, *,
           new: bool | None) -> None:
    """Record a start; with `new` (True/False) the applied record too, as apply does for a
    bring-up that wrote nothing before it."""
    argv, stdin = nodestore.record_start_argv(NODE, "proj", "web", "v1:abc", container_id,
                                              applied=None if new is None else item,
                                              new_container=bool(new))
    result = transport.run(argv, timeout=10, stdin=stdin)
    assert result.ok, result.stderr


def test_a_start_without_files_records_both_after_it(transport: LocalTransport) -> None:
    """Nothing written before: the record of the start makes the folder (the base 0700) and
    writes the applied record; a new container drops an older one's files, a start of the
    existing one keeps them."""
    plain = workload(policy=RestartPolicy.ALWAYS)
    record(transport, plain, "c1", new=True)
    view = read(transport)
    assert [r.container_id for r in view.runs] == ["c1"]
    assert [r.restart_policy for r in view.applied] == ["ALWAYS"]
    base = Path(view.folder).parent
    assert stat.S_IMODE(base.stat().st_mode) == 0o700

    folder = prepare(transport, workload(WorkloadFile(mount_point="/etc/a", data="x")),
                     new=True)
    record(transport, plain, "c2", new=False)  # `podman start` of that container: files stay
    assert (folder / "files/etc/a").exists()
    assert [r.container_id for r in read(transport).runs] == ["c2"]

    record(transport, workload(), "c3", new=True)  # a new container without files
    view = read(transport)
    assert not (folder / "files").exists()
    assert [(r.container_id, a.restart_policy) for r, a in zip(view.runs, view.applied)] == [
        ("c3", "NEVER")]

    record(transport, plain, "c4", new=None)  # the run record alone (watch): applied stays
    assert [a.restart_policy for a in read(transport).applied] == ["NEVER"]


def test_a_restart_count_is_kept_for_its_own_container_on_a_real_shell(
        transport: LocalTransport) -> None:
    def start(container_id: str, count: int | None) -> int:
        argv, stdin = nodestore.record_start_argv(NODE, "proj", "web", "v1:abc", container_id,
                                                  count)
        assert transport.run(argv, timeout=10, stdin=stdin).ok
        (run,) = read(transport).runs
        assert run.container_id == container_id and run.boot_id  # read by the shell itself
        return run.restart_count

    assert start("c1", 3) == 3
    assert start("c1", None) == 3  # started again by apply: the count of that container stays
    assert start("c2", None) == 0  # another container starts from 0


STUB_PODMAN = """#!/bin/sh
case "$1" in
  ps) if [ -e "$0.psfail" ]; then echo 'Error: database is locked' >&2; exit 125; fi
      echo '[]' ;;
  images) if [ -e "$0.fail" ]; then echo 'Error: storage is locked' >&2; exit 125; fi
          echo '[{"Id": "abc123", "Names": ["localhost/app:1"]}]' ;;
esac
"""


def test_records_containers_and_images_are_read_in_one_command_on_a_real_shell(
        transport: LocalTransport, tmp_path: Path) -> None:
    """Over SSH a plan reads the project's records, the containers and the image table in one
    command (one channel); a failed image listing is a warning beside records and containers
    that were read. The local node runs them apart, so none waits for another."""
    program = tmp_path / "podman"
    program.write_text(STUB_PODMAN)
    program.chmod(0o755)
    local = Node(name="local", podman=(str(program),))
    node = dataclasses.replace(local, connection=Connection.SSH)  # run locally all the same
    argv, stdin = nodestore.record_start_argv(node, "proj", "web", "v1:abc", "c1",
                                              applied=workload(), new_container=True)
    assert transport.run(argv, timeout=10, stdin=stdin).ok
    calls: list[tuple[str, ...]] = []

    class Recording(LocalTransport):
        def run(self, argv: Sequence[str], *, timeout: float,
                stdin: str | None = None) -> CommandResult:
            calls.append(tuple(argv))
            return super().run(argv, timeout=timeout, stdin=stdin)

    with TransportPool(connector=lambda node, **_: Recording(node)) as pool:
        seen = observe_node(pool, node, images=True, project="proj")
        assert seen.reachable and seen.images == (("localhost/app:1", "abc123"),)
        assert [r.container_id for r in seen.runs] == ["c1"] and seen.boot_id
        assert [argv[1] for argv in calls] == ["-c"]  # one command, not three
        calls.clear()
        apart = observe_node(pool, local, images=True, project="proj")
        assert (apart.images, apart.runs) == (seen.images, seen.runs)
        assert sorted(argv[1] for argv in calls) == ["-c", "images", "ps"]
        (tmp_path / "podman.fail").touch()
        failed = observe_node(pool, node, images=True, project="proj")
    assert failed.reachable and failed.images is None
    assert [r.container_id for r in failed.runs] == ["c1"]
    assert failed.warnings and "podman images failed, so rebuilt images cannot be detected" \
        in failed.warnings[0] and "storage is locked" in failed.warnings[0]
    (tmp_path / "podman.psfail").touch()  # a failed ps fails the observation, as alone
    with TransportPool(connector=lambda node, **_: LocalTransport(node)) as pool:
        broken = observe_node(pool, node, images=True, project="proj")
    assert not broken.reachable and "database is locked" in broken.error
    transport.run(nodestore.forget_argv(node, "proj", "web"), timeout=10)


def test_the_tree_and_lock_names_stay_those_of_earlier_releases(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The names are keys into what earlier releases left on the nodes (records, locks): the
    POSIX cksum of the same text as before, whatever the scripts use to compute it."""
    monkeypatch.setenv("CONTAINERS_CONF", "/x/c.conf")
    monkeypatch.delenv("CONTAINERS_STORAGE_CONF", raising=False)
    local = LocalTransport(NODE)
    tree = local.run(("sh", "-c", nodestore._STORE + 'printf "%s\\n" "${d##*/}"', "sh",
                      "podman"), timeout=10)
    assert tree.stdout.strip() == "podman-3022270191"  # cksum of "/x/c.conf||podman"
    with TransportPool(connector=lambda node, **_: local) as pool:
        handle, _, path = lock.try_lock(pool, NODE, lock.this_process(["t"]), "police")
        assert handle is not None
        handle.close()
    key = f"{os.getuid()}|/x/c.conf||podman"
    done = subprocess.run(["cksum"], input=key, capture_output=True, text=True, check=True)
    assert path.endswith(f"/apply-{done.stdout.split()[0]}-police.lock")
