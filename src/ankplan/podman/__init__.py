"""Pure Podman knowledge: command builders, output parsers, health checks, state mapping, masking.

Pure: no I/O. The names below are re-exported so callers can write `podman.run_argv(...)`.
"""

from ankplan.podman.commands import (
    Argv,
    healthcheck_run_argv,
    info_argv,
    logs_argv,
    ps_argv,
    rm_argv,
    run_argv,
    start_argv,
    stop_argv,
)
from ankplan.podman.health import HealthCheck, parse_go_duration, parse_health_check
from ankplan.podman.masking import mask_argv
from ankplan.podman.options import MASK
from ankplan.podman.parsers import (
    PodmanInfo,
    PodmanOutputError,
    parse_health_status,
    parse_info,
    parse_ps,
)
from ankplan.podman.states import execution_state

__all__ = [
    "MASK", "Argv", "HealthCheck", "PodmanInfo", "PodmanOutputError", "execution_state", "healthcheck_run_argv", "info_argv", "logs_argv", "mask_argv",
    "parse_go_duration", "parse_health_check", "parse_health_status", "parse_info", "parse_ps",
    "ps_argv", "rm_argv", "run_argv", "start_argv", "stop_argv",
]
