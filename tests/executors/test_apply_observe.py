"""apply observes through the events feeds (executors/apply_observe.py), against fake nodes that
stream their events (tests/fakepodman.py): streams open only when a step waits on observed
state, nothing is polled while it waits, a node that cannot stream is polled alone, and the
modes --debug names are told as they change."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from fakepodman import FakeContainer, FakeNode, FakeStream
from test_apply import RUNNING, SUCCEEDED, Bed, outcomes, wl

from ankplan.executors.apply import Outcome, apply_plan
from ankplan.executors.apply_state import ApplyOptions
from ankplan.executors.transport import StreamHandle
from ankplan.model import Manifest, Plan, Workload


def apply_telling_modes(bed: Bed, workloads: Sequence[Workload],
                        modes: list[dict[str, str]]) -> tuple[dict[str, Outcome], int]:
    from test_apply import creates

    manifest = Manifest(api_version="v1", workloads=tuple(sorted(workloads,
                                                                 key=lambda w: w.name)))
    plan = Plan(project="test", steps=tuple(creates(workloads, bed.inventory)))
    with bed.pool() as pool:
        result = apply_plan(plan, pool=pool, inventory=bed.inventory, manifest=manifest,
                            options=ApplyOptions(poll_interval=0.02, timeout=5.0),
                            on_modes=modes.append)
    return outcomes(result), result.observations


def streams(node: FakeNode) -> int:
    return node.count("events")


@pytest.fixture
def bed() -> Bed:
    return Bed()


def test_a_succeeded_wait_follows_events_and_runs_no_periodic_ps(bed: Bed) -> None:
    """The job runs 0.6 s: with polling every 0.02 s that was about 30 `podman ps` per node;
    now one listing per node when its stream opens, and the confirming ps."""
    modes: list[dict[str, str]] = []
    found, observations = apply_telling_modes(bed, [
        wl("migration", "agent_a", "job", "0.6", "0"),
        wl("app", "agent_b", needs={"migration": SUCCEEDED})], modes)
    assert found == {"migration": Outcome.DONE, "app": Outcome.DONE}
    a, b = bed.nodes["a"], bed.nodes["b"]
    assert b.first_call("run", "app") >= a.first_call("run", "migration") + 0.6
    assert (a.listings(), b.listings()) == (1, 1) and (streams(a), streams(b)) == (1, 1)
    assert observations == a.listings() + b.listings() + 1  # + the confirming round
    assert modes[-1] == {"a": "events", "b": "events"}


def test_an_apply_whose_steps_settle_on_their_answers_opens_no_stream(bed: Bed) -> None:
    modes: list[dict[str, str]] = []
    found, observations = apply_telling_modes(bed, [
        wl("router", "agent_a"), wl("client", "agent_b", needs={"router": RUNNING})], modes)
    assert found == {"router": Outcome.DONE, "client": Outcome.DONE}
    assert all(streams(node) == node.listings() == 0 for node in bed.nodes.values())
    assert modes == [] and observations == 1  # the confirming round alone


def test_a_node_that_cannot_stream_is_polled_alone(bed: Bed) -> None:
    """Node b's `podman events` ends at once (an old Podman): b is polled, a streams."""
    b = bed.nodes["b"]
    plain = b.open_stream

    def no_events(argv: Sequence[str], *, timeout: float) -> StreamHandle:
        return FakeStream("") if argv[1] == "events" else plain(argv, timeout=timeout)

    b.open_stream = no_events  # type: ignore[method-assign]
    modes: list[dict[str, str]] = []
    found, _ = apply_telling_modes(bed, [
        wl("migration", "agent_a", "job", "0.5", "0"),
        wl("app", "agent_b", needs={"migration": SUCCEEDED}),
        wl("late", "agent_a", needs={"app": RUNNING})], modes)
    assert found == dict.fromkeys(("migration", "app", "late"), Outcome.DONE)
    assert modes[-1] == {"a": "events",
                         "b": "polling (`podman events` ends at once on this node)"}
    assert bed.nodes["a"].listings() == 1 and b.listings() > 5


def test_a_passing_health_check_reaches_the_dependent_without_its_event(bed: Bed) -> None:
    """Podman 4.3's `health_status` event tells the status from before the check: the pass
    apply's own `podman healthcheck run` answered is noted into the feed."""
    a = bed.nodes["a"]
    plain = a.event

    def no_health_events(container: FakeContainer, status: str, **extra: object) -> None:
        if status != "health_status":
            plain(container, status, **extra)

    a.event = no_health_events  # type: ignore[method-assign]
    modes: list[dict[str, str]] = []
    found, _ = apply_telling_modes(bed, [
        wl("db", "agent_a", options=("--health-cmd=true", "--health-interval=1s")),
        wl("app", "agent_b", needs={"db": RUNNING})], modes)
    assert found == {"db": Outcome.DONE, "app": Outcome.DONE}
    assert bed.nodes["b"].first_call("run", "app") > a.first_call("healthcheck", "db")
    assert a.listings() == 1 and a.count("healthcheck") == 1
