"""The podman commands behind one plan action, shared by apply and watch (one engine).

Does I/O only in `stop_container` and `remove_container` (through a transport); the command
builders are pure. Neither decides anything: the action says what to do, and the runtime (a
container, or a podman-kube workload's pods, whose entry id names them) which commands do it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ankplan import podman
from ankplan.executors.transport import CommandResult, Transport
from ankplan.model import LABEL_RESTART_COUNT, Action, ActionKind, KubeConfig, Node, Project
from ankplan.planner.hashing import labels_for
from ankplan.podman import kube
from ankplan.podman.pods import unit_id

RM_TIMEOUT = 60.0  # seconds for `podman rm` of a stopped container
STOP_SLACK = 30.0  # seconds `podman stop -t N` may take beyond N
# Kinds whose bring-up starts the existing container instead of running a new one.
STARTS_EXISTING = frozenset({ActionKind.START, ActionKind.RESTART})


def stop_container(transport: Transport, node: Node, container_id: str,
                   stop_timeout: int) -> CommandResult:
    """Stop gracefully: SIGTERM (or the image's stop signal), SIGKILL after `stop_timeout`.
    A podman-kube entry's pods stop with `pod stop` by id."""
    pod_ids = podman.pod_ids(container_id)
    argv = (kube.pod_stop_argv(node, pod_ids, stop_timeout) if pod_ids
            else podman.stop_argv(node, container_id, stop_timeout))
    return transport.run(argv, timeout=stop_timeout + STOP_SLACK)


def remove_container(transport: Transport, node: Node, container_id: str,
                     stop_timeout: int) -> CommandResult:
    """Stop gracefully (SIGTERM, then SIGKILL after `stop_timeout`), then remove; the result
    of the last command run (check `.ok`). A podman-kube entry's pods go with `pod stop` and
    `pod rm` by id: only the pods ankplan observed as its own, never pods named in a YAML."""
    result = stop_container(transport, node, container_id, stop_timeout)
    if result.ok:
        pod_ids = podman.pod_ids(container_id)
        remove = (kube.pod_rm_argv(node, pod_ids) if pod_ids
                  else podman.rm_argv(node, container_id))
        result = transport.run(remove, timeout=RM_TIMEOUT)
    return result


def discard_argv(node: Node, container_id: str) -> tuple[str, ...]:
    """Remove what a failed bring-up left behind: a created container, or pods (forced)."""
    pod_ids = podman.pod_ids(container_id)
    return kube.pod_rm_argv(node, pod_ids, force=True) if pod_ids else \
        podman.rm_argv(node, container_id)


def bringup_labels(action: Action, project: str | Project,
                   restart_count: int = 0) -> dict[str, str]:
    """The labels of the container a create/replace makes (restart count included); a
    `Project` also gives the source label."""
    if action.workload is None:
        raise ValueError(f"{action.address}: the action carries no workload")
    name, source = (project.name, project.source) if isinstance(project, Project) else (project, "")
    return {**labels_for(action.workload, name, source), LABEL_RESTART_COUNT: str(restart_count)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Bringup:
    """The one podman command that brings a workload up, and what it reads on stdin."""

    argv: tuple[str, ...]
    verb: str  # for messages: "run", "start", "kube play", "pod start"
    stdin: str | None = None  # the labelled kube manifest for `kube play -`


def bringup_command(action: Action, node: Node, labels: dict[str, str]) -> Bringup:
    """`podman start` of the existing container or pods (START, RESTART), else `podman run` of
    a new container or `podman kube play -` of the workload's kube manifest, labelled."""
    workload = action.workload
    if workload is None:
        raise ValueError(f"{action.address}: the action carries no workload")
    config = workload.runtime_config if isinstance(workload.runtime_config, KubeConfig) else None
    if action.kind in STARTS_EXISTING:
        pod_ids = podman.pod_ids(action.container_id)
        if pod_ids:
            general = config.general_options if config else ()
            return Bringup(argv=kube.pod_start_argv(node, pod_ids, general_options=general),
                           verb="pod start")
        general = workload.podman.general_options if workload.podman else ()
        return Bringup(argv=podman.start_argv(node, action.container_id, general_options=general),
                       verb="start")
    if config is not None:
        return Bringup(argv=kube.play_argv(node, config), verb="kube play",
                       stdin=kube.labelled_manifest(config.manifest, labels))
    return Bringup(argv=podman.run_argv(node, workload, labels), verb="run")


def started_container(action: Action, result: CommandResult) -> str:
    """The id of what a successful bring-up command ran: the container, or for `kube play`
    the entry id of the pods it printed."""
    if action.kind in STARTS_EXISTING:
        return action.container_id
    workload = action.workload
    if workload is not None and isinstance(workload.runtime_config, KubeConfig):
        return unit_id(kube.parse_play_output(result.stdout))
    lines = result.stdout.strip().splitlines()
    return lines[-1].strip() if lines else ""


def podman_error(verb: str, result: CommandResult) -> str:
    """`podman <verb> failed: <podman's own message>`, preferring its `Error:` lines."""
    lines = [line.strip() for line in result.stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error")] or lines[-1:]
    message = "; ".join(errors) or f"exit code {result.exit_code}"
    return f"podman {verb} failed (exit code {result.exit_code}): {message}"
