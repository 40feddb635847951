"""The one NDJSON event record of every command that changes containers (apply, delete, destroy,
watch): the same keys for all, documented in docs/events-json.md.

Pure: builds dicts from the executors' event values; the caller writes them. Only ModeReport
writes (the --debug lines naming how each node is observed) to the Env's stderr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ankplan.executors.apply_state import ApplyEvent

if TYPE_CHECKING:  # apply, delete and destroy need not load watch's engine to write events
    from ankplan.cli.env import Env
    from ankplan.executors.watch import WatchEvent

EVENT_KINDS_WITH_ACTION = ("create", "start", "replace", "remove", "restart")


def _record(*, command: str, time: float, node: str, workload: str, from_state: str | None,
            to_state: str, kind: str, reason: str, action: str | None,
            elapsed: float | None, outcome: str | None, subject: str = "") -> dict[str, Any]:
    return {"type": "event", "command": command, "time": round(time, 3), "node": node,
            "workload": workload, "from": from_state, "to": to_state, "kind": kind,
            "reason": reason, "action": action, "elapsed": elapsed, "outcome": outcome,
            "subject": subject or (f"{node}/{workload}" if workload else node)}


def apply_event_record(event: ApplyEvent, command: str = "apply") -> dict[str, Any]:
    """A step's change of state during apply, delete or destroy (`message` = `reason`, kept
    for readers of the first apply format)."""
    record = _record(command=command, time=event.time, node=event.node,
                     workload=event.workload, from_state=event.from_state,
                     to_state=event.to_state, kind="outcome" if event.outcome else "state",
                     reason=event.message, action=event.kind or None, elapsed=event.elapsed,
                     outcome=event.outcome or None, subject=event.subject)
    return {**record, "message": event.message}


def render_observation_modes(modes: dict[str, str]) -> str:
    """--debug lines naming how each node is observed: `ankplan: debug: observe NODE: MODE`
    (MODE: events, polling (why) or unreachable (why)), in node order."""
    return "".join(f"ankplan: debug: observe {node}: {mode}\n"
                   for node, mode in sorted(modes.items()))


class ModeReport:
    """--debug: how each node is observed (events or polling, and why), when first known and
    whenever it changes (apply and watch)."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.shown: dict[str, str] = {}

    def report(self, modes: dict[str, str]) -> None:
        """Write the modes that differ from those shown before."""
        changed = {node: mode for node, mode in modes.items() if self.shown.get(node) != mode}
        self.shown.update(changed)
        self.env.stderr.write(render_observation_modes(changed))


def watch_event_record(event: WatchEvent) -> dict[str, Any]:
    """Something watch saw or did."""
    action = event.action if event.kind in EVENT_KINDS_WITH_ACTION else None
    return _record(command="watch", time=event.time, node=event.node, workload=event.workload,
                   from_state=event.from_state or None, to_state=event.to_state,
                   kind=event.kind, reason=event.reason, action=action, elapsed=None,
                   outcome=None)
