"""Which local image an image reference names, the way Podman looks it up in local storage.

Pure: no I/O. Works on the (name -> id) table `podman images` gives. Covers what manifests use:
fully qualified names, `localhost/` and Docker Hub short names, digests and image ids. Podman's
search registries (registries.conf) are not known here, so a short name found only through them
looks missing; the planner therefore only *notes* a missing image, it never acts on it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

DEFAULT_TAG = "latest"
_HEX_ID = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")


def _is_domain(component: str) -> bool:
    """True when the first path component of a name is a registry (Podman's rule)."""
    return "." in component or ":" in component or component == "localhost"


def with_default_tag(name: str) -> str:
    """`name:latest` when `name` has neither tag nor digest, else `name` unchanged."""
    if "@" in name or ":" in name.rsplit("/", 1)[-1]:
        return name
    return f"{name}:{DEFAULT_TAG}"


def is_pinned(reference: str) -> bool:
    """True for a digest (`app@sha256:...`) or an image id: it always names the same image."""
    text = reference.strip()
    return "@" in text or bool(_HEX_ID.match(text))


def image_candidates(reference: str) -> tuple[str, ...]:
    """The full names Podman tries for `reference`, in its order.

    `app` -> (`localhost/app:latest`, `docker.io/library/app:latest`); `docker.io/app:1` ->
    (`docker.io/library/app:1`,); a fully qualified name stands for itself.
    """
    name = with_default_tag(reference.strip())
    first, _, rest = name.partition("/")
    if rest and _is_domain(first):
        if first in ("docker.io", "index.docker.io") and "/" not in rest:
            return (f"docker.io/library/{rest}",)
        return (name,)
    hub = f"docker.io/library/{name}" if not rest else f"docker.io/{name}"
    return (f"localhost/{name}", hub)


def _path_of(full_name: str) -> str:
    """`localhost/app:1` -> `app:1`: the name without its registry."""
    first, _, rest = full_name.partition("/")
    return rest if rest and _is_domain(first) else full_name


def resolve_image(reference: str, images: Mapping[str, str]) -> str:
    """The id of the local image `reference` names, or "" when none is found.

    Tries the candidate names, then an image id (or unique prefix of one), then, for a short
    name, any image whose name without its registry is the reference (when that is unique).
    """
    for candidate in image_candidates(reference):
        if candidate in images:
            return images[candidate]
    text = reference.strip()
    if _HEX_ID.match(text):
        wanted = text.removeprefix("sha256:")
        ids = {image_id for image_id in images.values() if image_id.startswith(wanted)}
        return ids.pop() if len(ids) == 1 else ""
    first = text.partition("/")[0]
    if "/" in text and _is_domain(first):
        return ""
    path = with_default_tag(text)
    ids = {image_id for name, image_id in images.items() if _path_of(name) == path}
    return ids.pop() if len(ids) == 1 else ""


def short_id(image_id: str) -> str:
    """The 12-digit id podman shows (`sha256:` prefix dropped)."""
    return image_id.removeprefix("sha256:")[:12]
