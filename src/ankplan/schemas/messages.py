"""Turns jsonschema ValidationErrors into short, located Diagnostics with "did you mean" hints.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ankplan.errors import Diagnostic, Location, Severity, did_you_mean

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

Locate = Callable[[str, bool], Location]

# Hints for keys that are missing, by key name.
_REQUIRED_HINTS = {
    "apiVersion": "add `apiVersion: v1` at the top",
    "runtime": "add e.g. `runtime: podman`",
    "runtimeConfig": "add `runtimeConfig: |` followed by indented lines such as `image: ...`",
    "image": "add the container image, e.g. `image: docker.io/library/alpine:3.20`",
    "manifest": "add `manifest: |` followed by the Kubernetes YAML",
    "mountPoint": "add the absolute path of the file in the container, e.g. `mountPoint: /etc/app.conf`",
}
# Hints for unknown keys that are not typos.
_UNKNOWN_HINTS = {
    "<<": "YAML merge keys ('<<') are not applied by Ankaios; repeat the fields instead",
    "desiredState": "this looks like a CompleteState for `ank set state`; a manifest has "
                    "apiVersion, workloads and configs at the top level",
    "agents": "agent tags belong to `ank set state`; a manifest has apiVersion, workloads and "
              "configs at the top level",
}
_TYPE_NAMES = {"string": "a string", "array": "a list", "object": "a mapping",
               "null": "nothing", "integer": "an integer", "number": "a number",
               "boolean": "true or false"}


def describe_error(error: ValidationError, base_pointer: str, locate: Locate,
                   root_schema: dict[str, Any]) -> Iterator[Diagnostic]:
    """Diagnostics for one jsonschema error (an unknown-keys error may name several keys)."""
    pointer = _pointer(error.absolute_path)
    full = base_pointer + pointer
    validator = str(error.validator)
    if "propertyNames" in error.schema_path:
        yield _bad_key_name(error, pointer, full, locate)
    elif validator in ("additionalProperties", "unevaluatedProperties"):
        yield from _unknown_keys(error, pointer, full, locate, root_schema)
    elif validator == "required":
        yield from _missing_keys(error, pointer, full, locate)
    else:
        summary, hint, code = _value_message(error)
        yield _diagnostic(code, with_subject(full, summary), hint, locate(pointer, False))


def _value_message(error: ValidationError) -> tuple[str, str, str]:
    validator, value, schema = str(error.validator), error.instance, error.schema
    if validator == "enum":
        choices = [str(choice) for choice in error.validator_value]
        return (f"{_show(value)} is not one of {', '.join(choices)}",
                did_you_mean(str(value), choices), "invalid-value")
    if validator == "const":
        return f"{_show(value)} must be {_show(error.validator_value)}", "", "invalid-value"
    if validator == "type":
        return _type_message(value, error.validator_value)
    if validator in ("pattern", "minLength", "maxLength") and isinstance(value, str):
        return _string_message(value, schema, validator)
    if validator in ("oneOf", "anyOf") and "x-ankplan-message" in schema:
        return str(schema["x-ankplan-message"]), "", "schema"
    return error.message, "", "schema"


def _type_message(value: object, expected: object) -> tuple[str, str, str]:
    names = [expected] if isinstance(expected, str) else list(expected)  # type: ignore[call-overload]
    wanted = _either([_TYPE_NAMES.get(name, name) for name in names if name != "null"])
    hint = ""
    if "string" in names and isinstance(value, (bool, int, float)):
        text = str(value).lower() if isinstance(value, bool) else str(value)
        hint = f'quote it: "{text}"'
    return f"expected {wanted}, got {value_kind(value)}", hint, "wrong-type"


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _string_message(value: str, schema: dict[str, Any], validator: str) -> tuple[str, str, str]:
    title = schema.get("title")
    if not title:
        return f"{_show(value)} does not match {schema.get('pattern', 'the expected format')}", \
            "", "invalid-value"
    if not value:
        return f"empty {title} is not allowed", str(schema.get("description", "")), "invalid-name"
    if validator == "maxLength":
        summary = (f"{title} '{value[:20]}...' is {len(value)} characters long, the limit is "
                   f"{schema['maxLength']}")
        return summary, "", "invalid-name"
    return f"invalid {title} {_show(value)}", str(schema.get("description", "")), "invalid-name"


def _bad_key_name(error: ValidationError, pointer: str, full: str,
                  locate: Locate) -> Diagnostic:
    key = str(error.instance)
    summary, hint, _ = _string_message(key, error.schema, str(error.validator))
    key_pointer = pointer + "/" + _escape(key)
    if full in ("/workloads", "/configs"):
        full = ""
    return _diagnostic("invalid-name", with_subject(full, summary), hint,
                       locate(key_pointer, True))


def _unknown_keys(error: ValidationError, pointer: str, full: str, locate: Locate,
                  root_schema: dict[str, Any]) -> Iterator[Diagnostic]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    known = list(error.schema.get("properties", {}))
    if str(error.validator) == "additionalProperties":
        patterns = list(error.schema.get("patternProperties", {}))
        extras = [key for key in instance
                  if key not in known and not any(re.search(p, key) for p in patterns)]
    else:
        extras = [key for key in re.findall(r"'((?:[^'\\]|\\.)*)'", error.message)
                  if key in instance]
        known = sorted(set(known) | _all_property_names(root_schema))
    where = _subject(full)
    for key in extras:
        hint = _UNKNOWN_HINTS.get(key) or did_you_mean(key, known) or (
            f"allowed keys: {', '.join(sorted(known))}" if known else "")
        summary = f"unknown key '{key}' " + (f"in {where}" if where else "at the top level")
        yield _diagnostic("unknown-key", summary, hint, locate(pointer + "/" + _escape(key), True))


def _missing_keys(error: ValidationError, pointer: str, full: str,
                  locate: Locate) -> Iterator[Diagnostic]:
    match = re.match(r"'((?:[^'\\]|\\.)*)' is a required property", error.message)
    names = [match.group(1)] if match else [
        name for name in error.validator_value if name not in (error.instance or {})]
    where = _subject(full)
    instance = error.instance if isinstance(error.instance, dict) else {}
    known = error.schema.get("properties", {})
    misspelt = [key for key in instance if key not in known]
    for name in names:
        if any(did_you_mean(key, [name]) for key in misspelt):
            continue  # the unknown-key diagnostic already suggests `name`
        summary = f"missing required key '{name}' " + (f"in {where}" if where else
                                                       "at the top level")
        yield _diagnostic("missing-key", summary, _REQUIRED_HINTS.get(name, ""),
                          locate(pointer, True))


def _all_property_names(schema: object) -> set[str]:
    names: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                names.update(properties)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


# --- naming places ---------------------------------------------------------------------------


def _subject(full_pointer: str) -> str:
    """A short human name for a pointer: "workload 'web' files[0].mountPoint"."""
    parts = [_unescape(part) for part in full_pointer.split("/")[1:]] if full_pointer else []
    head = ""
    if len(parts) >= 2 and parts[0] == "workloads":
        head, parts = f"workload '{parts[1]}'", parts[2:]
    elif len(parts) >= 2 and parts[0] == "configs":
        head, parts = f"config '{parts[1]}'", parts[2:]
    path = ""
    for part in parts:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return " ".join(text for text in (head, path) if text)


def with_subject(full_pointer: str, summary: str) -> str:
    """`summary` prefixed with where it applies, e.g. "nodes.a.port: 0 is less than ..."."""
    subject = _subject(full_pointer)
    return f"{subject}: {summary}" if subject else summary


def _pointer(path: object) -> str:
    return "".join("/" + _escape(str(part)) for part in path)  # type: ignore[attr-defined]


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _show(value: object) -> str:
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 60 else f"'{value[:57]}...'"
    return value_kind(value)


def value_kind(value: object) -> str:
    """How a value is named in messages: "number 5", "string 'x'", "a list"."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"string {_show(value)}" if isinstance(value, str) else type(value).__name__


def _diagnostic(code: str, summary: str, hint: str, location: Location) -> Diagnostic:
    return Diagnostic(severity=Severity.ERROR, code=code, summary=summary, hint=hint,
                      location=location)
