"""Semantic checks: cycles, dependencies that cannot hold, options that fight ankplan."""

from __future__ import annotations

import pytest

from ankplan.errors import Location, Severity
from ankplan.manifests.checks import check_workloads
from ankplan.model import AddCondition, Dependency, PodmanConfig, RestartPolicy, Workload


def workload(name: str, *deps: tuple[str, AddCondition], agent: str = "a",
             policy: RestartPolicy = RestartPolicy.NEVER, options: tuple[str, ...] = (),
             runtime: str = "podman") -> Workload:
    config = PodmanConfig(image="x", command_options=options) if runtime == "podman" else None
    return Workload(name=name, agent=agent, runtime=runtime, runtime_config_text="image: x",
                    runtime_config=config, restart_policy=policy,
                    dependencies=tuple(Dependency(workload_name=dep, condition=condition)
                                       for dep, condition in sorted(deps)),
                    location=Location(file="m.yaml", line=3, column=3,
                                      pointer=f"/workloads/{name}"))


RUN, OK, FAIL = AddCondition.RUNNING, AddCondition.SUCCEEDED, AddCondition.FAILED


def found(workloads: list[Workload], **kwargs: object) -> list[tuple[str, str, str]]:
    return [(d.severity.value, d.code, d.summary)
            for d in check_workloads(workloads, **kwargs)]  # type: ignore[arg-type]


def test_clean_workloads_have_no_problems() -> None:
    assert found([workload("db"), workload("app", ("db", RUN))]) == []


def test_cycle_is_printed_as_a_path() -> None:
    workloads = [workload("a", ("b", RUN)), workload("b", ("c", OK)), workload("c", ("a", RUN)),
                 workload("d", ("a", RUN))]
    assert found(workloads) == [("error", "dependency-cycle",
                                 "dependency cycle: a -> b -> c -> a")]


def test_every_separate_cycle_and_self_dependency_is_reported() -> None:
    workloads = [workload("a", ("b", RUN)), workload("b", ("a", RUN)),
                 workload("x", ("x", RUN))]
    assert [summary for _, _, summary in found(workloads)] == [
        "dependency cycle: a -> b -> a", "dependency cycle: x -> x"]


def test_cycle_location_is_the_dependency_entry() -> None:
    seen = []

    def locate(name: str, relative: str, key: bool) -> Location:
        seen.append((name, relative, key))
        return Location(file="m.yaml", line=9, column=7)

    diagnostics = check_workloads([workload("a", ("b", RUN)), workload("b", ("a", RUN))],
                                  locate=locate)
    assert seen[0] == ("a", "/dependencies/b", True)
    assert diagnostics[0].location == Location(file="m.yaml", line=9, column=7)


def test_default_location_extends_the_workload_pointer() -> None:
    diagnostics = check_workloads([workload("a", ("ghost", RUN))])
    assert diagnostics[0].location is not None
    assert diagnostics[0].location.pointer == "/workloads/a/dependencies/ghost"


def test_unknown_dependency_waits_forever() -> None:
    assert found([workload("app", ("dbb", RUN)), workload("db")]) == [
        ("warning", "unknown-dependency", ("workload 'app' depends on 'dbb', which is not "
                                           "defined: Ankaios would wait forever "
                                           "(Pending(WaitingToStart))"))]
    diagnostics = check_workloads([workload("app", ("dbb", RUN)), workload("db")])
    assert diagnostics[0].hint == "did you mean 'db'?"


def test_unknown_dependency_hint_never_suggests_the_workload_itself() -> None:
    """`web` depending on the undefined `webb` is closest to `web` itself: no such hint."""
    (alone,) = check_workloads([workload("web", ("webb", RUN))])
    assert alone.hint == "define 'webb' or remove the dependency"
    hints = [d.hint for d in check_workloads([workload("web", ("webb", RUN)),
                                              workload("web1")])]
    assert hints == ["did you mean 'web1'?"]


def test_defined_but_unbuilt_workload_is_not_unknown() -> None:
    assert found([workload("app", ("broken", RUN))], defined_names=["app", "broken"]) == []


def test_dependency_on_a_not_scheduled_workload_is_an_error() -> None:
    result = found([workload("db", agent=""), workload("app", ("db", RUN))])
    assert result == [("error", "dependency-not-scheduled", (
        "workload 'app' depends on 'db', which has agent \"\" and is never scheduled, so 'app' "
        "can never start"))]


def test_succeeded_on_always_is_fragile() -> None:
    result = found([workload("job", policy=RestartPolicy.ALWAYS), workload("app", ("job", OK))])
    assert [(s, c) for s, c, _ in result] == [("warning", "fragile-condition")]
    assert "never holds for long" in result[0][2]


@pytest.mark.parametrize("policy", [RestartPolicy.ON_FAILURE, RestartPolicy.ALWAYS])
def test_failed_on_a_restarting_workload_is_fragile(policy: RestartPolicy) -> None:
    result = found([workload("primary", policy=policy), workload("fb", ("primary", FAIL))])
    assert [(s, c) for s, c, _ in result] == [("warning", "fragile-condition")]
    assert f"restartPolicy {policy.value}" in result[0][2]


def test_failed_on_a_never_workload_is_fine() -> None:
    assert found([workload("primary"), workload("fb", ("primary", FAIL))]) == []


@pytest.mark.parametrize("options, severity, fragment", [
    (("--name", "x"), "warning", "set --name"),
    (("--name=x",), "warning", "set --name"),
    (("-d",), "error", "set -d"),
    (("-dit",), "error", "set -d"),
    (("--detach",), "error", "set --detach"),
    (("--rm",), "warning", "set --rm"),
    (("--restart", "always"), "error", "set --restart"),
    (("--restart=on-failure",), "error", "set --restart"),
    (("--label", "ankplan.project=x"), "error", "label 'ankplan.project=x'"),
    (("-l", "ankplan.workload=y"), "error", "label 'ankplan.workload=y'"),
    (("--label=ankplan.x=1",), "error", "label 'ankplan.x=1'"),
    (("--replace",), "warning", "set --replace"),
])
def test_options_that_fight_ankplan(options: tuple[str, ...], severity: str,
                                    fragment: str) -> None:
    result = found([workload("w", options=options)])
    assert len(result) == 1 and result[0][:2] == (severity, "conflicting-option")
    assert fragment in result[0][2]


@pytest.mark.parametrize("options", [("--label", "app=x"), ("-e", "--rm"), ("-p", "80:80"),
                                     ("--network", "host"), ("-it",), ("--env=NAME=-d",)])
def test_harmless_options(options: tuple[str, ...]) -> None:
    assert found([workload("w", options=options)]) == []


def test_options_of_other_runtimes_are_not_checked() -> None:
    assert found([workload("w", runtime="containerd")]) == []


def test_option_location_points_at_the_option() -> None:
    seen = []

    def locate(name: str, relative: str, key: bool) -> None:
        seen.append((name, relative, key))

    check_workloads([workload("w", options=("-p", "80:80", "--rm"))], locate=locate)
    assert seen == [("w", "/runtimeConfig/commandOptions/2", False)]


def test_options_are_read_as_podman_reads_them() -> None:
    """`-e --rm` is an env named `--rm` (no warning); `-dit` holds -d; `--replace=false` is off."""
    options = ("--network", "host", "-dit", "-e", "--rm", "--replace=false", "-lankplan.x=1")
    codes = [(d.summary.split(": commandOptions ")[1][:12], d.location.pointer if d.location
              else "") for d in check_workloads([workload("w", options=options)])]
    assert codes == [("set -d: ankp", "/workloads/w/runtimeConfig/commandOptions/2"),
                     ("set label 'a", "/workloads/w/runtimeConfig/commandOptions/6")]


def test_an_option_missing_its_value_at_the_end_is_an_error() -> None:
    """Appended before the image, a trailing `-p` would take the image as its value."""
    [diagnostic] = check_workloads([workload("w", options=("--cpus", "1", "-p"))])
    assert diagnostic.is_error and "end with -p, which takes a value" in diagnostic.summary


def test_errors_and_warnings_are_kept_apart_by_severity() -> None:
    diagnostics = check_workloads([workload("w", ("ghost", RUN), options=("-d", "--rm"))])
    assert {d.severity for d in diagnostics} == {Severity.ERROR, Severity.WARNING}
    assert [d.is_error for d in diagnostics].count(True) == 1


# --- what a node accepts ---------------------------------------------------------------------


def sized(options: tuple[str, ...] = (), args: tuple[str, ...] = ()) -> Workload:
    return Workload(name="big", agent="a", runtime="podman", runtime_config_text="",
                    runtime_config=PodmanConfig(image="x", command_options=options,
                                                command_args=args))


def test_one_argument_over_max_arg_strlen_is_an_error_naming_workload_and_limit() -> None:
    [diagnostic] = check_workloads([sized(args=("serve", "x" * 200_000))])
    assert diagnostic.is_error and diagnostic.code == "argument-too-long"
    assert diagnostic.summary == ("workload 'big': commandArgs[1] is 200,000 bytes, over Linux's "
                                  "limit of 131,072 bytes for one argument (MAX_ARG_STRLEN)")
    assert diagnostic.location is None or diagnostic.location.pointer.endswith(
        "/runtimeConfig/commandArgs/1")


def test_arguments_that_fit_alone_but_not_together_are_an_error() -> None:
    [diagnostic] = check_workloads([sized(args=("x" * 70_000, "y" * 70_000))])
    assert diagnostic.code == "command-too-long"
    assert "workload 'big': its podman options and arguments are 140,0" in diagnostic.summary
    assert "over the 122,879 bytes a node accepts" in diagnostic.summary
    assert "MAX_ARG_STRLEN, 131,072 bytes" in diagnostic.summary


def test_bytes_not_characters_are_counted() -> None:
    assert check_workloads([sized(args=("é" * 66_000,))])[0].code == "argument-too-long"
    assert check_workloads([sized(args=("x" * 100_000,))]) == ()
