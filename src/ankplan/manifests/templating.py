"""Renders the handlebars subset of Ankaios config templating, in strict mode, without escaping.

Pure: no I/O. Supports `{{a.b.0}}`, `{{this}}`, `{{@key}}`, `{{@index}}`, `{{@root.x}}`,
`#each` (lists and mappings), `#if`/`#unless` with `{{else}}`, `#with`, the helpers
eq/ne/gt/gte/lt/lte/and/or/not and the `indent` partial. A missing value is an error (strict
mode), except as the condition of `#if`/`#unless`, where it counts as false.
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ankplan.manifests.template_parser import (
    Block,
    Expr,
    Literal,
    Partial,
    Path,
    SubExpr,
    TemplateError,
    Var,
    parse,
    position,
)

__all__ = ["TemplateError", "has_template", "render"]

MAX_OUTPUT = 1_000_000  # characters one template may produce
MAX_STEPS = 200_000  # nodes rendered, to stop {{#each}} explosions


class _Missing:
    """A lookup that found nothing; carries the message for strict mode."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = message
        self.hint = hint


@dataclass(slots=True)
class _Frame:
    """One level of context: the value `this` refers to, plus @-data of the enclosing each."""

    value: object
    data: dict[str, object]


def has_template(text: str) -> bool:
    """True when `text` contains handlebars syntax."""
    return "{{" in text


def render(template: str, context: Mapping[str, object]) -> str:
    """Render `template` with `context`; raises TemplateError (with line/column) on any problem."""
    tree = parse(template)
    renderer = _Renderer(template)
    renderer.nodes(tree, [_Frame(dict(context), {})])
    return "".join(renderer.out)


class _Renderer:
    def __init__(self, template: str) -> None:
        self.template = template
        self.out: list[str] = []
        self.size = 0
        self.steps = 0

    def nodes(self, nodes: list[object], stack: list[_Frame]) -> None:
        for node in nodes:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise TemplateError(f"template renders more than {MAX_STEPS} parts; "
                                    "is an {{#each}} nested too deeply?")
            if isinstance(node, str):
                self.emit(node)
            elif isinstance(node, Var):
                self.emit(to_text(self.value(node.expr, stack, node.offset)))
            elif isinstance(node, Block):
                self.block(node, stack)
            elif isinstance(node, Partial):
                self.partial(node, stack)

    def emit(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise TemplateError(f"template output exceeds {MAX_OUTPUT} characters")
        self.out.append(text)

    def error(self, message: str, offset: int, hint: str = "") -> TemplateError:
        return TemplateError(message, *position(self.template, offset), hint=hint)

    # --- values --------------------------------------------------------------------------

    def value(self, expr: Expr, stack: list[_Frame], offset: int, *, lenient: bool = False,
              ) -> object:
        result = self.lookup(expr, stack, offset)
        if isinstance(result, _Missing):
            if lenient:
                return None
            raise self.error(result.message, offset, result.hint)
        return result

    def lookup(self, expr: Expr, stack: list[_Frame], offset: int) -> object:
        if isinstance(expr, Literal):
            return expr.value
        if isinstance(expr, SubExpr):
            return self.helper(expr, stack, offset)
        if expr.up >= len(stack):
            return _Missing(f"'{expr.raw}' goes above the top of the context")
        frame = stack[-1 - expr.up]
        if expr.data:
            return _lookup_data(expr, frame, stack[0])
        return _walk(frame.value, expr)

    def helper(self, expr: SubExpr, stack: list[_Frame], offset: int) -> object:
        args = [self.value(arg, stack, offset) for arg in expr.args]
        function = _HELPERS.get(expr.helper)
        if function is None:
            raise self.error(f"unknown helper '{expr.helper}'", offset,
                             f"available: {', '.join(sorted(_HELPERS))}")
        arity = _ARITY.get(expr.helper)
        if arity is not None and len(args) != arity:
            raise self.error(f"helper '{expr.helper}' takes {arity} argument(s), got {len(args)}",
                             offset)
        try:
            return function(*args)
        except TypeError as error:
            raise self.error(f"helper '{expr.helper}': {error}", offset) from None

    # --- blocks and partials -------------------------------------------------------------

    def block(self, block: Block, stack: list[_Frame]) -> None:
        if len(block.params) != 1:
            raise self.error(f"'{{{{#{block.helper}}}}}' needs exactly one parameter",
                             block.offset)
        lenient = block.helper in ("if", "unless")
        value = self.value(block.params[0], stack, block.offset, lenient=lenient)
        if block.helper == "each":
            self.each(block, value, stack)
        elif block.helper in ("if", "unless"):
            chosen = truthy(value) != (block.helper == "unless")
            self.nodes(block.body if chosen else block.inverse or [], stack)
        elif block.helper == "with":
            if truthy(value):
                self.nodes(block.body, stack + [_Frame(value, stack[-1].data)])
            else:
                self.nodes(block.inverse or [], stack)
        else:
            raise self.error(f"unknown block helper '#{block.helper}'", block.offset,
                             "available: #each, #if, #unless, #with")

    def each(self, block: Block, value: object, stack: list[_Frame]) -> None:
        if isinstance(value, dict):
            items: list[tuple[object, object]] = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif not truthy(value):
            items = []
        else:
            raise self.error(f"'{{{{#each}}}}' needs a list or mapping, got {type_name(value)}",
                             block.offset)
        if not items:
            self.nodes(block.inverse or [], stack)
        for index, (key, item) in enumerate(items):
            data = {"index": index, "key": key, "first": index == 0,
                    "last": index == len(items) - 1}
            self.nodes(block.body, stack + [_Frame(item, data)])

    def partial(self, partial: Partial, stack: list[_Frame]) -> None:
        if partial.name != "indent":
            raise self.error(f"unknown partial '{partial.name}'", partial.offset,
                             "only {{> indent content=...}} is available")
        if set(partial.hash) != {"content"}:
            raise self.error("the indent partial takes exactly content=...", partial.offset)
        text = to_text(self.value(partial.hash["content"], stack, partial.offset))
        if partial.indent is not None:
            self.emit(_indent_lines(text, partial.indent, first=True))
            if partial.newline and text and not text.endswith("\n"):
                self.emit("\n")
            return
        column = len("".join(self.out[-50:]).rsplit("\n", 1)[-1])
        self.emit(_indent_lines(text, " " * column, first=False))


def _indent_lines(text: str, indent: str, *, first: bool) -> str:
    lines = text.split("\n")
    shifted = [(indent + line if (index or first) and line else line)
               for index, line in enumerate(lines)]
    return "\n".join(shifted)


def _walk(value: object, path: Path) -> object:
    current, walked = value, list[str]()
    for part in path.parts:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _Missing(_missing_message(path, walked, part, current),
                            _suggest(part, current))
        walked.append(part)
    return current


def _missing_message(path: Path, walked: list[str], part: str, current: object) -> str:
    if not walked:
        return f"'{path.raw}' not found: no config alias or key '{part}'"
    parent = ".".join(walked)
    if isinstance(current, list):
        return f"'{path.raw}' not found: '{parent}' is a list of {len(current)}, no item '{part}'"
    if isinstance(current, dict):
        return f"'{path.raw}' not found: '{parent}' has no key '{part}'"
    return f"'{path.raw}' not found: '{parent}' is {type_name(current)}, not a mapping"


def _suggest(part: str, current: object) -> str:
    if not isinstance(current, dict) or not current:
        return ""
    keys = [str(key) for key in current]
    close = difflib.get_close_matches(part, keys, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else f"available: {', '.join(sorted(keys)[:10])}"


def _lookup_data(path: Path, frame: _Frame, root: _Frame) -> object:
    name = path.parts[0] if path.parts else ""
    if name == "root":
        return _walk(root.value, Path(path.raw, path.parts[1:]))
    if name not in frame.data:
        return _Missing(f"'{path.raw}' is only available inside {{{{#each}}}}")
    return frame.data[name]


def truthy(value: object) -> bool:
    """Handlebars truthiness: false, null, "", 0, [] and {} are false."""
    if isinstance(value, (list, dict, str)):
        return len(value) > 0
    return value is not None and value is not False and value != 0


def to_text(value: object) -> str:
    """How handlebars-rust prints a value: lists as [a, b], mappings as [object]."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(to_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "[object]"
    return str(value)


def type_name(value: object) -> str:
    """A short name for the type of a config value."""
    return {str: "a string", list: "a list", dict: "a mapping", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def _same(left: object, right: object) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    return bool(left == right) and isinstance(left, str) == isinstance(right, str)


def _order(left: object, right: object) -> tuple[float, float]:
    if isinstance(left, str) or isinstance(right, str):
        raise TypeError("comparing needs numbers, not strings")
    return float(left), float(right)  # type: ignore[arg-type]


def _compare(test: Callable[[float, float], bool]) -> Callable[[object, object], bool]:
    return lambda left, right: test(*_order(left, right))


_HELPERS: dict[str, Callable[..., object]] = {
    "eq": _same,
    "ne": lambda left, right: not _same(left, right),
    "gt": _compare(operator.gt),
    "gte": _compare(operator.ge),
    "lt": _compare(operator.lt),
    "lte": _compare(operator.le),
    "and": lambda *values: all(truthy(value) for value in values),
    "or": lambda *values: any(truthy(value) for value in values),
    "not": lambda value: not truthy(value),
}
_ARITY = {"eq": 2, "ne": 2, "gt": 2, "gte": 2, "lt": 2, "lte": 2, "not": 1}
