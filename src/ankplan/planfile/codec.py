"""JSON forms of Workload, Inventory and Plan, so a saved plan holds all apply needs.

Pure: converts to and from parsed JSON values. Decoding checks every field and raises
PlanError naming the bad one (`plan.steps[2].action.kind`), never a bare KeyError.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

from ankplan.errors import PlanError
from ankplan.model import (
    Action,
    ActionKind,
    AddCondition,
    Connection,
    Dependency,
    Inventory,
    KeptContainer,
    KubeConfig,
    Node,
    Plan,
    PlanStep,
    PodmanConfig,
    Reason,
    RestartPolicy,
    UnitFlavour,
    Workload,
    WorkloadFile,
)

JSONObject = dict[str, object]
E = TypeVar("E", bound=enum.Enum)


class Reader:
    """Typed access to one JSON object; every error names `where` and the key."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise PlanError(f"saved plan: {where} must be a JSON object")
        self.data: Mapping[str, object] = value
        self.where = where

    def _fail(self, key: str, what: str) -> PlanError:
        return PlanError(f"saved plan: {self.where}.{key} must be {what}")

    def text(self, key: str, default: str | None = None) -> str:
        """A string field; required when `default` is None."""
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def optional_text(self, key: str) -> str | None:
        """A string or null."""
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise self._fail(key, "a string or null")
        return value

    def number(self, key: str, default: float | None = None) -> float:
        """An int or float field."""
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(key, "a number")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        """A boolean field."""
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def items(self, key: str) -> list[object]:
        """A list field; missing means empty."""
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self._fail(key, "a list")
        return value

    def words(self, key: str) -> tuple[str, ...]:
        """A list of strings."""
        values = self.items(key)
        if not all(isinstance(value, str) for value in values):
            raise self._fail(key, "a list of strings")
        return tuple(str(value) for value in values)

    def pairs(self, key: str) -> tuple[tuple[str, str], ...]:
        """A list of [string, string] pairs."""
        result = []
        for value in self.items(key):
            if not (isinstance(value, list) and len(value) == 2
                    and all(isinstance(part, str) for part in value)):
                raise self._fail(key, "a list of [string, string] pairs")
            result.append((str(value[0]), str(value[1])))
        return tuple(result)

    def choice(self, key: str, enum_type: type[E], default: str | None = None) -> E:
        """An enum field by value (`default` when absent, if given)."""
        text = self.text(key, default)
        try:
            return enum_type(text)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in enum_type)
            raise self._fail(key, f"one of {allowed} (got {text!r})") from None

    def child(self, key: str) -> Reader:
        """A nested object field."""
        return Reader(self.data.get(key), f"{self.where}.{key}")


# --- workloads -------------------------------------------------------------------------------


def _runtime_config_to_json(config: PodmanConfig | KubeConfig | None) -> JSONObject | None:
    if isinstance(config, PodmanConfig):
        return {"kind": "podman", "image": config.image,
                "general_options": list(config.general_options),
                "command_options": list(config.command_options),
                "command_args": list(config.command_args)}
    if isinstance(config, KubeConfig):
        return {"kind": "podman-kube", "manifest": config.manifest,
                "play_options": list(config.play_options),
                "down_options": list(config.down_options),
                "general_options": list(config.general_options),
                "control_interface_target": config.control_interface_target}
    return None


def _runtime_config_from_json(value: object, where: str) -> PodmanConfig | KubeConfig | None:
    if value is None:
        return None
    reader = Reader(value, where)
    kind = reader.text("kind")
    if kind == "podman":
        return PodmanConfig(image=reader.text("image"),
                            general_options=reader.words("general_options"),
                            command_options=reader.words("command_options"),
                            command_args=reader.words("command_args"))
    if kind == "podman-kube":
        return KubeConfig(manifest=reader.text("manifest"),
                          play_options=reader.words("play_options"),
                          down_options=reader.words("down_options"),
                          general_options=reader.words("general_options"),
                          control_interface_target=reader.text("control_interface_target", ""))
    raise PlanError(f"saved plan: {where}.kind must be podman or podman-kube (got {kind!r})")


def workload_to_json(workload: Workload) -> JSONObject:
    """Every field of a workload but its source location."""
    return {
        "name": workload.name,
        "agent": workload.agent,
        "runtime": workload.runtime,
        "runtime_config_text": workload.runtime_config_text,
        "runtime_config": _runtime_config_to_json(workload.runtime_config),
        "restart_policy": workload.restart_policy.value,
        "dependencies": [{"workload": d.workload_name, "condition": d.condition.value}
                         for d in workload.dependencies],
        "tags": [list(pair) for pair in workload.tags],
        "configs": [list(pair) for pair in workload.configs],
        "files": [{"mount_point": f.mount_point, "data": f.data, "binary_data": f.binary_data}
                  for f in workload.files],
        "control_interface_access": workload.control_interface_access,
    }


def _dependency_from_json(value: object, where: str) -> Dependency:
    reader = Reader(value, where)
    return Dependency(workload_name=reader.text("workload"),
                      condition=reader.choice("condition", AddCondition))


def _file_from_json(value: object, where: str) -> WorkloadFile:
    reader = Reader(value, where)
    return WorkloadFile(mount_point=reader.text("mount_point"), data=reader.optional_text("data"),
                        binary_data=reader.optional_text("binary_data"))


def workload_from_json(value: object, where: str = "workload") -> Workload:
    """The Workload `workload_to_json` wrote."""
    reader = Reader(value, where)
    return Workload(
        name=reader.text("name"), agent=reader.text("agent"), runtime=reader.text("runtime"),
        runtime_config_text=reader.text("runtime_config_text"),
        runtime_config=_runtime_config_from_json(reader.data.get("runtime_config"),
                                                 f"{where}.runtime_config"),
        restart_policy=reader.choice("restart_policy", RestartPolicy),
        dependencies=tuple(_dependency_from_json(d, f"{where}.dependencies[{i}]")
                           for i, d in enumerate(reader.items("dependencies"))),
        tags=reader.pairs("tags"), configs=reader.pairs("configs"),
        files=tuple(_file_from_json(f, f"{where}.files[{i}]")
                    for i, f in enumerate(reader.items("files"))),
        control_interface_access=reader.flag("control_interface_access"),
    )


# --- inventory -------------------------------------------------------------------------------


def node_to_json(node: Node) -> JSONObject:
    """Every field of a node: how apply reaches it."""
    return {"name": node.name, "connection": node.connection.value, "host": node.host,
            "port": node.port, "user": node.user, "identity_file": node.identity_file,
            "known_hosts_file": node.known_hosts_file, "connect_timeout": node.connect_timeout,
            "podman": list(node.podman),
            "proxy_jump": node_to_json(node.proxy_jump) if node.proxy_jump else None,
            "identities_only": node.identities_only, "hash_known_hosts": node.hash_known_hosts}


def node_from_json(value: object, where: str = "node") -> Node:
    """The Node `node_to_json` wrote."""
    reader = Reader(value, where)
    return Node(name=reader.text("name"), connection=reader.choice("connection", Connection),
                host=reader.text("host", ""), port=int(reader.number("port", 22)),
                user=reader.text("user", ""), identity_file=reader.text("identity_file", ""),
                known_hosts_file=reader.text("known_hosts_file", ""),
                connect_timeout=float(reader.number("connect_timeout", 10.0)),
                podman=reader.words("podman") or ("podman",),
                proxy_jump=(node_from_json(reader.data["proxy_jump"], f"{where}.proxy_jump")
                            if reader.data.get("proxy_jump") is not None else None),
                identities_only=reader.flag("identities_only"),
                hash_known_hosts=reader.flag("hash_known_hosts"))


def inventory_to_json(inventory: Inventory) -> JSONObject:
    """The whole inventory."""
    return {"nodes": [node_to_json(node) for node in inventory.nodes],
            "agents": [list(pair) for pair in inventory.agents],
            "default_node": inventory.default_node, "source": inventory.source}


def inventory_from_json(value: object, where: str = "inventory") -> Inventory:
    """The Inventory `inventory_to_json` wrote."""
    reader = Reader(value, where)
    return Inventory(nodes=tuple(node_from_json(n, f"{where}.nodes[{i}]")
                                 for i, n in enumerate(reader.items("nodes"))),
                     agents=reader.pairs("agents"),
                     default_node=reader.optional_text("default_node"),
                     source=reader.text("source", "<saved plan>"))


# --- plan ------------------------------------------------------------------------------------


def _step_to_json(step: PlanStep) -> JSONObject:
    action = step.action
    return {"id": step.id, "depends_on": list(step.depends_on), "action": {
        "kind": action.kind.value, "node": action.node_name, "workload": action.workload_name,
        "reason": action.reason.value, "details": list(action.details),
        "container_id": action.container_id, "container_name": action.container_name,
        "unit": action.unit, "container_unit": action.container_unit,
        "unit_requires": list(action.unit_requires),
        "unit_flavour": action.unit_flavour.value, "unit_backoff": action.unit_backoff,
        "spec": workload_to_json(action.workload) if action.workload else None}}


def _step_from_json(value: object, where: str) -> PlanStep:
    reader = Reader(value, where)
    action = reader.child("action")
    spec = action.data.get("spec")
    depends_on = reader.items("depends_on")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in depends_on):
        raise PlanError(f"saved plan: {where}.depends_on must be a list of step ids")
    return PlanStep(
        id=int(reader.number("id")), depends_on=tuple(int(str(i)) for i in depends_on),
        action=Action(kind=action.choice("kind", ActionKind), node_name=action.text("node"),
                      workload_name=action.text("workload"),
                      reason=action.choice("reason", Reason), details=action.words("details"),
                      container_id=action.text("container_id", ""),
                      container_name=action.text("container_name", ""),
                      unit=action.text("unit", ""),
                      container_unit=action.text("container_unit", ""),
                      unit_requires=action.words("unit_requires"),
                      unit_flavour=action.choice("unit_flavour", UnitFlavour, "unit"),
                      unit_backoff=action.flag("unit_backoff"),
                      workload=None if spec is None else
                      workload_from_json(spec, f"{where}.action.spec")))


def kept_to_json(kept: KeptContainer) -> JSONObject:
    """A kept container as plan JSON and saved plans show it."""
    return {"node": kept.node_name, "container": kept.container_name, "id": kept.container_id,
            "project": kept.project, "workload": kept.workload_name, "source": kept.source}


def _kept_from_json(value: object, where: str) -> KeptContainer:
    reader = Reader(value, where)
    return KeptContainer(node_name=reader.text("node"), container_name=reader.text("container"),
                         container_id=reader.text("id"), project=reader.text("project"),
                         workload_name=reader.text("workload", ""),
                         source=reader.text("source", ""))


def plan_to_json(plan: Plan) -> JSONObject:
    """The whole plan, each step with the full workload it creates."""
    return {"project": plan.project, "steps": [_step_to_json(step) for step in plan.steps],
            "errors": list(plan.errors),
            "fingerprints": [list(pair) for pair in plan.fingerprints],
            "warnings": list(plan.warnings), "starting_failed": list(plan.starting_failed),
            "kept": [kept_to_json(k) for k in plan.kept],
            "source": plan.source, "adopted": list(plan.adopted)}


def plan_from_json(value: object, where: str = "plan") -> Plan:
    """The Plan `plan_to_json` wrote."""
    reader = Reader(value, where)
    return Plan(project=reader.text("project"),
                steps=tuple(_step_from_json(s, f"{where}.steps[{i}]")
                            for i, s in enumerate(reader.items("steps"))),
                errors=reader.words("errors"), fingerprints=reader.pairs("fingerprints"),
                warnings=reader.words("warnings"),
                starting_failed=reader.words("starting_failed"),
                kept=tuple(_kept_from_json(k, f"{where}.kept[{i}]")
                           for i, k in enumerate(reader.items("kept"))),
                source=reader.text("source", ""), adopted=reader.words("adopted"))
