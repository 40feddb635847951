"""LiveState to and from JSON: recorded observations for golden tests and saved plans.

Pure: works on parsed JSON values; reading files is the caller's job. Format:
`{"nodes": [{"node": "node1", "error": null, "hint": "", "images": {name: id} (optional),
"containers": [{"id", "name", "image", "image_id", "state", "exit_code", "started_at",
"finished_at", "health", "labels": {..}, "restart_count", "pod_id", "pods": [..],
"members": [..]}], "boot_id": "...", "records": [..]}]}`; every container field but `id` and
`name` is optional (the last three only appear for containers in pods and podman-kube
entries), and so are `boot_id` and `records` (what ankplan recorded on the node, as
podman/nodestore.py writes it: `{"kind": "applied"|"run", "project", "workload", ...}`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ankplan.errors import PlanError
from ankplan.model import LABEL_RESTART_COUNT, LiveState, NodeObservation, ObservedContainer
from ankplan.podman.nodestore import parse_records, records_to_json


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise PlanError(f"live state: {where} must be a JSON object")
    return value


def _list(value: object, where: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PlanError(f"live state: {where} must be a JSON list")
    return value


def _text(data: Mapping[str, object], key: str, where: str, default: str | None = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise PlanError(f"live state: {where}.{key} must be a string")
    return value


def _number(data: Mapping[str, object], key: str, where: str) -> float:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"live state: {where}.{key} must be a number")
    return float(value)


def _container_from_json(value: object, node_name: str, where: str) -> ObservedContainer:
    data = _mapping(value, where)
    labels = _mapping(data.get("labels", {}), f"{where}.labels")
    label_pairs = tuple(sorted((str(key), str(text)) for key, text in labels.items()))
    restart_label = str(labels.get(LABEL_RESTART_COUNT, "0"))
    restart_count = data.get("restart_count", int(restart_label) if restart_label.isdigit() else 0)
    if isinstance(restart_count, bool) or not isinstance(restart_count, int):
        raise PlanError(f"live state: {where}.restart_count must be an integer")
    return ObservedContainer(
        id=_text(data, "id", where, None), name=_text(data, "name", where, None),
        node_name=node_name, image=_text(data, "image", where),
        state=_text(data, "state", where, "running").lower(),
        exit_code=int(_number(data, "exit_code", where)),
        started_at=_number(data, "started_at", where),
        finished_at=_number(data, "finished_at", where),
        health=_text(data, "health", where), labels=label_pairs,
        restart_count=restart_count, image_id=_text(data, "image_id", where),
        pod_id=_text(data, "pod_id", where), pods=_texts(data, "pods", where),
        members=_texts(data, "members", where))


def _texts(data: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    values = _list(data.get(key), f"{where}.{key}")
    if not all(isinstance(value, str) for value in values):
        raise PlanError(f"live state: {where}.{key} must be a list of strings")
    return tuple(str(value) for value in values)


def _node_from_json(value: object, index: int) -> NodeObservation:
    where = f"nodes[{index}]"
    data = _mapping(value, where)
    node_name = _text(data, "node", where, None)
    error = data.get("error")
    if error is not None and not isinstance(error, str):
        raise PlanError(f"live state: {where}.error must be a string or null")
    containers = (_container_from_json(c, node_name, f"{where}.containers[{i}]")
                  for i, c in enumerate(_list(data.get("containers"), f"{where}.containers")))
    images = None
    if "images" in data:
        table = _mapping(data["images"], f"{where}.images")
        images = tuple(sorted((str(name), _text(table, name, f"{where}.images"))
                              for name in table))
    records = [json.dumps(r) for r in _list(data.get("records"), f"{where}.records")]
    applied, runs = parse_records(records)
    return NodeObservation(node_name=node_name, error=error, hint=_text(data, "hint", where),
                           containers=tuple(sorted(containers, key=lambda c: (c.name, c.id))),
                           images=images, boot_id=_text(data, "boot_id", where),
                           applied=applied, runs=runs)


def live_state_from_json(data: object) -> LiveState:
    """A LiveState from its JSON form; PlanError naming the bad field when malformed."""
    nodes = _list(_mapping(data, "the document").get("nodes"), "nodes")
    observations = (_node_from_json(node, index) for index, node in enumerate(nodes))
    return LiveState(nodes=tuple(sorted(observations, key=lambda n: n.node_name)))


def container_to_json(container: ObservedContainer) -> dict[str, object]:
    """The JSON form of one observed container (its node is implied by the enclosing node)."""
    return {
        "id": container.id, "name": container.name, "image": container.image,
        "state": container.state, "exit_code": container.exit_code,
        "started_at": container.started_at, "finished_at": container.finished_at,
        "health": container.health, "labels": dict(container.labels),
        "restart_count": container.restart_count,
        **{key: value for key, value in (("image_id", container.image_id),
                                         ("pod_id", container.pod_id),
                                         ("pods", list(container.pods)),
                                         ("members", list(container.members))) if value},
    }


def live_state_to_json(live: LiveState) -> dict[str, object]:
    """The JSON form of `live`; `live_state_from_json` reads it back unchanged."""
    return {"nodes": [_node_to_json(node) for node in live.nodes]}


def _node_to_json(node: NodeObservation) -> dict[str, object]:
    data: dict[str, object] = {"node": node.node_name, "error": node.error, "hint": node.hint,
                               "containers": [container_to_json(c) for c in node.containers]}
    if node.images is not None:
        data["images"] = dict(node.images)
    if node.boot_id:
        data["boot_id"] = node.boot_id
    if node.applied or node.runs:
        data["records"] = records_to_json(node.applied, node.runs)
    return data
