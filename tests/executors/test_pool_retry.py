"""TransportPool: a failed node stays failed for one-shot runs, and is retried for watch."""

from __future__ import annotations

import time

import pytest

from ankplan.errors import ConnectError
from ankplan.executors.transport import TransportPool
from ankplan.model import Connection, Node

NODE = Node(name="n1", connection=Connection.SSH, host="10.231.0.99")


class _Flaky:
    """A connector that fails the first `failures` times, then hands out live transports."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, node: Node, *, accept_new_host_keys: bool) -> _Alive:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectError(node.name, "connection refused", "is sshd running there?")
        return _Alive(node)


class _Alive:
    def __init__(self, node: Node) -> None:
        self.node, self.alive, self.closed = node, True, False

    def is_alive(self) -> bool:
        return self.alive

    def close(self) -> None:
        self.closed = True


def test_one_shot_pool_keeps_the_first_failure() -> None:
    connector = _Flaky(failures=1)
    pool = TransportPool(connector=connector)
    for _ in range(3):
        with pytest.raises(ConnectError, match="connection refused"):
            pool.get(NODE)
    assert connector.calls == 1


def test_watch_pool_retries_a_failed_node_after_the_delay() -> None:
    connector = _Flaky(failures=1)
    pool = TransportPool(connector=connector, retry_failed_after=0.05)
    with pytest.raises(ConnectError):
        pool.get(NODE)
    with pytest.raises(ConnectError):  # too soon: the remembered failure, no new connect
        pool.get(NODE)
    assert connector.calls == 1
    time.sleep(0.06)
    assert pool.get(NODE).node is NODE
    assert connector.calls == 2


def test_watch_pool_replaces_a_dropped_connection() -> None:
    connector = _Flaky(failures=0)
    pool = TransportPool(connector=connector, retry_failed_after=1.0)
    first = pool.get(NODE)
    first.alive = False
    second = pool.get(NODE)
    assert second is not first and first.closed and connector.calls == 2
