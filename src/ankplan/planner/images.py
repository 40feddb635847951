"""Image decisions of the planner: a container whose image was rebuilt, an image to be pulled.

Pure: no I/O. Works on the node's (image name -> id) table read with the containers. A
container records the full name podman resolved its reference to and that image's id; when
the name now points at another id, the image was rebuilt (or re-tagged) since, and the
container is replaced as `docker compose up` does. The check uses the recorded name, never a
re-resolution of the manifest's reference, so a replaced container always settles.
"""

from __future__ import annotations

from collections.abc import Mapping

from ankplan.model import ObservedContainer, Workload
from ankplan.podman.images import is_pinned, resolve_image, short_id


def rebuilt_detail(workload: Workload, container: ObservedContainer,
                   images: Mapping[str, str] | None) -> str:
    """`image localhost/x:latest was rebuilt (3f2a... -> 9c1b...)`, or "" when it was not.

    "" also when the node's images were not observed, when the manifest pins the image (digest
    or id), or when the name is gone (untagged: there is no newer image to run).
    """
    config = workload.podman
    if (images is None or config is None or is_pinned(config.image) or not container.image
            or not container.image_id):
        return ""
    current = images.get(container.image, "")
    if not current or current == container.image_id:
        return ""
    return (f"image {container.image} was rebuilt ({short_id(container.image_id)} -> "
            f"{short_id(current)})")


def pull_detail(workload: Workload, images: Mapping[str, str] | None) -> str:
    """`image X is not on the node: podman will pull it`, or "" when it is (or unknown)."""
    config = workload.podman
    if images is None or config is None or resolve_image(config.image, images):
        return ""
    return f"image {config.image} is not on the node: podman will pull it"
