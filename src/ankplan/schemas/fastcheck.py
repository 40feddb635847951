"""Compiles a JSON Schema into a fast yes/no check, so valid documents skip jsonschema.

Pure: no I/O. Supports the keywords ankplan's schemas use; a schema with any other keyword is
not compiled (callers then always use jsonschema). Only answers "valid?"; jsonschema still
produces the messages for invalid documents, so the two must agree (the tests check that).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[object], bool]

_ANNOTATIONS = {"title", "description", "default", "$schema", "$id", "$comment", "examples",
                "definitions", "$defs", "deprecated", "readOnly", "writeOnly"}
_TYPES: dict[str, Check] = {
    "string": lambda value: isinstance(value, str),
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "null": lambda value: value is None,
    "boolean": lambda value: isinstance(value, bool),
    "integer": lambda value: (isinstance(value, int) and not isinstance(value, bool))
    or (isinstance(value, float) and value.is_integer()),
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
}


class Unsupported(Exception):
    """The schema uses a keyword this compiler does not know."""


def compile_schema(root: dict[str, Any]) -> Check:
    """A function telling whether an instance is valid against `root`; raises Unsupported."""
    compiler = _Compiler(root)
    return compiler.compile(root)


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, schema: object) -> Check:
        if schema is True or schema == {}:
            return lambda value: True
        if schema is False:
            return lambda value: False
        if not isinstance(schema, dict):
            raise Unsupported(repr(schema))
        found = [self.keyword(name, argument, schema) for name, argument in schema.items()
                 if name not in _ANNOTATIONS and not name.startswith("x-")]
        checks = [check for check in found if check is not None]
        if len(checks) == 1:
            return checks[0]
        return lambda value: all(check(value) for check in checks)

    def keyword(self, name: str, argument: Any, schema: dict[str, Any]) -> Check | None:
        method = getattr(self, "kw_" + name.replace("$", "_"), None)
        if method is None:
            raise Unsupported(name)
        result: Check | None = method(argument, schema)
        return result

    # --- keywords --------------------------------------------------------------------------

    def kw_type(self, argument: Any, schema: dict[str, Any]) -> Check:
        names = [argument] if isinstance(argument, str) else list(argument)
        tests = [_TYPES[name] for name in names]
        return lambda value: any(test(value) for test in tests)

    def kw_enum(self, argument: Any, schema: dict[str, Any]) -> Check:
        return lambda value: any(_json_equal(value, choice) for choice in argument)

    def kw_const(self, argument: Any, schema: dict[str, Any]) -> Check:
        return lambda value: _json_equal(value, argument)

    def kw_pattern(self, argument: Any, schema: dict[str, Any]) -> Check:
        search = re.compile(argument).search
        return lambda value: not isinstance(value, str) or search(value) is not None

    def kw_minLength(self, argument: Any, schema: dict[str, Any]) -> Check:
        return lambda value: not isinstance(value, str) or len(value) >= argument

    def kw_maxLength(self, argument: Any, schema: dict[str, Any]) -> Check:
        return lambda value: not isinstance(value, str) or len(value) <= argument

    def kw_minimum(self, argument: Any, schema: dict[str, Any]) -> Check:
        return lambda value: not _is_number(value) or value >= argument

    def kw_maximum(self, argument: Any, schema: dict[str, Any]) -> Check:
        return lambda value: not _is_number(value) or value <= argument

    def kw_exclusiveMinimum(self, argument: Any, schema: dict[str, Any]) -> Check:
        return lambda value: not _is_number(value) or value > argument

    def kw_exclusiveMaximum(self, argument: Any, schema: dict[str, Any]) -> Check:
        return lambda value: not _is_number(value) or value < argument

    def kw_minItems(self, argument: Any, schema: dict[str, Any]) -> Check:
        return lambda value: not isinstance(value, list) or len(value) >= argument

    def kw_maxItems(self, argument: Any, schema: dict[str, Any]) -> Check:
        return lambda value: not isinstance(value, list) or len(value) <= argument

    def kw_required(self, argument: Any, schema: dict[str, Any]) -> Check:
        return lambda value: not isinstance(value, dict) or all(key in value for key in argument)

    def kw_properties(self, argument: Any, schema: dict[str, Any]) -> Check:
        checks = {key: self.compile(sub) for key, sub in argument.items()}

        def check(value: object) -> bool:
            if not isinstance(value, dict):
                return True
            return all(test(value[key]) for key, test in checks.items() if key in value)
        return check

    def kw_patternProperties(self, argument: Any, schema: dict[str, Any]) -> Check:
        checks = [(re.compile(pattern).search, self.compile(sub))
                  for pattern, sub in argument.items()]
        return lambda value: not isinstance(value, dict) or all(
            test(item) for key, item in value.items() for search, test in checks if search(key))

    def kw_additionalProperties(self, argument: Any, schema: dict[str, Any]) -> Check:
        known = set(schema.get("properties", {}))
        patterns = [re.compile(pattern).search for pattern in schema.get("patternProperties", {})]
        test = self.compile(argument)

        def check(value: object) -> bool:
            if not isinstance(value, dict):
                return True
            return all(test(item) for key, item in value.items()
                       if key not in known and not any(search(key) for search in patterns))
        return check

    def kw_propertyNames(self, argument: Any, schema: dict[str, Any]) -> Check:
        test = self.compile(argument)
        return lambda value: not isinstance(value, dict) or all(test(key) for key in value)

    def kw_items(self, argument: Any, schema: dict[str, Any]) -> Check:
        if not isinstance(argument, (dict, bool)):
            raise Unsupported("items as a list")
        test = self.compile(argument)
        return lambda value: not isinstance(value, list) or all(test(item) for item in value)

    def kw_allOf(self, argument: Any, schema: dict[str, Any]) -> Check:
        tests = [self.compile(sub) for sub in argument]
        return lambda value: all(test(value) for test in tests)

    def kw_anyOf(self, argument: Any, schema: dict[str, Any]) -> Check:
        tests = [self.compile(sub) for sub in argument]
        return lambda value: any(test(value) for test in tests)

    def kw_oneOf(self, argument: Any, schema: dict[str, Any]) -> Check:
        tests = [self.compile(sub) for sub in argument]
        return lambda value: sum(1 for test in tests if test(value)) == 1

    def kw_if(self, argument: Any, schema: dict[str, Any]) -> Check:
        condition = self.compile(argument)
        then = self.compile(schema.get("then", True))
        otherwise = self.compile(schema.get("else", True))
        return lambda value: then(value) if condition(value) else otherwise(value)

    def kw_then(self, argument: Any, schema: dict[str, Any]) -> None:
        return None  # handled by kw_if; without "if" it has no effect

    kw_else = kw_then

    def kw__ref(self, argument: Any, schema: dict[str, Any]) -> Check:
        if argument not in self.refs:
            self.refs[argument] = lambda value: True  # placeholder while compiling a cycle
            target = self.resolve(argument)
            compiled: list[Check] = []
            self.refs[argument] = lambda value: compiled[0](value)
            compiled.append(self.compile(target))
        return self.refs[argument]

    def resolve(self, reference: str) -> object:
        if not reference.startswith("#/"):
            raise Unsupported(f"$ref {reference}")
        node: object = self.root
        for part in reference[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise Unsupported(f"$ref {reference}")
            node = node[part]
        return node


def _is_number(value: object) -> bool:
    """A JSON number (true and false are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_equal(left: object, right: object) -> bool:
    """Equality as JSON sees it: true is not 1."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    return left == right
