"""The podman commands behind one plan action, shared by apply and watch (one engine), and
the writes to the workload's folder on the node (podman/nodestore.py) around them.

Does I/O in `stop_container`, `remove_container`, `prepare_folder`, `record_start` and
`forget_folder` (through a transport); the command builders are pure. Nothing here decides:
the action says what to do, and the runtime (a container, or a podman-kube workload's pods,
whose entry id names them) which commands do it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ankplan import podman
from ankplan.errors import AnkplanError
from ankplan.executors.transport import CommandResult, Transport
from ankplan.model import (
    LABEL_PROJECT,
    LABEL_RESTART_COUNT,
    LABEL_UNIT,
    Action,
    ActionKind,
    KubeConfig,
    Node,
    ObservedContainer,
    Project,
    Supervisor,
    UnitFlavour,
)
from ankplan.planner.hashing import labels_for, spec_hash
from ankplan.planner.plan import removes_folder
from ankplan.podman import kube, nodestore, quadlet, systemd_unit
from ankplan.podman.pods import unit_id

RM_TIMEOUT = 60.0  # seconds for `podman rm` of a stopped container
STOP_SLACK = 30.0  # seconds `podman stop -t N` may take beyond N
# Kinds whose bring-up starts the existing container instead of running a new one.
STARTS_EXISTING = frozenset({ActionKind.START, ActionKind.RESTART})


def stop_container(transport: Transport, node: Node, container_id: str,
                   stop_timeout: int, *, unit: str = "") -> CommandResult:
    """Stop gracefully: SIGTERM (or the image's stop signal), SIGKILL after `stop_timeout`.
    A podman-kube entry's pods stop with `pod stop` by id; a container a systemd `unit` runs
    stops with its unit (systemd would start it again otherwise)."""
    if unit:
        return transport.run(systemd_unit.stop_argv(unit),
                             timeout=systemd_unit.STOP_TIMEOUT + STOP_SLACK)
    pod_ids = podman.pod_ids(container_id)
    argv = (kube.pod_stop_argv(node, pod_ids, stop_timeout) if pod_ids
            else podman.stop_argv(node, container_id, stop_timeout))
    return transport.run(argv, timeout=stop_timeout + STOP_SLACK)


STORE_TIMEOUT = 60.0  # default seconds for a write to the workload's folder on the node


def remove_unit(transport: Transport, unit: str, project: str | Project) -> CommandResult:
    """Stop, disable and remove the project's systemd `unit` (a file of its name without the
    project's mark is left alone); its container stays, exited."""
    return transport.run(systemd_unit.remove_argv(unit, project_name(project)),
                         timeout=systemd_unit.STOP_TIMEOUT + STOP_SLACK)


def unit_to_remove(action: Action, node: Node, project: str | Project) -> str:
    """The systemd unit a teardown removes before the container: the one running the container,
    or for a REMOVE on a node that systemd supervises the workload's unit name (a unit whose
    container vanished); "" for none. A RESTART keeps its unit."""
    if action.kind is ActionKind.RESTART:
        return ""
    if action.container_unit:
        return action.container_unit
    if action.kind is ActionKind.REMOVE and node.supervisor is Supervisor.SYSTEMD:
        return systemd_unit.unit_name(project_name(project), action.workload_name)
    return ""


def remove_container(transport: Transport, node: Node, container_id: str,
                     stop_timeout: int) -> CommandResult:
    """Stop gracefully (SIGTERM, then SIGKILL after `stop_timeout`), then remove; the result
    of the last command run (check `.ok`). A podman-kube entry's pods go with `pod stop` and
    `pod rm` by id: only the pods ankplan observed as its own, never pods named in a YAML.
    A container run by a systemd unit loses its unit first (`remove_unit`)."""
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
    verb: str  # for messages: "run", "start", "kube play", "pod start", "systemctl start"
    stdin: str | None = None  # the labelled kube manifest for `kube play -`, or a unit's text


def bringup_command(action: Action, node: Node, labels: dict[str, str],
                    folder: str = "") -> Bringup:
    """`podman start` of the existing container or pods (START, RESTART), else `podman run` of
    a new container (its files mounted from `folder`, the workload's folder on the node) or
    `podman kube play -` of the workload's kube manifest, labelled. A workload a systemd unit
    runs (`action.unit`) comes up by writing and (re)starting its unit, a RESTART by
    restarting it."""
    workload = action.workload
    if workload is None:
        raise ValueError(f"{action.address}: the action carries no workload")
    config = workload.runtime_config if isinstance(workload.runtime_config, KubeConfig) else None
    if action.unit and action.kind is ActionKind.RESTART:
        return Bringup(argv=systemd_unit.restart_argv(action.unit), verb="systemctl restart")
    if action.kind in STARTS_EXISTING and not action.unit:
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
    if action.unit:
        return Bringup(argv=unit_install_argv(action, node, labels[LABEL_PROJECT]),
                       verb="systemctl start", stdin=unit_text(action, node, labels, folder))
    mounts = _mounts(action, folder)
    return Bringup(argv=podman.run_argv(node, workload, labels, mounts=mounts), verb="run")


def _mounts(action: Action, folder: str) -> tuple[str, ...]:
    workload = action.workload
    if workload is None or not workload.files:
        return ()
    if not folder:
        raise AnkplanError(f"{action.address}: the node did not say where the workload's "
                           "files were written")
    return nodestore.file_mounts(folder, workload.files)


def unit_install_argv(action: Action, node: Node, project: str, *,
                      start: bool = True) -> tuple[str, ...]:
    """The command that writes the action's unit (with its drop-in, for a Quadlet file)."""
    quadlet_unit = action.unit_flavour is UnitFlavour.QUADLET
    return systemd_unit.install_argv(
        action.unit, project, start=start, flavour=action.unit_flavour,
        dropin=quadlet.dropin_text(node, project) if quadlet_unit else "")


def unit_text(action: Action, node: Node, labels: dict[str, str], folder: str) -> str:
    """The text of the systemd unit that runs the action's container (`action.unit`): its
    `podman run` carries `labels` and the unit's own name as a label."""
    if action.workload is None:
        raise ValueError(f"{action.address}: the action carries no workload")
    build = (quadlet.container_text if action.unit_flavour is UnitFlavour.QUADLET
             else systemd_unit.unit_text)
    extra = {"backoff": action.unit_backoff} if action.unit_flavour is UnitFlavour.QUADLET else {}
    return build(node, action.workload, {**labels, LABEL_UNIT: action.unit},
                 project=labels[LABEL_PROJECT], spec_hash=spec_hash(action.workload),
                 required=action.unit_requires, mounts=_mounts(action, folder), **extra)


def rewrite_unit(transport: Transport, node: Node, action: Action, project: Project,
                 folder: str, *, timeout: float = STORE_TIMEOUT) -> CommandResult:
    """Rewrite the unit of an in-place change (`action.unit`: Restart=, Requires= follow the
    manifest), reload and enable it; the running container is left alone."""
    labels = bringup_labels(action, project)
    return transport.run(unit_install_argv(action, node, project.name, start=False),
                         timeout=timeout, stdin=unit_text(action, node, labels, folder))


def _store_failure(action: Action, what: str, result: CommandResult) -> AnkplanError:
    message = result.stderr.strip().splitlines()[-1:] or [f"exit code {result.exit_code}"]
    return AnkplanError(f"{action.address}: cannot {what} on the node: {message[0]}",
                        hint="the node needs a POSIX sh, base64, cksum and a writable "
                             "/var/lib/ankplan (root) or ~/.local/share/ankplan")


def project_name(project: str | Project) -> str:
    """The project's name (the folder tree on a node is keyed by it)."""
    return project.name if isinstance(project, Project) else project


def prepare_folder(transport: Transport, node: Node, action: Action, project: str | Project,
                   *, timeout: float = STORE_TIMEOUT) -> str:
    """Write the workload's folder before its container starts, or for an in-place update:
    the applied record, and for a new container (create, replace) its files. Returns the
    folder ("" for a restart, which writes nothing); raises AnkplanError when the node
    refuses."""
    if action.workload is None:
        raise AnkplanError(f"{action.address}: the action carries no workload")
    if action.kind is ActionKind.RESTART:
        return ""  # the same container again: its files stay, nothing changes in place
    new = action.kind in (ActionKind.CREATE, ActionKind.REPLACE)
    argv, stdin = nodestore.prepare_argv(node, project_name(project), action.workload,
                                         new_container=new)
    result = transport.run(argv, timeout=timeout, stdin=stdin)
    if not result.ok:
        raise _store_failure(action, "write the workload's folder", result)
    lines = result.stdout.strip().splitlines()
    return lines[-1].strip() if lines else ""


def writes_folder_first(action: Action) -> bool:
    """True when the workload's folder must be written before its container starts: a new
    container (create, replace) with files to mount. Other bring-ups write their applied
    record with the start (`record_start(..., with_applied=True)`), after it."""
    workload = action.workload
    return (action.kind in (ActionKind.CREATE, ActionKind.REPLACE) and workload is not None
            and bool(workload.files))


def record_start(transport: Transport, node: Node, action: Action, project: str | Project,
                 container_id: str, *, timeout: float = STORE_TIMEOUT,
                 restart_count: int | None = None, with_applied: bool = False) -> None:
    """Record on the node that ankplan started `container_id` (run.json: its spec hash, the
    node's boot ID, watch's `restart_count`; None keeps the count recorded for the same
    container), and `with_applied` the applied record too (for a new container, which has no
    files then, an older container's files go); raises AnkplanError when the node refuses."""
    workload = action.workload
    if workload is None:
        return
    new = action.kind in (ActionKind.CREATE, ActionKind.REPLACE)
    argv, stdin = nodestore.record_start_argv(node, project_name(project), action.workload_name,
                                              spec_hash(workload), container_id, restart_count,
                                              applied=workload if with_applied else None,
                                              new_container=new)
    result = transport.run(argv, timeout=timeout, stdin=stdin)
    if not result.ok:
        raise _store_failure(action, "record the start", result)


def forget_folder(transport: Transport, node: Node, action: Action, project: str | Project, *,
                  failed_run: bool = False,
                  timeout: float = STORE_TIMEOUT) -> CommandResult | None:
    """Remove the workload's folder with its last container (REMOVE that is no duplicate),
    or after `podman run` of a new container failed (`failed_run`: nothing uses the files
    written for it); None when there is nothing to remove."""
    leaves = removes_folder(action) or (failed_run and action.kind in (ActionKind.CREATE,
                                                                       ActionKind.REPLACE))
    if not leaves or not nodestore.has_folder_name(action.workload_name):
        return None
    argv = nodestore.forget_argv(node, project_name(project), action.workload_name)
    return transport.run(argv, timeout=timeout)


def started_container(action: Action, result: CommandResult) -> str:
    """The id of what a successful bring-up command ran: the container, or for `kube play`
    the entry id of the pods it printed (a unit's container is made anew, id printed)."""
    if action.kind in STARTS_EXISTING and not action.unit:
        return action.container_id
    workload = action.workload
    if workload is not None and isinstance(workload.runtime_config, KubeConfig):
        return unit_id(kube.parse_play_output(result.stdout))
    lines = result.stdout.strip().splitlines()
    return lines[-1].strip() if lines else ""


def started_observation(action: Action, container_id: str, labels: dict[str, str], *,
                        started_at: float, restart_count: int = 0) -> ObservedContainer | None:
    """The container a successful bring-up left running, as `podman ps` would show it (None
    for a podman-kube workload's pods, which only a listing shows)."""
    workload = action.workload
    if not container_id or workload is None or workload.podman is None:
        return None
    return ObservedContainer(
        id=container_id, name=workload.name, node_name=action.node_name,
        image=workload.podman.image, state="running", started_at=started_at,
        labels=tuple(sorted(labels.items())), restart_count=restart_count)


def podman_error(verb: str, result: CommandResult) -> str:
    """`podman <verb> failed: <podman's own message>`, preferring its `Error:` lines."""
    lines = [line.strip() for line in result.stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error")] or lines[-1:]
    message = "; ".join(errors) or f"exit code {result.exit_code}"
    return f"podman {verb} failed (exit code {result.exit_code}): {message}"
