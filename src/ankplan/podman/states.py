"""The Ankaios execution state of a container, mapped from podman's state exactly as Ankaios's
podman runtime maps it (a podman-kube workload's folded pods as its podman-kube runtime does).
Pure: no I/O.
"""

from __future__ import annotations

from ankplan.model import ExecutionState, ObservedContainer
from ankplan.podman.pods import is_unit, pod_state

_PENDING_STATES = frozenset({"created", "configured", "initialized"})
_STOPPING_STATES = frozenset({"stopping", "stopped", "removing"})


def execution_state(container: ObservedContainer | None, *,
                    ps_failed: bool = False) -> ExecutionState:
    """The Ankaios execution state of a container, exactly as Ankaios's podman runtime maps it.

    `container` None means it is missing from the `ps` output (Lost); `ps_failed` means the
    `ps` call itself failed.
    """
    if ps_failed:
        return ExecutionState(state="Failed", sub_state="Unknown",
                              info="Error getting state from Podman.")
    if container is None:
        return ExecutionState(state="Failed", sub_state="Lost")
    if is_unit(container):
        return pod_state(container)
    state = container.state.lower()
    if state in _PENDING_STATES:
        return ExecutionState(state="Pending", sub_state="Starting", info=state)
    if state == "running":
        return ExecutionState(state="Running", sub_state="Ok")
    if state == "exited" and container.exit_code == 0:
        return ExecutionState(state="Succeeded", sub_state="Ok")
    if state == "exited":
        return ExecutionState(state="Failed", sub_state="ExecFailed",
                              info=f"Exit code: '{container.exit_code}'")
    if state in _STOPPING_STATES:
        return ExecutionState(state="Stopping", sub_state="Stopping", info=state)
    return ExecutionState(state="Failed", sub_state="Unknown", info=state)
