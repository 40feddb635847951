"""Field-level reason lines between canonical specs; secrets never shown."""

from __future__ import annotations

from ankplan.model import PodmanConfig, Workload, WorkloadFile
from ankplan.planner.diff import diff_env, diff_files, diff_words, spec_diff
from ankplan.planner.hashing import canonical_spec


def spec(*, image: str = "localhost/a:1", agent: str = "agent_A",
         options: tuple[str, ...] = (), args: tuple[str, ...] = (),
         files: tuple[WorkloadFile, ...] = ()) -> dict[str, object]:
    config = PodmanConfig(image=image, command_options=options, command_args=args)
    return canonical_spec(Workload(name="web", agent=agent, runtime="podman",
                                   runtime_config_text="", runtime_config=config, files=files))


def test_equal_specs_have_no_diff() -> None:
    assert spec_diff(spec(), spec()) == ()


def test_image_change() -> None:
    assert spec_diff(spec(), spec(image="localhost/a:2")) == (
        "image: localhost/a:1 -> localhost/a:2",)


def test_agent_change() -> None:
    assert spec_diff(spec(), spec(agent="agent_B")) == ("agent: agent_A -> agent_B",)


def test_added_options() -> None:
    assert spec_diff(spec(), spec(options=("--cpus", "2"))) == ('commandOptions: +"--cpus" +"2"',)


def test_changed_option_value() -> None:
    old, new = spec(options=("--cpus", "1", "-p", "80:80")), spec(options=("--cpus", "2", "-p",
                                                                           "80:80"))
    assert spec_diff(old, new) == ('commandOptions: -"1" +"2"',)


def test_removed_args() -> None:
    assert spec_diff(spec(args=("serve", "8080")), spec(args=("serve",))) == (
        'commandArgs: -"8080"',)


def test_env_value_change_is_named_not_shown() -> None:
    old = spec(options=("--cpus", "1", "-e", "PASSWORD=hunter2"))
    new = spec(options=("--cpus", "1", "-e", "PASSWORD=swordfish"))
    lines = spec_diff(old, new)
    assert lines == ("env PASSWORD changed",)
    assert "hunter2" not in repr(lines) and "swordfish" not in repr(lines)
    assert "sha256" not in repr(lines)


def test_env_added_removed_and_spelling_change_is_no_change() -> None:
    old = spec(options=("-e", "A=1", "-e", "B=2"))
    new = spec(options=("--env=A=1", "-e", "C=3"))
    assert spec_diff(old, new) == ("env B removed", "env C added")


def test_env_from_host_to_value() -> None:
    assert spec_diff(spec(options=("-e", "HOME")), spec(options=("-e", "HOME=/x"))) == (
        "env HOME changed",)


def test_env_and_other_options_together_in_field_order() -> None:
    old = spec(image="a", options=("-e", "TOKEN=1"))
    new = spec(image="b", options=("--cpus", "2", "-e", "TOKEN=2"), args=("x",))
    assert spec_diff(old, new) == (
        "image: a -> b", 'commandOptions: +"--cpus" +"2"', "env TOKEN changed",
        'commandArgs: +"x"')


def test_files() -> None:
    old = spec(files=(WorkloadFile(mount_point="/a", data="1"),
                      WorkloadFile(mount_point="/b", data="1")))
    new = spec(files=(WorkloadFile(mount_point="/a", data="2"),
                      WorkloadFile(mount_point="/c", data="1")))
    assert spec_diff(old, new) == ("file /a changed", "file /b removed", "file /c added")


def test_digested_fields_say_changed() -> None:
    old = {"runtime": "podman-kube", "manifest": "sha256:aaaa"}
    new = {"runtime": "podman-kube", "manifest": "sha256:bbbb"}
    assert spec_diff(old, new) == ("manifest changed",)


def test_missing_and_unknown_fields() -> None:
    assert spec_diff({"runtime": "podman"}, {"runtime": "podman", "image": "x"}) == (
        "image: (none) -> x",)
    assert spec_diff({"zeta": 1, "alpha": [1]}, {"zeta": 2, "alpha": [2]}) == (
        'alpha: -"1" +"2"', "zeta: 1 -> 2")
    assert spec_diff({"nested": {"a": 1}}, {"nested": {"a": 2}}) == (
        'nested: {"a": 1} -> {"a": 2}',)


def test_long_values_are_cut() -> None:
    line = spec_diff({"image": "x" * 200}, {"image": "y"})[0]
    assert len(line) < 100 and "…" in line


def test_runtime_change_shows_first() -> None:
    lines = spec_diff({"runtime": "podman", "image": "a"},
                      {"runtime": "podman-kube", "manifest": "sha256:1"})
    assert lines[0] == "runtime: podman -> podman-kube"


def test_helpers_directly() -> None:
    assert diff_words("x", ["a"], ["a"]) == ()
    assert diff_words("x", ["-e", "A=1"], ["-e", "A=2"]) == ()  # both masked alike
    assert diff_env(["-e", "A=1"], ["-e", "A=1"]) == ()
    assert diff_files(None, [{"mountPoint": "/a", "data": "sha256:1"}]) == ("file /a added",)


def test_kube_play_options_hide_env_too() -> None:
    from ankplan.model import KubeConfig

    def kube(options: tuple[str, ...]) -> dict[str, object]:
        return canonical_spec(Workload(
            name="pod", agent="a", runtime="podman-kube", runtime_config_text="",
            runtime_config=KubeConfig(manifest="kind: Pod", play_options=options)))

    old, new = kube(("--env", "KEY=one", "--replace")), kube(("--env", "KEY=two"))
    assert spec_diff(old, new) == ('playOptions: -"--replace"', "env KEY changed")
    assert "one" not in repr(old) and "two" not in repr(new)


def test_general_options_are_plain_lists() -> None:
    config = PodmanConfig(image="i", general_options=("--log-level", "debug"))
    new = canonical_spec(Workload(name="w", agent="agent_A", runtime="podman",
                                  runtime_config_text="", runtime_config=config))
    assert spec_diff(spec(image="i"), new) == ('generalOptions: +"--log-level" +"debug"',)


def test_digested_values_in_compact_specs_diff_as_changes_never_in_full() -> None:
    from ankplan.planner.hashing import compact_spec

    old = compact_spec(spec(args=("serve", "a" * 1000)))
    new = compact_spec(spec(args=("serve", "b" * 1000)))
    [line] = spec_diff(old, new)
    assert line.startswith('commandArgs: -"sha256:') and "aaaa" not in line
    whole = {**old, "commandArgs": "sha256:0123456789abcdef"}
    assert spec_diff(whole, new) == ("commandArgs changed",)
