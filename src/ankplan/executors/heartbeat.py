"""Liveness of SSH connections: a keepalive that wants an answer, and a verdict when none comes.

Does I/O: sends SSH global requests on paramiko transports from one thread per connection;
one thread for all connections checks how long each has been silent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import ClassVar

import paramiko

HEARTBEAT_INTERVAL = 2.0  # seconds between SSH keepalive requests (want-reply) to each node
# Seconds without a keepalive answer (or any packet from the node) after which a node counts as
# lost and its connection is closed, whatever the commands' --timeout: a node cut off is known
# 9-12 s after the cut.
LOST_AFTER = 9.0
CHECK_EVERY = 0.5  # seconds between the checks of every connection's silence


class Heartbeat:
    """Asks the node's sshd for an answer every HEARTBEAT_INTERVAL (an OpenSSH client's
    ServerAliveInterval); `on_lost(reason)` once no answer came for LOST_AFTER.

    paramiko's own keepalive expects no answer, so it never notices a node cut off the network:
    TCP keeps buffering for many minutes. One thread per connection waits for the answers; one
    thread for all connections checks their age. Any packet from the node counts as an answer,
    and there is no verdict while this process did not run or while every node is silent at
    once: on an overloaded machine (load average 40-80 on 2 cores, measured) the nodes that
    answer late are slow, not lost.
    """

    _all: ClassVar[list[Heartbeat]] = []
    _guard: ClassVar[threading.Lock] = threading.Lock()
    _checker: ClassVar[threading.Thread | None] = None

    def __init__(self, transport: paramiko.Transport, on_lost: Callable[[str], None]) -> None:
        self._transport, self._on_lost = transport, on_lost
        self._stopped = threading.Event()
        self.answered_at = time.monotonic()
        self._received: object = None
        threading.Thread(target=self._beat, name="ssh-heartbeat", daemon=True).start()
        with Heartbeat._guard:
            Heartbeat._all.append(self)
            if Heartbeat._checker is None:
                Heartbeat._checker = threading.Thread(target=Heartbeat._check_all,
                                                      name="ssh-heartbeat-check", daemon=True)
                Heartbeat._checker.start()

    def _heard(self) -> bool:
        """True when a packet came from the node since the last call (any traffic shows it
        is alive, however slow its keepalive answers are on a loaded machine)."""
        packetizer = getattr(self._transport, "packetizer", None)
        received = getattr(packetizer, "_Packetizer__received_packets", None)
        heard = received is not None and received != self._received
        self._received = received
        return heard

    def _beat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_INTERVAL):
            if not self._transport.is_active():
                return
            try:
                # sshd answers an unknown global request with a failure: an answer is an answer.
                self._transport.global_request("keepalive@openssh.com", wait=True)
            except Exception:  # noqa: BLE001 - a closing connection: the checker decides
                return
            self.answered_at = time.monotonic()

    def stop(self) -> None:
        """No more beats (the connection is being closed)."""
        self._stopped.set()
        with Heartbeat._guard:
            if self in Heartbeat._all:
                Heartbeat._all.remove(self)

    @classmethod
    def _check_all(cls) -> None:
        last = time.monotonic()
        while True:
            time.sleep(CHECK_EVERY)
            now = time.monotonic()
            starved = now - last > CHECK_EVERY + 2.0  # this process did not run: no verdict
            last = now
            with cls._guard:
                beats = list(cls._all)
            for beat in beats:
                if starved or beat._heard():
                    beat.answered_at = max(beat.answered_at, now)
            silent = [beat for beat in beats
                      if now - beat.answered_at > HEARTBEAT_INTERVAL + LOST_AFTER]
            if len(beats) > 1 and len(silent) == len(beats):
                continue  # every node silent at once: this machine is starved, not they lost
            for beat in silent:
                beat.stop()
                beat._on_lost(f"no answer for {now - beat.answered_at:.0f} s (SSH keepalive): "
                              "connection lost")
