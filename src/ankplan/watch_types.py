"""The value types of the `watch` loop: its options, events, table rows and result.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ankplan.planner.restarts import BackoffPolicy

VALUE = {"frozen": True, "slots": True, "kw_only": True}


@dataclass(**VALUE)
class WatchOptions:
    """How the loop runs; durations in seconds."""

    project: str
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    tick: float = 0.5  # a crash is seen and its restart issued within about a second
    duration: float | None = None  # end after this long (None: until interrupted or stable)
    until_stable: bool = False  # end once every workload settled for `settle` seconds
    settle: float = 5.0
    forks: int = 10  # nodes observed in parallel
    timeout: float = 30.0  # bound of each podman command
    stop_timeout: int = 10  # seconds between SIGTERM and SIGKILL when stopping a container


@dataclass(**VALUE)
class WatchEvent:
    """Something changed; one line of text output or one NDJSON object."""

    time: float  # unix seconds
    node: str
    workload: str
    from_state: str  # "" when first seen
    to_state: str
    reason: str = ""
    kind: str = "state"  # state, restart, create, start, replace, remove, backoff, give-up, error

    def as_json(self) -> dict[str, object]:
        """The NDJSON form: {time, node, workload, from, to, reason, kind}."""
        return {"time": round(self.time, 3), "node": self.node, "workload": self.workload,
                "from": self.from_state or None, "to": self.to_state, "reason": self.reason,
                "kind": self.kind}


@dataclass(**VALUE)
class WorkloadView:
    """One row of the live table."""

    workload: str
    node: str
    state: str
    info: str = ""
    restarts: int = 0
    next_restart_in: float | None = None  # crash-looping: seconds until the next restart
    gave_up: bool = False


@dataclass(**VALUE)
class WatchResult:
    """How the loop ended."""

    stable: bool  # every workload settled for the settle time (checked with until_stable)
    gave_up: tuple[str, ...]  # workloads that exhausted --max-restarts
    interrupted: bool
    ticks: int
    elapsed: float
    restarts: int  # restarts issued
