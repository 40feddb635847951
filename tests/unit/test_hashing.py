"""Canonical specs, versioned spec hashes, env masking and container labels."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ankplan.model import (
    LABEL_AGENT,
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    LABEL_RESTART_COUNT,
    LABEL_SPEC,
    LABEL_SPEC_HASH,
    LABEL_WORKLOAD,
    AddCondition,
    Dependency,
    KubeConfig,
    PodmanConfig,
    RestartPolicy,
    Workload,
    WorkloadFile,
)
from ankplan.planner import hashing
from ankplan.planner.hashing import (
    CANONICAL_SPECS,
    HASH_VERSION,
    LABEL_DEPENDENCIES,
    canonical_spec,
    hash_version,
    labels_for,
    parse_dependencies_label,
    parse_spec_label,
    spec_hash,
    spec_matches,
)
from ankplan.podman.options import mask_options


def podman(name: str = "web", *, image: str = "localhost/web:1", agent: str = "agent_A",
           options: tuple[str, ...] = (), args: tuple[str, ...] = (),
           general: tuple[str, ...] = (), text: str = "", **fields: object) -> Workload:
    config = PodmanConfig(image=image, general_options=general, command_options=options,
                          command_args=args)
    return Workload(name=name, agent=agent, runtime="podman",
                    runtime_config_text=text or f"image: {image}", runtime_config=config,
                    **fields)  # type: ignore[arg-type]


# --- the hash --------------------------------------------------------------------------------


def test_hash_is_versioned_sha256() -> None:
    value = spec_hash(podman())
    assert re.fullmatch(r"v1:[0-9a-f]{64}", value)
    assert HASH_VERSION == "v1"
    assert hash_version(value) == "v1"


def test_hash_is_deterministic_and_name_independent() -> None:
    assert spec_hash(podman()) == spec_hash(podman())
    # The name is the container's identity label, not part of what the container is made of.
    assert spec_hash(podman("web")) == spec_hash(podman("other"))


def test_reindented_runtime_config_text_gives_same_hash() -> None:
    compact = podman(text="image: localhost/web:1\ncommandArgs: [a]", args=("a",))
    indented = podman(text="commandArgs:\n    - a\nimage:    localhost/web:1\n", args=("a",))
    assert spec_hash(compact) == spec_hash(indented)


@pytest.mark.parametrize("change", [
    {"restart_policy": RestartPolicy.ALWAYS},
    {"dependencies": (Dependency(workload_name="db", condition=AddCondition.RUNNING),)},
    {"tags": (("owner", "police"),)},
    {"configs": (("port", "web_config"),)},
    {"control_interface_access": True},
])
def test_ankplan_side_fields_do_not_change_the_hash(change: dict[str, object]) -> None:
    assert spec_hash(podman(**change)) == spec_hash(podman())


@pytest.mark.parametrize("changed", [
    podman(image="localhost/web:2"),
    podman(agent="agent_B"),
    podman(options=("--cpus", "2")),
    podman(args=("serve",)),
    podman(general=("--log-level", "debug")),
    podman(files=(WorkloadFile(mount_point="/etc/a", data="x"),)),
])
def test_runtime_fields_change_the_hash(changed: Workload) -> None:
    assert spec_hash(changed) != spec_hash(podman())


def test_env_value_changes_the_hash() -> None:
    assert spec_hash(podman(options=("-e", "TOKEN=a"))) != spec_hash(
        podman(options=("-e", "TOKEN=b")))


def test_file_content_changes_the_hash() -> None:
    one = podman(files=(WorkloadFile(mount_point="/etc/a", data="x"),))
    two = podman(files=(WorkloadFile(mount_point="/etc/a", data="y"),))
    binary = podman(files=(WorkloadFile(mount_point="/etc/a", binary_data="eA=="),))
    assert len({spec_hash(one), spec_hash(two), spec_hash(binary)}) == 3


def test_option_order_matters() -> None:
    assert spec_hash(podman(options=("-p", "80:80", "--cpus", "1"))) != spec_hash(
        podman(options=("--cpus", "1", "-p", "80:80")))


@pytest.mark.parametrize("spelling", [
    ("-e", "TOKEN=abc"), ("--env", "TOKEN=abc"), ("--env=TOKEN=abc",), ("-eTOKEN=abc",),
])
def test_env_spellings_hash_alike(spelling: tuple[str, ...]) -> None:
    assert spec_hash(podman(options=spelling)) == spec_hash(podman(options=("-e", "TOKEN=abc")))


# --- the canonical spec ----------------------------------------------------------------------


def test_canonical_spec_fields_and_omitted_defaults() -> None:
    spec = canonical_spec(podman(options=("--cpus", "1"), args=("serve",)))
    assert spec == {"runtime": "podman", "agent": "agent_A", "image": "localhost/web:1",
                    "commandOptions": ["--cpus", "1"], "commandArgs": ["serve"]}


def test_canonical_spec_never_holds_env_values() -> None:
    spec = canonical_spec(podman(options=("-e", "PASSWORD=hunter2", "--env", "HOME")))
    text = json.dumps(spec)
    assert "hunter2" not in text
    options = spec["commandOptions"]
    assert isinstance(options, list)
    assert options[0] == "--env" and re.fullmatch(r"PASSWORD=sha256:[0-9a-f]{16}", options[1])
    assert options[2:] == ["--env", "HOME"]  # taken from the host: no value to hide


def test_files_enter_as_digests() -> None:
    spec = canonical_spec(podman(files=(WorkloadFile(mount_point="/etc/a", data="secret"),)))
    assert spec["files"] == [{"mountPoint": "/etc/a",
                              "data": spec["files"][0]["data"]}]  # type: ignore[index]
    assert "secret" not in json.dumps(spec)


def kube(manifest: str, **fields: object) -> Workload:
    config = KubeConfig(manifest=manifest, **fields)  # type: ignore[arg-type]
    return Workload(name="pod", agent="agent_A", runtime="podman-kube",
                    runtime_config_text="manifest: ...", runtime_config=config)


def test_kube_manifest_is_hashed_by_content_not_layout() -> None:
    one = kube("kind: Pod\nmetadata: {name: a}\n")
    two = kube("metadata:\n  name: a\nkind: Pod   # comment\n")
    three = kube("kind: Pod\nmetadata: {name: b}\n")
    assert spec_hash(one) == spec_hash(two) != spec_hash(three)


def test_kube_down_options_do_not_change_the_hash() -> None:
    assert spec_hash(kube("kind: Pod", down_options=("--force",))) == spec_hash(kube("kind: Pod"))
    assert spec_hash(kube("kind: Pod", play_options=("--replace",))) != spec_hash(
        kube("kind: Pod"))


def test_unparsed_runtime_hashes_its_config_text_by_content() -> None:
    def other(text: str) -> Workload:
        return Workload(name="x", agent="a", runtime="containerd", runtime_config_text=text,
                        runtime_config=None)

    assert spec_hash(other("image: a\ncommandArgs: [x]")) == spec_hash(
        other("commandArgs:\n  - x\nimage: a"))
    assert spec_hash(other("image: a")) != spec_hash(other("image: b"))
    assert spec_hash(other("image: [unclosed")) != spec_hash(other("image: b"))  # not YAML


# --- versions --------------------------------------------------------------------------------


def test_current_hash_matches() -> None:
    workload = podman()
    assert spec_matches(workload, spec_hash(workload)) is True
    assert spec_matches(podman(image="localhost/web:2"), spec_hash(workload)) is False


def test_older_known_version_is_recomputed(monkeypatch: pytest.MonkeyPatch) -> None:
    def older(workload: Workload) -> hashing.Spec:  # e.g. a version without the agent
        spec = hashing.canonical_spec_v1(workload)
        spec.pop("agent", None)
        return spec

    monkeypatch.setitem(CANONICAL_SPECS, "v0", older)
    workload = podman()
    old_label = spec_hash(workload, "v0")
    assert old_label.startswith("v0:") and old_label != spec_hash(workload)
    assert spec_matches(workload, old_label) is True
    assert spec_matches(podman(image="localhost/web:2"), old_label) is False


@pytest.mark.parametrize("label", ["v9:abcdef", "", "garbage", "v1:", ":abc"])
def test_unknown_or_malformed_versions_are_not_judged(label: str) -> None:
    assert spec_matches(podman(), label) is None


# --- labels ----------------------------------------------------------------------------------


def test_labels_for_carries_every_ankplan_label() -> None:
    workload = podman(dependencies=(Dependency(workload_name="db",
                                               condition=AddCondition.SUCCEEDED),))
    labels = labels_for(workload, "police")
    assert labels[LABEL_PROJECT] == "police"
    assert labels[LABEL_WORKLOAD] == "web"
    assert labels[LABEL_AGENT] == "agent_A"
    assert labels[LABEL_SPEC_HASH] == spec_hash(workload)
    assert parse_spec_label(labels[LABEL_SPEC]) == canonical_spec(workload)
    assert labels[LABEL_RESTART_COUNT] == "0"
    assert labels[LABEL_MANAGED_BY].startswith("ankplan ")
    assert parse_dependencies_label(labels[LABEL_DEPENDENCIES]) == (
        ("db", "ADD_COND_SUCCEEDED"),)


def test_no_dependencies_label_without_dependencies() -> None:
    assert LABEL_DEPENDENCIES not in labels_for(podman(), "p")


def test_spec_label_hides_env_values_and_is_compact() -> None:
    label = labels_for(podman(options=("-e", "TOKEN=topsecret")), "p")[LABEL_SPEC]
    assert "topsecret" not in label
    assert " " not in label


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", "\"x\""])
def test_unreadable_spec_labels(text: str) -> None:
    assert parse_spec_label(text) is None
    assert parse_dependencies_label(text) == ()


# --- secrets in options ----------------------------------------------------------------------

# Hashes the previous release gave (recorded before the one tokenizer replaced its env parser):
# every env spelling it recognised must keep its hash, or an upgrade replaces those containers.
RECORDED_V1 = [
    (("-e", "A=1"), "1d8a3ac5b6be7beebad0ace8260c657e51997692bc7c615d103ee03c3882f551"),
    (("--env", "A=1"), "1d8a3ac5b6be7beebad0ace8260c657e51997692bc7c615d103ee03c3882f551"),
    (("--env=A=1",), "1d8a3ac5b6be7beebad0ace8260c657e51997692bc7c615d103ee03c3882f551"),
    (("-eA=1",), "1d8a3ac5b6be7beebad0ace8260c657e51997692bc7c615d103ee03c3882f551"),
    (("-e", "PASSTHROUGH"), "6fd9deab889c4969bd52f9889f273e310d6ab242930f5f6c865f3fc7af015c87"),
    (("--cpus", "1", "-e", "A=1", "--env", "B", "--env=C=3", "-eD=4", "-p", "80:80"),
     "c1383d3e865bbeff193419a508a3d0dd0aae8b6c887327307008b175a711daf0"),
    (("-p", "8080:80", "--network", "host", "--health-cmd", "true"),
     "3f3c27191d3523ccc894ecb6ed574dbaa462eb61dd0decfa907976dac9eae42b"),
    (("-it", "--rm"), "9985337544fd0572ca5be2ba0d032cfa1d2427f3a115f3578a70b45b0eef71a4"),
    (("--env-file", "/etc/x.env"),
     "29dd465a8fe38c7f2b3c95c729ebbba0a5eda3524bee57b21c3ae4f39e7e03cc"),
]


@pytest.mark.parametrize(("options", "digest"), RECORDED_V1)
def test_v1_hashes_of_the_previous_release_are_kept(options: tuple[str, ...],
                                                    digest: str) -> None:
    workload = Workload(name="w", agent="a", runtime="podman", runtime_config_text="x",
                        runtime_config=PodmanConfig(image="localhost/x:1", command_options=options))
    assert spec_hash(workload) == f"v1:{digest}"


def test_combined_short_flags_no_longer_keep_the_value_in_the_spec() -> None:
    """`-ie PASSWORD=s3cr3t` was stored in clear by the previous release; now as a digest."""
    spec = canonical_spec(podman(options=("-ie", "PASSWORD=s3cr3t", "-itePIN=1234")))
    assert spec["commandOptions"] == ["-i", "--env", "PASSWORD=sha256:eb118eeb2a08d6c7",
                                      "-it", "--env", "PIN=sha256:d7c359f8a3605ed5"]
    assert "s3cr3t" not in json.dumps(spec) and "1234" not in json.dumps(spec)


@given(st.lists(st.tuples(st.from_regex(r"[A-Z_]{1,8}", fullmatch=True),
                          st.text(min_size=1, max_size=12)), max_size=5),
       st.lists(st.sampled_from(["-e", "--env", "--env=", "-e="]), min_size=5, max_size=5))
def test_mask_env_never_shows_a_value(pairs: list[tuple[str, str]], forms: list[str]) -> None:
    options: list[str] = ["--cpus", "1"]
    for (name, value), form in zip(pairs, forms):
        secret = "SECRET" + value
        if form in ("-e", "--env"):
            options += [form, f"{name}={secret}"]
        elif form == "--env=":
            options.append(f"--env={name}={secret}")
        else:
            options.append(f"-e{name}={secret}")
    shown = " ".join(mask_options(options))
    assert "SECRET" not in shown
    assert "SECRET" not in json.dumps(canonical_spec(podman(options=tuple(options))))


# --- the compact spec label ------------------------------------------------------------------


def test_big_values_are_digests_in_the_spec_label_but_not_in_the_hash() -> None:
    big = podman(args=("serve", "x" * 200_000))
    label = labels_for(big, "p")[LABEL_SPEC]
    assert len(label) < 300
    spec = parse_spec_label(label)
    assert spec is not None and spec["commandArgs"][0] == "serve"
    assert str(spec["commandArgs"][1]).startswith("sha256:")
    assert spec_hash(big) != spec_hash(podman(args=("serve", "x" * 199_999)))


def test_the_spec_label_never_exceeds_its_limit() -> None:
    many = podman(options=tuple(f"--label=k{index}=v" for index in range(2000)),
                  args=tuple(f"a{index}" for index in range(2000)))
    label = labels_for(many, "p")[LABEL_SPEC]
    assert len(label) <= hashing.SPEC_LABEL_LIMIT
    spec = parse_spec_label(label)
    assert spec is not None and spec["image"] == "localhost/web:1"
    assert str(spec["commandOptions"]).startswith("sha256:")  # the largest field went first


def test_compacting_is_idempotent_and_reads_old_full_labels_alike() -> None:
    """A label written in full by the previous release compares with a compact one."""
    full = canonical_spec(podman(args=("serve", "y" * 5000)))
    compact = hashing.compact_spec(full)
    assert hashing.compact_spec(compact) == compact
    assert hashing.compact_spec(json.loads(json.dumps(full))) == compact
