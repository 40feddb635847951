"""Pure Podman knowledge: command builders, output parsers, health checks, state mapping, masking,
and podman-kube (`kube.py` for `kube play` and pod commands, `pods.py` for observed pods).

Pure: no I/O. The names below are re-exported so callers can write `podman.run_argv(...)`.
"""

from ankplan.podman.commands import (
    HEALTH_FAILED,
    HEALTH_PASSED,
    Argv,
    healthcheck_run_argv,
    images_argv,
    info_argv,
    logs_argv,
    ps_argv,
    rm_argv,
    run_argv,
    start_argv,
    stats_argv,
    stop_argv,
)
from ankplan.podman.health import HealthCheck, parse_go_duration, parse_health_check
from ankplan.podman.images import image_candidates, is_pinned, resolve_image, short_id
from ankplan.podman.masking import mask_argv
from ankplan.podman.options import MASK
from ankplan.podman.parsers import (
    PodmanInfo,
    PodmanOutputError,
    parse_health_status,
    parse_images,
    parse_info,
    parse_ps,
    parse_size,
    parse_stats,
)
from ankplan.podman.pods import PodInfo, fold_pods, is_unit, log_subjects, parse_pod_ps, pod_ids
from ankplan.podman.states import execution_state

__all__ = [
    "HEALTH_FAILED",
    "HEALTH_PASSED",
    "MASK",
    "Argv",
    "HealthCheck",
    "PodInfo",
    "PodmanInfo",
    "PodmanOutputError",
    "execution_state",
    "fold_pods",
    "healthcheck_run_argv",
    "image_candidates",
    "images_argv",
    "info_argv",
    "is_pinned",
    "is_unit",
    "log_subjects",
    "logs_argv",
    "mask_argv",
    "parse_go_duration",
    "parse_health_check",
    "parse_health_status",
    "parse_images",
    "parse_info",
    "parse_pod_ps",
    "parse_ps",
    "parse_size",
    "parse_stats",
    "pod_ids",
    "ps_argv",
    "resolve_image",
    "rm_argv",
    "run_argv",
    "short_id",
    "start_argv",
    "stats_argv",
    "stop_argv",
]
