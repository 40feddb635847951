"""The Ankaios execution state of a container, mapped from podman's state exactly as Ankaios's
podman runtime maps it (a podman-kube workload's folded pods as its podman-kube runtime does).
Pure: no I/O.
"""

from __future__ import annotations

from ankplan.model import ExecutionState, ObservedContainer, State, SubState
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
        return ExecutionState(state=State.FAILED, sub_state=SubState.UNKNOWN,
                              info="Error getting state from Podman.")
    if container is None:
        return ExecutionState(state=State.FAILED, sub_state=SubState.LOST)
    if is_unit(container):
        return pod_state(container)
    state = container.state.lower()
    if state in _PENDING_STATES:
        return ExecutionState(state=State.PENDING, sub_state=SubState.STARTING, info=state)
    if state == "running":
        return ExecutionState(state=State.RUNNING, sub_state=SubState.OK)
    if state == "exited" and container.exit_code == 0:
        return ExecutionState(state=State.SUCCEEDED, sub_state=SubState.OK)
    if state == "exited":
        return ExecutionState(state=State.FAILED, sub_state=SubState.EXEC_FAILED,
                              info=f"Exit code: '{container.exit_code}'")
    if state in _STOPPING_STATES:
        return ExecutionState(state=State.STOPPING, sub_state=SubState.STOPPING, info=state)
    return ExecutionState(state=State.FAILED, sub_state=SubState.UNKNOWN, info=state)
