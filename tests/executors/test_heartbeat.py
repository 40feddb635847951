"""The SSH heartbeat (executors/heartbeat.py) with fake paramiko transports: a connection that
answers its keepalives stays, one that goes silent is declared lost with the reason."""

from __future__ import annotations

import threading
import time

import pytest

from ankplan.executors import heartbeat


class FakeTransport:
    """Answers keepalives at once, or never (while `silent` is set) until closed."""

    def __init__(self) -> None:
        self.silent = threading.Event()
        self.closed = threading.Event()
        self.requests = 0

    def is_active(self) -> bool:
        return not self.closed.is_set()

    def global_request(self, kind: str, wait: bool = True) -> None:
        assert kind == "keepalive@openssh.com" and wait  # an answer is wanted
        self.requests += 1
        while self.silent.is_set() and not self.closed.is_set():
            time.sleep(0.01)


def test_silent_connection_is_lost_and_answering_one_is_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heartbeat, "HEARTBEAT_INTERVAL", 0.05)
    monkeypatch.setattr(heartbeat, "LOST_AFTER", 0.3)
    answering, silent = FakeTransport(), FakeTransport()
    lost: dict[str, str] = {}
    beats = [heartbeat.Heartbeat(answering, lambda why: lost.setdefault("answering", why)),  # type: ignore[arg-type]
             heartbeat.Heartbeat(silent, lambda why: lost.setdefault("silent", why))]  # type: ignore[arg-type]
    silent.silent.set()
    try:
        deadline = time.monotonic() + 5
        while "silent" not in lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "silent" in lost and "no answer for" in lost["silent"], lost
        assert "answering" not in lost and answering.requests >= 5
    finally:
        for beat in beats:
            beat.stop()
        silent.closed.set()
        answering.closed.set()
