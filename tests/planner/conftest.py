"""Planner test set-up: the --update-golden option and a test-only older spec-hash version.

Rewrite the golden files with `python3 -m pytest tests/planner --update-golden` (the option is
registered only when tests/planner is on the command line) or with ANKPLAN_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ankplan.model import Workload
from ankplan.planner import hashing


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/planner/cases/*/expected.plan from the current planner")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when golden files are to be rewritten instead of compared."""
    try:
        option = bool(request.config.getoption("--update-golden"))
    except ValueError:
        option = False
    return option or os.environ.get("ANKPLAN_UPDATE_GOLDEN") == "1"


def canonical_spec_v0(workload: Workload) -> hashing.Spec:
    """A stand-in for an older hash version: v1's spec without the agent.

    Only tests register it; the `older-hash-version` case carries labels made with it, and the
    planner must recompute v0 for them instead of replacing every container.
    """
    spec = hashing.canonical_spec_v1(workload)
    spec.pop("agent", None)
    return spec


@pytest.fixture(autouse=True)
def older_hash_version(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register `v0` for the duration of each planner test."""
    monkeypatch.setitem(hashing.CANONICAL_SPECS, "v0", canonical_spec_v0)
    yield
