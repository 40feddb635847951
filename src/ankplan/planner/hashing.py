"""Canonical workload specs, versioned spec hashes and the labels ankplan puts on containers.

Pure: no I/O. The spec hash decides whether a container must be replaced, so what goes into the
canonical spec is a promise: a field in it forces a replace when it changes; a field left out
never does (see `canonical_spec_v1`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence

import yaml

from ankplan import __version__
from ankplan.model import (
    LABEL_AGENT,
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    LABEL_RESTART_COUNT,
    LABEL_SOURCE,
    LABEL_SPEC,
    LABEL_SPEC_HASH,
    LABEL_WORKLOAD,
    KubeConfig,
    PodmanConfig,
    Workload,
    WorkloadFile,
)
from ankplan.podman.options import (
    KUBE_PLAY,
    RUN,
    SECRET_OPTIONS,
    OptionTable,
    Token,
    rewrite,
    secret_split,
)

# A canonical spec: JSON-ready, keys in manifest spelling (camelCase).
Spec = dict[str, object]

HASH_VERSION = "v1"  # the version new containers are labelled with

# Not in model.py: the workload's dependencies as compact JSON {"name": "ADD_COND_..."}, so that
# containers of workloads no longer in the manifest are still removed dependents-first.
LABEL_DEPENDENCIES = "ankplan.dependencies"

DIGEST_PREFIX = "sha256:"
# The spec label (for field diffs) holds at most SPEC_LABEL_LIMIT characters: strings longer
# than SPEC_VALUE_LIMIT are kept as digests, and if that is not enough, whole fields are,
# largest first. A label is never needed to decide a replace: the spec hash does that.
SPEC_LABEL_LIMIT = 4096
SPEC_VALUE_LIMIT = 200


# --- secrets in options ----------------------------------------------------------------------


def _digest(text: str) -> str:
    """A short content digest: 64 bits are plenty to notice a change."""
    return DIGEST_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:16]


def hide_secrets(options: Sequence[str], table: OptionTable = RUN) -> tuple[str, ...]:
    """Options with every secret-bearing one normalised to `--env NAME=sha256:...` (or
    `--env-merge`, `--creds`), in any spelling podman accepts; values never stored in clear.

    `-e NAME` without a value stays `--env NAME`. The digest is salted with the name only:
    anyone who can read the label can also `podman inspect` the container and read the value,
    so this keeps secrets out of plans and logs, not away from the node's administrators.
    """
    if not any(_may_hold_secret(word) for word in options):
        return tuple(options)

    def hidden(token: Token) -> tuple[str, ...] | None:
        if token.name not in SECRET_OPTIONS or token.value is None:
            return None
        split = secret_split(token)
        if split is None:
            return (token.name, token.value)
        shown, secret = split
        return (token.name, shown + _digest(shown + secret))

    return rewrite(options, hidden, table)


def _may_hold_secret(word: str) -> bool:
    """False for a word that cannot start a secret-bearing option (a quick test: whatever it
    lets through is tokenized)."""
    if word.startswith("--"):
        return word.startswith(tuple(SECRET_OPTIONS))
    return word.startswith("-") and "e" in word


# --- canonical spec --------------------------------------------------------------------------


def _canonical_text(text: str) -> str:
    """A digest of YAML text that ignores indentation, key order and comments."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
        normal = json.dumps(documents, sort_keys=True, separators=(",", ":"), default=str)
    except yaml.YAMLError:
        normal = text.strip()
    return _digest(normal)


def _file_spec(file: WorkloadFile) -> Spec:
    if file.binary_data is not None:
        return {"mountPoint": file.mount_point, "binaryData": _digest(file.binary_data)}
    return {"mountPoint": file.mount_point, "data": _digest(file.data or "")}


def _put(spec: Spec, key: str, value: object) -> None:
    """Set `key` unless `value` is empty: a field at its default does not enter the spec, so a
    future optional field leaves existing hashes unchanged."""
    if value not in ("", None, [], ()):
        spec[key] = list(value) if isinstance(value, tuple) else value


def _runtime_spec(workload: Workload) -> Spec:
    spec: Spec = {}
    config = workload.runtime_config
    if isinstance(config, PodmanConfig):
        _put(spec, "image", config.image)
        _put(spec, "generalOptions", config.general_options)
        _put(spec, "commandOptions", hide_secrets(config.command_options))
        _put(spec, "commandArgs", config.command_args)
    elif isinstance(config, KubeConfig):
        _put(spec, "manifest", _canonical_text(config.manifest))
        _put(spec, "generalOptions", config.general_options)
        _put(spec, "playOptions", hide_secrets(config.play_options, KUBE_PLAY))
        _put(spec, "controlInterfaceTarget", config.control_interface_target)
    else:
        _put(spec, "runtimeConfig", _canonical_text(workload.runtime_config_text))
    return spec


def canonical_spec_v1(workload: Workload) -> Spec:
    """Version 1 of the canonical spec: what a container of `workload` is made from.

    In: runtime, agent, the parsed runtimeConfig fields (image, generalOptions, commandOptions
    with env values digested, commandArgs; for podman-kube the manifest digest, playOptions and
    controlInterfaceTarget) and the files (mount point plus content digest).
    Out, so changing them never replaces a container: restartPolicy (apply and watch apply it,
    not podman), dependencies (start order only), tags (metadata): these three change in place
    (planner/inplace.py), configs (already rendered
    into the fields above), controlInterfaceAccess (not acted on) and podman-kube downOptions
    (ankplan removes its pods by id and never uses them). Ankaios replaces on any of these;
    ankplan does not need to.
    """
    spec: Spec = {"runtime": workload.runtime}
    _put(spec, "agent", workload.agent)
    spec.update(_runtime_spec(workload))
    _put(spec, "files", [_file_spec(file) for file in workload.files])
    return spec


# Every hash version ankplan knows, oldest first. A container labelled with an older version is
# compared by recomputing that version's hash, so an ankplan upgrade never replaces a fleet.
# Never change what a registered function gives for input it handled; add a new version instead.
# (v1 once stored env values in clear for spellings it did not recognise, such as `-ie N=v`:
# those, and only those, now hash differently, so their containers are replaced once and the
# clear value leaves the node's labels. tests/unit/test_hashing.py pins the hashes v1 kept.)
CANONICAL_SPECS: dict[str, Callable[[Workload], Spec]] = {
    "v1": canonical_spec_v1,
}


def canonical_json(spec: Mapping[str, object]) -> str:
    """Compact JSON with sorted keys: the stable text form of a spec."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_spec(workload: Workload, version: str = HASH_VERSION) -> Spec:
    """The canonical spec of `workload` in hash version `version` (KeyError if unknown)."""
    return CANONICAL_SPECS[version](workload)


def spec_hash(workload: Workload, version: str = HASH_VERSION) -> str:
    """`"<version>:<sha256 hex of the canonical JSON>"`, the value of the spec-hash label."""
    digest = hashlib.sha256(canonical_json(canonical_spec(workload, version)).encode())
    return f"{version}:{digest.hexdigest()}"


def hash_version(label_value: str) -> str:
    """The version part of a spec-hash label ("v1"), or "" when the label is malformed."""
    version, colon, digest = label_value.partition(":")
    return version if colon and version and digest else ""


def spec_matches(workload: Workload, label_value: str) -> bool | None:
    """Whether a container labelled `label_value` runs `workload`'s current spec.

    The label's own hash version is recomputed, so containers made by an older ankplan match.
    None when the version is unknown (a newer ankplan made the container) or malformed.
    """
    version = hash_version(label_value)
    if version not in CANONICAL_SPECS:
        return None
    return spec_hash(workload, version) == label_value


def parse_spec_label(label_value: str) -> Spec | None:
    """The spec stored in a container's spec label, or None when missing or unreadable."""
    try:
        value = json.loads(label_value) if label_value else None
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _compact_value(value: object) -> object:
    if isinstance(value, str):
        return _digest(value) if len(value) > SPEC_VALUE_LIMIT else value
    if isinstance(value, list):
        return [_compact_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _compact_value(item) for key, item in value.items()}
    return value


def compact_spec(spec: Mapping[str, object]) -> Spec:
    """What the spec label keeps of a canonical spec, at most SPEC_LABEL_LIMIT characters of
    JSON: long strings as digests, then whole fields as digests, largest first. Applying it
    to a compact (or an older, full) spec gives the same, so labels of any age compare."""
    compact: Spec = {key: _compact_value(value) for key, value in spec.items()}
    by_size = sorted(compact, key=lambda key: (-len(canonical_json({key: compact[key]})), key))
    for key in by_size:
        if len(canonical_json(compact)) <= SPEC_LABEL_LIMIT:
            break
        compact[key] = _digest(canonical_json({key: compact[key]}))
    return compact


def spec_label(workload: Workload) -> str:
    """The value of the spec label: the compact canonical spec as JSON."""
    return canonical_json(compact_spec(canonical_spec(workload)))


def dependencies_label(workload: Workload) -> str:
    """Compact JSON of the workload's dependencies, `{"name": "ADD_COND_..."}`."""
    return canonical_json({dep.workload_name: dep.condition.value for dep in workload.dependencies})


def parse_dependencies_label(label_value: str) -> tuple[tuple[str, str], ...]:
    """`(workload_name, condition)` pairs from a dependencies label; () when unreadable."""
    spec = parse_spec_label(label_value)
    if spec is None:
        return ()
    return tuple(sorted((str(name), str(cond)) for name, cond in spec.items()))


def labels_for(workload: Workload, project: str, source: str = "") -> dict[str, str]:
    """Every ankplan label of a new container of `workload` in `project`, made from the
    manifests at `source` ("host:/path/m.yaml"; no source label when "").

    The spec label carries secrets only as digests.
    """
    labels = {
        LABEL_PROJECT: project,
        LABEL_WORKLOAD: workload.name,
        LABEL_AGENT: workload.agent,
        LABEL_SPEC_HASH: spec_hash(workload),
        LABEL_SPEC: spec_label(workload),
        LABEL_RESTART_COUNT: "0",
        LABEL_MANAGED_BY: f"ankplan {__version__}",
    }
    if workload.dependencies:
        labels[LABEL_DEPENDENCIES] = dependencies_label(workload)
    if source:
        labels[LABEL_SOURCE] = source
    return labels
