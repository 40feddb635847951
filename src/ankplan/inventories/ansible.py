"""Read an Ansible YAML inventory: hosts named like the agents, connection variables inherited
from group `vars` through `children`. Pure: works on an already-read document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ankplan.errors import Diagnostic, Severity
from ankplan.manifests.yaml_reader import LoadedDocument, location_of

GROUP_KEYS = frozenset({"hosts", "children", "vars"})

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
}


def is_ansible_inventory(data: Any) -> bool:
    """True for a mapping with a top-level `all:` group or groups holding hosts/children/vars."""
    if not isinstance(data, dict):
        return False
    if isinstance(data.get("all"), dict):
        return True
    return any(isinstance(group, dict) and GROUP_KEYS & group.keys() for group in data.values())


def read_ansible_hosts(doc: LoadedDocument) -> tuple[tuple[tuple[str, dict[str, Any]], ...],
                                                     tuple[Diagnostic, ...]]:
    """Every host with its merged variables turned into ankplan node settings, sorted by name.

    Precedence: host variables over the variables of the group that lists the host, over those
    of its parent groups. `ansible_connection: local` makes a local node; `ansible_become`
    prefixes podman with `sudo -n`.
    """
    merged: dict[str, dict[str, Any]] = {}
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
    return tuple(hosts), tuple(diagnostics)


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _walk(doc: LoadedDocument, group: Any, inherited: Mapping[str, Any], pointer: str,
          merged: dict[str, dict[str, Any]], pointers: dict[str, str],
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
    variables = {**inherited, **(group.get("vars") or {})}
    for host, host_vars in (group.get("hosts") or {}).items():
        if host_vars is not None and not isinstance(host_vars, dict):
            diagnostics.append(_error(doc, f"{pointer}/hosts/{_escape(host)}", "invalid-host",
                                      f"host {host}: its variables must be a mapping"))
            continue
        merged[str(host)] = {**merged.get(str(host), {}), **variables, **(host_vars or {})}
        pointers.setdefault(str(host), f"{pointer}/hosts/{_escape(host)}")
    for child, child_group in (group.get("children") or {}).items():
        _walk(doc, child_group, variables, f"{pointer}/children/{_escape(child)}",
              merged, pointers, diagnostics)


def _settings(doc: LoadedDocument, host: str, variables: Mapping[str, Any],
              pointer: str) -> tuple[dict[str, Any], list[Diagnostic]]:
    settings: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    for variable, (setting, expected) in VARIABLES.items():
        if variable not in variables:
            continue
        value = variables[variable]
        if setting == "port" and isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, expected) or isinstance(value, bool):
            problems.append(_error(doc, pointer, "invalid-variable",
                                   f"host {host}: {variable} has the wrong type "
                                   f"({type(value).__name__})"))
            continue
        settings[setting] = value
    connection = settings.get("connection")
    if connection is not None:
        settings["connection"] = "local" if connection == "local" else "ssh"
    else:
        settings["connection"] = "ssh"
    if variables.get("ansible_become") in (True, "yes", "true", "True") \
            and "podman" not in settings:
        settings["podman"] = ["sudo", "-n", "podman"]
    return settings, problems


def _error(doc: LoadedDocument, pointer: str, code: str, summary: str) -> Diagnostic:
    return Diagnostic(severity=Severity.ERROR, code=code, summary=summary,
                      location=location_of(doc, pointer))
