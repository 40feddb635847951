"""Whether a workload's container is started or run again, and why: the never-started, the
exits its restart policy restarts, what the node stopped, `--rm` jobs that ran, and how
`watch` carries out a restart (the same container started again when the plan would).

Pure: no I/O. `plan` asks this for each workload whose container has the current spec (or
has none); the restart rule is planner/restarts.py's, the one `watch` applies with back-off.
"""

from __future__ import annotations

from ankplan.model import (
    Action,
    ActionKind,
    NodeObservation,
    ObservedContainer,
    Reason,
    RunRecord,
    Workload,
)
from ankplan.planner.node_restart import (
    NodeStop,
    ran_and_vanished,
    rebooted_since_start,
    removes_itself,
    stopped_by_node,
)
from ankplan.planner.restarts import restarts_on
from ankplan.podman import execution_state, is_unit

# Podman states of a container that exists but was never started: `plan` starts it.
NEVER_STARTED = frozenset({"created", "configured", "initialized"})

AS_AFTER_RESTART = "started again whatever its restartPolicy, in dependency order"
LOST = "ran with --rm and its container is gone: Failed(Lost), not run again"
RERUN_AFTER_RESTART = "ran with --rm before the node restarted: run again, as after a restart"

Decision = tuple[ActionKind, Reason, tuple[str, ...]]


def start_decision(workload: Workload, container: ObservedContainer, run: RunRecord | None,
                   observation: NodeObservation | None, stop: NodeStop | None) -> Decision:
    """START (and why) or NOOP for a container that has the workload's current spec.

    The node stopped it (reboot, stop of everything) -> START whatever the policy, as Ankaios
    restarts a device's workloads; never started -> START; exited and its restartPolicy
    restarts that exit -> START; else NOOP.
    """
    boot = observation.boot_id if observation else ""
    stopped = stopped_by_node(container, run, boot, stop)
    if stopped:
        return ActionKind.START, Reason.NODE_RESTARTED, (stopped, AS_AFTER_RESTART)
    if container.state in NEVER_STARTED:
        return ActionKind.START, Reason.NOT_RUNNING, (
            f"the container is {container.state} but was never started",)
    if container.state == "exited" and restarts_on(workload.restart_policy,
                                                   execution_state(container)):
        return ActionKind.START, Reason.EXITED, (
            f"exited {container.exit_code}, restartPolicy {workload.restart_policy.value}",)
    return ActionKind.NOOP, Reason.UP_TO_DATE, ()


def vanished_decision(workload: Workload, run: RunRecord | None,
                      observation: NodeObservation | None) -> Decision | None:
    """For a workload without a container: NOOP (LOST) for a `--rm` one that ran and vanished
    in this boot of the node (Failed(Lost), never run again), CREATE (NODE_RESTARTED) when it
    ran before the node rebooted; None when it is simply to be created."""
    if not ran_and_vanished(workload, run):
        return None
    if rebooted_since_start(None, run, observation.boot_id if observation else ""):
        return ActionKind.CREATE, Reason.NODE_RESTARTED, (RERUN_AFTER_RESTART,)
    return ActionKind.NOOP, Reason.LOST, (LOST,)


def policy_start(action: Action) -> bool:
    """A plan's START of an exited container its restart policy restarts (the container has
    the current spec and image on the workload's node). `watch` takes no such step from the
    plan: it restarts with back-off (planner/restarts.py), carried out by `restart_action`."""
    return action.kind is ActionKind.START and action.reason is Reason.EXITED


def restart_action(workload: Workload, container: ObservedContainer, node_name: str,
                   planned: Action | None, why: str) -> Action:
    """How `watch` carries out a restart that its policy decided (`why`), given the plan's
    step for the workload (`planned`).

    START of the same container (`podman start`: its mounts and files stay) when the plan
    would start it too (`policy_start`: same spec hash, same image, same node); else REPLACE
    (stop, remove and run anew): the spec or image changed, it runs but is unhealthy, it runs
    with `--rm` (it is about to vanish), or it is a podman-kube workload (its pods are played
    again, as before).
    """
    same = (planned is not None and policy_start(planned) and planned.container_id
            == container.id and planned.node_name == node_name and not is_unit(container)
            and not removes_itself(workload))
    return Action(kind=ActionKind.START if same else ActionKind.REPLACE, node_name=node_name,
                  workload_name=workload.name, reason=Reason.EXITED, details=(why,),
                  workload=workload, container_id=container.id,
                  container_name=container.name)
