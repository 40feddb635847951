"""JSON Schemas and their diagnostics: messages, locations, hints, and the fast check."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from ankplan.errors import Diagnostic
from ankplan.manifests.yaml_reader import parse_yaml_text
from ankplan.schemas import SCHEMA_NAMES, load_schema, schema_diagnostics
from ankplan.schemas.fastcheck import Unsupported, compile_schema

WORKLOAD = """apiVersion: v1
workloads:
  web:
    agent: agent_A
    runtime: podman
    runtimeConfig: |
      image: x
"""


def problems(text: str, schema: str = "manifest-v1") -> list[Diagnostic]:
    doc, parse_problems = parse_yaml_text(text, "m.yaml")
    assert doc is not None and parse_problems == ()
    return list(schema_diagnostics(doc, schema))


def one(text: str, schema: str = "manifest-v1") -> Diagnostic:
    found = problems(text, schema)
    assert len(found) == 1, [d.summary for d in found]
    return found[0]


def where(diagnostic: Diagnostic) -> tuple[int, int, str]:
    assert diagnostic.location is not None
    return diagnostic.location.line, diagnostic.location.column, diagnostic.location.pointer


def test_every_schema_loads_and_is_a_valid_json_schema() -> None:
    for name in SCHEMA_NAMES:
        schema = load_schema(name)
        jsonschema.validators.validator_for(schema).check_schema(schema)
    with pytest.raises(ValueError, match="unknown schema"):
        load_schema("nope")


def test_load_schema_returns_a_fresh_copy() -> None:
    load_schema("manifest-v1")["properties"].clear()
    assert "workloads" in load_schema("manifest-v1")["properties"]


def test_valid_manifest_has_no_diagnostics() -> None:
    assert problems(WORKLOAD) == []


def test_unknown_key_with_case_insensitive_suggestion() -> None:
    found = one(WORKLOAD + "    restartpolicy: ALWAYS\n")
    assert found.code == "unknown-key"
    assert found.summary == "unknown key 'restartpolicy' in workload 'web'"
    assert found.hint == "did you mean 'restartPolicy'?"
    assert where(found) == (8, 5, "/workloads/web/restartpolicy")


def test_unknown_key_with_typo_suggestion() -> None:
    found = one(WORKLOAD + "    dependecies: {}\n")
    assert found.hint == "did you mean 'dependencies'?"


def test_unknown_key_without_close_match_lists_allowed_keys() -> None:
    found = one(WORKLOAD + "    zzz: 1\n")
    assert found.hint.startswith("allowed keys: agent, configs, controlInterfaceAccess")


def test_unknown_top_level_key_and_complete_state_hint() -> None:
    found = one(WORKLOAD + "desiredState: {}\n")
    assert found.summary == "unknown key 'desiredState' at the top level"
    assert "CompleteState" in found.hint
    assert where(found) == (8, 1, "/desiredState")


def test_merge_key_is_explained() -> None:
    found = one(WORKLOAD + "    <<: {agent: b}\n")
    assert found.summary == "unknown key '<<' in workload 'web'"
    assert "merge keys" in found.hint


def test_enum_message_and_suggestion() -> None:
    found = one(WORKLOAD + "    restartPolicy: ALWAYZ\n")
    assert found.code == "invalid-value"
    assert found.summary == ("workload 'web' restartPolicy: 'ALWAYZ' is not one of NEVER, "
                             "ON_FAILURE, ALWAYS")
    assert found.hint == "did you mean 'ALWAYS'?"
    assert where(found) == (8, 20, "/workloads/web/restartPolicy")


def test_lower_case_enum_value_suggests_the_right_case() -> None:
    assert one(WORKLOAD + "    restartPolicy: on_failure\n").hint == "did you mean 'ON_FAILURE'?"


def test_dependency_condition_enum() -> None:
    found = one(WORKLOAD + "    dependencies:\n      db: RUNNING\n")
    assert "'RUNNING' is not one of ADD_COND_RUNNING" in found.summary
    assert where(found) == (9, 11, "/workloads/web/dependencies/db")


def test_number_where_a_string_is_needed_suggests_quoting() -> None:
    found = one(WORKLOAD + "    tags:\n      port: 8081\n")
    assert found.code == "wrong-type"
    assert found.summary == "workload 'web' tags.port: expected a string, got number 8081"
    assert found.hint == 'quote it: "8081"'
    assert where(found) == (9, 13, "/workloads/web/tags/port")


def test_missing_required_key_points_at_the_workload_key() -> None:
    text = "apiVersion: v1\nworkloads:\n  web:\n    runtime: podman\n"
    found = one(text)
    assert found.code == "missing-key"
    assert found.summary == "missing required key 'runtimeConfig' in workload 'web'"
    assert where(found) == (3, 3, "/workloads/web")


def test_misspelt_required_key_is_reported_once() -> None:
    text = ("apiVersion: v1\nworkloads:\n  web:\n    runtime: podman\n"
            "    runtimeconfig: 'image: x'\n")
    found = one(text)
    assert found.code == "unknown-key" and found.hint == "did you mean 'runtimeConfig'?"


def test_invalid_workload_name_points_at_the_key() -> None:
    text = WORKLOAD.replace("  web:", "  web.1:")
    found = one(text)
    assert found.code == "invalid-name"
    assert found.summary == "invalid workload name 'web.1'"
    assert "only a-z, A-Z, 0-9" in found.hint
    assert where(found) == (3, 3, "/workloads/web.1")


def test_long_workload_name() -> None:
    found = one(WORKLOAD.replace("  web:", "  " + "w" * 68 + ":"))
    assert "is 68 characters long, the limit is 63" in found.summary


def test_empty_filter_mask() -> None:
    text = WORKLOAD + ("    controlInterfaceAccess:\n      allowRules:\n        - type: StateRule\n"
                       "          operation: Read\n          filterMasks: [\"\"]\n")
    found = one(text)
    assert found.summary.endswith("empty filter mask is not allowed")
    assert where(found)[:2] == (12, 25)


def test_v1_rejects_the_v01_filter_mask_spelling() -> None:
    text = WORKLOAD + ("    controlInterfaceAccess:\n      allowRules:\n        - type: StateRule\n"
                       "          operation: Read\n          filterMask: [\"*\"]\n")
    found = one(text)
    assert found.summary.startswith("unknown key 'filterMask' in workload 'web'")
    assert found.hint == "did you mean 'filterMasks'?"


def test_file_needs_exactly_one_content() -> None:
    text = WORKLOAD + "    files:\n      - mountPoint: /a\n"
    found = one(text)
    assert found.summary == ("workload 'web' files[0]: a file needs exactly one of 'data' or "
                             "'binaryData'")


def test_config_keys_are_checked_at_every_depth() -> None:
    text = WORKLOAD + "configs:\n  top:\n    'bad key': x\n"
    found = one(text)
    assert found.summary == "config 'top': invalid config key 'bad key'"
    assert where(found)[:2] == (10, 5)


def test_v01_tags_are_a_list_and_v1_tags_a_mapping() -> None:
    v01 = WORKLOAD.replace("v1", "v0.1") + "    tags:\n      - key: a\n        value: b\n"
    assert problems(v01, "manifest-v0.1") == []
    found = one(v01.replace("v0.1", "v1"))
    assert found.summary == "workload 'web' tags: expected a mapping, got a list"


def test_v01_accepts_either_filter_mask_spelling() -> None:
    rule = ("    controlInterfaceAccess:\n      allowRules:\n        - type: StateRule\n"
            "          operation: Read\n          {key}: [\"*\"]\n")
    base = WORKLOAD.replace("v1", "v0.1")
    for key in ("filterMask", "filterMasks"):
        assert problems(base + rule.format(key=key), "manifest-v0.1") == []


def test_runtime_schema_with_base_pointer_and_location_override() -> None:
    doc, _ = parse_yaml_text("image: x\nimagee: y\ncommandArgs: [1]\n", "m.yaml")
    assert doc is not None
    seen = []

    def locate(pointer: str, key: bool):  # type: ignore[no-untyped-def]
        from ankplan.errors import Location
        seen.append((pointer, key))
        return Location(file="outer.yaml", line=100, column=7)

    found = schema_diagnostics(doc, "runtime-podman", base_pointer="/workloads/w/runtimeConfig",
                               location_for=locate)
    summaries = sorted(d.summary for d in found)
    assert summaries == [
        "unknown key 'imagee' in workload 'w' runtimeConfig",
        "workload 'w' runtimeConfig.commandArgs[0]: expected a string, got number 1"]
    assert {d.location.pointer for d in found if d.location} == {
        "/workloads/w/runtimeConfig/imagee", "/workloads/w/runtimeConfig/commandArgs/0"}
    assert ("/imagee", True) in seen and ("/commandArgs/0", False) in seen


# --- the fast check must agree with jsonschema -----------------------------------------------

COMPAT = Path(__file__).resolve().parents[3] / "shared" / "ankaios-manifests"


def _documents() -> list[object]:
    documents = []
    for path in sorted(COMPAT.glob("*.y*ml")):
        doc, _ = parse_yaml_text(path.read_text(), str(path))
        if doc is not None and isinstance(doc.data, dict) and "apiVersion" in doc.data:
            documents.append(doc.data)
    return documents


def _mutations(data: object) -> list[object]:
    """Small edits that may or may not break validity: drop, retype or rename each value."""
    results = []
    stack: list[tuple[object, list[object]]] = [(data, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                stack.append((value, path + [key]))
                for change in ("drop", "int", "rename", "none", "list"):
                    results.append(_mutate(data, path + [key], change))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                stack.append((value, path + [index]))
                results.append(_mutate(data, path + [index], "int"))
    return results


def _mutate(data: object, path: list[object], change: str) -> object:
    copied = copy.deepcopy(data)
    parent: object = copied
    for step in path[:-1]:
        parent = parent[step]  # type: ignore[index]
    last = path[-1]
    if change == "drop" and isinstance(parent, dict):
        del parent[last]
    elif change == "rename" and isinstance(parent, dict):
        parent[str(last) + ".x"] = parent.pop(last)
    else:
        parent[last] = {"int": 7, "none": None, "list": ["x"], "drop": "", "rename": ""}[change]  # type: ignore[index]
    return copied


@pytest.mark.parametrize("schema_name", ["manifest-v1", "manifest-v0.1"])
def test_fast_check_agrees_with_jsonschema(schema_name: str) -> None:
    schema = load_schema(schema_name)
    quick = compile_schema(schema)
    validator = jsonschema.validators.validator_for(schema)(schema)
    checked = 0
    for document in _documents():
        for candidate in [document, *_mutations(document)]:
            assert quick(candidate) == validator.is_valid(candidate), json.dumps(candidate)[:300]
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize("schema_name", ["runtime-podman", "runtime-podman-kube"])
def test_fast_check_agrees_on_runtime_configs(schema_name: str) -> None:
    schema = load_schema(schema_name)
    quick = compile_schema(schema)
    validator = jsonschema.validators.validator_for(schema)(schema)
    samples = [{"image": "x"}, {"image": ""}, {"image": 1}, {}, {"image": "x", "extra": 1},
               {"image": "x", "commandArgs": ["a", 1]}, {"image": "x", "commandArgs": None},
               {"manifest": "m"}, {"manifest": "m", "controlInterfaceTarget": "a/b"},
               {"manifest": "m", "controlInterfaceTarget": "ab"}, {"manifest": "m",
                                                                    "playOptions": "x"}, None,
               [], "text"]
    for sample in samples:
        assert quick(sample) == validator.is_valid(sample), sample


INVENTORY = """\
defaults: {connection: ssh, user: root, port: 22, identity_file: id, connect_timeout: 5}
nodes:
  node1: {host: 10.0.0.1, port: 2222, podman: [sudo, podman], supervisor: systemd}
  node2: {connection: local}
agents: {a1: node1, a2: node2}
default_node: node2
"""


def test_fast_check_agrees_on_inventories() -> None:
    """The inventory schema compiles too (ports and timeouts use minimum, maximum and
    exclusiveMinimum), so a valid inventory skips importing jsonschema (~90 ms)."""
    schema = load_schema("inventory")
    quick = compile_schema(schema)
    validator = jsonschema.validators.validator_for(schema)(schema)
    inventories = Path(__file__).resolve().parents[2] / "inventories"
    documents = [parse_yaml_text(INVENTORY, "inventory.yaml")[0]] + [
        parse_yaml_text(path.read_text(), str(path))[0]
        for path in sorted(inventories.glob("*.yaml")) if "ansible" not in path.name]
    checked = 0
    for doc in documents:
        assert doc is not None and validator.is_valid(doc.data)
        for candidate in [doc.data, *_mutations(doc.data)]:
            assert quick(candidate) == validator.is_valid(candidate), json.dumps(candidate)
            checked += 1
    for port in (0, 1, 65535, 65536, -1, 1.5, 22.0, True, "22"):
        for timeout in (0, 0.1, -1, 5, False):
            candidate = {"nodes": {"n": {"port": port, "connect_timeout": timeout}}}
            assert quick(candidate) == validator.is_valid(candidate), candidate
            checked += 1
    assert checked > 100


def test_fast_check_refuses_unknown_keywords() -> None:
    with pytest.raises(Unsupported):
        compile_schema({"type": "object", "unevaluatedProperties": False})
