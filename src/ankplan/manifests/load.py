"""Loads one or more Ankaios manifest files into a validated model.Manifest.

Pipeline: read (the only I/O, through the loader) -> apiVersion -> JSON Schema -> union of the
files -> per workload: configs, templates, agent, runtimeConfig -> semantic checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ankplan.errors import Diagnostic, Location, ManifestError, Severity
from ankplan.manifests.build import AGENT_NAME, BuiltWorkload, WorkloadSource, build_workload
from ankplan.manifests.checks import Locate, check_workloads
from ankplan.manifests.yaml_reader import (
    LoadedDocument,
    join_pointer,
    location_of,
    parse_yaml_text,
    read_yaml_file,
)
from ankplan.model import Manifest
from ankplan.schemas import schema_diagnostics

API_VERSIONS = ("v1", "v0.1")  # accepted apiVersion values; v0.1 is deprecated
STDIN_NAME = "<stdin>"  # how a manifest read from stdin (`-`) is named in diagnostics


def load_manifest(paths: Sequence[str], *, agent_override: str | None = None,
                  stdin: str | None = None) -> Manifest:
    """The validated manifest of `paths`; raises ManifestError carrying every diagnostic.

    Warnings do not fail loading; they are kept in Manifest.warnings. The path `-` stands for
    the text `stdin` (read by the caller), shown as <stdin> in diagnostics.
    """
    manifest, diagnostics = check_manifest(paths, agent_override=agent_override, stdin=stdin)
    if manifest is None:
        errors = sum(1 for diagnostic in diagnostics if diagnostic.is_error)
        noun = "error" if errors == 1 else "errors"
        raise ManifestError(f"invalid manifest ({', '.join(paths)}): {errors} {noun}",
                            diagnostics)
    return manifest


def check_manifest(paths: Sequence[str], *, agent_override: str | None = None,
                   stdin: str | None = None) -> tuple[Manifest | None, tuple[Diagnostic, ...]]:
    """Validate `paths` together; the manifest is None when any error was found.

    Never raises for bad content: every problem, error or warning, is in the diagnostics,
    errors first, each group in file order. The path `-` stands for the text `stdin`.
    """
    diagnostics: list[Diagnostic] = list(_override_problems(agent_override))
    documents: list[_Document] = []
    for path in paths:
        if path == "-" and stdin is not None:
            doc, problems = parse_yaml_text(stdin, STDIN_NAME)
        else:
            doc, problems = read_yaml_file(path)
        diagnostics.extend(problems)
        if doc is not None:
            checked, problems = _check_document(doc)
            diagnostics.extend(problems)
            if checked is not None:
                documents.append(checked)
    union = _Union()
    for checked in documents:
        diagnostics.extend(union.add(checked))
    built = [build_workload(source, union.config_values(), agent_override=agent_override)
             for source in union.buildable()]
    for item in built:
        diagnostics.extend(item.diagnostics)
    workloads = tuple(item.workload for item in built if item.workload is not None)
    diagnostics.extend(check_workloads(workloads, defined_names=union.sources,
                                       locate=_locator(built)))
    ordered = tuple(sorted(diagnostics, key=lambda item: (not item.is_error, item.sort_key())))
    if any(item.is_error for item in ordered):
        return None, ordered
    manifest = Manifest(
        api_version=documents[0].api_version if documents else API_VERSIONS[0],
        workloads=workloads, config_keys=tuple(sorted(union.configs)), sources=tuple(paths),
        warnings=tuple(item for item in ordered if not item.is_error))
    return manifest, ordered


@dataclass(slots=True)
class _Document:
    doc: LoadedDocument
    api_version: str
    broken: set[str]  # workloads with schema errors: not built
    configs_ok: bool  # top-level configs passed the schema


def _check_document(doc: LoadedDocument) -> tuple[_Document | None, tuple[Diagnostic, ...]]:
    data = doc.data
    if data is None:
        return None, (_error("empty-manifest", "the file holds no manifest (it is empty)",
                             "a manifest starts with `apiVersion: v1`", location_of(doc, "")),)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        return None, (_error("not-a-manifest", f"a manifest is a mapping with apiVersion and "
                             f"workloads, but this file holds {kind}", "",
                             location_of(doc, "")),)
    if "desiredState" in data and "apiVersion" not in data:
        return None, (_error("not-a-manifest", "this is an Ankaios CompleteState "
                             "(desiredState:), not a manifest",
                             "it is input for `ank set state`; a manifest has apiVersion, "
                             "workloads and configs at the top level",
                             location_of(doc, "/desiredState", key=True)),)
    version, problems = _api_version(doc, data)
    if version is None:
        return None, problems
    problems += schema_diagnostics(doc, f"manifest-{version}")
    # An unknown key does not stop building a workload (so its other problems show too);
    # any other schema error does.
    pointers = [item.location.pointer for item in problems
                if item.location and item.is_error and item.code != "unknown-key"]
    broken = {_unescape(pointer.split("/")[2]) for pointer in pointers
              if pointer.startswith("/workloads/")}
    configs_ok = not any(pointer.startswith("/configs") for pointer in pointers)
    return _Document(doc, version, broken, configs_ok), problems


def _api_version(doc: LoadedDocument, data: dict[str, Any],
                 ) -> tuple[str | None, tuple[Diagnostic, ...]]:
    if "apiVersion" not in data:
        return None, (_error("missing-key", "missing required key 'apiVersion' at the top level",
                             "add `apiVersion: v1` as the first line", location_of(doc, "")),)
    version = data["apiVersion"]
    location = location_of(doc, "/apiVersion")
    if version == "v0.1":
        return version, (Diagnostic(
            severity=Severity.WARNING, code="deprecated-api-version",
            summary="apiVersion 'v0.1' is deprecated; v1 is current",
            hint="in v1, tags are a mapping and state rules use filterMasks", location=location),)
    if version == "v1":
        return version, ()
    import difflib  # here: only a mistake needs it (~1 ms to import)
    close = difflib.get_close_matches(str(version), API_VERSIONS, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'?" if close else "use apiVersion: v1"
    return None, (_error("api-version", f"unsupported apiVersion '{version}'; ankplan accepts "
                         f"{' and '.join(API_VERSIONS)}", hint, location),)


@dataclass(slots=True)
class _Union:
    """The workloads and configs of every file together, as `ank apply a.yaml b.yaml` merges."""

    sources: dict[str, WorkloadSource] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    configs: dict[str, tuple[object, LoadedDocument]] = field(default_factory=dict)
    configs_ok: bool = True

    def add(self, checked: _Document) -> list[Diagnostic]:
        """Merge one document; returns the conflicts with what was merged before."""
        data = checked.doc.data
        assert isinstance(data, dict)
        workloads = data.get("workloads")
        workloads = workloads if isinstance(workloads, dict) else {}
        configs = data.get("configs")
        configs = configs if isinstance(configs, dict) else {}
        self.configs_ok = self.configs_ok and checked.configs_ok
        problems = [self._add_workload(checked, name, spec) for name, spec in workloads.items()]
        problems += [self._add_config(checked.doc, key, value) for key, value in configs.items()]
        return [problem for problem in problems if problem is not None]

    def _add_workload(self, checked: _Document, name: str, spec: object) -> Diagnostic | None:
        source = WorkloadSource(name=name, data=spec if isinstance(spec, dict) else {},
                                doc=checked.doc, api_version=checked.api_version)
        first = self.sources.get(name)
        if first is not None:
            return _error("duplicate-workload", f"workload '{name}' is defined twice: "
                          f"{first.location(key=True)} and {source.location(key=True)}",
                          "rename or remove one; `ank apply` refuses this too",
                          source.location(key=True))
        self.sources[name] = source
        if name in checked.broken or not isinstance(spec, dict):
            self.broken.add(name)
        return None

    def _add_config(self, doc: LoadedDocument, key: str, value: object) -> Diagnostic | None:
        first = self.configs.get(key)
        if first is None:
            self.configs[key] = (value, doc)
            return None
        if first[0] == value:
            return None
        here = location_of(doc, join_pointer("/configs", key), key=True)
        there = location_of(first[1], join_pointer("/configs", key), key=True)
        return _error("duplicate-config", f"config '{key}' is defined twice with different "
                      f"values: {there} and {here}", "keep one definition", here)

    def config_values(self) -> dict[str, object]:
        """Top-level config key -> value."""
        return {key: value for key, (value, _) in self.configs.items()}

    def buildable(self) -> list[WorkloadSource]:
        """Workloads without schema errors whose config references can be trusted."""
        return [source for name, source in sorted(self.sources.items())
                if name not in self.broken
                and (self.configs_ok or not source.data.get("configs"))]


def _locator(built: list[BuiltWorkload]) -> Locate:
    by_name = {item.source.name: item for item in built}

    def locate(workload_name: str, relative: str, key: bool) -> Location | None:
        item = by_name.get(workload_name)
        return item.locate(relative, key) if item is not None else None

    return locate


def _override_problems(agent_override: str | None) -> tuple[Diagnostic, ...]:
    if agent_override is None or AGENT_NAME.match(agent_override):
        return ()
    return (_error("invalid-name", f"invalid --agent name '{agent_override}'",
                   "only a-z, A-Z, 0-9, underscore (_) and hyphen (-) are allowed", None),)


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _error(code: str, summary: str, hint: str, location: Location | None) -> Diagnostic:
    return Diagnostic(severity=Severity.ERROR, code=code, summary=summary, hint=hint,
                      location=location)
