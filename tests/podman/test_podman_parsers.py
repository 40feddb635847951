"""Podman argv builders and parsers against output recorded from real podman 4.3.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ankplan.errors import PlanError
from ankplan.model import (
    LABEL_PROJECT,
    Connection,
    KubeConfig,
    Node,
    ObservedContainer,
    PodmanConfig,
    Workload,
)
from ankplan.podman import (
    HealthCheck,
    PodmanOutputError,
    execution_state,
    healthcheck_run_argv,
    info_argv,
    logs_argv,
    mask_argv,
    parse_go_duration,
    parse_health_check,
    parse_info,
    parse_ps,
    ps_argv,
    rm_argv,
    run_argv,
    start_argv,
    stop_argv,
)

FIXTURES = Path(__file__).parent / "fixtures" / "4.3.1"
NODE = Node(name="node1", connection=Connection.SSH, host="10.0.0.1")
SUDO_NODE = Node(name="node2", podman=("sudo", "-n", "podman"))


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def by_name(containers: tuple[ObservedContainer, ...]) -> dict[str, ObservedContainer]:
    return {container.name: container for container in containers}


# --- ps --------------------------------------------------------------------------------------


def test_ps_argv_is_one_call_with_json() -> None:
    assert ps_argv(NODE) == ("podman", "ps", "--all", "--format", "json")
    assert ps_argv(SUDO_NODE)[:4] == ("sudo", "-n", "podman", "ps")


def test_parse_ps_recorded_states() -> None:
    containers = by_name(parse_ps(fixture("ps.json"), "node1"))
    assert set(containers) == {"fx-running", "fx-exit0", "fx-exit1", "fx-created", "fx-healthy",
                               "fx-unhealthy", "fx-starting", "fx-paused"}
    assert {name: c.state for name, c in containers.items()} == {
        "fx-running": "running", "fx-exit0": "exited", "fx-exit1": "exited",
        "fx-created": "created", "fx-healthy": "running", "fx-unhealthy": "running",
        "fx-starting": "running", "fx-paused": "paused"}
    assert containers["fx-exit1"].exit_code == 3
    assert containers["fx-exit0"].exit_code == 0
    assert all(c.node_name == "node1" for c in containers.values())


def test_parse_ps_labels_and_restart_count() -> None:
    running = by_name(parse_ps(fixture("ps.json"), "node1"))["fx-running"]
    assert running.project == "demo"
    assert running.owned
    assert running.workload_name == "fx-running"
    assert running.spec_hash == "v1:abc"
    assert running.label("ankplan.spec") == '{"image":"x"}'
    assert running.restart_count == 2
    assert running.image == "localhost/ankplan-busybox:test"
    assert running.id.startswith("f5e8f296efbc")
    assert list(running.labels) == sorted(running.labels)


def test_parse_ps_foreign_container_has_no_labels() -> None:
    exit0 = by_name(parse_ps(fixture("ps.json"), "node1"))["fx-exit0"]
    assert exit0.labels == ()
    assert not exit0.owned
    assert exit0.restart_count == 0


def test_parse_ps_times() -> None:
    containers = by_name(parse_ps(fixture("ps.json"), "node1"))
    assert containers["fx-running"].started_at == 1795758662.0
    assert containers["fx-running"].finished_at == 0.0  # Go zero time
    assert containers["fx-exit0"].finished_at == 1795758662.0
    assert containers["fx-created"].started_at == 0.0


def test_parse_ps_health_from_status() -> None:
    containers = by_name(parse_ps(fixture("ps.json"), "node1"))
    assert containers["fx-healthy"].health == "healthy"
    assert containers["fx-unhealthy"].health == "unhealthy"
    assert containers["fx-starting"].health == "starting"
    assert containers["fx-running"].health == ""


def test_parse_ps_sorted_by_name_then_id() -> None:
    containers = parse_ps(fixture("ps.json"), "node1")
    assert [c.name for c in containers] == sorted(c.name for c in containers)


def test_parse_ps_stopping() -> None:
    (stopping,) = parse_ps(fixture("ps-stopping.json"), "n")
    assert stopping.state == "stopping"
    assert str(execution_state(stopping)) == "Stopping(Stopping)"


@pytest.mark.parametrize("text", ["", "  \n", "null", "null\n", fixture("ps-empty.json")])
def test_parse_ps_empty_outputs(text: str) -> None:
    assert parse_ps(text, "n") == ()


def test_parse_ps_missing_fields_get_defaults() -> None:
    (container,) = parse_ps(json.dumps([{"Id": "abc", "Names": ["x"], "Labels": None,
                                         "ExitCode": "bogus"}]), "n")
    assert container.state == "unknown"
    assert container.exit_code == 0
    assert container.labels == ()
    assert container.started_at == 0.0
    assert container.image == ""


def test_parse_ps_bad_restart_count_label_is_zero() -> None:
    text = json.dumps([{"Id": "a", "Names": ["x"], "State": "running",
                        "Labels": {"ankplan.restart-count": "many"}}])
    assert parse_ps(text, "n")[0].restart_count == 0


@pytest.mark.parametrize("text", ["Error: something", "{", '{"a": 1}'])
def test_parse_ps_rejects_non_json(text: str) -> None:
    with pytest.raises(PodmanOutputError):
        parse_ps(text, "n")


# --- info ------------------------------------------------------------------------------------


def test_parse_info_recorded() -> None:
    info = parse_info(fixture("info.json"))
    assert info.version == "4.3.1"
    assert info.version_tuple == (4, 3, 1)
    assert info.oci_runtime == "runc"
    assert info.oci_runtime_version == "runc version 1.1.5+ds1"
    assert info.rootless is False
    assert info.run_root == "/run/containers/storage"
    assert info.graph_root == "/var/lib/containers/storage"
    assert info.containers == 8
    assert info_argv(NODE) == ("podman", "info", "--format", "json")


def test_parse_info_minimal_and_rootless() -> None:
    info = parse_info(json.dumps({"host": {"security": {"rootless": True}},
                                  "version": {"Version": "5.0.0-dev"}}))
    assert info.rootless is True
    assert info.version_tuple == (5, 0, 0)
    assert info.oci_runtime == ""
    with pytest.raises(PodmanOutputError):
        parse_info("[]")


# --- run / create / lifecycle ----------------------------------------------------------------


def workload(**config: object) -> Workload:
    podman_config = PodmanConfig(image="localhost/img:1", **config)  # type: ignore[arg-type]
    return Workload(name="web", agent="agent_A", runtime="podman", runtime_config_text="",
                    runtime_config=podman_config)


def test_run_argv_order_like_ankaios() -> None:
    w = workload(general_options=("--log-level", "debug"),
                 command_options=("-p", "8080:80", "--name", "custom"),
                 command_args=("sh", "-c", "echo hi; sleep 1"))
    argv = run_argv(SUDO_NODE, w, {"b": "2", "a": "1"})
    assert argv == ("sudo", "-n", "podman", "--log-level", "debug", "run", "--detach",
                    "--name", "web", "--label=a=1", "--label=b=2", "-p", "8080:80",
                    "--name", "custom", "localhost/img:1", "sh", "-c", "echo hi; sleep 1")


def test_run_argv_name_override() -> None:
    argv = run_argv(NODE, workload(), {LABEL_PROJECT: "p"}, name="web-2")
    assert argv == ("podman", "run", "--detach", "--name", "web-2",
                    "--label=ankplan.project=p", "localhost/img:1")


def test_run_argv_refuses_an_option_that_would_take_the_image_as_its_value() -> None:
    with pytest.raises(PlanError, match="commandOptions end with -p, which takes a value"):
        run_argv(NODE, workload(command_options=("--rm", "-ip")), {})


def test_run_argv_refuses_other_runtimes() -> None:
    kube = Workload(name="k", agent="a", runtime="podman-kube", runtime_config_text="",
                    runtime_config=KubeConfig(manifest="x"))
    with pytest.raises(PlanError, match="podman-kube"):
        run_argv(NODE, kube, {})


def test_lifecycle_argv() -> None:
    assert start_argv(NODE, "abc") == ("podman", "start", "--", "abc")
    assert start_argv(NODE, "abc", general_options=("--root", "/x")) == (
        "podman", "--root", "/x", "start", "--", "abc")
    assert stop_argv(NODE, "abc") == ("podman", "stop", "--ignore", "--time", "10", "--", "abc")
    assert stop_argv(NODE, "abc", 3, ignore=False) == ("podman", "stop", "--time", "3", "--",
                                                       "abc")
    assert rm_argv(NODE, "abc") == ("podman", "rm", "--ignore", "--", "abc")
    assert rm_argv(NODE, "abc", True) == ("podman", "rm", "--force", "--time", "0", "--ignore",
                                          "--", "abc")
    assert logs_argv(NODE, "abc") == ("podman", "logs", "--", "abc")
    assert logs_argv(NODE, "abc", follow=True, tail=5, since="10m") == (
        "podman", "logs", "--follow", "--tail", "5", "--since", "10m", "--", "abc")
    assert healthcheck_run_argv(NODE, "abc") == ("podman", "healthcheck", "run", "--", "abc")


# --- health checks ---------------------------------------------------------------------------


def test_parse_health_check_defaults() -> None:
    assert parse_health_check(["--health-cmd", "curl -f localhost"]) == HealthCheck(
        command="curl -f localhost", interval=30.0, retries=3, timeout=30.0, start_period=0.0)


def test_parse_health_check_all_options_both_spellings() -> None:
    options = ["-p", "80:80", "--health-cmd=true", "--health-interval", "1m30s",
               "--health-retries=5", "--health-timeout", "500ms", "--health-start-period=2s"]
    assert parse_health_check(options) == HealthCheck(command="true", interval=90.0, retries=5,
                                                      timeout=0.5, start_period=2.0)


@pytest.mark.parametrize("options", [[], ["-p", "80:80"], ["--health-cmd", "none"],
                                     ["--health-cmd", "true", "--no-healthcheck"]])
def test_parse_health_check_none(options: list[str]) -> None:
    assert parse_health_check(options) is None


def test_parse_health_check_bad_duration() -> None:
    with pytest.raises(PlanError, match="--health-interval"):
        parse_health_check(["--health-cmd", "true", "--health-interval", "soon"])


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), ("30s", 30.0), ("1h2m3s", 3723.0),
                                               ("1.5s", 1.5), ("250ms", 0.25)])
def test_parse_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "1x", "1s junk"])
def test_parse_go_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


# --- execution states (ankaios-reference.md 3.1) ---------------------------------------------


def observed(state: str, exit_code: int = 0) -> ObservedContainer:
    return ObservedContainer(id="i", name="n", node_name="x", image="img", state=state,
                             exit_code=exit_code)


@pytest.mark.parametrize(("state", "exit_code", "expected", "info"), [
    ("created", 0, "Pending(Starting)", "created"),
    ("configured", 0, "Pending(Starting)", "configured"),
    ("initialized", 0, "Pending(Starting)", "initialized"),
    ("running", 0, "Running(Ok)", ""),
    ("exited", 0, "Succeeded(Ok)", ""),
    ("exited", 1, "Failed(ExecFailed)", "Exit code: '1'"),
    ("exited", 137, "Failed(ExecFailed)", "Exit code: '137'"),
    ("stopping", 0, "Stopping(Stopping)", "stopping"),
    ("stopped", 0, "Stopping(Stopping)", "stopped"),
    ("removing", 0, "Stopping(Stopping)", "removing"),
    ("paused", 0, "Failed(Unknown)", "paused"),
    ("unknown", 0, "Failed(Unknown)", "unknown"),
    ("dead", 0, "Failed(Unknown)", "dead"),
])
def test_execution_state_mapping(state: str, exit_code: int, expected: str, info: str) -> None:
    result = execution_state(observed(state, exit_code))
    assert (str(result), result.info) == (expected, info)


def test_execution_state_lost_and_ps_failed() -> None:
    assert str(execution_state(None)) == "Failed(Lost)"
    failed = execution_state(observed("running"), ps_failed=True)
    assert (str(failed), failed.info) == ("Failed(Unknown)", "Error getting state from Podman.")


def test_execution_state_of_recorded_containers() -> None:
    states = {c.name: str(execution_state(c)) for c in parse_ps(fixture("ps.json"), "n")}
    assert states["fx-exit0"] == "Succeeded(Ok)"
    assert states["fx-exit1"] == "Failed(ExecFailed)"
    assert states["fx-created"] == "Pending(Starting)"
    assert states["fx-paused"] == "Failed(Unknown)"
    assert states["fx-healthy"] == "Running(Ok)"


# --- masking ---------------------------------------------------------------------------------


def test_mask_argv_env_values() -> None:
    argv = ("podman", "run", "-e", "PASSWORD=hunter2", "--env", "TOKEN=abc", "--env=KEY=v=w",
            "-eX=1", "-e", "PASSTHROUGH", "--label=ankplan.spec={\"pw\":\"hunter2\"}",
            "--label", "ankplan.spec=secret", "--label=ankplan.workload=web", "img",
            "-e", "ARG=shown-too")
    masked = mask_argv(argv)
    assert masked == ("podman", "run", "-e", "PASSWORD=***", "--env", "TOKEN=***",
                      "--env=KEY=***", "-eX=***", "-e", "PASSTHROUGH",
                      "--label=ankplan.spec=***", "--label", "ankplan.spec=***",
                      "--label=ankplan.workload=web", "img", "-e", "ARG=***")
    assert "hunter2" not in " ".join(masked)
    assert mask_argv(("podman", "ps")) == ("podman", "ps")


# --- images and stats --------------------------------------------------------------------------


def test_images_and_stats_argv() -> None:
    from ankplan.podman import images_argv, stats_argv

    assert images_argv(NODE) == ("podman", "images", "--format", "json")
    assert stats_argv(SUDO_NODE) == ("sudo", "-n", "podman", "stats", "--no-stream", "--format",
                                     "json")


def test_parse_ps_image_id() -> None:
    running = by_name(parse_ps(fixture("ps.json"), "node1"))["fx-running"]
    assert running.image == "localhost/ankplan-busybox:test"
    assert running.image_id.startswith("151083b610b0") and len(running.image_id) == 64


def test_parse_images_recorded() -> None:
    from ankplan.podman import parse_images

    table = dict(parse_images(fixture("images.json")))
    demo = "c39c83cdf93ce60e9c4702ed0211e13b68cea754efc2a09a199c9199da735224"
    # a tag in the node's own store and one in the shared read-only store, both listed
    assert table["localhost/ankplan-demo:latest"] == demo
    assert table["localhost/fx-app:v1"] == demo
    assert table["localhost/fx-app:v2"].startswith("6613353211cf")
    assert table["localhost/fx-app@sha256:51e8278536310438f14f08f8c0062cbb4b4dff7479695140c5aae0"
                 "21abdddfcf"] == table["localhost/fx-app:v2"]
    assert "21d7f6031190" not in "".join(table)  # the dangling image has no name
    assert parse_images("") == () and parse_images("null") == ()


def test_parse_images_first_store_wins() -> None:
    from ankplan.podman import parse_images

    text = json.dumps([{"Id": "rw", "Names": ["localhost/a:1"]},
                       {"Id": "ro", "Names": ["localhost/a:1"], "ReadOnly": True}])
    assert parse_images(text) == (("localhost/a:1", "rw"),)


def test_parse_stats_recorded() -> None:
    from ankplan.podman import parse_stats

    stats = {s.id: s for s in parse_stats(fixture("stats.json"))}
    limited, busy = stats["11bbad06afa4"], stats["56dae73903a6"]
    assert limited.cpu_percent == 0.92 and limited.memory_usage == 409_600
    assert limited.memory_limit == 67_110_000 and limited.memory_text == "409.6kB / 67.11MB"
    assert busy.cpu_percent == 99.93 and busy.memory_limit == 25_280_000_000  # no limit: RAM
    assert stats["8d67bf27f13d"].memory_usage == 0


@pytest.mark.parametrize("text, size", [
    ("0B", 0), ("569.3kB", 569_300), ("67.11MB", 67_110_000), ("2GiB", 2 * 1024**3),
    (" 1.5 GB ", 1_500_000_000), ("--", None), ("", None), ("12 parsecs", None),
])
def test_parse_size(text: str, size: int | None) -> None:
    from ankplan.podman import parse_size

    assert parse_size(text) == size


def test_parse_images_and_stats_refuse_non_json() -> None:
    from ankplan.podman import parse_images, parse_stats

    with pytest.raises(PodmanOutputError):
        parse_images("Error: something")
    with pytest.raises(PodmanOutputError):
        parse_stats('{"not": "a list"}')
