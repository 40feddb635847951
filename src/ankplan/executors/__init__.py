"""Executors: the transport seam (local/SSH), podman argv builders and parsers, observation.

Importing the package does no I/O and loads nothing heavy: the transport names below are
re-exported lazily, so the pure `ankplan.podman` never pulls in subprocess or paramiko.
"""

from __future__ import annotations

from typing import Any

_TRANSPORT_NAMES = ("CommandResult", "LocalTransport", "StreamHandle", "Transport",
                    "TransportPool", "check_result", "connect")

__all__ = list(_TRANSPORT_NAMES)


def __getattr__(name: str) -> Any:
    if name in _TRANSPORT_NAMES:
        from ankplan.executors import transport

        return getattr(transport, name)
    raise AttributeError(f"module 'ankplan.executors' has no attribute {name!r}")
