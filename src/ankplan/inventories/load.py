"""Load an inventory (ankplan's own YAML format or an Ansible YAML inventory) into `Inventory`.

Reads the inventory file and ~/.ssh/config; everything after reading is pure. Every problem is
collected as a Diagnostic with file:line:col and raised together as InventoryError; an Ansible
INI inventory is recognised and refused with the command that converts it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ankplan.errors import Diagnostic, InventoryError, Location, Severity
from ankplan.files import NotRegularFileError, read_regular
from ankplan.inventories import default_inventory
from ankplan.inventories.ansible import ini_line, is_ansible_inventory, read_ansible_hosts
from ankplan.inventories.ssh_config import read_ssh_config
from ankplan.inventories.ssh_nodes import SshResolver
from ankplan.inventories.values import host_problem, split_podman, user_problem
from ankplan.manifests.yaml_reader import LoadedDocument, location_of, read_yaml_file
from ankplan.model import Connection, Inventory, Node, Supervisor
from ankplan.schemas import schema_diagnostics
from ankplan.schemas.messages import with_subject

log = logging.getLogger(__name__)

DEFAULT_SSH_CONFIG = "~/.ssh/config"
NATIVE_KEYS = frozenset({"defaults", "nodes", "agents", "default_node"})
SETTING_KEYS = ("connection", "host", "port", "user", "identity_file", "known_hosts_file",
                "connect_timeout", "podman", "supervisor")


def load_inventory(path: str | None, *, ssh_config: str | None = None) -> Inventory:
    """Load the inventory at `path`; None gives the embedded all-local default.

    `ssh_config`: None reads ~/.ssh/config when it exists, "" reads none, a path must exist.
    SSH settings the inventory leaves unset (HostName, User, Port, IdentityFile,
    UserKnownHostsFile) are taken from it.
    """
    if path is None:
        return default_inventory()
    doc, diagnostics = read_yaml_file(path)
    if doc is None or not isinstance(doc.data, dict):
        _refuse_ini(path)
    _raise_on_errors(path, diagnostics)
    assert doc is not None
    if not isinstance(doc.data, dict):
        _raise_on_errors(path, (_error(doc, "", "not-a-mapping",
                                       "an inventory must be a YAML mapping"),))
    data: dict[str, Any] = doc.data  # type: ignore[assignment]
    base_dir = Path(doc.path).resolve().parent
    resolver = _ssh_resolver(ssh_config)
    if is_ansible_inventory(data) and not NATIVE_KEYS & data.keys():
        hosts, diagnostics = read_ansible_hosts(doc)
        _raise_on_errors(path, diagnostics)
        nodes = {name: _build_node(name, fields, base_dir, resolver) for name, fields in hosts}
        _raise_on_ssh_config_errors(resolver)
        agents = {name: name for name in nodes}
        return _inventory(doc, nodes, agents, None)
    _raise_on_errors(path, schema_diagnostics(doc, "inventory"))
    return _native(doc, base_dir, resolver)


def _refuse_ini(path: str) -> None:
    """Raise for an Ansible INI inventory (YAML reads it as garbage or a plain string)."""
    try:
        text = read_regular(path, max_bytes=4 * 1024 * 1024).decode("utf-8", "replace")
    except OSError:
        return  # read_yaml_file reported it
    line = ini_line(text)
    if line:
        raise InventoryError(f"inventory {path} is an Ansible INI inventory", (Diagnostic(
            severity=Severity.ERROR, code="ini-inventory",
            summary="an Ansible INI inventory; ankplan reads YAML inventories only",
            hint=f"convert it: ansible-inventory -i {path} --list -y > inventory.yaml",
            location=Location(file=path, line=line, column=1)),))


def _raise_on_errors(path: str, diagnostics: tuple[Diagnostic, ...] | list[Diagnostic]) -> None:
    if any(diagnostic.is_error for diagnostic in diagnostics):
        count = sum(1 for diagnostic in diagnostics if diagnostic.is_error)
        raise InventoryError(f"inventory {path} is invalid ({count} error"
                             f"{'s' if count != 1 else ''})", tuple(diagnostics))


def _error(doc: LoadedDocument, pointer: str, code: str, summary: str,
           hint: str = "") -> Diagnostic:
    return Diagnostic(severity=Severity.ERROR, code=code, summary=summary, hint=hint,
                      location=location_of(doc, pointer))


def pointer_of(*parts: str) -> str:
    """A JSON pointer from unescaped keys, e.g. ("agents", "a/b") -> "/agents/a~1b"."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


# --- ankplan's own format --------------------------------------------------------------------


def _native(doc: LoadedDocument, base_dir: Path, resolver: SshResolver) -> Inventory:
    data: Mapping[str, Any] = doc.data  # type: ignore[assignment]  # checked by the schema
    defaults = data.get("defaults") or {}
    declared = {name: {**defaults, **(fields or {})}
                for name, fields in (data.get("nodes") or {}).items()}
    entries = data.get("agents") or {}
    diagnostics = _inline_nodes(doc, entries, defaults, declared)
    agents: dict[str, str] = {}
    for agent, entry in entries.items():
        node_name, problem = _agent_node(doc, agent, entry, declared)
        if problem:
            diagnostics.append(problem)
        elif node_name:
            agents[agent] = node_name
    default_node = data.get("default_node")
    if default_node is not None and default_node not in declared:
        diagnostics.append(_error(doc, "/default_node", "unknown-node",
                                  f"default_node '{default_node}' is not a node under nodes",
                                  _known_nodes_hint(declared)))
    diagnostics += _podman_problems(doc, data)
    diagnostics += _value_problems(doc, data)
    _raise_on_errors(doc.path, diagnostics)
    nodes = {name: _build_node(name, fields, base_dir, resolver)
             for name, fields in declared.items()}
    _raise_on_ssh_config_errors(resolver)
    return _inventory(doc, nodes, agents, default_node)


def _inline_nodes(doc: LoadedDocument, entries: Mapping[str, Any], defaults: Mapping[str, Any],
                  declared: dict[str, Any]) -> list[Diagnostic]:
    """Add a node named after each agent given inline settings; report misuses."""
    problems = []
    for agent, entry in entries.items():
        if not isinstance(entry, dict):
            continue
        pointer = pointer_of("agents", agent)
        if "node" in entry and len(entry) > 1:
            problems.append(_error(doc, pointer, "mixed-agent-entry",
                                   f"agent {agent}: give either `node` or inline connection "
                                   "settings, not both", "put the settings on the node under nodes"))
        elif "node" not in entry and agent in declared:
            problems.append(_error(doc, pointer, "node-name-conflict",
                                   f"agent {agent} defines an inline node, but a node called "
                                   f"'{agent}' is already declared under nodes",
                                   f"write `{agent}: {agent}` to use that node"))
        elif "node" not in entry:
            declared[agent] = {**defaults, **entry}
    return problems


def _agent_node(doc: LoadedDocument, agent: str, entry: Any,
                declared: Mapping[str, Any]) -> tuple[str, Diagnostic | None]:
    """(node name or "" when already reported, problem or None) for one `agents:` entry."""
    if isinstance(entry, dict) and "node" not in entry:
        return agent, None  # inline node, added (or reported) by _inline_nodes
    if isinstance(entry, dict) and len(entry) > 1:
        return "", None  # reported by _inline_nodes
    node_name = entry["node"] if isinstance(entry, dict) else str(entry)
    if node_name not in declared:
        pointer = pointer_of("agents", agent) + ("/node" if isinstance(entry, dict) else "")
        return "", _error(doc, pointer, "unknown-node",
                          f"agent {agent} refers to unknown node '{node_name}'",
                          _known_nodes_hint(declared))
    return node_name, None


def _known_nodes_hint(declared: Mapping[str, Any]) -> str:
    names = ", ".join(sorted(declared)) or "none"
    return f"known nodes: {names}"


def _value_problems(doc: LoadedDocument, data: Mapping[str, Any]) -> list[Diagnostic]:
    """Hosts and users that are not host names or IP addresses, or not login names (the
    schema checks their types and ports; Ansible and ssh_config values get the same checks)."""
    problems = []
    for section in _sections(data):
        value = _dig(data, section)
        for key, check in (("host", host_problem), ("user", user_problem)):
            given = value.get(key) if isinstance(value, dict) else None
            problem = check(given) if isinstance(given, str) and given else None
            if problem:
                pointer = pointer_of(*section, key)
                problems.append(_error(doc, pointer, "invalid-value",
                                       with_subject(pointer, problem)))
    return problems


def _sections(data: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Where node settings may be written: defaults, each node, each agent."""
    return [("defaults",), *(("nodes", name) for name in data.get("nodes") or {}),
            *(("agents", name) for name in data.get("agents") or {})]


def _podman_problems(doc: LoadedDocument, data: Mapping[str, Any]) -> list[Diagnostic]:
    """A podman command that splits into no words (e.g. "  " or unbalanced quotes)."""
    problems = []
    for section in _sections(data):
        value = _dig(data, section)
        podman = value.get("podman") if isinstance(value, dict) else None
        if isinstance(podman, str) and not split_podman(podman):
            problems.append(_error(doc, pointer_of(*section, "podman"), "invalid-podman",
                                   f"podman command {podman!r} is empty or badly quoted",
                                   'write e.g. "sudo podman" or ["podman", "--root", "/x"]'))
    return problems


def _dig(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    value: Any = data
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _inventory(doc: LoadedDocument, nodes: Mapping[str, Node], agents: Mapping[str, str],
               default_node: str | None) -> Inventory:
    return Inventory(nodes=tuple(nodes[name] for name in sorted(nodes)),
                     agents=tuple(sorted(agents.items())), default_node=default_node,
                     source=doc.path)


# --- building nodes --------------------------------------------------------------------------


def _ssh_resolver(ssh_config: str | None) -> SshResolver:
    """The ssh_config to look nodes up in: None reads ~/.ssh/config when it exists, "" none."""
    if ssh_config == "":
        return SshResolver(None)
    path = os.path.expanduser(ssh_config or DEFAULT_SSH_CONFIG)
    try:
        config = read_ssh_config(path)
    except FileNotFoundError:
        if ssh_config is None:
            return SshResolver(None)
        raise InventoryError(f"ssh config {path} not found", ()) from None
    except OSError as error:
        hint = ("give --ssh-config a regular file ('' for none)"
                if isinstance(error, NotRegularFileError) else "")
        raise InventoryError(f"cannot read ssh config {path}", (Diagnostic(
            severity=Severity.ERROR, code="not-a-file" if hint else "read-error",
            summary=str(error.strerror or error), hint=hint,
            location=Location(file=path)),)) from None
    for problem in config.problems:
        log.warning("%s: %s", problem.location, problem.summary)
    return SshResolver(config)


def _raise_on_ssh_config_errors(resolver: SshResolver) -> None:
    errors = [problem for problem in resolver.problems if problem.is_error]
    if errors and resolver.config is not None:
        raise InventoryError(f"ssh config {resolver.config.path} is invalid ({len(errors)} "
                             f"error{'s' if len(errors) != 1 else ''})", tuple(errors))


def _build_node(name: str, fields: Mapping[str, Any], base_dir: Path,
                resolver: SshResolver) -> Node:
    """A Node from merged settings; ssh_config fills what the inventory leaves unset."""
    connection = Connection(fields.get("connection") or ("ssh" if fields.get("host") else "local"))
    if connection is Connection.LOCAL:
        return Node(name=name, connection=connection,
                    podman=split_podman(fields.get("podman") or "podman"),
                    supervisor=Supervisor(fields.get("supervisor") or "watch"))
    given = frozenset(key for key, setting in (("hostname", "host"), ("user", "user"),
                                               ("port", "port")) if fields.get(setting))
    timeout = float(fields.get("connect_timeout") or 0)
    found = resolver.settings(str(fields.get("host") or name), user=str(fields.get("user") or ""),
                              port=fields.get("port"), given=given,
                              connect_timeout=timeout or 10.0)
    identity = fields.get("identity_file") or found.identity_file
    known_hosts = fields.get("known_hosts_file") or found.known_hosts_file
    return Node(
        name=name,
        connection=connection,
        host=str(fields.get("host") or found.hostname or name),
        port=int(fields.get("port") or found.port or 22),
        user=str(fields.get("user") or found.user or ""),
        identity_file=_resolve(identity, base_dir),
        known_hosts_file=_resolve(known_hosts, base_dir),
        connect_timeout=timeout or found.connect_timeout or 10.0,
        podman=split_podman(fields.get("podman") or "podman"),
        supervisor=Supervisor(fields.get("supervisor") or "watch"),
        proxy_jump=found.proxy_jump,
        identities_only=found.identities_only,
        hash_known_hosts=found.hash_known_hosts,
    )


def _resolve(path: str | None, base_dir: Path) -> str:
    """`path` with ~ expanded, relative to the inventory's folder; "" stays ""."""
    if not path:
        return ""
    expanded = Path(os.path.expanduser(str(path)))
    return str(expanded if expanded.is_absolute() else base_dir / expanded)
