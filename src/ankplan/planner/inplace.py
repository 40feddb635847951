"""In-place changes: restartPolicy, dependencies and tags, compared with what the node recorded.

Pure: no I/O. These fields never go into the spec hash (a change needs no new container), and
Podman 4.3 cannot change a container's labels, so ankplan records them in the workload's folder
on its node (`applied.json`, podman/nodestore.py) and compares the manifest with that record.
No record (a container made before ankplan kept one) means nothing to compare: no change.
"""

from __future__ import annotations

from ankplan.model import AppliedRecord, Workload


def _map_changes(field: str, old: tuple[tuple[str, str], ...],
                 new: tuple[tuple[str, str], ...]) -> list[str]:
    """`field: +name (VALUE)`, `-name`, `name: a -> b`, in name order."""
    before, after = dict(old), dict(new)
    changes = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            changes.append(f"+{key} ({after[key]})")
        elif key not in after:
            changes.append(f"-{key} ({before[key]})")
        elif before[key] != after[key]:
            changes.append(f"{key} {before[key]} -> {after[key]}")
    return [f"{field}: {', '.join(changes)}"] if changes else []


def inplace_changes(record: AppliedRecord | None, workload: Workload) -> tuple[str, ...]:
    """Reason lines for every in-place field that differs from the record; () when none does.

    `restartPolicy: ALWAYS -> ON_FAILURE`, `dependencies: +db (ADD_COND_RUNNING)`,
    `tags: owner a -> b, -team (x)`.
    """
    if record is None:
        return ()
    lines: list[str] = []
    policy = workload.restart_policy.value
    if record.restart_policy and record.restart_policy != policy:
        lines.append(f"restartPolicy: {record.restart_policy} -> {policy}")
    dependencies = tuple((d.workload_name, d.condition.value) for d in workload.dependencies)
    lines += _map_changes("dependencies", record.dependencies, tuple(sorted(dependencies)))
    lines += _map_changes("tags", record.tags, workload.tags)
    return tuple(lines)

