"""Parses one handlebars tag rule by rule as the Rust `handlebars` crate's pest grammar does.

Pure: no I/O. Pest skips whitespace between the parts of a non-atomic rule, so `{{ #if x}}` and
`{{eq(len a)2}}` are tags there; this module follows that so ankplan accepts the same templates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

SYMBOL = "A-Za-z0-9_$\\-\u0080-\U0010ffff"  # the grammar's symbol_char
_WS = re.compile(r"[ \t\n\r]*")
_IDENT = re.compile(f"[{SYMBOL}]+")
_PARTIAL_IDENT = re.compile("[A-Za-z0-9_\\-/.\u0080-\U0010ffff]+|'(?>(?:\\\\'|[^'])+)'")
_NUMBER = re.compile(f"(?>-?[0-9]+\\.?[0-9]*(?:E-?[0-9]+)?)(?![{SYMBOL}])")
_WORD = re.compile(f"(?:null|true|false)(?![{SYMBOL}])")
_KEYWORD = re.compile(f"(?:as|else)[ \t\n\r]*+(?![{SYMBOL}])")
_STRING = {'"': re.compile(r'"((?:[^"\\]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*)"'),
           "'": re.compile(r"'((?:[^'\\]|\\['\\/bfnrt]|\\u[0-9A-Fa-f]{4})*)'")}
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_ITEM = f"[{SYMBOL}]+|\\[[^\\]]*\\]"
_PATH_ID = re.compile(_ITEM)
# path_inline: [this/ | ./] [@root/] [@] (../)* item (sep item)*; the prefix never backtracks
_PATH = re.compile(f"(?>(?:this[./]|\\./)?(@root[./])?(@)?((?:\\.\\.[./])*))"
                   f"((?:{_ITEM})(?:[./](?:{_ITEM}))*)")
_TILDE = re.compile(r"[ \t\n\r]*~")
_WORDS: dict[str, re.Pattern[str]] = {}
_PATHS: dict[str, Path] = {}  # parsed references by their text; bounded below
_UP, _ROOT, _LOCAL = object(), object(), object()  # the grammar's path_up, path_root, path_local
MAX_DEPTH = 32  # nested sub-expressions and literals


class InvalidParameter(ValueError):
    """A literal the grammar accepts but JSON does not (`01`, `"\\t"`, `[,1]`)."""

    def __init__(self, text: str, offset: int) -> None:
        super().__init__(text)
        self.text = text
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Path:
    """A value reference resolved the crate's way: leading `../`, `@root`, block params, `@x`."""

    raw: str
    names: tuple[str, ...]  # the named segments; `this` and `..` inside the path drop out
    depth: int = 0  # leading ../
    root: bool = False
    first: str | None = None  # the first segment, when it may name a block parameter
    local: tuple[int, str] | None = None  # @index, @../key: (levels up, name)


@dataclass(frozen=True, slots=True)
class Literal:
    """A JSON literal: string, number, true/false/null, array or object."""

    value: object


@dataclass(frozen=True, slots=True)
class Call:
    """A helper name with its arguments: `(eq a 1)`, `#each xs as |x|`, `lookup m "k"`."""

    name: str
    params: tuple[Expr, ...] = ()
    hash: tuple[tuple[str, Expr], ...] = ()
    block_params: tuple[str, ...] = ()


Expr = Path | Literal | Call


class Grammar:
    """The tag rules over one template; each method returns (result, end) or None."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.depth = 0

    def ws(self, pos: int) -> int:
        return _WS.match(self.src, pos).end()  # type: ignore[union-attr]

    def word(self, pos: int, text: str) -> int | None:
        """`text` after optional whitespace; the position after it."""
        pattern = _WORDS.get(text)
        if pattern is None:
            pattern = _WORDS[text] = re.compile(r"[ \t\n\r]*" + re.escape(text))
        match = pattern.match(self.src, pos)
        return match.end() if match else None

    def tilde(self, pos: int) -> tuple[bool, int]:
        match = _TILDE.match(self.src, pos)
        return (True, match.end()) if match else (False, pos)

    def identifier(self, pos: int) -> tuple[str, int] | None:
        match = _IDENT.match(self.src, self.ws(pos))
        return (match.group(), match.end()) if match else None

    def partial_identifier(self, pos: int) -> tuple[str, int] | None:
        match = _PARTIAL_IDENT.match(self.src, self.ws(pos))
        return (match.group(), match.end()) if match else None

    # --- values --------------------------------------------------------------------------

    def parameter(self, pos: int) -> tuple[Expr, int] | None:
        """helper_parameter: not a bare `as`/`else`; a literal, reference or sub-expression."""
        pos = self.ws(pos)
        if _KEYWORD.match(self.src, pos):
            return None
        span = self.literal(pos)
        if span is not None:
            return Literal(literal_value(self.src[span[0]:span[1]], span[0])), span[1]
        return self.reference(pos) or self.subexpression(pos)

    def literal(self, pos: int) -> tuple[int, int] | None:
        """The span of a literal (string | array | object | number | null | boolean)."""
        src = self.src
        char = src[pos:pos + 1]
        if char in ("'", '"'):
            match = _STRING[char].match(src, pos)
            return (pos, match.end()) if match else None
        if char in "[{" and char:
            return self._nested(pos, char)
        match = _NUMBER.match(src, pos) or _WORD.match(src, pos)
        return (pos, match.end()) if match else None

    def _nested(self, pos: int, opener: str) -> tuple[int, int] | None:
        """array_literal / object_literal, with whitespace allowed between the parts."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                return None
            end = self._member(self.ws(pos + 1), opener) or pos + 1
            while (comma := self.word(end, ",")) is not None:
                member = self._member(self.ws(comma), opener)
                if member is None:
                    break
                end = member
            after = self.word(end, "]" if opener == "[" else "}")
            return (pos, after) if after is not None else None
        finally:
            self.depth -= 1

    def _member(self, pos: int, opener: str) -> int | None:
        """One array item, or one `"key": value` of an object."""
        if opener == "{":
            match = _STRING['"'].match(self.src, pos) or _STRING["'"].match(self.src, pos)
            colon = self.word(match.end(), ":") if match else None
            if colon is None:
                return None
            pos = self.ws(colon)
        found = self.literal(pos)
        return found[1] if found else None

    def reference(self, pos: int) -> tuple[Path, int] | None:
        """path_inline: this/ ./ @root/ @ ../ then segments joined by . or /."""
        match = _PATH.match(self.src, pos)
        if match is None:
            return None
        raw = match.group()
        path = _PATHS.get(raw)
        if path is None:
            segments: list[object] = [_ROOT] if match.group(1) else []
            segments += [_LOCAL] if match.group(2) else []
            segments += [_UP] * (len(match.group(3)) // 3)
            segments += [item[1:-1] if item.startswith("[") else item
                         for item in _PATH_ID.findall(match.group(4))]
            if len(_PATHS) > 4096:
                _PATHS.clear()
            path = _PATHS[raw] = make_path(raw, segments)
        return path, match.end()

    def subexpression(self, pos: int) -> tuple[Call, int] | None:
        """`(helper args...)` or `(reference)`, the latter calling a helper of that name."""
        if not self.src.startswith("(", pos):
            return None
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                return None
            found = self.call(pos + 1, need_args=True)
            if found is None:
                path = self.reference(self.ws(pos + 1))
                found = (Call(path[0].raw), path[1]) if path else None
            end = self.word(found[1], ")") if found else None
            return (found[0], end) if found and end is not None else None
        finally:
            self.depth -= 1

    def call(self, pos: int, *, need_args: bool = False, block_params: bool = False,
             ) -> tuple[Call, int] | None:
        """identifier (hash | parameter)* [as |a b|]; with need_args at least one argument."""
        name = self.identifier(pos)
        if name is None:
            return None
        params, hashes, end = self.arguments(name[1])
        if need_args and not params and not hashes:
            return None
        names: tuple[str, ...] = ()
        if block_params and (found := self.block_params(end)):
            names, end = found
        return Call(name[0], params, hashes, names), end

    def arguments(self, pos: int) -> tuple[tuple[Expr, ...], tuple[tuple[str, Expr], ...], int]:
        """(hash | parameter)*: positional arguments, key=value arguments, the end."""
        params: list[Expr] = []
        hashes: dict[str, Expr] = {}
        while True:
            if pair := self.hash(pos):  # key=value is tried first, as in the grammar
                (key, value), pos = pair
                hashes[key] = value
            elif param := self.parameter(pos):
                params.append(param[0])
                pos = param[1]
            else:
                return tuple(params), tuple(hashes.items()), pos

    def hash(self, pos: int) -> tuple[tuple[str, Expr], int] | None:
        key = self.identifier(pos)
        equals = self.word(key[1], "=") if key else None
        value = self.parameter(equals) if key and equals is not None else None
        return ((key[0], value[0]), value[1]) if key and value else None

    def block_params(self, pos: int) -> tuple[tuple[str, ...], int] | None:
        """`as |item|` or `as |value key|`."""
        end = self.word(pos, "as")
        end = self.word(end, "|") if end is not None else None
        first = self.identifier(end) if end is not None else None
        if first is None:
            return None
        second = self.identifier(first[1])
        names, end = ((first[0], second[0]), second[1]) if second else ((first[0],), first[1])
        close = self.word(end, "|")
        return (names, close) if close is not None else None


def make_path(raw: str, segments: list[object]) -> Path:
    """A Path from its grammar segments, planned the way the crate resolves it."""
    kept = [segment for segment in segments if segment != "this"]
    if kept[:1] == [_LOCAL]:
        level = 0
        while kept[1 + level:2 + level] == [_UP]:
            level += 1
        name = kept[1 + level] if len(kept) > 1 + level else None
        if isinstance(name, str):
            return Path(raw, (), local=(level, name))
    depth, root, first = 0, False, None
    for segment in kept:
        if segment is _UP:
            depth += 1
            continue
        root = segment is _ROOT
        first = segment if isinstance(segment, str) else None
        break
    names = tuple(segment for segment in kept if isinstance(segment, str))
    return Path(raw, names, depth, root, first)


def literal_value(text: str, offset: int) -> object:
    """The JSON value of a literal the way serde_json reads it; InvalidParameter if it cannot."""
    if text[:1] == "'":
        text = '"' + text[1:-1].replace('"', '\\"').replace("\\'", "'") + '"'
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_float,
                           parse_constant=_reject, object_pairs_hook=dict)
    except (ValueError, RecursionError):
        raise InvalidParameter(text, offset) from None
    if _has_surrogate(value):
        raise InvalidParameter(text, offset)
    return value


def json_number(text: str) -> int | float | None:
    """A JSON number as serde_json keeps it (u64/i64 ints, else f64); None if not a number."""
    match = _JSON_NUMBER.fullmatch(text)
    if match is None:
        return None
    try:
        return _float(text) if match.group(1) or match.group(2) else _integer(text)
    except ValueError:  # out of range, as 1e400
        return None


def _integer(text: str) -> int | float:
    value = int(text)
    if text.startswith("-") and value == 0:
        return -0.0
    return value if -2**63 <= value < 2**64 else float(value)


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def _reject(text: str) -> object:
    raise ValueError(text)


def _has_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, list):
        return any(_has_surrogate(item) for item in value)
    if isinstance(value, dict):
        return any(_has_surrogate(key) or _has_surrogate(item) for key, item in value.items())
    return False
