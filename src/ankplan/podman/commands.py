"""Podman command lines as pure builders: each returns an argv tuple for one podman call.

Pure: no I/O. Every builder starts with the node's podman prefix (`node.podman`); quoting happens
only at the SSH edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ankplan.errors import PlanError
from ankplan.model import Node, Workload
from ankplan.podman.options import missing_values

Argv = tuple[str, ...]


def ps_argv(node: Node) -> Argv:
    """One call listing every container with labels, state, exit code, times and health."""
    return (*node.podman, "ps", "--all", "--format", "json")


def images_argv(node: Node) -> Argv:
    """Every local image with its names and id, in one call (read alongside `ps`)."""
    return (*node.podman, "images", "--format", "json")


def stats_argv(node: Node) -> Argv:
    """One sample of CPU and memory use of every running container, in one call."""
    return (*node.podman, "stats", "--no-stream", "--format", "json")


def info_argv(node: Node) -> Argv:
    """`podman info` as JSON: version, OCI runtime, rootless, storage paths."""
    return (*node.podman, "info", "--format", "json")


def run_argv(node: Node, workload: Workload, labels: Mapping[str, str], *,
             name: str | None = None, mounts: Sequence[str] = ()) -> Argv:
    """`podman <generalOptions> run --detach --name N --label k=v... [--mount ...]
    <commandOptions> IMAGE ARGS`.

    As in Ankaios, `--name` comes before the user's commandOptions, so a user `--name` wins.
    `mounts` are the workload files' `--mount` options (podman/nodestore.file_mounts).
    """
    return _create_or_run(node, workload, labels, name, ("run", "--detach"), mounts)


# `podman run` options of a container that a systemd unit runs, as `podman generate systemd
# --new` writes them: the id goes to a file in the unit's runtime directory (%t/%n: systemd
# specifiers, left as they are), conmon stays outside the unit's cgroup and tells systemd when
# the container runs (Type=notify), and a leftover container of the name is replaced.
UNIT_CIDFILE = "%t/%n.ctr-id"
UNIT_RUN_OPTIONS = (f"--cidfile={UNIT_CIDFILE}", "--cgroups=no-conmon", "--sdnotify=conmon",
                    "--replace")


def unit_run_argv(node: Node, workload: Workload, labels: Mapping[str, str], *,
                  mounts: Sequence[str] = ()) -> Argv:
    """`run_argv` for a container that a systemd unit runs (UNIT_RUN_OPTIONS added)."""
    return _create_or_run(node, workload, labels, None, ("run", *UNIT_RUN_OPTIONS, "--detach"),
                          mounts)


def _create_or_run(node: Node, workload: Workload, labels: Mapping[str, str],
                   name: str | None, subcommand: Sequence[str],
                   mounts: Sequence[str] = ()) -> Argv:
    config = workload.podman
    if config is None:
        raise PlanError(f"workload {workload.name}: runtime {workload.runtime!r} is not run "
                        "with `podman run`")
    missing = missing_values(config.command_options)
    if missing:  # the option would take the image for its value
        raise PlanError(f"workload {workload.name}: commandOptions end with "
                        f"{missing[0].spelling}, which takes a value")
    label_args = tuple(f"--label={key}={value}" for key, value in sorted(labels.items()))
    return (*node.podman, *config.general_options, *subcommand, "--name", name or workload.name,
            *label_args, *mounts, *config.command_options, config.image, *config.command_args)


def start_argv(node: Node, container: str, *, general_options: Sequence[str] = ()) -> Argv:
    """Start an existing container (Ankaios passes generalOptions to `start` too)."""
    return (*node.podman, *general_options, "start", "--", container)


def stop_argv(node: Node, container: str, timeout: int = 10, *, ignore: bool = True) -> Argv:
    """Stop a container, waiting `timeout` seconds before SIGKILL; a missing one is no error."""
    ignore_flag = ("--ignore",) if ignore else ()
    return (*node.podman, "stop", *ignore_flag, "--time", str(int(timeout)), "--", container)


def rm_argv(node: Node, container: str, force: bool = False, *, ignore: bool = True) -> Argv:
    """Remove a container; `force` also stops a running one at once (`--force --time 0`)."""
    force_flags = ("--force", "--time", "0") if force else ()
    ignore_flag = ("--ignore",) if ignore else ()
    return (*node.podman, "rm", *force_flags, *ignore_flag, "--", container)


def logs_argv(node: Node, container: str | Sequence[str], follow: bool = False,
              tail: int | None = None, since: str | None = None,
              timestamps: bool = False) -> Argv:
    """`podman logs [--follow] [--timestamps] [--tail N] [--since T] -- CONTAINER...`; with
    several containers (a podman-kube workload's) each line starts with the container's name."""
    containers = (container,) if isinstance(container, str) else tuple(container)
    options: list[str] = ["--names"] if len(containers) > 1 else []
    if follow:
        options.append("--follow")
    if timestamps:
        options.append("--timestamps")
    if tail is not None:
        options += ["--tail", str(int(tail))]
    if since:
        options += ["--since", since]
    return (*node.podman, "logs", *options, "--", *containers)


HEALTH_PASSED, HEALTH_FAILED = 0, 1  # exit codes of `podman healthcheck run`


def healthcheck_run_argv(node: Node, container: str) -> Argv:
    """Run the container's health check once; exit 0 healthy, 1 unhealthy.

    Needed where podman has no systemd to run health checks on a timer (as on the test bed).
    """
    return (*node.podman, "healthcheck", "run", "--", container)
