"""The podman commands behind one plan action, shared by apply and watch (one engine).

Does I/O only in `stop_container` and `remove_container` (through a transport); the argv
helpers are pure. Neither decides anything: the action says what to do.
"""

from __future__ import annotations

from ankplan import podman
from ankplan.executors.transport import CommandResult, Transport
from ankplan.model import LABEL_RESTART_COUNT, Action, ActionKind, Node, Project
from ankplan.planner.hashing import labels_for

RM_TIMEOUT = 60.0  # seconds for `podman rm` of a stopped container
STOP_SLACK = 30.0  # seconds `podman stop -t N` may take beyond N
# Kinds whose bring-up starts the existing container instead of running a new one.
STARTS_EXISTING = frozenset({ActionKind.START, ActionKind.RESTART})


def stop_container(transport: Transport, node: Node, container_id: str,
                   stop_timeout: int) -> CommandResult:
    """Stop gracefully: SIGTERM (or the image's stop signal), SIGKILL after `stop_timeout`."""
    return transport.run(podman.stop_argv(node, container_id, stop_timeout),
                         timeout=stop_timeout + STOP_SLACK)


def remove_container(transport: Transport, node: Node, container_id: str,
                     stop_timeout: int) -> CommandResult:
    """Stop gracefully (SIGTERM, then SIGKILL after `stop_timeout`), then remove; the result
    of the last command run (check `.ok`)."""
    result = stop_container(transport, node, container_id, stop_timeout)
    if result.ok:
        result = transport.run(podman.rm_argv(node, container_id), timeout=RM_TIMEOUT)
    return result


def bringup_labels(action: Action, project: str | Project,
                   restart_count: int = 0) -> dict[str, str]:
    """The labels of the container a create/replace makes (restart count included); a
    `Project` also gives the source label."""
    if action.workload is None:
        raise ValueError(f"{action.address}: the action carries no workload")
    name, source = (project.name, project.source) if isinstance(project, Project) else (project, "")
    return {**labels_for(action.workload, name, source), LABEL_RESTART_COUNT: str(restart_count)}


def bringup_argv(action: Action, node: Node, labels: dict[str, str]) -> tuple[str, ...]:
    """`podman start` of the existing container (START, RESTART) or `podman run` of a new one."""
    workload = action.workload
    if workload is None:
        raise ValueError(f"{action.address}: the action carries no workload")
    if action.kind in STARTS_EXISTING:
        general = workload.podman.general_options if workload.podman else ()
        return podman.start_argv(node, action.container_id, general_options=general)
    return podman.run_argv(node, workload, labels)


def started_container(action: Action, result: CommandResult) -> str:
    """The id of the container a successful bring-up command ran."""
    if action.kind in STARTS_EXISTING:
        return action.container_id
    lines = result.stdout.strip().splitlines()
    return lines[-1].strip() if lines else ""


def podman_error(verb: str, result: CommandResult) -> str:
    """`podman <verb> failed: <podman's own message>`, preferring its `Error:` lines."""
    lines = [line.strip() for line in result.stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error")] or lines[-1:]
    message = "; ".join(errors) or f"exit code {result.exit_code}"
    return f"podman {verb} failed (exit code {result.exit_code}): {message}"
