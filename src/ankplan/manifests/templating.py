"""Renders workload configs the way Ankaios does: the Rust handlebars crate in strict mode, with
HTML escaping off and the `indent` partial (`{{content}}`) registered.

Pure: no I/O. Built-ins: if/unless/each/with (with else and else-if chains), lookup, len, log
(renders nothing), raw blocks, eq/ne/gt/gte/lt/lte/and/or/not, `this`, `../`, `@root`,
@index/@key/@first/@last, block params, literals and sub-expressions. A missing value is an
error where the crate's strict mode makes it one (not in `#if`/`#unless`, `and`/`or`, `log`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ankplan.manifests.template_grammar import Call, Expr, Literal, Path
from ankplan.manifests.template_parser import (
    Block,
    Node,
    Partial,
    TemplateError,
    Var,
    parse,
    position,
)
from ankplan.manifests.template_values import (
    VALUE_HELPERS,
    HelperError,
    Missing,
    call_value_helper,
    lookup,
    to_text,
    truthy,
)

__all__ = ["TemplateError", "has_template", "render"]

MAX_OUTPUT = 1_000_000  # characters one template may produce
MAX_STEPS = 200_000  # nodes rendered, to stop {{#each}} explosions
_BLOCK_HELPERS = frozenset({"if", "unless", "each", "with", "log", "raw"})
_LOG_LEVELS = frozenset({"error", "warn", "info", "debug", "trace"})
_LINE_AFTER = re.compile(r"\n(?=.)", re.DOTALL)


class _Frame:
    """One block context: the value `this` is, plus @-data and block parameters."""

    __slots__ = ("data", "params", "value")

    def __init__(self, value: object, data: dict[str, object] | None = None,
                 params: dict[str, object] | None = None) -> None:
        self.value = value
        self.data = data
        self.params = params


def has_template(text: str) -> bool:
    """True when `text` contains handlebars syntax."""
    return "{{" in text


def render(template: str, context: Mapping[str, object]) -> str:
    """Render `template` with `context`; raises TemplateError (with line/column) on any problem."""
    if "{{" not in template:
        return template  # no tags and no escapes: the crate prints the text unchanged
    renderer = _Renderer(template)
    renderer.nodes(parse(template), [_Frame(dict(context))])
    return "".join(renderer.out)


def indented(text: str, indent: str | None, standalone: bool) -> str:
    """A partial's output: each line after a newline gets the indent, and so does the first line
    of a standalone partial unless that line is empty."""
    if not indent:
        return text
    text = _LINE_AFTER.sub(lambda _: "\n" + indent, text)
    first_line_empty = text.startswith(("\n", "\r\n"))
    return indent + text if standalone and text and not first_line_empty else text


class _Renderer:
    def __init__(self, template: str) -> None:
        self.template = template
        self.out: list[str] = []
        self.size = 0
        self.steps = 0

    def nodes(self, nodes: tuple[Node, ...], stack: list[_Frame]) -> None:
        for node in nodes:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise TemplateError(f"template renders more than {MAX_STEPS} parts; "
                                    "is an {{#each}} nested too deeply?")
            if isinstance(node, str):
                self.emit(node)
            elif isinstance(node, Var):
                value = self.value(node.expr, stack, node.offset)
                if isinstance(value, Missing):
                    raise self.missing(value, node.offset)
                self.emit(to_text(value))
            elif isinstance(node, Block):
                self.helper(node, stack)
            elif isinstance(node, Partial):
                self.partial(node, stack)
            else:
                raise self.error(f"ankplan does not support {node.what}", node.offset)

    def emit(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise TemplateError(f"template output exceeds {MAX_OUTPUT} characters")
        self.out.append(text)

    def error(self, message: str, offset: int, hint: str = "") -> TemplateError:
        return TemplateError(message, *position(self.template, offset), hint=hint)

    # --- values --------------------------------------------------------------------------

    def value(self, expr: Expr, stack: list[_Frame], offset: int) -> object:
        """An argument's value; Missing (not an error yet) when a path finds nothing."""
        if isinstance(expr, Literal):
            return expr.value
        if isinstance(expr, Call):
            return self.subexpression(expr, stack, offset)
        return self.resolve(expr, stack, offset)

    def resolve(self, path: Path, stack: list[_Frame], offset: int) -> object:
        if path.local is not None:
            level, name = path.local
            data = stack[-1 - level].data if level < len(stack) else None
            return data[name] if data and name in data else Missing(path.raw, part="@" + name)
        names, walked = path.names, 0
        holder = _block_param(stack, path.first) if path.first is not None else None
        if holder is not None:
            current, walked = holder.params[path.first], 1  # type: ignore[index]
        elif path.depth:
            current = stack[-1 - path.depth if path.depth < len(stack) else -1].value
        else:
            current = stack[0].value if path.root else stack[-1].value
        for index, name in enumerate(names[walked:], start=walked):
            if isinstance(current, dict):
                found = current.get(name, Missing)
            elif isinstance(current, list):
                found = self.item(current, name, path, offset)
            else:
                found = Missing
            if found is Missing:
                base_is_root = holder is None and (path.root or len(stack) == 1 or
                                                   stack[0].value is current and not index)
                return Missing(path.raw, names[:index], name, current, at_root=base_is_root)
            current = found
        return current

    def item(self, items: list[object], name: str, path: Path, offset: int) -> object:
        digits = name.removeprefix("+")
        if not digits.isascii() or not digits.isdigit() or int(digits) >= 2**64:
            raise self.error(f"'{path.raw}' not found: '{name}' is not a list index", offset,
                             "list items are numbered from 0, as in ports.0")
        return items[int(digits)] if int(digits) < len(items) else Missing

    def missing(self, value: Missing, offset: int) -> TemplateError:
        if value.part in ("@index", "@first", "@last", "@key"):
            where = "{{#each}} over a mapping" if value.part == "@key" else "{{#each}}"
            return self.error(f"'{value.raw}' is only available inside {where}", offset)
        if value.part.startswith("@"):
            return self.error(f"'{value.raw}' is not set", offset,
                              "{{#each}} sets @index, @key, @first and @last")
        parent, current = ".".join(value.walked), value.container
        if not value.walked and value.at_root:
            message = f"no config alias or key '{value.part}'"
        elif not value.walked:
            message = f"the current item ({_type_name(current)}) has no key '{value.part}'"
        elif isinstance(current, list):
            message = f"'{parent}' is a list of {len(current)}, no item '{value.part}'"
        elif isinstance(current, dict):
            message = f"'{parent}' has no key '{value.part}'"
        else:
            message = f"'{parent}' is {_type_name(current)}, not a mapping"
        return self.error(f"'{value.raw}' not found: {message}", offset,
                          _suggest(value.part, current))

    def subexpression(self, call: Call, stack: list[_Frame], offset: int) -> object:
        """A helper's value; block helpers give the text they would print (always empty)."""
        if call.name in VALUE_HELPERS or call.name == "lookup":
            return self.value_helper(call, stack, offset)
        mark = len(self.out)
        self.helper(Block(call, offset), stack)
        text = "".join(self.out[mark:])
        del self.out[mark:]
        return text

    def value_helper(self, call: Call, stack: list[_Frame], offset: int) -> object:
        params = [self.value(param, stack, offset) for param in call.params]
        for _, expr in call.hash:
            self.value(expr, stack, offset)
        if call.name != "lookup":
            try:
                return call_value_helper(call.name, params)
            except HelperError as error:
                raise self.error(str(error), offset) from None
        if len(params) < 2:
            raise self.error(f"helper 'lookup' needs 2 arguments, got {len(params)}", offset)
        found = lookup(params[0], params[1])
        if isinstance(found, Missing):
            shown = call.params[0].raw if isinstance(call.params[0], Path) else "its argument"
            key = json.dumps(params[1], ensure_ascii=False, default=str)
            raise self.error(f"lookup: '{shown}' has no item {key}", offset,
                             "lists take a number (lookup xs 0), mappings a string "
                             '(lookup m "key")')
        return found

    # --- helpers -------------------------------------------------------------------------

    def helper(self, node: Block, stack: list[_Frame]) -> None:
        call = node.call
        if call.name in VALUE_HELPERS or call.name == "lookup":
            self.emit(to_text(self.value_helper(call, stack, node.offset)))
            return
        params = [self.value(param, stack, node.offset) for param in call.params]
        hashes = {key: self.value(expr, stack, node.offset) for key, expr in call.hash}
        if call.name not in _BLOCK_HELPERS:
            raise self.error(f"unknown helper '{call.name}'", node.offset,
                             "available: " + ", ".join(sorted({*VALUE_HELPERS, "lookup",
                                                               *_BLOCK_HELPERS})))
        if call.name == "log":
            level = hashes.get("level")
            if isinstance(level, str) and level.lower() not in _LOG_LEVELS:
                raise self.error(f"invalid log level '{level}'", node.offset)
        elif call.name == "raw":
            if node.body is not None:
                self.nodes(node.body, stack)
        elif not params:
            raise self.error(f"'{{{{#{call.name}}}}}' needs a parameter", node.offset)
        elif call.name in ("if", "unless"):
            chosen = truthy(params[0], hashes.get("includeZero") is True)
            branch = node.body if chosen != (call.name == "unless") else node.inverse
            if branch is not None:
                self.nodes(branch, stack)
        elif call.name == "with":
            self.with_block(node, params[0], stack)
        else:
            self.each(node, params[0], stack)

    def with_block(self, node: Block, value: object, stack: list[_Frame]) -> None:
        names = node.call.block_params
        if truthy(value):
            if node.body is not None:
                params = {names[0]: value} if len(names) == 1 else None
                self.nodes(node.body, [*stack, _Frame(value, None, params)])
        elif node.inverse is not None:
            self.nodes(node.inverse, stack)
        else:  # strict mode: a false/empty/missing value needs an {{else}}
            raise self.not_usable(node, value, "needs a true or non-empty value")

    def each(self, node: Block, value: object, stack: list[_Frame]) -> None:
        if node.body is None:
            return
        if isinstance(value, (list, dict)) and (value or node.inverse is None):
            names = node.call.block_params
            keys = sorted(value) if isinstance(value, dict) else range(len(value))
            last = len(value) - 1
            for index, key in enumerate(keys):
                item = value[key]
                data: dict[str, object] = {"first": index == 0, "last": index == last,
                                           "index": index}
                if isinstance(value, dict):
                    data["key"] = key
                params = dict(zip(names, (item, key))) if names else None
                self.nodes(node.body, [*stack, _Frame(item, data, params)])
        elif node.inverse is not None:
            self.nodes(node.inverse, stack)
        else:  # strict mode: nothing to iterate needs an {{else}}
            raise self.not_usable(node, value, "needs a list or mapping")

    def not_usable(self, node: Block, value: object, problem: str) -> TemplateError:
        """Strict mode: `#each` on a non-list and `#with` on a false value need an `{{else}}`."""
        if isinstance(value, Missing):
            return self.missing(value, node.offset)
        name, param = node.call.name, node.call.params[0]
        shown = f" {param.raw}" if isinstance(param, Path) else ""
        return self.error(f"'{{{{#{name}{shown}}}}}' {problem}, got {_type_name(value)}",
                          node.offset, "add {{else}} to handle it, as Ankaios renders "
                          "in strict mode")

    def partial(self, node: Partial, stack: list[_Frame]) -> None:
        """`{{> indent content=x}}`: the only partial Ankaios registers renders `{{content}}`."""
        name = node.name
        if isinstance(name, Call):
            name = to_text(self.subexpression(name, stack, node.offset))
        if name != "indent":
            raise self.error(f"unknown partial '{name}'", node.offset,
                             "Ankaios registers only {{> indent content=...}}")
        base = self.value(node.params[0], stack, node.offset) if node.params else \
            stack[-1].value
        scope = dict(base) if isinstance(base, dict) else {}
        for key, expr in node.hash:
            value = self.value(expr, stack, node.offset)
            scope[key] = None if isinstance(value, Missing) else value
        if "content" not in scope:
            raise self.error("the indent partial found no 'content' (strict mode)", node.offset,
                             "write {{> indent content=alias.path}}")
        self.emit(indented(to_text(scope["content"]), node.indent, node.standalone))


def _block_param(stack: list[_Frame], name: str) -> _Frame | None:
    for frame in reversed(stack):
        if frame.params is not None and name in frame.params:
            return frame
    return None


def _suggest(part: str, current: object) -> str:
    if not isinstance(current, dict) or not current:
        return ""
    keys = [str(key) for key in current]
    import difflib  # here: only a mistake needs it (~1 ms to import)
    close = difflib.get_close_matches(part, keys, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else f"available: {', '.join(sorted(keys)[:10])}"


def _type_name(value: object) -> str:
    if isinstance(value, (list, dict)):
        return f"an empty {'list' if isinstance(value, list) else 'mapping'}" if not value \
            else f"a {'list' if isinstance(value, list) else 'mapping'}"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    return {bool: "a boolean", type(None): "null"}.get(type(value), "a number")
