"""Builds one model.Workload from its schema-checked YAML mapping: config references, templates,
agent, runtimeConfig and files.

Pure: works on documents already in memory.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ankplan.errors import Diagnostic, Location, Severity
from ankplan.manifests.embedded import embedded_text
from ankplan.manifests.runtime_config import ParsedRuntimeConfig, parse_runtime_config
from ankplan.manifests.yaml_reader import LoadedDocument, join_pointer, location_of
from ankplan.model import AddCondition, Dependency, RestartPolicy, Workload, WorkloadFile

AGENT_NAME = re.compile(r"^[a-zA-Z0-9_-]*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadSource:
    """A workload's raw mapping and the document it came from."""

    name: str
    data: Mapping[str, Any]
    doc: LoadedDocument
    api_version: str

    @property
    def pointer(self) -> str:
        """JSON pointer of the workload in its document."""
        return join_pointer("/workloads", self.name)

    def location(self, relative: str = "", *, key: bool = False) -> Location:
        """Where `relative` (e.g. "/dependencies/db") sits in the file."""
        return location_of(self.doc, self.pointer + relative, key=key)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltWorkload:
    """The outcome of building one workload; `workload` is None when it could not be built."""

    source: WorkloadSource
    workload: Workload | None
    runtime: ParsedRuntimeConfig | None = None
    diagnostics: tuple[Diagnostic, ...] = ()

    def locate(self, relative: str, key: bool = False) -> Location:
        """File location of a pointer relative to the workload, inside runtimeConfig too."""
        prefix = "/runtimeConfig"
        if relative.startswith(prefix + "/") and self.runtime is not None:
            return self.runtime.location(relative[len(prefix):], key=key)
        return self.source.location(relative, key=key)


def build_workload(source: WorkloadSource, configs: Mapping[str, object], *,
                   agent_override: str | None) -> BuiltWorkload:
    """Resolve configs, render templates, parse runtimeConfig and build the Workload."""
    context, problems = _config_context(source, configs)
    if problems:
        return BuiltWorkload(source=source, workload=None, diagnostics=problems)
    fields, problems = _render_fields(source, context)
    if problems:
        return BuiltWorkload(source=source, workload=None, diagnostics=problems)
    agent, problems = _agent(source, fields.get("/agent"), agent_override)
    runtime = str(source.data["runtime"])
    parsed = parse_runtime_config(
        workload_name=source.name, runtime=runtime, doc=source.doc,
        pointer=source.pointer + "/runtimeConfig", original=str(source.data["runtimeConfig"]),
        rendered=fields["/runtimeConfig"])
    files, file_problems = _files(source, fields, runtime)
    diagnostics = problems + parsed.diagnostics + file_problems + _access_notes(source)
    if agent is None:
        return BuiltWorkload(source=source, workload=None, runtime=parsed,
                             diagnostics=diagnostics)
    workload = Workload(
        name=source.name, agent=agent, runtime=runtime,
        runtime_config_text=fields["/runtimeConfig"].strip(), runtime_config=parsed.config,
        restart_policy=RestartPolicy(source.data.get("restartPolicy") or "NEVER"),
        dependencies=_dependencies(source.data), tags=_tags(source.data),
        configs=tuple(sorted((source.data.get("configs") or {}).items())), files=files,
        control_interface_access=_has_access_rules(source.data),
        location=source.location(key=True))
    return BuiltWorkload(source=source, workload=workload, runtime=parsed,
                         diagnostics=diagnostics)


def _config_context(source: WorkloadSource, configs: Mapping[str, object],
                    ) -> tuple[dict[str, object], tuple[Diagnostic, ...]]:
    """{alias: configs[key]} for the workload's `configs` mapping (as Ankaios renders)."""
    context: dict[str, object] = {}
    problems = []
    for alias, config_key in (source.data.get("configs") or {}).items():
        if config_key in configs:
            context[alias] = configs[config_key]
            continue
        import difflib  # here: only a mistake needs it (~1 ms to import)
        close = difflib.get_close_matches(config_key, list(configs), n=1)
        hint = f"did you mean '{close[0]}'?" if close else (
            f"defined configs: {', '.join(sorted(configs))}" if configs else
            "add it under the top-level `configs:`")
        problems.append(_error("unknown-config", f"workload '{source.name}' references config "
                               f"key '{config_key}' that does not exist", hint,
                               source.location(join_pointer("/configs", alias))))
    return context, tuple(problems)


def _template_fields(data: Mapping[str, Any]) -> dict[str, str]:
    """The fields Ankaios renders: agent, runtimeConfig and each file's data/binaryData."""
    fields = {"/runtimeConfig": str(data["runtimeConfig"])}
    if isinstance(data.get("agent"), str):
        fields["/agent"] = data["agent"]
    for index, entry in enumerate(data.get("files") or []):
        for kind in ("data", "binaryData"):
            if isinstance(entry.get(kind), str):
                fields[f"/files/{index}/{kind}"] = entry[kind]
    return fields


def _render_fields(source: WorkloadSource, context: dict[str, object],
                   ) -> tuple[dict[str, str], tuple[Diagnostic, ...]]:
    fields = _template_fields(source.data)
    if not source.data.get("configs"):
        return fields, ()  # Ankaios renders only workloads that map configs
    # Loaded here, not at start-up: compiling the template grammar costs ~15 ms, which every
    # command would pay although only a workload that maps configs is rendered.
    from ankplan.manifests.templating import TemplateError, render

    problems = []
    for relative, template in fields.items():
        try:
            fields[relative] = render(template, context)
        except TemplateError as error:
            name = re.sub(r"files\.(\d+)\.", r"files[\1].", relative[1:].replace("/", "."))
            located = embedded_text(source.doc, source.pointer + relative, template, template)
            problems.append(_error(
                "template", f"failed to render field '{name}' of workload '{source.name}': "
                f"{error.message}", error.hint, located.location(error.line, error.column)))
    return fields, tuple(problems)


def _agent(source: WorkloadSource, rendered: str | None, override: str | None,
           ) -> tuple[str | None, tuple[Diagnostic, ...]]:
    if override is not None:
        return override, ()
    if rendered is None:
        return None, (_error("no-agent", f"no agent for workload '{source.name}'",
                             "add `agent: <name>` to the workload, or pass --agent NAME",
                             source.location(key=True)),)
    if not AGENT_NAME.match(rendered):
        hint = ("templates render only in workloads that map configs (`configs:`)"
                if "{{" in rendered else "only a-z, A-Z, 0-9, underscore (_) and hyphen (-)")
        return None, (_error("invalid-name", f"workload '{source.name}': invalid agent name "
                             f"'{rendered}'", hint, source.location("/agent")),)
    return rendered, ()


def _files(source: WorkloadSource, fields: dict[str, str], runtime: str,
           ) -> tuple[tuple[WorkloadFile, ...], tuple[Diagnostic, ...]]:
    files, problems = [], []
    for index, entry in enumerate(source.data.get("files") or []):
        mount_point = str(entry["mountPoint"])
        data = fields.get(f"/files/{index}/data")
        binary = fields.get(f"/files/{index}/binaryData")
        problem = _mount_point_problem(mount_point)
        if problem:
            problems.append(_error("invalid-mount-point", f"workload '{source.name}': mount "
                                   f"point '{mount_point}' {problem}", "use an absolute file "
                                   "path such as /etc/app/app.conf",
                                   source.location(f"/files/{index}/mountPoint")))
        if binary is not None and not _is_base64(binary):
            problems.append(_error("invalid-base64", f"workload '{source.name}': binaryData of "
                                   f"'{mount_point}' is not valid base64", "encode the file "
                                   "with `base64 -w0 FILE`",
                                   source.location(f"/files/{index}/binaryData")))
        files.append(WorkloadFile(mount_point=mount_point, data=data, binary_data=binary))
    if files and runtime == "podman-kube":
        problems.append(_warning(
            "files-unsupported", f"workload '{source.name}': files are not supported for "
            "runtime podman-kube; Ankaios accepts the manifest but the workload ends in "
            "Pending(StartingFailed)", "use a ConfigMap in the kube manifest instead",
            source.location("/files", key=True)))
    return tuple(sorted(files, key=lambda file: file.mount_point)), tuple(problems)


def _mount_point_problem(mount_point: str) -> str:
    if not mount_point.startswith("/"):
        return "is relative; an absolute path is required"
    if mount_point.endswith("/"):
        return "is a directory; a file path is required"
    if any(part in (".", "..") for part in mount_point.split("/")):
        return "contains '.' or '..'"
    return ""


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _access_notes(source: WorkloadSource) -> tuple[Diagnostic, ...]:
    if not _has_access_rules(source.data):
        return ()
    return (_warning("not-acted-on", f"workload '{source.name}': controlInterfaceAccess is "
                     "accepted, not acted on by ankplan (there is no Control Interface)",
                     "the rules matter only under Ankaios",
                     source.location("/controlInterfaceAccess", key=True)),)


def _has_access_rules(data: Mapping[str, Any]) -> bool:
    access = data.get("controlInterfaceAccess") or {}
    return bool(access.get("allowRules") or access.get("denyRules"))


def _dependencies(data: Mapping[str, Any]) -> tuple[Dependency, ...]:
    entries = (data.get("dependencies") or {}).items()
    return tuple(Dependency(workload_name=name, condition=AddCondition(condition))
                 for name, condition in sorted(entries))


def _tags(data: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    tags = data.get("tags") or {}
    if isinstance(tags, list):  # v0.1: [{key: k, value: v}, ...]
        return tuple(sorted({entry["key"]: entry["value"] for entry in tags}.items()))
    return tuple(sorted(tags.items()))


def _error(code: str, summary: str, hint: str, location: Location) -> Diagnostic:
    return Diagnostic(severity=Severity.ERROR, code=code, summary=summary, hint=hint,
                      location=location)


def _warning(code: str, summary: str, hint: str, location: Location) -> Diagnostic:
    return Diagnostic(severity=Severity.WARNING, code=code, summary=summary, hint=hint,
                      location=location)
