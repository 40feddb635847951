"""Whether a podman-kube workload can be planned: the checks its kube manifest and options must
pass before `podman kube play` may run it.

Pure: no I/O. Called by planner/plan.py for every placed podman-kube workload; a problem is a
plan error for that workload only (Ankaios would report it Pending(StartingFailed)).
"""

from __future__ import annotations

from ankplan.errors import PlanError
from ankplan.model import KubeConfig, Workload
from ankplan.podman.kube import kube_documents, pod_kinds

# playOptions that would let podman remove pods by name, including pods ankplan does not own.
_UNSAFE_PLAY_OPTIONS = ("--replace",)


def kube_problem(workload: Workload) -> str | None:
    """Why `workload` (runtime podman-kube) cannot be applied, or None when it can."""
    config = workload.runtime_config
    if not isinstance(config, KubeConfig):
        return f"workload {workload.name}: its podman-kube runtimeConfig could not be read"
    if workload.files:
        return (f"workload {workload.name}: files are not supported for runtime podman-kube "
                "(Ankaios: Pending(StartingFailed)); use a ConfigMap in the kube manifest")
    unsafe = [option for option in config.play_options
              if option.split("=", 1)[0] in _UNSAFE_PLAY_OPTIONS]
    if unsafe:
        return (f"workload {workload.name}: playOptions {unsafe[0]} would let podman delete "
                "pods by name, also pods ankplan does not own; ankplan replaces its own pods "
                "itself, so leave it out")
    try:
        documents = kube_documents(config.manifest)
    except PlanError as error:
        return f"workload {workload.name}: {error.summary}"
    if not pod_kinds(documents):
        return (f"workload {workload.name}: the kube manifest has no Pod or Deployment, so "
                "`podman kube play` would run nothing")
    return None
