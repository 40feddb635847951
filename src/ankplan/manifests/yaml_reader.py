"""Safe YAML reading: plain data plus the file position of every value and key.

`read_yaml_file` does the only I/O (one bounded read); everything after the bytes are in memory
is pure. Hostile input (huge, binary, bombs, deep nesting, odd tags) becomes Diagnostics.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from ankplan.errors import Diagnostic, Location, Severity
from ankplan.files import FileTooLargeError, NotRegularFileError, read_regular
from ankplan.manifests.yaml_builder import MAX_DEPTH, Builder, BuildStop

# Characters YAML allows in a stream (YAML 1.2 "c-printable"); anything else is refused early.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedDocument:
    """A parsed YAML document and where each of its values sits in the source text."""

    path: str
    text: str
    data: object
    # JSON pointer (RFC 6901, "" = root) -> (line, column), 1-based, of the VALUE;
    # pointer + "#key" -> position of the mapping KEY.
    positions: Mapping[str, tuple[int, int]]


def read_yaml_file(path: str, *, max_bytes: int = 4 * 1024 * 1024,
                   ) -> tuple[LoadedDocument | None, tuple[Diagnostic, ...]]:
    """Read and parse one YAML file; problems come back as diagnostics, never raised."""
    raw, problem = _read_bounded(path, max_bytes)
    if problem is not None:
        return None, (problem,)
    text, problem = _decode(path, raw)
    if problem is not None:
        return None, (problem,)
    return parse_yaml_text(text, path)


def parse_yaml_text(text: str, path: str) -> tuple[LoadedDocument | None, tuple[Diagnostic, ...]]:
    """Parse YAML text (one document) into plain data with positions. Pure."""
    text = text.removeprefix("\ufeff")
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        line, column = _line_col(text, bad.start())
        char = bad.group()
        code, what = (("binary-file", "binary content (NUL byte)") if char == "\0"
                      else ("yaml-syntax", f"control character U+{ord(char):04X}"))
        return None, (_error(path, code, f"{what} is not allowed in a YAML file", line, column,
                             "save the file as plain UTF-8 text"),)
    builder = Builder(path)
    try:
        data = builder.run(text)
    except BuildStop as stop:
        return None, tuple(builder.problems) + (stop.diagnostic,)
    except yaml.MarkedYAMLError as error:
        return None, tuple(builder.problems) + (_yaml_error(path, text, error),)
    except (yaml.YAMLError, ValueError, UnicodeError) as error:
        return None, tuple(builder.problems) + (
            _error(path, "yaml-syntax", f"invalid YAML: {_one_line(str(error))}", 0, 0),)
    document = LoadedDocument(path=path, text=text, data=data, positions=builder.positions)
    return document, tuple(builder.problems)


def location_of(doc: LoadedDocument, pointer: str, *, key: bool = False) -> Location:
    """Where `pointer` sits in the file; the nearest known ancestor when it is unknown."""
    position = doc.positions.get(pointer + "#key") if key else None
    probe = pointer
    while position is None:
        position = doc.positions.get(probe)
        if position is not None or not probe:
            break
        probe = probe.rsplit("/", 1)[0]
    line, column = position or (0, 0)
    return Location(file=doc.path, line=line, column=column, pointer=pointer)


def escape_pointer_token(token: str) -> str:
    """Escape one JSON pointer reference token (RFC 6901: ~ -> ~0, / -> ~1)."""
    return token.replace("~", "~0").replace("/", "~1")


def join_pointer(pointer: str, *tokens: object) -> str:
    """`pointer` extended by `tokens`, each escaped."""
    return pointer + "".join("/" + escape_pointer_token(str(token)) for token in tokens)


# --- reading ---------------------------------------------------------------------------------


def _read_bounded(path: str, max_bytes: int) -> tuple[bytes, Diagnostic | None]:
    try:
        return read_regular(path, max_bytes=max_bytes), None
    except NotRegularFileError as error:
        if error.kind == "a directory":
            return b"", _error(path, "not-a-file", "is a directory, not a manifest file", 0, 0,
                               "pass the YAML file inside it, e.g. " +
                               os.path.join(path, "manifest.yaml"))
        return b"", _error(path, "not-a-file", f"is {error.kind}, not a regular file", 0, 0,
                           "pass the path of a YAML file")
    except FileTooLargeError as error:
        return b"", _too_large(path, error.size, max_bytes)
    except FileNotFoundError:
        return b"", _error(path, "file-not-found", "no such file", 0, 0,
                           "check the path; it is relative to the current directory")
    except PermissionError:
        return b"", _error(path, "read-error", "permission denied", 0, 0)
    except OSError as error:
        return b"", _error(path, "read-error", f"cannot read: {error.strerror or error}", 0, 0)


def _too_large(path: str, size: int, max_bytes: int) -> Diagnostic:
    limit = f"{max_bytes // 1024} KiB" if max_bytes < 1024 * 1024 else \
        f"{max_bytes / (1024 * 1024):g} MiB"
    more = "more than " if size > max_bytes and size == max_bytes + 1 else ""
    return _error(path, "file-too-large", f"file is too large ({more}{size} bytes; the limit is "
                  f"{limit})", 0, 0, "a manifest is a small text file; check the path")


def _decode(path: str, raw: bytes) -> tuple[str, Diagnostic | None]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "", _error(path, "not-utf8", "file is UTF-16 encoded; ankplan reads UTF-8", 1, 1,
                          "convert it, e.g. iconv -f UTF-16 -t UTF-8")
    nul = raw.find(b"\0")
    if nul >= 0:
        line, column = _byte_line_col(raw, nul)
        return "", _error(path, "binary-file", "binary content (NUL byte), not a YAML text file",
                          line, column, "check the path")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as error:
        line, column = _byte_line_col(raw, error.start)
        byte = raw[error.start]
        return "", _error(path, "not-utf8", f"not valid UTF-8 (byte 0x{byte:02x})", line, column,
                          "save the file as UTF-8")


def _byte_line_col(raw: bytes, index: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, index) + 1
    return raw.count(b"\n", 0, index) + 1, index - line_start + 1


def _line_col(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


# --- diagnostics helpers ---------------------------------------------------------------------


def _error(path: str, code: str, summary: str, line: int, column: int, hint: str = "",
           pointer: str = "") -> Diagnostic:
    return Diagnostic(severity=Severity.ERROR, code=code, summary=summary, hint=hint,
                      location=Location(file=path, line=line, column=column, pointer=pointer))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _yaml_error(path: str, text: str, error: yaml.MarkedYAMLError) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    parts = [error.context or "", error.problem or ""]
    message = _one_line("; ".join(part for part in parts if part)) or "syntax error"
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    hint = "check indentation, quotes and brackets around this position"
    if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
        message, hint = "a tab character cannot indent YAML", "indent with spaces, not tabs"
    if "maximum nesting depth" in message:  # PyYAML >= 6.0.4 limits flow nesting in its scanner
        return _error(path, "nesting-too-deep", f"nesting deeper than {MAX_DEPTH} levels", line,
                      column, "flatten the document")
    return _error(path, "yaml-syntax", f"invalid YAML: {message}", line, column, hint)


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.split("\n", line + 1)
    return lines[line][column:column + 1] if line < len(lines) else ""
