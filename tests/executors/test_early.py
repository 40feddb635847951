"""Commands begun early (executors/early.py) and the local transport taking their answers:
real local processes, no fakes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ankplan.errors import ConnectError
from ankplan.executors import early
from ankplan.executors.transport import LocalTransport
from ankplan.model import Connection, Node

LOCAL = Node(name="local", connection=Connection.LOCAL)
# Prints the pid of the shell that runs it, then when it ran (ns): which process answered.
WHO = ("sh", "-c", "echo $$; date +%s%N")


@pytest.fixture(autouse=True)
def nothing_left_begun() -> Iterator[None]:
    early.drop_all()
    yield
    early.drop_all()


def test_the_transport_answers_from_the_command_begun_early() -> None:
    early.begin(WHO)
    begun_pid = early._BEGUN[WHO].process.pid
    time.sleep(0.3)
    asked = time.time_ns()
    result = LocalTransport(LOCAL).run(WHO, timeout=10)
    pid, ran_at = result.stdout.split()
    assert result.ok and int(pid) == begun_pid
    assert int(ran_at) < asked  # it ran before it was asked for
    again = LocalTransport(LOCAL).run(WHO, timeout=10)  # taken once: the next run is new
    assert int(again.stdout.split()[0]) != begun_pid and int(again.stdout.split()[1]) > asked


def test_an_answer_begun_too_long_ago_is_dropped() -> None:
    early.begin(("sleep", "30"))
    process = early._BEGUN[("sleep", "30")].process
    assert early.take(("sleep", "30"), max_age=0.0) is None
    assert process.poll() is not None  # ended, not left running
    assert early.take(("sleep", "30")) is None


def test_only_the_same_argv_without_stdin_is_answered_early() -> None:
    early.begin(WHO)
    begun_pid = early._BEGUN[WHO].process.pid
    other = LocalTransport(LOCAL).run(("sh", "-c", "echo $$; date +%s%N", "x"), timeout=10)
    fed = LocalTransport(LOCAL).run(WHO, timeout=10, stdin="")
    assert int(other.stdout.split()[0]) != begun_pid and int(fed.stdout.split()[0]) != begun_pid
    assert WHO in early._BEGUN  # still waiting for its own argv


def test_a_command_begun_early_is_bounded_by_the_runs_timeout() -> None:
    early.begin(("sleep", "30"))
    started = time.monotonic()
    with pytest.raises(ConnectError, match="timed out"):
        LocalTransport(LOCAL).run(("sleep", "30"), timeout=0.3)
    assert time.monotonic() - started < 5


def test_a_missing_program_begins_nothing_and_runs_as_before() -> None:
    early.begin(("no-such-program-ankplan",))
    assert early._BEGUN == {}
    result = LocalTransport(LOCAL).run(("no-such-program-ankplan",), timeout=5)
    assert result.exit_code == 127
