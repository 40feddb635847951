"""A fake Podman node for tests: a Transport that simulates podman's containers.

It keeps containers per node and answers the commands ankplan sends (ps, run, start, stop, rm,
logs, healthcheck run, and the `sh` scripts of the apply lock, of `logs` and of the workload
folders, whose records it keeps as podman/nodestore.py's would), recording every
argv with its time. A workload's command args choose its behaviour: `serve` runs forever,
`slow SECONDS` makes `podman run` take that long (then it runs), `job SECONDS CODE` exits with
CODE after SECONDS, `badimage` makes `podman run` fail, `hang` makes `podman run` hang until its
timeout, `crash` exits 1 at once, `sick` never passes its health check. As with Podman, a `podman run -d` that returned 0 has started
its container. It also answers the events feed (executors/events.py): the timed `ps` and a
`podman events --format json` stream of what happens to its containers (create, start, died,
remove, health_status), from `--since`, filtered by label, until closed.
"""

from __future__ import annotations

import io
import itertools
import json
import shlex
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ankplan.errors import ConnectError
from ankplan.executors.transport import CommandResult, StreamHandle
from ankplan.model import Node
from ankplan.podman import nodestore
from ankplan.podman.events import TIMED_PS_SCRIPT

BOOT_ID = "fake-boot-id"

_ids = itertools.count(1)
# The images every fake node has (`podman images`): the ones the tests' manifests name.
LOCAL_IMAGES = {name: f"{index:064x}" for index, name in enumerate((
    "localhost/img:1", "localhost/router:1", "localhost/app:1", "localhost/web:1",
    "localhost/ankplan-demo:latest"), start=0xaa0)}


def new_id() -> str:
    """A fresh 64-hex-digit container id."""
    return f"{next(_ids):064x}"


class FakeStream(StreamHandle):
    """A finished command's output as a stream; writing and closing do nothing."""

    def __init__(self, text: str) -> None:
        super().__init__(io.StringIO(text))

    def write(self, text: str) -> None:
        pass

    def exit_code(self) -> int | None:
        return 0

    def close(self) -> None:
        pass


class HeldLock(StreamHandle):
    """The lock shell's stream: LOCKED and its file, then open (holding the lock) until
    closed."""

    def __init__(self, lock_file: str = "/run/ankplan/apply.lock") -> None:
        self._closed = threading.Event()
        self._file = lock_file
        super().__init__(self._lines())

    def _lines(self) -> Iterator[str]:
        yield f"LOCKED {self._file}\n"
        self._closed.wait()

    def write(self, text: str) -> None:
        pass

    def exit_code(self) -> int | None:
        return 0 if self._closed.is_set() else None

    def close(self) -> None:
        self._closed.set()


class FakeEvents(StreamHandle):
    """`podman events --format json` on a FakeNode: its events from `since`, then each new
    one as it happens, until closed."""

    def __init__(self, node: FakeNode, since: float, label: str) -> None:
        self.node, self.since, self.label = node, since, label
        self._closed = False
        super().__init__(self._lines())

    def _lines(self) -> Iterator[str]:
        index = 0
        while True:
            with self.node.event_signal:
                while index >= len(self.node.event_log) and not self._closed:
                    self.node.event_signal.wait()
                if self._closed:
                    return
                when, labels, line = self.node.event_log[index]
            index += 1
            if when >= self.since and (not self.label or self.label in labels):
                yield line + "\n"

    def write(self, text: str) -> None:
        pass

    def exit_code(self) -> int | None:
        return 0 if self._closed else None

    def close(self) -> None:
        with self.node.event_signal:
            self._closed = True
            self.node.event_signal.notify_all()


@dataclass
class FakeContainer:
    id: str
    name: str
    labels: dict[str, str]
    args: tuple[str, ...]
    health_cmd: bool
    created: float
    started: float = 0.0
    stopped: float = 0.0  # when `podman stop` ran
    healthy: bool = False

    def state(self, now: float) -> tuple[str, int]:
        """(podman state, exit code) at `now`."""
        if self.stopped:
            return "exited", 0
        if not self.started:
            return "created", 0
        mode, *rest = self.args or ("serve",)
        age = now - self.started
        if mode == "job" and age >= float(rest[0]):
            return "exited", int(rest[1])
        if mode == "crash":
            return "exited", 1
        return "running", 0

    def ps_entry(self, now: float) -> dict[str, object]:
        state, code = self.state(now)
        health = ""
        if self.health_cmd and state == "running":
            health = " (healthy)" if self.healthy else " (starting)"
        return {"Id": self.id, "Names": [self.name], "Image": "localhost/img:1", "State": state,
                "ExitCode": code, "StartedAt": int(self.started), "Labels": self.labels,
                "Status": f"Up{health}" if state == "running" else state}


@dataclass
class FakeNode:
    """Simulated podman on one node; thread-safe; records (time, argv) of every call."""

    node: Node
    containers: dict[str, FakeContainer] = field(default_factory=dict)
    calls: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)
    run_delay: float = 0.0  # seconds every `podman run` takes
    images: dict[str, str] = field(default_factory=lambda: dict(LOCAL_IMAGES))  # name -> id
    locks_taken: int = 0
    records: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (p, w, kind)
    active: int = 0
    max_active: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (unix time, "key=value" labels, JSON line) of every event, for `podman events`
    event_log: list[tuple[float, set[str], str]] = field(default_factory=list)
    event_signal: threading.Condition = field(default_factory=threading.Condition)

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: str | None = None) -> CommandResult:
        argv = tuple(argv)
        with self.lock:
            self.calls.append((time.monotonic(), argv))
        if argv[0] == "sh" and argv[2] == TIMED_PS_SCRIPT:  # the node's clock, then `ps`
            listing = self._answer("ps", argv[4:])
            return ok(f"{time.time():.6f}\n{listing.stdout}")
        if argv[0] == "sh":
            return self._folders(argv, stdin or "") or self._shell(argv)
        command = argv[1]
        if command in ("run", "start", "stop"):
            return self._counted(command, argv, timeout)
        return self._answer(command, argv)

    def _counted(self, command: str, argv: tuple[str, ...], timeout: float) -> CommandResult:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if command == "run":
                time.sleep(self.run_delay + _start_delay(argv, timeout, self.node.name))
            with self.lock:
                return self._answer(command, argv)
        finally:
            with self.lock:
                self.active -= 1

    def _answer(self, command: str, argv: tuple[str, ...]) -> CommandResult:
        now = time.monotonic()
        if command == "ps":
            entries = [c.ps_entry(now) for c in self.containers.values()]
            return ok(json.dumps(entries))
        if command == "run":
            return self._run(argv, now)
        if command == "images":
            return ok(json.dumps([{"Id": image_id, "Names": [name]}
                                  for name, image_id in sorted(self.images.items())]))
        if command == "info":
            return ok(json.dumps({
                "version": {"Version": "4.3.1"}, "host": {"ociRuntime": {"name": "runc"}},
                "store": {"containerStore": {"number": len(self.containers)}}}))
        container = self.containers.get(argv[-1])
        if command == "start" and container:
            container.started, container.stopped = now, 0.0
            self._started(container)
        elif command == "stop" and container:
            if container.state(now)[0] == "running":
                self.event(container, "died")
            container.stopped = now
        elif command == "rm":
            gone = self.containers.pop(argv[-1], None)
            if gone is not None:
                self.event(gone, "remove")
        elif command == "logs":
            return ok("line 1\nERROR: lost connection to router:80\n")
        elif command == "healthcheck" and container:
            container.healthy = container.args[:1] != ("sick",)
            self.event(container, "health_status",
                       health_status="healthy" if container.healthy else "starting")
            return ok("") if container.healthy else CommandResult(
                exit_code=1, stdout="unhealthy\n", stderr="", duration=0.0)
        return ok("")

    def event(self, container: FakeContainer, status: str, **extra: object) -> None:
        """Record one event of `container` for the `podman events` streams."""
        record: dict[str, object] = {
            "ID": container.id, "Image": "localhost/img:1", "Name": container.name,
            "Status": status, "Time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(
                wall := time.time())) + f".{int(wall % 1 * 1e9):09d}Z",
            "Type": "container", "Attributes": container.labels, **extra}
        if status == "died":
            record["ContainerExitCode"] = container.state(time.monotonic())[1]
        with self.event_signal:
            self.event_log.append((wall, {f"{k}={v}" for k, v in container.labels.items()},
                                   json.dumps(record)))
            self.event_signal.notify_all()

    def _started(self, container: FakeContainer) -> None:
        """The `start` event, and the `died` of a job or a crash when its time comes."""
        self.event(container, "start")
        mode, *rest = container.args or ("serve",)
        if mode not in ("job", "crash"):
            return
        started = container.started

        def died() -> None:
            if container.started == started and not container.stopped and (
                    container.id in self.containers):
                self.event(container, "died")

        delay = float(rest[0]) if mode == "job" else 0.0
        timer = threading.Timer(delay, died)
        timer.daemon = True
        timer.start()

    def _run(self, argv: tuple[str, ...], now: float) -> CommandResult:
        words = list(argv[argv.index("run") + 1:])
        name, labels, health = "", {}, False
        while words[0].startswith("-"):
            word = words.pop(0)
            if word == "--name":
                name = words.pop(0)
            elif word.startswith("--label="):
                key, _, value = word[len("--label="):].partition("=")
                labels[key] = value
            elif word.startswith("--health-cmd"):
                health = True
        args = tuple(words[1:])
        if args[:1] == ("badimage",):
            return CommandResult(exit_code=125, stdout="", duration=0.0,
                                 stderr="Error: localhost/nope: image not known\n")
        if any(c.name == name for c in self.containers.values()):
            return CommandResult(exit_code=125, stdout="", duration=0.0,
                                 stderr=f'Error: the container name "{name}" is already in use')
        container_id = new_id()
        container = self.containers[container_id] = FakeContainer(
            id=container_id, name=name, labels=labels, args=args, health_cmd=health,
            created=now, started=now)
        self.event(container, "create")
        self._started(container)
        return ok(container_id + "\n")

    def _folders(self, argv: tuple[str, ...], stdin: str) -> CommandResult | None:
        """The workload folder scripts (nodestore.py): records kept in memory; else None."""
        scripts = (nodestore.READ_SCRIPT, nodestore.READ_ALL_SCRIPT,
                   nodestore.PREPARE_SCRIPT,
                   nodestore.RECORD_START_SCRIPT, nodestore.FORGET_SCRIPT)
        if argv[2] not in scripts:
            return None
        script, project, workload = argv[2], argv[5], argv[6] if len(argv) > 6 else ""
        folder = f"/var/lib/ankplan/default/{project}/{workload}"
        with self.lock:
            if script in (nodestore.READ_SCRIPT, nodestore.READ_ALL_SCRIPT):
                lines = [f"{nodestore.STORE_HEADER} /var/lib/ankplan/default", f"boot {BOOT_ID}"]
                lines += [text for (owner, _, _), text in sorted(self.records.items())
                          if owner == project]
                if script == nodestore.READ_ALL_SCRIPT:  # then ps and images, as one command
                    lines += ["", nodestore.PS_MARK, self._answer("ps", ()).stdout,
                              f"{nodestore.PS_MARK} 0", nodestore.IMAGES_MARK,
                              self._answer("images", ()).stdout]
                return ok("\n".join(lines) + "\n")
            if script == nodestore.PREPARE_SCRIPT:
                if argv[7] == "new":
                    self.records.pop((project, workload, "run"), None)
                self.records[project, workload, "applied"] = stdin.splitlines()[0]
                return ok(folder + "\n")
            if script == nodestore.RECORD_START_SCRIPT:
                lines = stdin.splitlines()
                self.records[project, workload, "run"] = (
                    f'{lines[0]}"bootId":"{BOOT_ID}","startedAt":{int(time.time())}}}')
                if argv[9]:  # "keep" or "new": the applied record comes with it
                    self.records[project, workload, "applied"] = lines[1]
                return ok("")
            if script == nodestore.FORGET_SCRIPT:
                for key in [k for k in self.records if k[:2] == (project, workload)]:
                    del self.records[key]
                return ok("")
        return None

    def _shell(self, argv: tuple[str, ...]) -> CommandResult:
        """`sh -c SCRIPT ...`: `exec podman logs ... 2>&1`."""
        if argv[2].startswith("exec ") and " logs " in argv[2]:
            return self.run(tuple(shlex.split(argv[2].removeprefix("exec ")))[:-1], timeout=1)
        return CommandResult(exit_code=127, stdout="", stderr="sh: unknown script", duration=0.0)

    def open_stream(self, argv: Sequence[str], *, timeout: float) -> StreamHandle:
        """The apply lock (always free: answers LOCKED) or `logs --follow` (the logs, then
        the end, as when the container stops)."""
        argv = tuple(argv)
        with self.lock:
            self.calls.append((time.monotonic(), argv))
        if argv[0] == "sh" and "flock" in argv[2]:
            self.locks_taken += 1
            return HeldLock(f"/run/ankplan/apply-{self.node.name}.lock")
        if argv[1] == "events":
            since = float(argv[argv.index("--since") + 1]) if "--since" in argv else 0.0
            label = next((word.removeprefix("label=") for word in argv
                          if word.startswith("label=")), "")
            return FakeEvents(self, since, label)
        return FakeStream(self._shell(argv).stdout)

    def close(self) -> None:
        pass

    # --- what the tests read ---

    def first_call(self, command: str, name: str) -> float:
        """When `podman COMMAND` was first called for container/workload `name`."""
        for when, argv in self.calls:
            if argv[1] == command and (name in argv or f"--name={name}" in argv
                                       or self._id_of(name) in argv):
                return when
        raise AssertionError(f"no podman {command} for {name}")

    def _id_of(self, name: str) -> str:
        return next((c.id for c in self.containers.values() if c.name == name), "-")

    def count(self, command: str) -> int:
        return sum(1 for _, argv in self.calls if argv[1] == command)

    def listings(self) -> int:
        """How many timed `ps` listings the events feed ran."""
        return sum(1 for _, argv in self.calls if argv[0] == "sh" and argv[2] == TIMED_PS_SCRIPT)


def _start_delay(argv: tuple[str, ...], timeout: float, node_name: str) -> float:
    """Seconds a `podman run` of `slow SECONDS` takes; `hang` times out like a real command."""
    words = argv[argv.index("run") + 1:]
    args = [word for word in words if not word.startswith("-")]
    if "slow" in args:
        return float(args[args.index("slow") + 1])
    if "hang" in args:
        time.sleep(timeout)
        raise ConnectError(node_name, f"command timed out after {timeout:g} s: podman run")
    return 0.0


def ok(stdout: str) -> CommandResult:
    return CommandResult(exit_code=0, stdout=stdout, stderr="", duration=0.0)
