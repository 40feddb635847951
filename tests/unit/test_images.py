"""Image references as Podman looks them up locally, and the planner's image decisions."""

from __future__ import annotations

import pytest

from ankplan.model import ObservedContainer, PodmanConfig, Workload
from ankplan.planner.images import pull_detail, rebuilt_detail
from ankplan.podman.images import image_candidates, is_pinned, resolve_image, short_id

A, B, C = "a" * 64, "b" * 64, "c" * 64
TABLE = {"localhost/app:latest": A, "docker.io/library/busybox:latest": B,
         "registry.bed:5000/tools/probe:2": C, "localhost/app@sha256:" + "1" * 64: A,
         "quay.io/x/dup:1": B, "ghcr.io/x/dup:1": C}


@pytest.mark.parametrize("reference, candidates", [
    ("app", ("localhost/app:latest", "docker.io/library/app:latest")),
    ("app:2", ("localhost/app:2", "docker.io/library/app:2")),
    ("team/app", ("localhost/team/app:latest", "docker.io/team/app:latest")),
    ("localhost/app", ("localhost/app:latest",)),
    ("docker.io/busybox", ("docker.io/library/busybox:latest",)),
    ("registry.bed:5000/tools/probe:2", ("registry.bed:5000/tools/probe:2",)),
    ("localhost:5000/app", ("localhost:5000/app:latest",)),
])
def test_candidates_in_podmans_order(reference: str, candidates: tuple[str, ...]) -> None:
    assert image_candidates(reference) == candidates


@pytest.mark.parametrize("reference, image_id", [
    ("app", A), ("localhost/app:latest", A), ("busybox", B), ("docker.io/busybox:latest", B),
    ("registry.bed:5000/tools/probe:2", C), ("tools/probe:2", C),  # unique short-name match
    ("localhost/app@sha256:" + "1" * 64, A), ("aaaaaaaaaaaa", A), ("sha256:" + C, C),
    ("app:2", ""), ("registry.bed:5000/tools/probe:3", ""), ("nosuch", ""),
    ("x/dup:1", ""),  # two registries hold it: not unique, so ankplan says missing
    ("quay.io/x/dup:1", B),
])
def test_resolve(reference: str, image_id: str) -> None:
    assert resolve_image(reference, TABLE) == image_id


def test_pinned_references() -> None:
    assert is_pinned("app@sha256:" + "1" * 64) and is_pinned("a" * 12)
    assert not is_pinned("app") and not is_pinned("localhost/app:latest")
    assert short_id("sha256:" + A) == "a" * 12


def workload(image: str) -> Workload:
    return Workload(name="app", agent="a", runtime="podman", runtime_config_text=f"image: {image}",
                    runtime_config=PodmanConfig(image=image))


def container(image: str, image_id: str) -> ObservedContainer:
    return ObservedContainer(id="c1", name="app", node_name="n", image=image, state="running",
                             image_id=image_id)


def test_rebuilt_when_the_recorded_name_points_elsewhere() -> None:
    assert rebuilt_detail(workload("app"), container("localhost/app:latest", B), TABLE) == (
        "image localhost/app:latest was rebuilt (bbbbbbbbbbbb -> aaaaaaaaaaaa)")
    assert rebuilt_detail(workload("app"), container("localhost/app:latest", A), TABLE) == ""


@pytest.mark.parametrize("image, recorded, image_id, table", [
    ("app", "localhost/app:latest", B, None),  # images not observed
    ("app", "localhost/gone:1", B, TABLE),  # the name was untagged: nothing newer to run
    ("app", "localhost/app:latest", "", TABLE),  # podman did not say
    ("app@sha256:" + "1" * 64, "localhost/app:latest", B, TABLE),  # pinned by digest
])
def test_not_rebuilt(image: str, recorded: str, image_id: str,
                     table: dict[str, str] | None) -> None:
    assert rebuilt_detail(workload(image), container(recorded, image_id), table) == ""


def test_pull_note_only_for_missing_images() -> None:
    assert pull_detail(workload("app"), TABLE) == ""
    assert pull_detail(workload("registry.bed:5000/app:1"), TABLE) == (
        "image registry.bed:5000/app:1 is not on the node: podman will pull it")
    assert pull_detail(workload("registry.bed:5000/app:1"), None) == ""
