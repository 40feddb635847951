"""Container health checks as podman's `--health-*` options define them, and Go durations.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ankplan.errors import PlanError
from ankplan.podman.options import has_option, last_value

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


def parse_health_check(command_options: Sequence[str]) -> HealthCheck | None:
    """The health check defined by --health-* options, or None (none given, `none`, disabled).

    Defaults are podman's: interval 30s, retries 3, timeout 30s, start period 0s.
    """
    command = last_value(command_options, "--health-cmd")
    if command is None or command.strip().lower() in ("", "none"):
        return None
    if has_option(command_options, "--no-healthcheck"):
        return None
    try:
        return HealthCheck(
            command=command,
            interval=_duration_option(command_options, "--health-interval", 30.0),
            retries=int(last_value(command_options, "--health-retries") or 3),
            timeout=_duration_option(command_options, "--health-timeout", 30.0),
            start_period=_duration_option(command_options, "--health-start-period", 0.0),
        )
    except ValueError as error:
        raise PlanError(f"invalid health check option: {error}",
                        hint="durations look like 30s, 1m30s or 500ms") from None


def _duration_option(options: Sequence[str], name: str, default: float) -> float:
    value = last_value(options, name)
    if value is None:
        return default
    try:
        return parse_go_duration(value)
    except ValueError:
        raise ValueError(f"{name} {value!r}") from None
