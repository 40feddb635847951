"""Field-level differences between two canonical specs, as human reason lines.

Pure: no I/O. Lines look like `image: localhost/a:1 -> localhost/a:2`,
`commandOptions: +"--cpus" +"2"` or `env PASSWORD changed`; env values never appear.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from ankplan.planner.hashing import DIGEST_PREFIX
from ankplan.podman.options import (
    ENV,
    KUBE_PLAY,
    RUN,
    OptionTable,
    env_assignments,
    mask_options,
    rewrite,
)

# Fields in the order a reader expects them; unknown fields follow, sorted.
FIELD_ORDER = (
    "runtime", "agent", "image", "runtimeConfig", "manifest", "generalOptions",
    "commandOptions", "playOptions", "commandArgs", "controlInterfaceTarget", "files",
)
# List fields that are podman option lists: their env part is diffed by name only.
OPTION_FIELDS: dict[str, OptionTable] = {"commandOptions": RUN, "playOptions": KUBE_PLAY}
NONE = "(none)"
MAX_VALUE = 80  # characters of a value shown before it is cut


def _ordered_keys(old: Mapping[str, object], new: Mapping[str, object]) -> list[str]:
    keys = set(old) | set(new)
    known = [key for key in FIELD_ORDER if key in keys]
    return known + sorted(keys - set(FIELD_ORDER))


def _short(value: object) -> str:
    """A value on one line: strings bare, anything else as compact JSON, cut at MAX_VALUE."""
    if value is None:
        return NONE
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True,
                                                           ensure_ascii=False)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _as_words(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [] if value is None else [str(value)]


def diff_words(field: str, old: Sequence[str], new: Sequence[str],
               table: OptionTable = RUN) -> tuple[str, ...]:
    """`field: -"a" +"b"` for two option lists; empty when equal. Secret values are masked."""
    old_shown, new_shown = mask_options(old, table), mask_options(new, table)
    changes: list[str] = []
    import difflib  # here: only a replace's details need it (~1 ms to import)
    matcher = difflib.SequenceMatcher(a=old_shown, b=new_shown, autojunk=False)
    for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if tag == "equal":
            continue
        changes += ["-" + json.dumps(w, ensure_ascii=False) for w in old_shown[old_start:old_end]]
        changes += ["+" + json.dumps(w, ensure_ascii=False) for w in new_shown[new_start:new_end]]
    return (f"{field}: {' '.join(changes)}",) if changes else ()


def diff_env(old: Sequence[str], new: Sequence[str],
             table: OptionTable = RUN) -> tuple[str, ...]:
    """`env NAME added|removed|changed` per variable set by env options; values never shown."""
    old_env, new_env = dict(env_assignments(old, table)), dict(env_assignments(new, table))
    lines: list[str] = []
    for name in sorted(set(old_env) | set(new_env)):
        if name not in old_env:
            lines.append(f"env {name} added")
        elif name not in new_env:
            lines.append(f"env {name} removed")
        elif old_env[name] != new_env[name]:
            lines.append(f"env {name} changed")
    return tuple(lines)


def _without_env(words: Sequence[str], table: OptionTable) -> tuple[str, ...]:
    return rewrite(words, lambda token: () if token.name == ENV else None, table)


def _files_by_mount(value: object) -> dict[str, object]:
    files: dict[str, object] = {}
    for entry in value if isinstance(value, list) else []:
        if isinstance(entry, dict):
            files[str(entry.get("mountPoint", ""))] = entry
    return files


def diff_files(old: object, new: object) -> tuple[str, ...]:
    """`file /path added|removed|changed` per mount point; contents never shown."""
    old_files, new_files = _files_by_mount(old), _files_by_mount(new)
    lines: list[str] = []
    for mount in sorted(set(old_files) | set(new_files)):
        if mount not in old_files:
            lines.append(f"file {mount} added")
        elif mount not in new_files:
            lines.append(f"file {mount} removed")
        elif old_files[mount] != new_files[mount]:
            lines.append(f"file {mount} changed")
    return tuple(lines)


def _diff_field(key: str, old: object, new: object) -> tuple[str, ...]:
    digests = [v for v in (old, new) if isinstance(v, str) and v.startswith(DIGEST_PREFIX)]
    if digests and old is not None and new is not None:
        return (f"{key} changed",)  # a digest of content: the content itself is not kept
    if key == "files":
        return diff_files(old, new)
    if isinstance(old, list) or isinstance(new, list):
        old_words, new_words = _as_words(old), _as_words(new)
        table = OPTION_FIELDS.get(key)
        if table is not None:
            return (diff_words(key, _without_env(old_words, table),
                               _without_env(new_words, table), table)
                    + diff_env(old_words, new_words, table))
        return diff_words(key, old_words, new_words)
    return (f"{key}: {_short(old)} -> {_short(new)}",)


def spec_diff(old_spec: Mapping[str, object], new_spec: Mapping[str, object]) -> tuple[str, ...]:
    """Reason lines for every field that differs between two canonical specs, in FIELD_ORDER.

    Both specs come from `hashing.canonical_spec` (the old one from a container's spec label),
    so env values are digests and file contents are digests: neither is ever shown.
    """
    lines: list[str] = []
    for key in _ordered_keys(old_spec, new_spec):
        old, new = old_spec.get(key), new_spec.get(key)
        if old != new:
            lines.extend(_diff_field(key, old, new))
    return tuple(lines)
