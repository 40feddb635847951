"""Parses and validates a workload's runtimeConfig (a YAML document inside a string) per runtime.

Pure: works on text already in memory. Problems point at the line inside the string as it sits
in the manifest file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ankplan.errors import Diagnostic, Location, Severity
from ankplan.manifests.embedded import EmbeddedText, embedded_text
from ankplan.manifests.yaml_reader import LoadedDocument, location_of, parse_yaml_text
from ankplan.model import KubeConfig, PodmanConfig
from ankplan.schemas import schema_diagnostics

RUNTIMES_RUN = ("podman", "podman-kube")  # runtimes ankplan can plan and apply
RUNTIMES_ANKAIOS = ("podman", "podman-kube", "containerd")  # runtimes Ankaios agents know
_SCHEMAS = {"podman": "runtime-podman", "containerd": "runtime-podman",
            "podman-kube": "runtime-podman-kube"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedRuntimeConfig:
    """The outcome of parsing one runtimeConfig."""

    config: PodmanConfig | KubeConfig | None
    document: LoadedDocument | None  # the parsed inner document, for locating its values
    embedded: EmbeddedText  # where the string sits in the manifest file
    diagnostics: tuple[Diagnostic, ...] = ()

    def location(self, pointer: str, *, key: bool = False) -> Location:
        """File location of a pointer inside the runtimeConfig (e.g. /commandOptions/2)."""
        full = self.embedded.pointer + pointer
        if self.document is None:
            return self.embedded.location(0, 0, full)
        inner = location_of(self.document, pointer, key=key)
        return self.embedded.location(inner.line, inner.column, full)


def parse_runtime_config(*, workload_name: str, runtime: str, doc: LoadedDocument, pointer: str,
                         original: str, rendered: str) -> ParsedRuntimeConfig:
    """Parse `rendered` (the runtimeConfig after templating) for `runtime`."""
    embedded = embedded_text(doc, pointer, original, rendered)
    notes = list(_runtime_notes(workload_name, runtime, embedded))
    schema = _SCHEMAS.get(runtime)
    if schema is None:
        return ParsedRuntimeConfig(config=None, document=None, embedded=embedded,
                                   diagnostics=tuple(notes))
    inner, problems = parse_yaml_text(rendered, doc.path)
    notes.extend(_relocate(problem, embedded, workload_name) for problem in problems)
    if inner is None or any(problem.is_error for problem in problems):
        return ParsedRuntimeConfig(config=None, document=inner, embedded=embedded,
                                   diagnostics=tuple(notes))
    parsed = ParsedRuntimeConfig(config=None, document=inner, embedded=embedded)
    if not isinstance(inner.data, dict):
        notes.append(_not_a_mapping(workload_name, runtime, inner.data, parsed))
        return dataclasses.replace(parsed, diagnostics=tuple(notes))
    errors = schema_diagnostics(
        inner, schema, base_pointer=pointer,
        location_for=lambda inner_pointer, key: parsed.location(inner_pointer, key=key))
    notes.extend(_note_rendered_line(error, parsed) for error in errors)
    config = _build(runtime, inner.data) if runtime in RUNTIMES_RUN else None
    return dataclasses.replace(parsed, config=config, diagnostics=tuple(notes))


def _build(runtime: str, data: dict[str, Any]) -> PodmanConfig | KubeConfig:
    """The config value; tolerant of wrong types (already reported) so that later checks can
    still look at the parts that are right."""
    def strings(key: str) -> tuple[str, ...]:
        value = data.get(key)
        return tuple(item for item in value if isinstance(item, str)) \
            if isinstance(value, list) else ()

    def text(key: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) else ""

    if runtime == "podman":
        return PodmanConfig(image=text("image"), general_options=strings("generalOptions"),
                            command_options=strings("commandOptions"),
                            command_args=strings("commandArgs"))
    return KubeConfig(manifest=text("manifest"), play_options=strings("playOptions"),
                      down_options=strings("downOptions"),
                      general_options=strings("generalOptions"),
                      control_interface_target=text("controlInterfaceTarget"))


def _runtime_notes(workload_name: str, runtime: str, embedded: EmbeddedText,
                   ) -> Iterator[Diagnostic]:
    """Warnings for runtimes ankplan does not run."""
    location = location_of(embedded.doc, embedded.pointer.rsplit("/", 1)[0] + "/runtime")
    if runtime == "containerd":
        yield _warning("unsupported-runtime", f"workload '{workload_name}': runtime 'containerd' "
                       "is valid for Ankaios, but ankplan does not run it",
                       "planning this workload fails; use runtime podman for ankplan", location)
    elif runtime not in RUNTIMES_ANKAIOS:
        import difflib  # here: only a mistake needs it (~1 ms to import)
        close = difflib.get_close_matches(runtime, RUNTIMES_ANKAIOS, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else \
            "known runtimes: podman, podman-kube, containerd"
        yield _warning("unknown-runtime", f"workload '{workload_name}': unknown runtime "
                       f"'{runtime}'; Ankaios reports Pending(StartingFailed) 'Unsupported "
                       "Runtime' and ankplan cannot run it", hint, location)


def _relocate(problem: Diagnostic, embedded: EmbeddedText, workload_name: str) -> Diagnostic:
    inner = problem.location
    line, column = (inner.line, inner.column) if inner else (0, 0)
    location = embedded.location(line, column)
    summary = f"workload '{workload_name}' runtimeConfig: {problem.summary}"
    if line and line > embedded.exact_lines:
        summary += f" (line {line} of the rendered runtimeConfig)"
    return dataclasses.replace(problem, summary=summary, location=location)


def _note_rendered_line(diagnostic: Diagnostic, parsed: ParsedRuntimeConfig) -> Diagnostic:
    """Name the rendered line when templating moved lines, since the file position is vague."""
    if parsed.document is None or diagnostic.location is None:
        return diagnostic
    pointer = diagnostic.location.pointer[len(parsed.embedded.pointer):]
    key = diagnostic.code in ("unknown-key", "missing-key", "invalid-name")
    line = location_of(parsed.document, pointer, key=key).line
    if line <= parsed.embedded.exact_lines:
        return diagnostic
    summary = f"{diagnostic.summary} (line {line} of the rendered runtimeConfig)"
    return dataclasses.replace(diagnostic, summary=summary)


def _not_a_mapping(workload_name: str, runtime: str, data: object,
                   parsed: ParsedRuntimeConfig) -> Diagnostic:
    key = "manifest" if runtime == "podman-kube" else "image"
    got = "empty" if data is None else f"a {type(data).__name__.replace('str', 'string')}"
    return Diagnostic(
        severity=Severity.ERROR, code="runtime-config",
        summary=f"workload '{workload_name}' runtimeConfig must be a YAML mapping, but it is "
                f"{got}",
        hint=f"write it as a block: `runtimeConfig: |` followed by an indented `{key}: ...` line",
        location=parsed.location(""))


def _warning(code: str, summary: str, hint: str, location: Location) -> Diagnostic:
    return Diagnostic(severity=Severity.WARNING, code=code, summary=summary, hint=hint,
                      location=location)
