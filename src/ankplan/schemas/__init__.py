"""JSON Schemas shipped as package data, and validation that turns each error into a Diagnostic.

Pure: the schema files are package resources; nothing here touches user files or the network.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ankplan.errors import Diagnostic, Location
from ankplan.manifests.yaml_reader import LoadedDocument, location_of
from ankplan.schemas.fastcheck import Check, Unsupported, compile_schema
from ankplan.schemas.messages import describe_error

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

SCHEMA_NAMES = ("manifest-v1", "manifest-v0.1", "runtime-podman", "runtime-podman-kube",
                "inventory")

# location_for(pointer inside the document, key) -> Location; lets a caller map positions of
# a document embedded in a string (a runtimeConfig) back into the file that holds it.
LocationFor = Callable[[str, bool], Location]


@functools.cache
def _schema_text(name: str) -> str:
    if name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    # Read beside this module: importlib.resources would cost every command ~4 ms of imports
    # (pathlib, tempfile, shutil, ...) before its first node command; it is the fallback for
    # a package that is not plain files (a zip).
    try:
        with open(f"{__file__.rpartition('/')[0]}/{name}.schema.json",
                  encoding="utf-8") as schema:
            return schema.read()
    except OSError:
        from importlib import resources

        return (resources.files(__name__) / f"{name}.schema.json").read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema called `name` (e.g. "manifest-v1"), as a fresh dict."""
    return copy.deepcopy(_parsed(name))


@functools.cache
def _parsed(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(_schema_text(name))
    return schema


@functools.cache
def _quick_check(name: str) -> Check | None:
    """A compiled yes/no check, or None when the schema uses keywords it does not support."""
    try:
        return compile_schema(_parsed(name))
    except Unsupported:
        return None


@functools.cache
def _validator(name: str) -> Any:
    import jsonschema  # type: ignore[import-untyped]  # only to explain invalid documents

    schema = _parsed(name)
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(schema)


def schema_diagnostics(doc: LoadedDocument, schema_name: str, *, base_pointer: str = "",
                       location_for: LocationFor | None = None) -> tuple[Diagnostic, ...]:
    """Validate `doc.data` against schema `schema_name`; one Diagnostic per problem.

    `base_pointer` is where `doc` sits inside an enclosing document (e.g.
    "/workloads/web/runtimeConfig"); it prefixes every reported pointer and names the context
    in messages. `location_for` overrides how a pointer inside `doc` maps to a file position.
    """
    def locate(pointer: str, key: bool) -> Location:
        location = (location_for(pointer, key) if location_for is not None
                    else location_of(doc, pointer, key=key))
        return dataclasses.replace(location, pointer=base_pointer + pointer)

    quick = _quick_check(schema_name)
    if quick is not None and quick(doc.data):
        return ()  # valid: skip the slower jsonschema walk, which only explains errors
    validator = _validator(schema_name)
    errors = sorted(validator.iter_errors(doc.data), key=_error_order)
    diagnostics: list[Diagnostic] = []
    seen: set[tuple[str, str, str]] = set()
    for error in errors:
        for diagnostic in describe_error(error, base_pointer, locate, _parsed(schema_name)):
            identity = (diagnostic.code, diagnostic.summary, str(diagnostic.location))
            if identity not in seen:
                seen.add(identity)
                diagnostics.append(diagnostic)
    return tuple(sorted(diagnostics, key=Diagnostic.sort_key))


def _error_order(error: ValidationError) -> tuple[str, str]:
    return ("/".join(str(part) for part in error.absolute_path), str(error.validator))
