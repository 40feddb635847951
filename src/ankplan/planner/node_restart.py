"""Which containers the node itself stopped (a reboot, `podman stop -a`), and what became of a
`--rm` workload that ran: the decisions behind bringing a project back after a device restart.

Pure: no I/O and no clock. Ankaios's agent restarts every workload of a restarted device, NEVER
ones included; ankplan has no agent, so it reads the signs on the node:
* a reboot: the node's boot ID differs from the one recorded when ankplan started the
  container (run.json in the workload's folder);
* a stop of everything: at least MIN_STOPPED containers of the node (any owner) exited
  together (`latest_stop`), at least one of them by a signal (exit 137 or 143: SIGKILL or
  SIGTERM, which `podman stop` sends), not all of them by SIGKILL (`podman stop` sends
  SIGTERM first: containers killed one by one with `podman kill` are their own exits), and
  nothing that ran before survived. Not recognised (a reboot still is, by the boot ID): a
  stop of only workloads that trap SIGTERM and exit 0 (they look as if they ended by
  themselves), or of only workloads that ignore it (all 137, as after `podman kill`). A job
  that ended by itself within CLEAN_GAP seconds of a stop is taken for stopped too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ankplan.model import NodeObservation, ObservedContainer, RunRecord, Workload
from ankplan.planner.hashing import spec_matches
from ankplan.podman.options import tokenize

SIGKILLED = 137  # 128 + SIGKILL
SIGNAL_EXITS = frozenset({SIGKILLED, 143})  # 128 + SIGKILL, 128 + SIGTERM
STOP_GAP = 15.0  # seconds between consecutive exits of one stop (podman stop waits 10 s)
CLEAN_GAP = 1.0  # seconds between the clean exits of one stop (`podman ps` has whole seconds)
MIN_STOPPED = 2  # one container stopped alone is a manual stop, not the node's
_ALIVE = frozenset({"running", "paused"})


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStop:
    """A stop of everything on a node: the exits that belong to it and when they happened."""

    first: float  # unix seconds of the first exit
    last: float
    container_ids: frozenset[str]  # every container (any owner) that exited in it

    def describe(self) -> str:
        """`the node stopped all 3 containers at 12:00:01 UTC (podman stop -a or a shutdown)`."""
        at = datetime.fromtimestamp(self.first, UTC).strftime("%H:%M:%S UTC")
        return (f"the node stopped all {len(self.container_ids)} containers at {at} "
                "(podman stop -a or a shutdown)")


def _latest_chain(containers: list[ObservedContainer], gap: float) -> list[ObservedContainer]:
    """The latest run of exits (newest first) with at most `gap` seconds between neighbours."""
    ordered = sorted(containers, key=lambda c: c.finished_at, reverse=True)
    chain = ordered[:1]
    for container in ordered[1:]:
        if chain[-1].finished_at - container.finished_at > gap:
            break
        chain.append(container)
    return chain


def latest_stop(observation: NodeObservation) -> NodeStop | None:
    """The latest stop of everything on the node, or None (see the module's rules).

    `podman stop -a` sends SIGTERM to every container at once: those that handle it exit
    together at once (within CLEAN_GAP), the others are killed (137) up to the stop timeout
    later. So the stop is the latest run of signal exits, plus the clean exits that came
    together just before or among them; a job that had ended on its own earlier stays out.
    """
    # Podman keeps a container's last exit time when it is started again (not its code): the
    # ones already brought back still mark when the stop happened.
    exits = [c for c in observation.containers if c.finished_at > 0]
    killed = [c for c in exits if c.state == "exited" and c.exit_code in SIGNAL_EXITS]
    signalled = _latest_chain(killed, STOP_GAP)
    if not signalled:
        return None
    first, last = signalled[-1].finished_at, signalled[0].finished_at
    clean = _latest_chain([c for c in exits if c not in killed
                           and first - STOP_GAP <= c.finished_at <= last], CLEAN_GAP)
    group = signalled + clean
    if len(group) < MIN_STOPPED or all(c.exit_code == SIGKILLED for c in group
                                       if c.state == "exited"):
        return None  # only SIGKILLs: `podman kill` of each, not a stop (SIGTERM comes first)
    first = min(c.finished_at for c in group)
    if any(c.state in _ALIVE and c.started_at < first for c in observation.containers):
        return None  # something that ran before the stop still runs: not the whole node
    return NodeStop(first=first, last=last, container_ids=frozenset(c.id for c in group))


def rebooted_since_start(container: ObservedContainer | None, run: RunRecord | None,
                         boot_id: str) -> bool:
    """True when ankplan last started this container (or this vanished workload) in an
    earlier boot of the node than the current one."""
    if run is None or not run.boot_id or not boot_id or run.boot_id == boot_id:
        return False
    return container is None or run.container_id == container.id


def stopped_by_node(container: ObservedContainer, run: RunRecord | None, boot_id: str,
                    stop: NodeStop | None) -> str:
    """Why the node stopped `container` (a reboot, a stop of everything), or "" if it did not.

    A running container was not stopped; one that started again after the stop neither.
    """
    if container.state in _ALIVE:
        return ""
    if rebooted_since_start(container, run, boot_id):
        return "the node restarted since ankplan started it (its boot ID changed)"
    if stop is not None and container.id in stop.container_ids and container.state == "exited":
        return stop.describe()
    return ""


def removes_itself(workload: Workload) -> bool:
    """True when the workload's container is run with `--rm` (it vanishes when it exits)."""
    options = workload.podman.command_options if workload.podman else ()
    given = [token.value for token in tokenize(options) if token.name == "--rm"]
    return bool(given) and (given[-1] is None or given[-1].lower() == "true")  # the last wins


def ran_and_vanished(workload: Workload, run: RunRecord | None) -> bool:
    """True for a `--rm` workload whose container ankplan started with the current spec and
    that is gone now (the caller saw no container): Failed(Lost), never run again."""
    return (run is not None and bool(run.container_id) and removes_itself(workload)
            and spec_matches(workload, run.spec_hash) is True)
