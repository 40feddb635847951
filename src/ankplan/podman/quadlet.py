"""Quadlet `.container` files for workloads that systemd supervises on nodes with Podman >= 4.4
(the node's Podman generates the unit from the file), which kind of unit a node gets, and the
probe that reads a node's Podman and systemd versions.

Pure: no I/O. The executors send these commands; the file's text goes on stdin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ankplan.model import Node, UnitFlavour, Workload
from ankplan.podman.commands import Argv
from ankplan.podman.systemd_unit import (
    KEY_SPEC_HASH,
    KEY_WORKLOAD,
    RESTART,
    RESTART_SEC,
    STOP_TIMEOUT,
    exec_word,
    project_line,
    unit_value,
)

QUADLET_MIN_PODMAN = (4, 4)
BACKOFF_MIN_SYSTEMD = 254  # RestartSteps=/RestartMaxDelaySec=
# With RestartSteps= the delay grows from RestartSec= to RestartMaxDelaySec= in that many
# steps: 5, 9, 17, 30 s, then 30 s; the guide's 0, 5, 10, 20, 30 s minus the immediate first try.
RESTART_STEPS = 3
RESTART_MAX_DELAY = 30

_PROBE = r"""
"$@" version --format '{{.Client.Version}}' 2>/dev/null | head -1
systemctl --version 2>/dev/null | head -1
"""


def probe_argv(node: Node) -> Argv:
    """Print the node's Podman version, then systemd's first `--version` line."""
    return ("sh", "-c", _PROBE, "sh", *node.podman)


def parse_probe(text: str) -> tuple[str, int]:
    """(Podman version, systemd major version) from `probe_argv`'s output; "" / 0 if absent."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    podman = next((line for line in lines if re.fullmatch(r"\d+\.\d+[\w.~+-]*", line)), "")
    systemd = next((int(m.group(1)) for line in lines
                    if (m := re.match(r"systemd (\d+)\b", line))), 0)
    return podman, systemd


def flavour_for(podman_version: str) -> UnitFlavour:
    """Quadlet where the node's Podman has it (4.4 and later), else a generated-style unit
    (also when the version is unknown: that unit works on every Podman)."""
    numbers = tuple(int(part) for part in re.findall(r"\d+", podman_version)[:2])
    return UnitFlavour.QUADLET if numbers and numbers >= QUADLET_MIN_PODMAN else UnitFlavour.UNIT


def file_name(unit: str) -> str:
    """The Quadlet file that generates `unit`: `ankplan-web-1a2b3c4d.container`."""
    return unit.removesuffix(".service") + ".container"


def container_text(node: Node, workload: Workload, labels: Mapping[str, str], *, project: str,
                   spec_hash: str, required: Sequence[str] = (), mounts: Sequence[str] = (),
                   backoff: bool = False) -> str:
    """The `.container` file that runs the workload: Image=, Exec=, ankplan's labels as Label=,
    what Quadlet has no key for (commandOptions, file mounts) as PodmanArgs=, generalOptions as
    GlobalArgs=; Restart= from restartPolicy (RestartSteps= where `backoff`), ordered after the
    units it requires, enabled for multi-user.target. `node` only names the owner of the file."""
    config = workload.podman
    if config is None:
        raise ValueError(f"workload {workload.name} is not run with `podman run`")
    restart = RESTART[workload.restart_policy]
    container = [f"ContainerName={unit_value(workload.name)}", f"Image={config.image}"]
    container += [f"Label={exec_word(f'{key}={value}')}" for key, value in sorted(labels.items())]
    if config.general_options:
        container.append("GlobalArgs=" + _words(config.general_options))
    # --rm=false: the container stays after it exits (dropin_text), as under Podman 4.3's unit
    container.append("PodmanArgs=" + _words(("--rm=false", *mounts, *config.command_options)))
    if config.command_args:
        container.append("Exec=" + _words(config.command_args))
    lines = [
        f"# Written by ankplan for workload {_comment(workload.name)} of project "
        + f"{_comment(project)} on {_comment(node.name)}; `ankplan apply` rewrites it, "
        + "`ankplan destroy` removes it.",
        "[Unit]",
        f"Description=ankplan workload {unit_value(workload.name)} (project {unit_value(project)})",
        "Wants=network-online.target",
        "After=network-online.target",
        *(f"Requires={unit}\nAfter={unit}" for unit in required),
        "StartLimitIntervalSec=0",
        project_line(project),
        f"{KEY_WORKLOAD}={unit_value(workload.name)}",
        f"{KEY_SPEC_HASH}={unit_value(spec_hash)}",
        "",
        "[Container]",
        *container,
        "",
        "[Service]",
        f"Restart={restart}",
        f"RestartSec={RESTART_SEC}",
        *((f"RestartSteps={RESTART_STEPS}", f"RestartMaxDelaySec={RESTART_MAX_DELAY}")
          if backoff else ()),
        f"TimeoutStopSec={STOP_TIMEOUT + 60}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def dropin_text(node: Node, project: str) -> str:
    """The drop-in (`<unit>.d/ankplan.conf`) that keeps an exited container, as the
    Ankaios states need (ON_FAILURE's clean exit stays Succeeded): Quadlet's own stop commands
    remove the container (`podman rm`); these replace them with `podman stop`, and the
    container id file of the last run is removed before the next (with `--rm=false`)."""
    podman = " ".join(exec_word(word) for word in node.podman)
    stop = f"{podman} stop --ignore -t {STOP_TIMEOUT} --cidfile=%t/%N.cid"
    return "\n".join([
        f"# Written by ankplan for project {_comment(project)} with the unit's Quadlet file.",
        "[Unit]", project_line(project), "", "[Service]",
        "ExecStartPre=/bin/rm -f %t/%N.cid",
        "ExecStop=", f"ExecStop={stop}", "ExecStopPost=", f"ExecStopPost=-{stop}", ""])


def _words(words: Sequence[str]) -> str:
    return " ".join(exec_word(word) for word in words)


def _comment(text: str) -> str:
    return text.replace("\n", " ")
