"""Builds plain Python data from YAML parser events, recording the position of every value.

Pure: works on text already in memory. Replaces PyYAML's composer and constructor so that depth,
alias expansion and tags are bounded and checked without recursion. Scalars resolve by the YAML
1.2 core schema (as Ankaios' serde_yaml does): `yes`, `on` and dates stay strings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, NoReturn

import yaml

from ankplan.errors import Diagnostic, Location, Severity

MAX_DEPTH = 64  # nesting levels of mappings and sequences
MAX_NODES = 250_000  # values in the document after alias expansion
MAX_ALIASES = 10_000  # alias uses (*name) in one document

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null")}
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")


class _EventLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader (libyaml when available); only its parser is used."""


class BuildStop(Exception):
    """A problem that stops building; carries its diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.summary)
        self.diagnostic = diagnostic


_NO_KEY = object()  # the next scalar in this mapping is a key
_SKIP = object()  # the pending key was refused; drop its value


@dataclass(slots=True)
class _Frame:
    value: dict[str, object] | list[object]
    pointer: str
    anchor: str | None
    start_nodes: int
    key: object = _NO_KEY
    key_lines: dict[str, int] = field(default_factory=dict)


class Builder:
    """Turns one YAML text into data + positions; collects non-fatal problems in `problems`."""

    def __init__(self, path: str, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES,
                 max_aliases: int = MAX_ALIASES) -> None:
        self.path = path
        self.positions: dict[str, tuple[int, int]] = {}
        self.problems: list[Diagnostic] = []
        self._limits = (max_depth, max_nodes, max_aliases)
        self._stack: list[_Frame] = []
        self._anchors: dict[str, tuple[object, int]] = {}
        self._open: set[str] = set()
        self._nodes = 0
        self._aliases = 0
        self._documents = 0
        self._result: object = None

    def run(self, text: str) -> object:
        """Parse `text`; raises BuildStop or yaml.YAMLError on fatal problems."""
        loader = _EventLoader(text)
        try:
            while loader.check_event():
                self._handle(loader.get_event())
        finally:
            loader.dispose()
        return self._result

    def _handle(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.ScalarEvent):
            self._scalar(event)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self._start(event)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            self._end()
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, yaml.DocumentStartEvent):
            self._documents += 1
            if self._documents > 1:
                self._stop(event.start_mark, "multiple-documents",
                           "more than one YAML document in one file ('---')",
                           "a manifest is one document; split it into files and pass them all")

    # --- events ----------------------------------------------------------------------------

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        self._count(1, event.start_mark)
        value = self._resolve(event)
        if isinstance(value, str) and "\0" in value:  # only a "\0" escape can make one
            self._problem(event.start_mark, "nul-character", "a NUL character (\\0) is not "
                          "allowed: no argument, path or host name can hold one",
                          "remove the \\0 (or \\x00) escape from the quoted string")
        pointer = self._slot(event.start_mark)
        if pointer is None:
            self._take_key(value, event.start_mark)
            return
        self._place(value)
        if event.anchor:
            self._anchors[event.anchor] = (value, 1)

    def _start(self, event: yaml.CollectionStartEvent) -> None:
        is_map = isinstance(event, yaml.MappingStartEvent)
        if len(self._stack) >= self._limits[0]:
            self._stop(event.start_mark, "nesting-too-deep",
                       f"nesting deeper than {self._limits[0]} levels", "flatten the document")
        self._count(1, event.start_mark)
        self._check_tag(event.tag, _TAG + ("map" if is_map else "seq"), event.start_mark)
        pointer = self._slot(event.start_mark)
        if pointer is None:
            self._stop(event.start_mark, "non-string-key",
                       "a mapping or list cannot be used as a key", "keys must be plain strings")
        if event.anchor:
            self._open.add(event.anchor)
        value: dict[str, object] | list[object] = {} if is_map else []
        self._stack.append(_Frame(value, pointer, event.anchor, self._nodes))

    def _end(self) -> None:
        frame = self._stack.pop()
        if frame.anchor:
            self._open.discard(frame.anchor)
            self._anchors[frame.anchor] = (frame.value, self._nodes - frame.start_nodes + 1)
        self._place(frame.value)

    def _alias(self, event: yaml.AliasEvent) -> None:
        name = event.anchor or ""
        if name in self._open:
            self._stop(event.start_mark, "recursive-alias",
                       f"alias '*{name}' refers to the collection that contains it")
        if name not in self._anchors:
            self._stop(event.start_mark, "undefined-alias", f"alias '*{name}' has no anchor "
                       f"'&{name}' before it")
        value, size = self._anchors[name]
        self._aliases += 1
        if self._aliases > self._limits[2]:
            self._stop(event.start_mark, "too-many-nodes",
                       f"more than {self._limits[2]} alias uses (possible alias bomb)")
        self._count(size, event.start_mark)
        if self._slot(event.start_mark) is None:
            self._take_key(value, event.start_mark)
        else:
            self._place(value)

    # --- placing values --------------------------------------------------------------------

    def _slot(self, mark: Any) -> str | None:
        """Pointer of the value about to be placed (recording its position); None for a key."""
        position = (mark.line + 1, mark.column + 1)
        if not self._stack:
            pointer = ""
        else:
            frame = self._stack[-1]
            if isinstance(frame.value, list):
                pointer = f"{frame.pointer}/{len(frame.value)}"
            elif frame.key is _NO_KEY:
                return None
            elif frame.key is _SKIP:
                return f"{frame.pointer}/#skipped"
            else:
                pointer = frame.pointer + "/" + _escape(str(frame.key))
        self.positions[pointer] = position
        return pointer

    def _place(self, value: object) -> None:
        if not self._stack:
            self._result = value
            return
        frame = self._stack[-1]
        if isinstance(frame.value, list):
            frame.value.append(value)
            return
        if frame.key is not _SKIP:
            frame.value[str(frame.key)] = value
        frame.key = _NO_KEY

    def _take_key(self, key: object, mark: Any) -> None:
        frame = self._stack[-1]
        if not isinstance(key, str):
            shown = "null" if key is None else repr(key).lower() if isinstance(key, bool) \
                else repr(key)
            self._problem(mark, "non-string-key", f"mapping key {shown} is not a string",
                          f"quote the key: '{'' if key is None else key}'")
            frame.key = _SKIP
            return
        first = frame.key_lines.get(key)
        if first is not None:
            self._problem(mark, "duplicate-key", f"duplicate key '{key}' on line {mark.line + 1} "
                          f"(first defined on line {first})",
                          "remove one of them; YAML keeps only one value per key")
        frame.key_lines[key] = mark.line + 1
        frame.key = key
        self.positions[frame.pointer + "/" + _escape(key) + "#key"] = (mark.line + 1,
                                                                        mark.column + 1)

    # --- scalars and tags ------------------------------------------------------------------

    def _resolve(self, event: yaml.ScalarEvent) -> object:
        tag, text = event.tag, event.value
        if tag in (None, "!"):
            return _resolve_plain(text) if tag is None and event.implicit[0] else text
        if tag not in _SCALAR_TAGS:
            self._check_tag(tag, "", event.start_mark)
            return text
        if tag == _TAG + "str":
            return text
        value = _resolve_plain(text)
        kind = tag[len(_TAG):]
        if kind == "float" and type(value) in (int, float):
            return float(value)  # type: ignore[arg-type]
        if type(value) is {"int": int, "bool": bool, "null": type(None)}.get(kind):
            return value
        self._problem(event.start_mark, "yaml-tag", f"'{text}' is not a valid {_short(tag)}")
        return text

    def _check_tag(self, tag: str | None, allowed: str, mark: Any) -> None:
        if tag in (None, "!", allowed):
            return
        self._problem(mark, "yaml-tag", f"unsupported YAML tag '{_short(tag or '')}'",
                      "ankplan reads plain YAML only (strings, numbers, booleans, null, "
                      "lists, mappings); remove the tag")

    # --- limits and problems ---------------------------------------------------------------

    def _count(self, nodes: int, mark: Any) -> None:
        self._nodes += nodes
        if self._nodes > self._limits[1]:
            self._stop(mark, "too-many-nodes", f"document expands to more than "
                       f"{self._limits[1]} values (possible alias bomb)",
                       "use fewer anchors/aliases or split the manifest")

    def _diagnostic(self, mark: Any, code: str, summary: str, hint: str) -> Diagnostic:
        location = Location(file=self.path, line=mark.line + 1, column=mark.column + 1)
        return Diagnostic(severity=Severity.ERROR, code=code, summary=summary, hint=hint,
                          location=location)

    def _problem(self, mark: Any, code: str, summary: str, hint: str = "") -> None:
        self.problems.append(self._diagnostic(mark, code, summary, hint))

    def _stop(self, mark: Any, code: str, summary: str, hint: str = "") -> NoReturn:
        raise BuildStop(self._diagnostic(mark, code, summary, hint))


def _resolve_plain(text: str) -> object:
    """The value of an untagged plain scalar under the YAML 1.2 core schema."""
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return int(text, 0) if text.startswith(("0o", "0x")) else int(text, 10)
    if _FLOAT.match(text):
        lowered = text.lower()
        if lowered.endswith(".nan"):
            return math.nan
        return float(lowered.replace(".inf", "inf"))
    return text


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
