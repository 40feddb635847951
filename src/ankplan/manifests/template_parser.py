"""Parses the handlebars subset Ankaios manifests use into a small syntax tree.

Pure: no I/O. Handles `{{path}}`, `{{{path}}}`, comments, `~` whitespace control, block helpers
(`#each`, `#if`, `#unless`, `#with`, `{{else}}`), sub-expressions and `{{> partial k=v}}`, and
strips "standalone" block lines the way handlebars does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_NESTING = 32  # nested blocks in one template


class TemplateError(Exception):
    """A template that does not parse or render; line/column are 1-based inside the template."""

    def __init__(self, message: str, line: int = 0, column: int = 0, hint: str = "") -> None:
        message = re.sub(r"\s*\n\s*", " ", message)  # quoted template text stays on one line
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = re.sub(r"\s*\n\s*", " ", hint)

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return where + self.message


# --- expressions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Path:
    """A value lookup such as `port.access_port`, `this`, `../x` or `@index`."""

    raw: str
    parts: tuple[str, ...]
    up: int = 0  # number of leading ../
    data: bool = False  # @key, @index, ...


@dataclass(frozen=True, slots=True)
class Literal:
    """A string, number, boolean or null literal."""

    value: object


@dataclass(frozen=True, slots=True)
class SubExpr:
    """`(helper arg ...)`."""

    helper: str
    args: tuple[Path | Literal | SubExpr, ...]


Expr = Path | Literal | SubExpr

# --- nodes -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Var:
    """`{{expr}}`: renders the value."""

    expr: Expr
    offset: int


@dataclass(slots=True)
class Block:
    """`{{#helper params}}body{{else}}inverse{{/helper}}`."""

    helper: str
    params: tuple[Expr, ...]
    offset: int
    body: list[object] = field(default_factory=list)
    inverse: list[object] | None = None


@dataclass(slots=True)
class Partial:
    """`{{> name key=expr}}`; `indent` is the leading whitespace when it stands alone on a line."""

    name: str
    hash: dict[str, Expr]
    offset: int
    indent: str | None = None
    newline: bool = False  # the standalone line ended with a newline that was consumed


@dataclass(slots=True)
class _Tag:
    kind: str  # var, open, close, else, partial, comment
    body: str
    start: int
    end: int
    strip_before: bool = False
    strip_after: bool = False
    indent: str | None = None  # standalone: the whitespace that led the line
    newline: bool = False  # standalone: the line's newline was consumed


_TAG = re.compile(r"(\\?)\{\{(~?)(\{?)(!--.*?--|!.*?|[^{}]*?)(\}?)(~?)\}\}", re.DOTALL)
_STANDALONE = {"open", "close", "else", "comment", "partial"}


def parse(template: str) -> list[object]:
    """The syntax tree of `template`; raises TemplateError with its position."""
    tokens = _strip_standalone(_apply_tilde(_tokenize(template)))
    return _build(tokens, template)


def position(template: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of `offset` in `template`."""
    line_start = template.rfind("\n", 0, offset) + 1
    return template.count("\n", 0, offset) + 1, offset - line_start + 1


def _tokenize(template: str) -> list[str | _Tag]:
    tokens: list[str | _Tag] = []
    cursor = 0
    for match in _TAG.finditer(template):
        if match.group(1):  # \{{ is a literal {{
            continue
        tokens.append(_text(template, cursor, match.start()))
        tokens.append(_classify(match, template))
        cursor = match.end()
    tokens.append(_text(template, cursor, len(template)))
    return tokens


def _text(template: str, start: int, end: int) -> str:
    """Literal text between tags; a '{{' left in it is a tag that did not parse."""
    text = template[start:end]
    probe = text.replace("\\{{", "  ")
    if "{{" in probe:
        offset = start + probe.index("{{")
        raise TemplateError("'{{' does not start a valid tag (unclosed or malformed)",
                            *position(template, offset))
    return text.replace("\\{{", "{{")


def _classify(match: re.Match[str], template: str) -> _Tag:
    body = match.group(4).strip()
    kinds = {"#": "open", "/": "close", ">": "partial", "!": "comment", "^": "inverse"}
    kind = kinds.get(body[:1], "var")
    if body == "else" or body.startswith("else "):
        kind = "else"
    if kind == "inverse":
        raise TemplateError("'{{^...}}' blocks are not supported; use {{#unless}}",
                            *position(template, match.start()))
    if bool(match.group(3)) != bool(match.group(5)) or not body:
        raise TemplateError(f"malformed tag '{match.group(0)}'", *position(template, match.start()))
    content = body[1:].strip() if kind in ("open", "close", "partial") else body
    return _Tag(kind, content, match.start(), match.end(), bool(match.group(2)),
                bool(match.group(6)))


def _apply_tilde(tokens: list[str | _Tag]) -> list[str | _Tag]:
    for index, token in enumerate(tokens):
        if not isinstance(token, _Tag):
            continue
        if token.strip_before and isinstance(tokens[index - 1], str):
            tokens[index - 1] = str(tokens[index - 1]).rstrip()
        if token.strip_after and isinstance(tokens[index + 1], str):
            tokens[index + 1] = str(tokens[index + 1]).lstrip()
    return tokens


def _strip_standalone(tokens: list[str | _Tag]) -> list[str | _Tag]:
    """Remove the whitespace and newline around block tags that stand alone on their line."""
    for index in range(1, len(tokens), 2):  # tokens alternate text, tag, text, ...
        tag = tokens[index]
        assert isinstance(tag, _Tag)
        before, after = str(tokens[index - 1]), str(tokens[index + 1])
        line_head = before[before.rfind("\n") + 1:]
        line_tail = after.split("\n", 1)[0]
        at_line_start = "\n" in before or index == 1
        at_line_end = "\n" in after or index + 2 == len(tokens)
        if tag.kind not in _STANDALONE or line_head.strip() or line_tail.strip():
            continue
        if not (at_line_start and at_line_end):
            continue
        tokens[index - 1] = before[:len(before) - len(line_head)]
        tokens[index + 1] = after[len(line_tail) + 1:] if "\n" in after else ""
        tag.indent, tag.newline = line_head, "\n" in after
    return tokens


def _build(tokens: Sequence[object], template: str) -> list[object]:
    root: list[object] = []
    stack: list[tuple[Block, list[object]]] = []
    current = root
    for token in tokens:
        if isinstance(token, str):
            if token:
                current.append(token)
            continue
        assert isinstance(token, _Tag)
        current = _add_tag(token, template, stack, current, root)
    if stack:
        block = stack[-1][0]
        raise TemplateError(f"'{{{{#{block.helper}}}}}' is never closed",
                            *position(template, block.offset),
                            hint=f"add {{{{/{block.helper}}}}}")
    return root


def _add_tag(tag: _Tag, template: str, stack: list[tuple[Block, list[object]]],
             current: list[object], root: list[object]) -> list[object]:
    where = position(template, tag.start)
    if tag.kind == "comment":
        return current
    if tag.kind == "var":
        current.append(Var(parse_expression(tag.body, where), tag.start))
    elif tag.kind == "partial":
        current.append(_partial(tag, where))
    elif tag.kind == "open":
        if len(stack) >= MAX_NESTING:
            raise TemplateError(f"blocks nested more than {MAX_NESTING} deep", *where)
        helper, *params = _split_words(tag.body, where) or [""]
        block = Block(helper, tuple(parse_expression(p, where) for p in params), tag.start)
        current.append(block)
        stack.append((block, current))
        return block.body
    elif tag.kind == "else":
        if not stack or stack[-1][0].inverse is not None:
            raise TemplateError("'{{else}}' outside a block", *where)
        stack[-1][0].inverse = []
        return stack[-1][0].inverse
    elif tag.kind == "close":
        if not stack:
            raise TemplateError(f"unexpected closing tag '{{{{/{tag.body}}}}}'", *where)
        block, parent = stack.pop()
        if tag.body != block.helper:
            raise TemplateError(f"closing tag '{{{{/{tag.body}}}}}' does not match "
                                f"'{{{{#{block.helper}}}}}'", *where,
                                hint=f"close the block with {{{{/{block.helper}}}}}")
        return parent
    return current


def _partial(tag: _Tag, where: tuple[int, int]) -> Partial:
    name, *args = _split_words(tag.body, where) or [""]
    hash_args: dict[str, Expr] = {}
    for arg in args:
        key, equals, value = arg.partition("=")
        if not equals or not key or not value:
            raise TemplateError(f"partial argument '{arg}' must be key=value", *where)
        hash_args[key] = parse_expression(value, where)
    return Partial(name, hash_args, tag.start, tag.indent, tag.newline)


# --- expression parsing ----------------------------------------------------------------------

_WORD = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[^\s()]+)')


def _split_words(text: str, where: tuple[int, int]) -> list[str]:
    """Top-level words of a tag body; a parenthesised sub-expression stays one word."""
    words: list[str] = []
    depth, start, cursor = 0, 0, 0
    for match in _WORD.finditer(text):
        word = match.group(1)
        if depth == 0:
            start = match.start(1)
        depth += 1 if word == "(" else -1 if word == ")" else 0
        if depth < 0:
            raise TemplateError("unbalanced ')'", *where)
        if depth == 0:
            words.append(text[start:match.end(1)])
        cursor = match.end()
    if depth or text[cursor:].strip():
        raise TemplateError("unbalanced '('", *where)
    return words


def parse_expression(text: str, where: tuple[int, int]) -> Expr:
    """One expression: a literal, a path or a parenthesised helper call."""
    if text.startswith("(") and text.endswith(")"):
        helper, *args = _split_words(text[1:-1], where) or [""]
        if not helper:
            raise TemplateError("empty sub-expression '()'", *where)
        return SubExpr(helper, tuple(parse_expression(arg, where) for arg in args))
    if text[:1] in "\"'" and len(text) >= 2 and text[-1] == text[0]:
        return Literal(re.sub(r"\\(.)", r"\1", text[1:-1]))
    literals = {"true": True, "false": False, "null": None, "undefined": None}
    if text in literals:
        return Literal(literals[text])
    if re.fullmatch(r"-?[0-9]+", text):
        return Literal(int(text))
    if re.fullmatch(r"-?[0-9]+\.[0-9]+", text):
        return Literal(float(text))
    return _path(text, where)


def _path(text: str, where: tuple[int, int]) -> Path:
    raw, up, data = text, 0, text.startswith("@")
    text = text[1:] if data else text
    while text.startswith("../"):
        up, text = up + 1, text[3:]
    if text in ("this", ".", "./"):
        return Path(raw, (), up, data)
    text = text[5:] if text.startswith(("this.", "this/")) else text
    text = text.removeprefix("./")
    parts = tuple(re.split(r"[./]", text))
    if not text or any(not part for part in parts) or not all(
            re.fullmatch(r"[A-Za-z0-9_$-]+", part) for part in parts):
        raise TemplateError(f"invalid expression '{raw}'", *where)
    return Path(raw, parts, up, data)
