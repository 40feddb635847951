"""Recognises one `{{...}}` tag, trying the crate grammar's alternatives in the crate's order.

Pure: no I/O. Each function mirrors one rule of the Rust handlebars grammar (expression,
html_expression, helper_block_start, invert tags, raw blocks, comments, partials, decorators).
"""

from __future__ import annotations

from dataclasses import dataclass

from ankplan.manifests.template_grammar import Call, Grammar, Path

HELPERS = frozenset({"if", "unless", "each", "with", "lookup", "raw", "log", "eq", "ne", "gt",
                     "gte", "lt", "lte", "and", "or", "not", "len"})


@dataclass(slots=True)
class Tag:
    """One tag as scanned: its kind, span, `~` marks and what it names or calls."""

    kind: str
    start: int
    end: int
    pre: bool = False  # {{~
    post: bool = False  # ~}}
    call: Call | None = None
    value: Path | Call | None = None
    name: str | Call = ""
    standalone: bool = False


def tag_at(grammar: Grammar, pos: int) -> Tag | None:
    """The tag starting at `pos` (which holds `{{`), or None if no rule matches.

    Only the rules that can match the sign after `{{` and `~` (`#`, `/`, `>`, ...) are tried,
    in the grammar's order, so the outcome is the grammar's.
    """
    src = grammar.src
    if src.startswith("{{{{", pos):
        return _raw_start(grammar, pos)
    if src.startswith("{{!", pos):
        return _comment(grammar, pos)
    if src.startswith("{{{", pos):
        return _html(grammar, pos)
    sign_at = grammar.tilde(pos + 2)[1]
    sign_at = grammar.ws(sign_at)
    rules = _BY_SIGN.get(src[sign_at:sign_at + 1], _EXPRESSION)
    if src.startswith("else", sign_at):
        rules = (_invert, *_EXPRESSION)
    for rule in rules:
        tag = rule(grammar, pos)
        if tag is not None:
            return tag
    return None


def raw_end(grammar: Grammar, pos: int) -> Tag | None:
    """`{{{{/name}}}}`."""
    if not grammar.src.startswith("{{{{", pos):
        return None
    pre, after = grammar.tilde(pos + 4)
    slash = grammar.word(after, "/")
    name = grammar.identifier(slash) if slash is not None else None
    return _finish(grammar, pos, "raw_close", pre, name[1], "}}}}", name=name[0]) \
        if name else None


def _finish(grammar: Grammar, start: int, kind: str, pre: bool, pos: int, closer: str = "}}",
            *, call: Call | None = None, value: Path | Call | None = None,
            name: str | Call = "") -> Tag | None:
    """`~`? and the closing braces; the tag, or None if they are missing."""
    post, after = grammar.tilde(pos)
    end = grammar.word(after, closer)
    if end is None:
        return None
    return Tag(kind, start, end, pre, post, call, value, name)


def _opening(grammar: Grammar, pos: int, *signs: str) -> tuple[bool, int] | None:
    """`{{`, `~`? and the given signs (`#`, `>`, ...), each after optional whitespace."""
    pre, after = grammar.tilde(pos + 2)
    for sign in signs:
        found = grammar.word(after, sign)
        if found is None:
            return None
        after = found
    return pre, after


_Shown = tuple[str, Call | None, Path | Call | None, int]  # kind, call, value, end


def _value(grammar: Grammar, pos: int, *, with_args: bool = True) -> _Shown | None:
    """What an expression shows: a helper call with arguments, a sub-expression or a path."""
    if with_args and (call := grammar.call(pos, need_args=True)):
        return "helper", call[0], None, call[1]
    pos = grammar.ws(pos)
    if sub := grammar.subexpression(pos):
        return "value", None, sub[0], sub[1]
    if path := grammar.reference(pos):
        if path[0].raw in HELPERS:
            return "helper", Call(path[0].raw), None, path[1]
        return "value", None, path[0], path[1]
    return None


def _shown_tag(grammar: Grammar, pos: int, pre: bool, shown: _Shown, closer: str = "}}",
               ) -> Tag | None:
    kind, call, value, after = shown
    return _finish(grammar, pos, kind, pre, after, closer, call=call, value=value)


def _expression(grammar: Grammar, pos: int) -> Tag | None:
    pre, after = grammar.tilde(pos + 2)
    shown = _value(grammar, after)
    return _shown_tag(grammar, pos, pre, shown) if shown else None


def _html(grammar: Grammar, pos: int) -> Tag | None:
    """`{{{x}}}`, `{{~{x}~}}` or `{{&x}}`: with HTML escaping off, the same as `{{x}}`."""
    if grammar.src.startswith("{{{", pos):
        pre, after = grammar.tilde(pos + 3)
        shown = _value(grammar, after)
        if shown and (tag := _shown_tag(grammar, pos, pre, shown, "}}}")):
            return tag
    for sign, with_args in (("{", True), ("&", False)):
        opened = _opening(grammar, pos, sign)
        shown = _value(grammar, opened[1], with_args=with_args) if opened else None
        if opened is None or shown is None:
            continue
        if sign == "{":
            brace = grammar.word(shown[3], "}")
            if brace is None:
                continue
            shown = (*shown[:3], brace)
        if tag := _shown_tag(grammar, pos, opened[0], shown):
            return tag
    return None


def _invert(grammar: Grammar, pos: int) -> Tag | None:
    """`{{else}}` / `{{^}}`, or a chained `{{else if x}}` (any helper after else or ^)."""
    pre, after = grammar.tilde(pos + 2)
    after = grammar.ws(after)
    if grammar.src.startswith("else", after):
        after += 4
    elif grammar.src.startswith("^", after):
        after += 1
    else:
        return None
    tag = _finish(grammar, pos, "else", pre, after)
    call = grammar.call(after, block_params=True) if tag is None else None
    if call is not None:
        tag = _finish(grammar, pos, "chain", pre, call[1], call=call[0], name=call[0].name)
    return tag


def _block_start(grammar: Grammar, pos: int) -> Tag | None:
    opened = _opening(grammar, pos, "#")
    call = grammar.call(opened[1], block_params=True) if opened else None
    if opened is None or call is None:
        return None
    return _finish(grammar, pos, "open", opened[0], call[1], call=call[0], name=call[0].name)


def _raw_start(grammar: Grammar, pos: int) -> Tag | None:
    pre, after = grammar.tilde(pos + 4)
    call = grammar.call(after, block_params=True)
    if call is None:
        return None
    return _finish(grammar, pos, "raw_open", pre, call[1], "}}}}", call=call[0],
                   name=call[0].name)


def _comment(grammar: Grammar, pos: int) -> Tag | None:
    """`{{!-- ... --}}` (may hold `}}`), else `{{! ... }}`."""
    src = grammar.src
    if not src.startswith("{{!", pos):
        return None
    dashes = grammar.word(pos + 3, "--")
    end = src.find("--}}", dashes) if dashes is not None else -1
    if end >= 0:
        return Tag("comment", pos, end + 4)
    end = src.find("}}", pos + 3)
    return Tag("comment", pos, end + 2) if end >= 0 else None


def _decorator(grammar: Grammar, pos: int) -> Tag | None:
    opened = _opening(grammar, pos, "*")
    call = grammar.call(opened[1], block_params=True) if opened else None
    if opened is None or call is None:
        return None
    return _finish(grammar, pos, "decorator", opened[0], call[1])


def _decorator_start(grammar: Grammar, pos: int) -> Tag | None:
    opened = _opening(grammar, pos, "#", "*")
    call = grammar.call(opened[1], block_params=True) if opened else None
    if opened is None or call is None:
        return None
    return _finish(grammar, pos, "decorator_open", opened[0], call[1], name=call[0].name)


def _partial_line(grammar: Grammar, pos: int) -> tuple[str | Call, Call, int] | None:
    """partial_exp_line: a partial name (or sub-expression), then its arguments."""
    name: str | Call
    if found := grammar.partial_identifier(pos):
        name, after = found
    elif sub := grammar.subexpression(grammar.ws(pos)):
        name, after = sub
    elif path := grammar.reference(grammar.ws(pos)):
        name, after = path[0].raw, path[1]
    else:
        return None
    params, hashes, after = grammar.arguments(after)
    return name, Call("", params, hashes), after


def _partial(grammar: Grammar, pos: int) -> Tag | None:
    opened = _opening(grammar, pos, ">")
    line = _partial_line(grammar, opened[1]) if opened else None
    if opened is None or line is None:
        return None
    return _finish(grammar, pos, "partial", opened[0], line[2], name=line[0], call=line[1])


def _partial_start(grammar: Grammar, pos: int) -> Tag | None:
    opened = _opening(grammar, pos, "#", ">")
    line = _partial_line(grammar, opened[1]) if opened else None
    if opened is None or line is None:
        return None
    name = line[0] if isinstance(line[0], str) else "(...)"
    return _finish(grammar, pos, "partial_open", opened[0], line[2], name=name)


def _close(grammar: Grammar, pos: int) -> Tag | None:
    """`{{/name}}` (a partial block may close with a partial name such as `a.b`)."""
    opened = _opening(grammar, pos, "/")
    if opened is None:
        return None
    for rule in (grammar.identifier, grammar.partial_identifier):
        found = rule(opened[1])
        if found and (tag := _finish(grammar, pos, "close", opened[0], found[1],
                                     name=found[0])):
            return tag
    return None


_EXPRESSION = (_expression,)
_BY_SIGN = {"#": (_block_start, _decorator_start, _partial_start), "/": (_close,),
            ">": (_partial,), "*": (_decorator,), "^": (_invert,), "&": (_html,),
            "{": (_html,)}
