"""Read an Ansible YAML inventory: hosts named like the agents, connection variables inherited
from group `vars` through `children`, each checked where it is written. Recognises an INI
inventory. Pure: works on an already-read document or text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ankplan.errors import Diagnostic, Severity
from ankplan.inventories.values import (
    host_problem,
    parse_port,
    podman_problem,
    port_problem,
    supervisor_problem,
    user_problem,
)
from ankplan.manifests.yaml_reader import LoadedDocument, location_of
from ankplan.schemas.messages import value_kind, with_subject

GROUP_KEYS = frozenset({"hosts", "children", "vars"})
# An INI inventory line: a [section] (also [group:vars], [group:children]) or `name key=value`.
_INI_SECTION = re.compile(r"\[[^\[\]\s,]+\]")
_INI_HOST_VARS = re.compile(r"[^\s=:#]+(\s+[A-Za-z_][A-Za-z0-9_]*=\S*)+")
# Checks of the values that every inventory format shares (ankplan setting -> check).
_VALUE_CHECKS: dict[str, Callable[[object], str | None]] = {
    "port": port_problem, "host": host_problem, "user": user_problem, "podman": podman_problem,
    "supervisor": supervisor_problem}
_TYPE_WORDS = {str: "a string", int: "an integer", (int, float): "a number",
               (str, list): "a string or a list"}

# Ansible variable -> (ankplan node setting, expected type)
VARIABLES: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "ansible_host": ("host", str),
    "ansible_port": ("port", int),
    "ansible_ssh_port": ("port", int),
    "ansible_user": ("user", str),
    "ansible_ssh_user": ("user", str),
    "ansible_ssh_private_key_file": ("identity_file", str),
    "ansible_ssh_timeout": ("connect_timeout", (int, float)),
    "ansible_connection": ("connection", str),
    "ankplan_podman": ("podman", (str, list)),
    "ankplan_known_hosts_file": ("known_hosts_file", str),
    "ankplan_supervisor": ("supervisor", str),
}


def is_ansible_inventory(data: Any) -> bool:
    """True for a mapping with a top-level `all:` group or groups holding hosts/children/vars."""
    if not isinstance(data, dict):
        return False
    if isinstance(data.get("all"), dict):
        return True
    return any(isinstance(group, dict) and GROUP_KEYS & group.keys() for group in data.values())


def ini_line(text: str) -> int:
    """The first line (1-based) of an Ansible INI inventory's text: a [group] section or a host
    with key=value variables; 0 when the text is no INI inventory."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        return number if _INI_SECTION.fullmatch(line) or _INI_HOST_VARS.fullmatch(line) else 0
    return 0


def read_ansible_hosts(doc: LoadedDocument) -> tuple[tuple[tuple[str, dict[str, Any]], ...],
                                                     tuple[Diagnostic, ...]]:
    """Every host with its merged variables turned into ankplan node settings, sorted by name.

    Precedence: host variables over the variables of the group that lists the host, over those
    of its parent groups. `ansible_connection: local` makes a local node; `ansible_become`
    prefixes podman with `sudo -n`.
    """
    merged: dict[str, dict[str, tuple[Any, str]]] = {}  # host -> variable -> (value, pointer)
    pointers: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    groups: dict[str, Any] = doc.data if isinstance(doc.data, dict) else {}
    for group_name, group in groups.items():
        _walk(doc, group, {}, "/" + _escape(group_name), merged, pointers, diagnostics)
    hosts = []
    for host in sorted(merged):
        settings, problems = _settings(doc, host, merged[host], pointers[host])
        diagnostics += problems
        hosts.append((host, settings))
    return tuple(hosts), tuple(dict.fromkeys(diagnostics))  # a group's bad variable: once


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _walk(doc: LoadedDocument, group: Any, inherited: Mapping[str, tuple[Any, str]],
          pointer: str, merged: dict[str, dict[str, tuple[Any, str]]], pointers: dict[str, str],
          diagnostics: list[Diagnostic]) -> None:
    if group is None:
        return
    if not isinstance(group, dict):
        diagnostics.append(_error(doc, pointer, "invalid-group",
                                  "an Ansible group must be a mapping with hosts, children "
                                  "or vars"))
        return
    for key in GROUP_KEYS:
        if group.get(key) is not None and not isinstance(group[key], dict):
            diagnostics.append(_error(doc, f"{pointer}/{key}", "invalid-group",
                                      f"`{key}` of an Ansible group must be a mapping"))
            return
    variables = {**inherited, **_located(group.get("vars"), f"{pointer}/vars")}
    for host, host_vars in (group.get("hosts") or {}).items():
        host_pointer = f"{pointer}/hosts/{_escape(host)}"
        if host_vars is not None and not isinstance(host_vars, dict):
            diagnostics.append(_error(doc, host_pointer, "invalid-host",
                                      f"host {host}: its variables must be a mapping"))
            continue
        merged[str(host)] = {**merged.get(str(host), {}), **variables,
                             **_located(host_vars, host_pointer)}
        pointers.setdefault(str(host), host_pointer)
    for child, child_group in (group.get("children") or {}).items():
        _walk(doc, child_group, variables, f"{pointer}/children/{_escape(child)}",
              merged, pointers, diagnostics)


def _located(variables: Mapping[str, Any] | None, pointer: str) -> dict[str, tuple[Any, str]]:
    """Each variable with the JSON pointer of the place that sets it."""
    return {str(name): (value, f"{pointer}/{_escape(name)}")
            for name, value in (variables or {}).items()}


def _settings(doc: LoadedDocument, host: str, variables: Mapping[str, tuple[Any, str]],
              pointer: str) -> tuple[dict[str, Any], list[Diagnostic]]:
    settings: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    for variable, (setting, expected) in VARIABLES.items():
        if variable not in variables:
            continue
        value, where = variables[variable]
        if setting == "port":
            value = parse_port(value)
        problem = _type_problem(value, expected) or _VALUE_CHECKS.get(setting, _fine)(value)
        if problem:
            problems.append(_error(doc, where, "invalid-variable", with_subject(where, problem)))
            continue
        settings[setting] = value
    connection = settings.get("connection")
    settings["connection"] = "local" if connection == "local" else "ssh"
    if settings["connection"] == "ssh" and "host" not in settings and host_problem(host):
        problems.append(_error(doc, pointer, "invalid-host", with_subject(
            pointer, f"{host_problem(host)}; set ansible_host"), key=True))
    become = variables.get("ansible_become", (None, ""))[0]
    if become in (True, "yes", "true", "True") and "podman" not in settings:
        settings["podman"] = ["sudo", "-n", "podman"]
    return settings, problems


def _type_problem(value: Any, expected: type | tuple[type, ...]) -> str | None:
    if isinstance(value, expected) and not isinstance(value, bool):
        return None
    return f"expected {_TYPE_WORDS.get(expected, str(expected))}, got {value_kind(value)}"


def _fine(value: object) -> None:
    return None


def _error(doc: LoadedDocument, pointer: str, code: str, summary: str, *,
           key: bool = False) -> Diagnostic:
    return Diagnostic(severity=Severity.ERROR, code=code, summary=summary,
                      location=location_of(doc, pointer, key=key))
