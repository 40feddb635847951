"""Prints diagnostics as text (rich, with the offending source line), JSON or GitHub annotations.

Does I/O: writes to the Env's streams and reads source files to show the offending lines.
Text goes to stderr (it reports problems); JSON and GitHub annotations are results, on stdout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from rich.text import Text

from ankplan.cli.env import Env
from ankplan.errors import Diagnostic
from ankplan.files import read_regular

FORMATS = ("text", "json", "github")
JSON_FORMAT_VERSION = 1
_MAX_SHOWN = 160  # characters of a source line shown around the caret


def print_diagnostics(env: Env, diagnostics: Sequence[Diagnostic], *, fmt: str,
                      valid: bool | None = None) -> None:
    """Print `diagnostics` in format `fmt` (text, json or github).

    `valid` is reported in JSON; by default it is true when there is no error.
    """
    if valid is None:
        valid = not any(diagnostic.is_error for diagnostic in diagnostics)
    if fmt == "json":
        env.stdout.write(json.dumps(diagnostics_document(diagnostics, valid=valid), indent=2)
                         + "\n")
    elif fmt == "github":
        for diagnostic in diagnostics:
            env.stdout.write(github_annotation(diagnostic) + "\n")
    else:
        _print_text(env, diagnostics)


def diagnostics_document(diagnostics: Sequence[Diagnostic], *, valid: bool) -> dict[str, object]:
    """The stable JSON document for `validate --format json`."""
    errors = sum(1 for diagnostic in diagnostics if diagnostic.is_error)
    return {
        "format_version": JSON_FORMAT_VERSION,
        "valid": valid,
        "error_count": errors,
        "warning_count": len(diagnostics) - errors,
        "diagnostics": [_diagnostic_json(diagnostic) for diagnostic in diagnostics],
    }


def _diagnostic_json(diagnostic: Diagnostic) -> dict[str, object]:
    location = diagnostic.location
    return {
        "severity": diagnostic.severity.value,
        "code": diagnostic.code,
        "summary": diagnostic.summary,
        "hint": diagnostic.hint,
        "file": location.file if location else None,
        "line": location.line if location and location.line else None,
        "column": location.column if location and location.line else None,
        "pointer": location.pointer if location else None,
    }


def github_annotation(diagnostic: Diagnostic) -> str:
    """One `::error file=...,line=...,col=...,title=ankplan <code>::summary` workflow command."""
    properties = []
    location = diagnostic.location
    if location is not None:
        properties.append(f"file={_escape_property(location.file)}")
        if location.line:
            properties.append(f"line={location.line}")
            properties.append(f"col={location.column or 1}")
    properties.append(f"title={_escape_property('ankplan ' + diagnostic.code)}")
    message = diagnostic.summary + (f"\nhint: {diagnostic.hint}" if diagnostic.hint else "")
    return f"::{diagnostic.severity.value} {','.join(properties)}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


# --- text ------------------------------------------------------------------------------------


def _print_text(env: Env, diagnostics: Sequence[Diagnostic]) -> None:
    console = env.err_console()
    sources = _Sources()
    for diagnostic in diagnostics:
        for line in _text_lines(diagnostic, sources):
            console.print(line)
    if diagnostics:
        console.print(Text(summary_line(diagnostics), style="bold"))


def summary_line(diagnostics: Sequence[Diagnostic]) -> str:
    """`2 errors, 1 warning`."""
    errors = sum(1 for diagnostic in diagnostics if diagnostic.is_error)
    warnings = len(diagnostics) - errors
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def _text_lines(diagnostic: Diagnostic, sources: _Sources) -> list[Text]:
    location = diagnostic.location
    colour = "red" if diagnostic.is_error else "yellow"
    head = Text()
    head.append(f"{location}: " if location else "", style="bold")
    head.append(f"{diagnostic.severity.value}: ", style=f"bold {colour}")
    head.append(diagnostic.summary)
    head.append(f" [{diagnostic.code}]", style="dim")
    lines = [head]
    if location is not None and location.line:
        source = sources.line(location.file, location.line)
        if source is not None:
            lines.extend(_excerpt(source, location.line, location.column or 1, colour))
    if diagnostic.hint:
        lines.append(Text.assemble(("  hint: ", "bold cyan"), diagnostic.hint))
    return lines


def _excerpt(source: str, line: int, column: int, colour: str) -> list[Text]:
    source = source.replace("\t", " ").rstrip("\r")
    start = max(0, column - 1 - _MAX_SHOWN // 2) if len(source) > _MAX_SHOWN else 0
    shown = source[start:start + _MAX_SHOWN]
    offset = column - 1 - start
    token = re.match(r"(?:[^\s,\]\}:]|:(?!\s|$))+", shown[offset:]) if 0 <= offset <= len(shown) else None
    width = max(1, len(token.group()) if token else 1)
    gutter = f"{line:>5} | "
    marker = " " * len(gutter[:-2]) + "| " + " " * max(offset, 0)
    return [Text(gutter, style="dim") + Text(shown),
            Text(marker, style="dim") + Text("^" + "~" * (width - 1), style=f"bold {colour}")]


class _Sources:
    """Source lines of the files diagnostics point into, read once each."""

    def __init__(self) -> None:
        self.files: dict[str, list[str] | None] = {}

    def line(self, path: str, number: int) -> str | None:
        if path not in self.files:
            self.files[path] = _read_lines(path)
        lines = self.files[path]
        if lines is None or not 1 <= number <= len(lines):
            return None
        return lines[number - 1]


def _read_lines(path: str) -> list[str] | None:
    try:
        raw = read_regular(path, max_bytes=8 * 1024 * 1024)
    except OSError:  # gone, unreadable, too large, or not a regular file (never blocks)
        return None
    if b"\0" in raw:
        return None
    return raw.decode("utf-8", errors="replace").removeprefix("\ufeff").split("\n")
