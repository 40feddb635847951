"""Config values the way the Rust handlebars crate sees them: JSON truthiness, printing, equality,
ordering, and the value helpers (eq ne gt gte lt lte and or not len lookup).

Pure: no I/O. Values are what YAML gives: str, int, float, bool, None, list, dict.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from ankplan.manifests.template_grammar import json_number


class Missing:
    """A lookup that found nothing (strict mode tells it apart from a present null); keeps what
    an error message needs: the path, the part that was missing and where it was looked for."""

    __slots__ = ("at_root", "container", "part", "raw", "walked")

    def __init__(self, raw: str, walked: tuple[str, ...] = (), part: str = "",
                 container: object = None, *, at_root: bool = True) -> None:
        self.raw = raw
        self.walked = walked
        self.part = part
        self.container = container
        self.at_root = at_root


class HelperError(Exception):
    """A helper refused its arguments; the renderer adds the template position."""


def truthy(value: object, include_zero: bool = False) -> bool:
    """false, null, 0, "", [] and {} are false; includeZero=true makes 0 true."""
    if isinstance(value, bool):
        return value
    if value is None or isinstance(value, Missing):
        return False
    if isinstance(value, (int, float)):
        return include_zero or value != 0
    return len(value) > 0  # type: ignore[arg-type]


def to_text(value: object) -> str:
    """How the crate prints a value: lists as `[a, b]`, mappings as `[object]`, null as ``."""
    if value is None or isinstance(value, Missing):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, list):
        return "[" + ", ".join(to_text(item) for item in value) + "]"
    return "[object]"


def float_text(value: float) -> str:
    """serde_json's (ryu's) shortest form: 1.0, 0.0001, 1e16, 1.5e-7."""
    if value == 0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    exponent = int(exponent) + len(digits) - len(text)  # value = text * 10**exponent
    point = len(text) + exponent  # digits before the decimal point
    if 0 <= exponent and point <= 16:
        body = text + "0" * exponent + ".0"
    elif 0 < point <= 16:
        body = text[:point] + "." + text[point:]
    elif -5 < point <= 0:
        body = "0." + "0" * -point + text
    else:
        body = text[0] + ("." + text[1:] if len(text) > 1 else "") + f"e{point - 1}"
    return ("-" if sign else "") + body


def same(left: object, right: object) -> bool:
    """JSON equality: 1 and 1.0 differ, true is not 1, lists and mappings compare deeply."""
    if _kind(left) != _kind(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(  # type: ignore[arg-type]
            same(a, b) for a, b in zip(left, right))  # type: ignore[call-overload]
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(  # type: ignore[attr-defined]
            same(left[key], right[key]) for key in left)  # type: ignore[index]
    return left == right


def _kind(value: object) -> type:
    return type(None) if isinstance(value, Missing) else type(value)


def _order(left: object, right: object) -> int | None:
    """-1/0/1 as the crate's compare_json orders two values; None when they do not compare."""
    if isinstance(left, str) and _is_number(right):
        left = json_number(left)
    elif isinstance(right, str) and _is_number(left):
        right = json_number(right)
    if _is_number(left) and _is_number(right) or \
            type(left) is type(right) and isinstance(left, (str, bool)):
        return int((left > right) - (left < right))  # type: ignore[operator]
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compare(*wanted: int) -> Callable[[object, object], bool]:
    return lambda left, right: _order(left, right) in wanted


def length(value: object) -> int:
    """Items of a list or mapping, UTF-8 bytes of a string, 0 for anything else."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    return len(value) if isinstance(value, (list, dict)) else 0


def lookup(collection: object, key: object) -> object:
    """`lookup list 0` / `lookup map "key"`; Missing when there is no such item."""
    if isinstance(collection, list):
        if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(collection):
            return collection[key]
    elif isinstance(collection, dict) and isinstance(key, str) and key in collection:
        return collection[key]
    return Missing("lookup")


# name -> (function, names of the required arguments)
VALUE_HELPERS: dict[str, tuple[Callable[..., object], tuple[str, ...]]] = {
    "eq": (same, ("x", "y")),
    "ne": (lambda left, right: not same(left, right), ("x", "y")),
    "gt": (_compare(1), ("x", "y")),
    "gte": (_compare(1, 0), ("x", "y")),
    "lt": (_compare(-1), ("x", "y")),
    "lte": (_compare(-1, 0), ("x", "y")),
    "not": (lambda value: not truthy(value), ("x",)),
    "len": (length, ("x",)),
    "and": (lambda *values: all(truthy(value) for value in values), ()),
    "or": (lambda *values: any(truthy(value) for value in values), ()),
}


def call_value_helper(name: str, params: list[object]) -> object:
    """Run a value helper; strict mode: a missing required argument is an error."""
    function, required = VALUE_HELPERS[name]
    for index, param_name in enumerate(required):
        if index >= len(params) or isinstance(params[index], Missing):
            got = "a missing value" if index < len(params) else "nothing"
            raise HelperError(f"helper '{name}' needs {len(required)} argument(s); "
                              f"argument {index + 1} is {got}")
    if not required:
        return function(*(None if isinstance(p, Missing) else p for p in params))
    return function(*params[:len(required)])
