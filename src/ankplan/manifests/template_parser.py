"""Turns a template into a syntax tree the way the Rust `handlebars` crate compiles it.

Pure: no I/O. Scans text and tags (escapes, raw blocks, comments), applies `~` whitespace
control and the crate's standalone-line rules, and nests blocks, `{{else}}` chains and partials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ankplan.manifests.template_grammar import Call, Expr, Grammar, InvalidParameter, Path
from ankplan.manifests.template_tags import Tag, raw_end, tag_at

MAX_NESTING = 32  # nested blocks in one template
RUST_WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                   "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_STANDALONE = frozenset({"open", "close", "else", "chain", "raw_open", "raw_close", "comment",
                         "partial", "decorator", "decorator_open", "partial_open"})
_UNSUPPORTED = {"decorator": "decorators ({{* ...}})",
                "decorator_open": "inline partials and decorator blocks ({{#* ...}})",
                "partial_open": "partial blocks ({{#> ...}})"}


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


@dataclass(frozen=True, slots=True)
class Var:
    """`{{path}}` or `{{(helper ...)}}`: renders a value."""

    expr: Path | Call
    offset: int


@dataclass(frozen=True, slots=True)
class Block:
    """A helper: `{{#name ...}}body{{else}}inverse{{/name}}`, or `{{name ...}}` (body None)."""

    call: Call
    offset: int
    body: tuple[Node, ...] | None = None
    inverse: tuple[Node, ...] | None = None


@dataclass(frozen=True, slots=True)
class Partial:
    """`{{> name param key=value}}`; `indent` is the whitespace before the tag on its line."""

    name: str | Call
    params: tuple[Expr, ...]
    hash: tuple[tuple[str, Expr], ...]
    offset: int
    indent: str | None = None
    standalone: bool = False


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A handlebars feature ankplan does not render (decorators, inline partials)."""

    what: str
    offset: int


Node = str | Var | Block | Partial | Unsupported



def position(template: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of `offset` in `template`."""
    line_start = template.rfind("\n", 0, offset) + 1
    return template.count("\n", 0, offset) + 1, offset - line_start + 1


def parse(template: str) -> tuple[Node, ...]:
    """The syntax tree of `template`; raises TemplateError with its position."""
    try:
        texts, tags = _scan(template)
    except InvalidParameter as error:
        raise TemplateError(f"invalid literal {error.text} (not valid JSON)",
                            *position(template, error.offset)) from None
    _control_whitespace(template, texts, tags)
    return _build(template, texts, tags)


# --- scanning ----------------------------------------------------------------------------


def _scan(src: str) -> tuple[list[str], list[Tag]]:
    """Texts and tags alternating: texts[i] comes before tags[i], texts[-1] after the last."""
    grammar = Grammar(src)
    texts: list[str] = []
    tags: list[Tag] = []
    pos = 0
    while True:
        text, pos = _text(src, pos, raw=False)
        texts.append(text)
        if pos >= len(src):
            return texts, tags
        tag = tag_at(grammar, pos)
        if tag is None:
            raise TemplateError("'{{' does not start a valid tag (unclosed or malformed)",
                                *position(src, pos))
        if tag.kind == "chain" and tag.pre:  # handlebars 6.3.2 panics on `{{~else if x}}`
            raise TemplateError("'{{~else ...}}' with a helper after else crashes the handlebars "
                                "library Ankaios uses", *position(src, pos),
                                hint="remove the ~ after {{")
        tags.append(tag)
        pos = tag.end
        if tag.kind == "raw_open":
            text, pos = _text(src, grammar.ws(pos), raw=True)  # the crate drops leading space
            close = raw_end(grammar, pos) if pos < len(src) else None
            if close is None:
                raise TemplateError(f"'{{{{{{{{{tag.name}}}}}}}}}' is never closed",
                                    *position(src, tag.start))
            texts.append(text)
            tags.append(close)
            pos = close.end


def _text(src: str, pos: int, *, raw: bool) -> tuple[str, int]:
    """Literal text from pos to the next tag (`{{`, or `{{{{` inside a raw block).

    `\\{{` is a literal `{{` (`\\{{{{` a literal `{{{{`); two or more backslashes before `{{`
    lose one and leave the tag live, as the crate's `escape` rule does.
    """
    parts: list[str] = []
    start = scan = pos
    while True:
        brace = src.find("{{", scan)
        if brace < 0:
            parts.append(src[start:])
            return "".join(parts), len(src)
        first = brace
        while first > scan and src[first - 1] == "\\":
            first -= 1
        slashes = brace - first
        if slashes == 1:
            end = brace + (4 if src.startswith("{{{{", brace) else 2)
            parts.append(src[start:first] + src[brace:end])
            start = scan = end
            continue
        if slashes > 1:
            parts.append(src[start:first] + src[first + 1:brace])
            start = brace
        if not raw or src.startswith("{{{{", brace):
            parts.append(src[start:brace])
            return "".join(parts), brace
        scan = brace + 1


# --- whitespace ----------------------------------------------------------------------------


def _control_whitespace(src: str, texts: list[str], tags: list[Tag]) -> None:
    """`~` trims all whitespace; a standalone tag takes its line's indent and newline along.

    As in the crate, the newline a standalone tag leaves behind is removed from the next text
    the crate keeps, which is not always the next text: whitespace right after a `~}}` is
    dropped whole, and the removal waits for the text after it.
    """
    omit = pending = False
    for index, text in enumerate(texts):
        kept = index > 0 and tags[index - 1].kind == "raw_open"  # raw block text always counts
        if text and (kept or not omit or text.strip(" \t\n\r")):
            if omit:
                text = text.lstrip(RUST_WHITESPACE)
            if pending:
                text = text.lstrip(" \t")
                text = text[2:] if text.startswith("\r\n") else text.removeprefix("\n")
                pending = False
        elif omit:
            text = ""
        if index < len(tags):
            tag = tags[index]
            if tag.pre:
                text = text.rstrip(RUST_WHITESPACE)
            if tag.kind in _STANDALONE:
                tag.standalone = pending = _standalone(src, tag)
                if tag.standalone:
                    text = text.rstrip(" \t")
            if tag.kind != "comment":
                omit = tag.post
        texts[index] = text


def _standalone(src: str, tag: Tag) -> bool:
    """Only spaces/tabs between the tag and the line start, and between it and the line end."""
    before = tag.start
    while before > 0 and src[before - 1] in " \t":
        before -= 1
    if before > 0 and src[before - 1] not in "\n\r":
        return False
    after = tag.end
    while after < len(src) and src[after] in " \t":
        after += 1
    return tag.end == len(src) or (after < len(src) and src[after] in "\n\r")


def partial_indent(src: str, tag: Tag) -> str | None:
    """The spaces/tabs right before a partial tag, which its output lines are indented by."""
    if tag.pre:
        return None
    start = tag.start
    while start > 0 and src[start - 1] in " \t":
        start -= 1
    return src[start:tag.start] or None


# --- nesting -------------------------------------------------------------------------------


class _Open:
    """A block being built: its opening tag, then one (tag, nodes) per `{{else}}` part."""

    __slots__ = ("sections", "tag")

    def __init__(self, tag: Tag) -> None:
        self.tag = tag
        self.sections: list[tuple[Tag, list[Node]]] = [(tag, [])]


def _build(src: str, texts: list[str], tags: list[Tag]) -> tuple[Node, ...]:
    root: list[Node] = []
    stack: list[_Open] = []
    current = root
    for index, tag in enumerate(tags):
        if texts[index]:
            current.append(texts[index])
        where = position(src, tag.start)
        if tag.kind in ("open", "raw_open", "decorator_open", "partial_open"):
            if len(stack) >= MAX_NESTING:
                raise TemplateError(f"blocks nested more than {MAX_NESTING} deep", *where)
            stack.append(_Open(tag))
            current = stack[-1].sections[0][1]
        elif tag.kind in ("else", "chain"):
            _check_else(stack, tag, where)
            stack[-1].sections.append((tag, []))
            current = stack[-1].sections[-1][1]
        elif tag.kind in ("close", "raw_close"):
            if not stack:
                raise TemplateError(f"unexpected closing tag '{{{{/{tag.name}}}}}'", *where)
            opened = stack.pop()
            _check_close(opened.tag, tag, where)
            current = stack[-1].sections[-1][1] if stack else root
            current.append(_block(opened))
        elif tag.kind != "comment":
            current.append(_leaf(src, tag))
    if stack:
        name = stack[-1].tag.name
        raise TemplateError(f"'{{{{#{name}}}}}' is never closed",
                            *position(src, stack[-1].tag.start), hint=f"add {{{{/{name}}}}}")
    if texts[-1]:
        current.append(texts[-1])
    return tuple(root)


def _check_else(stack: list[_Open], tag: Tag, where: tuple[int, int]) -> None:
    if not stack or stack[-1].tag.kind != "open":
        raise TemplateError("'{{else}}' (or '{{^}}') outside a block", *where,
                            hint="{{else}} belongs between {{#if ...}} and {{/if}}")
    if stack[-1].sections[-1][0].kind == "else":
        raise TemplateError("a second '{{else}}' in one block", *where,
                            hint="only '{{else if ...}}' may come before the final '{{else}}'")


def _check_close(opened: Tag, tag: Tag, where: tuple[int, int]) -> None:
    if opened.name == tag.name and (opened.kind == "raw_open") == (tag.kind == "raw_close"):
        return
    braces = 4 if opened.kind == "raw_open" else 2
    close = "{" * braces + "/" + str(tag.name) + "}" * braces
    start = "{" * braces + ("" if braces == 4 else "#") + str(opened.name) + "}" * braces
    raise TemplateError(f"closing tag '{close}' does not match '{start}'", *where,
                        hint=f"close the block with {{{{/{opened.name}}}}}")


def _block(opened: _Open) -> Node:
    start = opened.tag.start
    if opened.tag.kind in _UNSUPPORTED:
        return Unsupported(_UNSUPPORTED[opened.tag.kind], start)
    inverse: tuple[Node, ...] | None = None
    for tag, nodes in reversed(opened.sections[1:]):
        if tag.kind == "else":
            inverse = tuple(nodes)
        else:
            assert tag.call is not None  # the crate reports errors at the opening tag
            inverse = (Block(tag.call, start, tuple(nodes), inverse),)
    assert opened.tag.call is not None
    return Block(opened.tag.call, start, tuple(opened.sections[0][1]), inverse)


def _leaf(src: str, tag: Tag) -> Node:
    if tag.kind == "value":
        assert tag.value is not None
        return Var(tag.value, tag.start)
    if tag.kind == "helper":
        assert tag.call is not None
        return Block(tag.call, tag.start)
    if tag.kind == "partial":
        assert tag.call is not None
        return Partial(tag.name, tag.call.params, tag.call.hash, tag.start,
                       partial_indent(src, tag), tag.standalone)
    return Unsupported(_UNSUPPORTED[tag.kind], tag.start)
