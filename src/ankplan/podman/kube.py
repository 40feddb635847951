"""Podman command lines and YAML handling for runtime `podman-kube`: `kube play` from stdin,
pod start/stop/rm by id, the ownership labels written into the Kubernetes YAML, and the parser
of `kube play` output. Pure: no I/O.

Podman 4.3's `kube play` has no `--label` option (only `--annotation`, which `podman ps` does
not show). Labels under a Pod's `metadata.labels` (a Deployment's `spec.template.metadata.labels`)
become labels of the pod and of each of its containers, so ankplan writes its labels there
before piping the manifest to `podman kube play -`; one `podman ps` then shows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ankplan.errors import PlanError
from ankplan.model import KubeConfig, Node

Argv = tuple[str, ...]

# Kinds `podman kube play` turns into pods, and where their pod labels live.
_POD_LABEL_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("metadata",),
    "Deployment": ("spec", "template", "metadata"),
}


def play_argv(node: Node, config: KubeConfig) -> Argv:
    """`podman <generalOptions> kube play --quiet <playOptions> -`: the manifest on stdin.

    The same command line as Ankaios's podman-kube runtime.
    """
    return (*node.podman, *config.general_options, "kube", "play", "--quiet",
            *config.play_options, "-")


def pod_start_argv(node: Node, pod_ids: Sequence[str], *,
                   general_options: Sequence[str] = ()) -> Argv:
    """Start pods that exist (their containers are created or exited)."""
    return (*node.podman, *general_options, "pod", "start", "--", *pod_ids)


def pod_stop_argv(node: Node, pod_ids: Sequence[str], timeout: int = 10) -> Argv:
    """Stop pods: SIGTERM to every container, SIGKILL after `timeout` s; missing ones are fine."""
    return (*node.podman, "pod", "stop", "--ignore", "--time", str(int(timeout)), "--",
            *pod_ids)


def pod_rm_argv(node: Node, pod_ids: Sequence[str], *, force: bool = False) -> Argv:
    """Remove pods and their containers; `force` also kills running ones at once."""
    force_flags = ("--force", "--time", "0") if force else ()
    return (*node.podman, "pod", "rm", "--ignore", *force_flags, "--", *pod_ids)


def pod_ps_argv(node: Node) -> Argv:
    """Every pod with its labels and container ids (`podman pod ps --format json`)."""
    return (*node.podman, "pod", "ps", "--format", "json")


def parse_play_output(text: str) -> tuple[str, ...]:
    """The pod ids `podman kube play` printed, in order.

    The output has sections headed `Pod:`, `Container:`/`Containers:`, `Volume:`...; the ids of a
    section are the lines up to the next heading (as Ankaios reads it).
    """
    pods: list[str] = []
    in_pod = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.endswith(":"):
            in_pod = line == "Pod:"
        elif in_pod and line:
            pods.append(line)
    return tuple(pods)


# --- the Kubernetes YAML ---------------------------------------------------------------------


def kube_documents(text: str) -> tuple[dict[str, Any], ...]:
    """The non-empty documents of a kube manifest; PlanError when it is not YAML mappings."""
    import yaml  # here: a node's observation imports this module, and needs no YAML

    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1} of the manifest)" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise PlanError(f"the kube manifest is not valid YAML: {problem}{where}") from None
    for index, document in enumerate(documents):
        if not isinstance(document, dict):
            raise PlanError(f"document {index + 1} of the kube manifest is not a mapping "
                            f"(a {type(document).__name__})")
    return tuple(documents)


def pod_kinds(documents: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The kinds among `documents` that `kube play` makes pods of, in order."""
    return tuple(str(doc.get("kind")) for doc in documents if doc.get("kind") in _POD_LABEL_PATHS)


def labelled_manifest(text: str, labels: Mapping[str, str]) -> str:
    """The kube manifest with `labels` added to the pod labels of every Pod and Deployment.

    Other documents (ConfigMap, PersistentVolumeClaim, ...) pass unchanged. The YAML is
    re-serialised: comments and formatting go, values keep their YAML 1.1 meaning (which is
    also how podman reads them).
    """
    documents = kube_documents(text)
    for document in documents:
        path = _POD_LABEL_PATHS.get(str(document.get("kind")))
        if path is None:
            continue
        metadata = _mapping_at(document, path)
        existing = metadata.get("labels")
        metadata["labels"] = {**(existing if isinstance(existing, dict) else {}), **labels}
    import yaml

    return yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True,
                              default_flow_style=False)


def _mapping_at(document: dict[str, Any], path: Sequence[str]) -> dict[str, Any]:
    """The mapping at `path`, creating (or replacing non-mapping) levels on the way."""
    current = document
    for key in path:
        child = current.get(key)
        if not isinstance(child, dict):
            child = {}
            current[key] = child
        current = child
    return current
