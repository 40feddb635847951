"""Podman knowledge as pure pairs: `*_argv` builders and `parse_*` parsers of podman's JSON output.

Pure: no I/O. Every builder returns an argv tuple that starts with the node's podman prefix;
quoting happens only at the SSH edge. Parsers are tested against recorded podman 4.3.1 output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ankplan.errors import AnkplanError, PlanError
from ankplan.model import (
    LABEL_RESTART_COUNT,
    LABEL_SPEC,
    ExecutionState,
    Node,
    ObservedContainer,
    Workload,
)

Argv = tuple[str, ...]

# Go's zero time as unix seconds: podman reports it for "never started" / "never exited".
_GO_ZERO_TIME = -62135596800
_HEALTH_IN_STATUS = re.compile(r"\((healthy|unhealthy|starting)\)\s*$")


class PodmanOutputError(AnkplanError):
    """Podman printed something that is not the JSON ankplan asked for."""


# --- builders --------------------------------------------------------------------------------


def ps_argv(node: Node) -> Argv:
    """One call listing every container with labels, state, exit code, times and health."""
    return (*node.podman, "ps", "--all", "--format", "json")


def info_argv(node: Node) -> Argv:
    """`podman info` as JSON: version, OCI runtime, rootless, storage paths."""
    return (*node.podman, "info", "--format", "json")


def run_argv(node: Node, workload: Workload, labels: Mapping[str, str], *,
             name: str | None = None) -> Argv:
    """`podman <generalOptions> run --detach --name N --label k=v... <commandOptions> IMAGE ARGS`.

    As in Ankaios, `--name` comes before the user's commandOptions, so a user `--name` wins.
    """
    return _create_or_run(node, workload, labels, name, ("run", "--detach"))


def create_argv(node: Node, workload: Workload, labels: Mapping[str, str], *,
                name: str | None = None) -> Argv:
    """Like `run_argv` but only creates the container (`podman create`); start it later."""
    return _create_or_run(node, workload, labels, name, ("create",))


def _create_or_run(node: Node, workload: Workload, labels: Mapping[str, str],
                   name: str | None, subcommand: Sequence[str]) -> Argv:
    config = workload.podman
    if config is None:
        raise PlanError(f"workload {workload.name}: runtime {workload.runtime!r} is not run "
                        "with `podman run`")
    label_args = tuple(f"--label={key}={value}" for key, value in sorted(labels.items()))
    return (*node.podman, *config.general_options, *subcommand, "--name", name or workload.name,
            *label_args, *config.command_options, config.image, *config.command_args)


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


def logs_argv(node: Node, container: str, follow: bool = False, tail: int | None = None,
              since: str | None = None) -> Argv:
    """`podman logs [--follow] [--tail N] [--since T] -- CONTAINER`."""
    options: list[str] = []
    if follow:
        options.append("--follow")
    if tail is not None:
        options += ["--tail", str(int(tail))]
    if since:
        options += ["--since", since]
    return (*node.podman, "logs", *options, "--", container)


def healthcheck_run_argv(node: Node, container: str) -> Argv:
    """Run the container's health check once; exit 0 healthy, 1 unhealthy.

    Needed where podman has no systemd to run health checks on a timer (as on the test bed).
    """
    return (*node.podman, "healthcheck", "run", "--", container)


# --- parsers ---------------------------------------------------------------------------------


def _load_json(text: str, what: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped == "null":
        return None
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as error:
        first = stripped.splitlines()[0][:80]
        raise PodmanOutputError(f"{what}: podman printed no JSON ({error.msg}): {first!r}",
                                hint="is the podman command on that node really podman?"
                                ) from None


def parse_ps(text: str, node_name: str) -> tuple[ObservedContainer, ...]:
    """Containers from `podman ps -a --format json`, sorted by name then id.

    Empty output and `null` mean no containers; missing fields get neutral defaults.
    """
    data = _load_json(text, f"node {node_name}: podman ps")
    if data is None:
        return ()
    if not isinstance(data, list):
        raise PodmanOutputError(f"node {node_name}: podman ps: expected a JSON list")
    containers = (_container(entry, node_name) for entry in data if isinstance(entry, dict))
    return tuple(sorted(containers, key=lambda c: (c.name, c.id)))


def _container(entry: Mapping[str, Any], node_name: str) -> ObservedContainer:
    labels = entry.get("Labels") or {}
    label_pairs = tuple(sorted((str(k), str(v)) for k, v in labels.items()))
    names = entry.get("Names") or []
    name = names[0] if isinstance(names, list) and names else str(names or "")
    return ObservedContainer(
        id=str(entry.get("Id") or ""),
        name=str(name),
        node_name=node_name,
        image=str(entry.get("Image") or ""),
        state=str(entry.get("State") or "unknown").lower(),
        exit_code=_as_int(entry.get("ExitCode"), 0),
        started_at=_unix_time(entry.get("StartedAt")),
        finished_at=_unix_time(entry.get("ExitedAt")),
        health=parse_health_status(str(entry.get("Status") or "")),
        labels=label_pairs,
        restart_count=max(0, _as_int(labels.get(LABEL_RESTART_COUNT), 0)),
    )


def parse_health_status(status: str) -> str:
    """"healthy", "unhealthy" or "starting" from a ps Status like "Up 3 s ago (healthy)"."""
    match = _HEALTH_IN_STATUS.search(status)
    return match.group(1) if match else ""


def _as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _unix_time(value: Any) -> float:
    seconds = _as_int(value, 0)
    return float(seconds) if seconds > 0 and seconds != _GO_ZERO_TIME else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PodmanInfo:
    """The parts of `podman info` that `ankplan nodes` shows and the apply lock needs."""

    version: str
    api_version: str = ""
    oci_runtime: str = ""  # e.g. "runc"
    oci_runtime_version: str = ""  # first line of the runtime's version output
    rootless: bool = False
    run_root: str = ""  # per-Podman run directory; holds node-local files such as locks
    graph_root: str = ""
    tmp_dir: str = ""  # engine tmp_dir; podman 4.3 does not report it, so often ""
    containers: int = 0  # every container in this storage, owned or not

    @property
    def version_tuple(self) -> tuple[int, ...]:
        """The version as numbers, e.g. (4, 3, 1); non-numeric parts are dropped."""
        return tuple(int(part) for part in re.findall(r"\d+", self.version)[:3])


def parse_info(text: str) -> PodmanInfo:
    """`podman info --format json` -> PodmanInfo; missing sections give empty fields."""
    data = _load_json(text, "podman info")
    if not isinstance(data, dict):
        raise PodmanOutputError("podman info: expected a JSON object")
    host = data.get("host") or {}
    store = data.get("store") or {}
    version = data.get("version") or {}
    runtime = host.get("ociRuntime") or {}
    security = host.get("security") or {}
    runtime_version = str(runtime.get("version") or "").splitlines()
    return PodmanInfo(
        version=str(version.get("Version") or ""),
        api_version=str(version.get("APIVersion") or ""),
        oci_runtime=str(runtime.get("name") or ""),
        oci_runtime_version=runtime_version[0] if runtime_version else "",
        rootless=bool(security.get("rootless", host.get("rootless", False))),
        run_root=str(store.get("runRoot") or ""),
        graph_root=str(store.get("graphRoot") or ""),
        tmp_dir=str(host.get("tmpDir") or data.get("tmpDir") or ""),
        containers=_as_int((store.get("containerStore") or {}).get("number"), 0),
    )


# --- health checks ---------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                   "h": 3600.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheck:
    """A container health check as given in `podman run` options; durations in seconds."""

    command: str
    interval: float = 30.0
    retries: int = 3
    timeout: float = 30.0
    start_period: float = 0.0


def parse_go_duration(text: str) -> float:
    """Seconds from a Go duration such as "1m30s", "500ms" or "0"; ValueError if malformed."""
    stripped = text.strip()
    if stripped == "0":
        return 0.0
    parts = _DURATION_PART.findall(stripped)
    if not parts or "".join(number + unit for number, unit in parts) != stripped:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def _option_value(options: Sequence[str], name: str) -> str | None:
    """The value of the last `--name VALUE` or `--name=VALUE` in `options`, or None."""
    value: str | None = None
    for index, option in enumerate(options):
        if option == name and index + 1 < len(options):
            value = options[index + 1]
        elif option.startswith(name + "="):
            value = option[len(name) + 1:]
    return value


def parse_health_check(command_options: Sequence[str]) -> HealthCheck | None:
    """The health check defined by --health-* options, or None (none given, `none`, disabled).

    Defaults are podman's: interval 30s, retries 3, timeout 30s, start period 0s.
    """
    command = _option_value(command_options, "--health-cmd")
    if command is None or command.strip().lower() in ("", "none"):
        return None
    if "--no-healthcheck" in command_options:
        return None
    try:
        return HealthCheck(
            command=command,
            interval=_duration_option(command_options, "--health-interval", 30.0),
            retries=int(_option_value(command_options, "--health-retries") or 3),
            timeout=_duration_option(command_options, "--health-timeout", 30.0),
            start_period=_duration_option(command_options, "--health-start-period", 0.0),
        )
    except ValueError as error:
        raise PlanError(f"invalid health check option: {error}",
                        hint="durations look like 30s, 1m30s or 500ms") from None


def _duration_option(options: Sequence[str], name: str, default: float) -> float:
    value = _option_value(options, name)
    if value is None:
        return default
    try:
        return parse_go_duration(value)
    except ValueError:
        raise ValueError(f"{name} {value!r}") from None


# --- execution states ------------------------------------------------------------------------

_PENDING_STATES = frozenset({"created", "configured", "initialized"})
_STOPPING_STATES = frozenset({"stopping", "stopped", "removing"})


def execution_state(container: ObservedContainer | None, *,
                    ps_failed: bool = False) -> ExecutionState:
    """The Ankaios execution state of a container, exactly as Ankaios's podman runtime maps it.

    `container` None means it is missing from the `ps` output (Lost); `ps_failed` means the
    `ps` call itself failed.
    """
    if ps_failed:
        return ExecutionState(state="Failed", sub_state="Unknown",
                              info="Error getting state from Podman.")
    if container is None:
        return ExecutionState(state="Failed", sub_state="Lost")
    state = container.state.lower()
    if state in _PENDING_STATES:
        return ExecutionState(state="Pending", sub_state="Starting", info=state)
    if state == "running":
        return ExecutionState(state="Running", sub_state="Ok")
    if state == "exited" and container.exit_code == 0:
        return ExecutionState(state="Succeeded", sub_state="Ok")
    if state == "exited":
        return ExecutionState(state="Failed", sub_state="ExecFailed",
                              info=f"Exit code: '{container.exit_code}'")
    if state in _STOPPING_STATES:
        return ExecutionState(state="Stopping", sub_state="Stopping", info=state)
    return ExecutionState(state="Failed", sub_state="Unknown", info=state)


# --- masking ---------------------------------------------------------------------------------

MASK = "***"
_ENV_OPTIONS = ("-e", "--env")


def mask_argv(argv: Sequence[str]) -> Argv:
    """`argv` for logs and messages: environment values and the spec label shown as `***`.

    Masks `-e NAME=v`, `--env NAME=v`, `--env=NAME=v`, `-eNAME=v` and the `ankplan.spec`
    label, whose canonical spec may repeat those values.
    """
    masked: list[str] = []
    previous = ""
    for word in argv:
        if previous in _ENV_OPTIONS or previous == "--label":
            masked.append(_mask_assignment(word, label=previous == "--label"))
        elif word.startswith("--env="):
            masked.append("--env=" + _mask_assignment(word[len("--env="):]))
        elif word.startswith("-e") and not word.startswith("--") and len(word) > 2:
            masked.append("-e" + _mask_assignment(word[2:]))
        elif word.startswith("--label="):
            masked.append("--label=" + _mask_assignment(word[len("--label="):], label=True))
        else:
            masked.append(word)
        previous = word
    return tuple(masked)


def _mask_assignment(word: str, *, label: bool = False) -> str:
    name, equals, _ = word.partition("=")
    if not equals or (label and name != LABEL_SPEC):
        return word
    return f"{name}={MASK}"
