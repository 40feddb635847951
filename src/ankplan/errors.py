"""The one error tree of ankplan and the Diagnostic value that validation collects.

Pure: no I/O. Only `ankplan.cli` catches these and turns them into output and exit codes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

# C0 and C1 control characters: a value quoted into a message could otherwise split its line
# or send escape sequences to the terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters written as escapes (\\n, \\x1b)."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"),
                        text)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`did you mean 'x'?` for a close match (case-insensitive first), else ""."""
    lowered = {choice.lower(): choice for choice in choices}
    match = lowered.get(word.lower())
    if match is None:
        import difflib  # only when a word is unknown

        close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
        match = lowered[close[0]] if close else None
    return f"did you mean '{match}'?" if match is not None and match != word else ""


class Severity(str, enum.Enum):
    """How bad a diagnostic is; warnings never fail `validate` unless --strict."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """A place in a source file; line and column are 1-based, 0 when unknown."""

    file: str
    line: int = 0
    column: int = 0
    # JSON pointer of the offending value inside the document, e.g. /workloads/web/agent
    pointer: str = ""

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column or 1}"
        return self.file


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    """One problem found in a manifest or inventory, reported together with all the others."""

    severity: Severity
    code: str  # stable machine name, e.g. "unknown-key", "dependency-cycle"
    summary: str  # one line, no trailing period
    hint: str = ""  # what to do about it, one line
    location: Location | None = None

    def __post_init__(self) -> None:
        # Summaries quote values from the file; keep them one line whatever those hold.
        object.__setattr__(self, "summary", one_line(self.summary))
        object.__setattr__(self, "hint", one_line(self.hint))

    @property
    def is_error(self) -> bool:
        """True for errors, False for warnings."""
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str]:
        """Order by file, line, column, then code, so output is deterministic."""
        loc = self.location
        return (loc.file if loc else "", loc.line if loc else 0, loc.column if loc else 0,
                self.code, self.summary)


class AnkplanError(Exception):
    """Base of every error ankplan raises on purpose; the CLI prints it without a traceback."""

    def __init__(self, summary: str, detail: str = "", hint: str = "") -> None:
        super().__init__(summary)
        self.summary = summary
        self.detail = detail
        self.hint = hint


class DiagnosticsError(AnkplanError):
    """A document failed validation; carries every diagnostic, errors and warnings."""

    def __init__(self, summary: str, diagnostics: tuple[Diagnostic, ...]) -> None:
        super().__init__(summary)
        self.diagnostics = tuple(sorted(diagnostics, key=Diagnostic.sort_key))


class ManifestError(DiagnosticsError):
    """A manifest could not be loaded or is invalid."""


class InventoryError(DiagnosticsError):
    """An inventory could not be loaded or is invalid."""


class DependencyCycleError(AnkplanError):
    """The workloads' dependencies form a cycle; `cycle` lists it, first name repeated last."""

    def __init__(self, cycle: tuple[str, ...]) -> None:
        super().__init__("dependency cycle: " + " -> ".join(cycle))
        self.cycle = cycle


class ConnectError(AnkplanError):
    """A node could not be reached or refused us (DNS, refused, timeout, auth, host key)."""

    def __init__(self, node_name: str, reason: str, hint: str = "") -> None:
        super().__init__(f"node {node_name}: {reason}", hint=hint)
        self.node_name = node_name
        self.reason = reason


class RemoteCommandError(AnkplanError):
    """A command on a node exited non-zero where success was required."""

    def __init__(self, node_name: str, argv: tuple[str, ...], exit_code: int, stderr: str,
                 hint: str = "") -> None:
        first = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {exit_code}"
        super().__init__(f"node {node_name}: {argv[0] if argv else 'command'} failed: {first}",
                         detail=stderr.strip(), hint=hint)
        self.node_name = node_name
        self.argv = argv
        self.exit_code = exit_code
        self.stderr = stderr


class PlanError(AnkplanError):
    """The plan cannot be made or applied (unsupported runtime, stale saved plan, conflict)."""


class LockError(AnkplanError):
    """Another ankplan run holds the apply lock on a node."""


class ApplyError(AnkplanError):
    """Apply finished with failed or skipped actions; `results` holds every outcome."""

    def __init__(self, summary: str, results: tuple[object, ...] = ()) -> None:
        super().__init__(summary)
        self.results = results
