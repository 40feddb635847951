"""Manifest loading end to end: model values, templating, runtimeConfig positions, several files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ankplan.errors import Diagnostic, ManifestError
from ankplan.manifests.load import check_manifest, load_manifest
from ankplan.model import (
    AddCondition,
    Dependency,
    KubeConfig,
    PodmanConfig,
    RestartPolicy,
    WorkloadFile,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

HEAD = "apiVersion: v1\nworkloads:\n"
SIMPLE = """  web:
    agent: agent_A
    runtime: podman
    runtimeConfig: |
      image: docker.io/library/nginx:1.27
      commandOptions: ["-p", "8080:80"]
"""


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def check(tmp_path: Path, text: str, **kwargs: str) -> tuple[object, list[Diagnostic]]:
    manifest, diagnostics = check_manifest([write(tmp_path, text)], **kwargs)
    return manifest, list(diagnostics)


def codes(diagnostics: list[Diagnostic]) -> list[tuple[str, str, int, int]]:
    return [(d.severity.value, d.code, d.location.line if d.location else 0,
             d.location.column if d.location else 0) for d in diagnostics]


# --- the model -------------------------------------------------------------------------------


def test_police_example_builds_the_model() -> None:
    manifest = load_manifest([str(EXAMPLES / "police" / "manifest.yaml")])
    assert manifest.api_version == "v1" and manifest.warnings == ()
    assert manifest.names() == ("camera-bridge", "camera-websocket", "carla-spawner",
                                "kuksa-bridge", "police-websocket", "zenoh-router")
    router = manifest.workload("zenoh-router")
    assert router is not None and router.restart_policy is RestartPolicy.ALWAYS
    assert router.runtime_config == PodmanConfig(
        image="localhost/ankplan-demo:latest", command_options=("--network", "host"),
        command_args=("stub", "serve", "7447"))
    kuksa = manifest.workload("kuksa-bridge")
    assert kuksa is not None
    assert kuksa.dependencies == (Dependency(workload_name="carla-spawner",
                                             condition=AddCondition.RUNNING),
                                  Dependency(workload_name="zenoh-router",
                                             condition=AddCondition.RUNNING))
    assert kuksa.tags == (("system", "police-monitoring"), ("tier", "bridge"))
    assert kuksa.agent == "police_agent" and kuksa.location is not None
    assert (kuksa.location.line, kuksa.location.column) == (39, 3)
    assert kuksa.runtime_config_text.startswith("image: localhost/ankplan-demo:latest")


def test_v01_police_example_is_the_same_system() -> None:
    v1 = load_manifest([str(EXAMPLES / "police" / "manifest.yaml")])
    v01 = load_manifest([str(EXAMPLES / "police" / "manifest-v0.1.yaml")])
    assert v01.api_version == "v0.1"
    assert v01.workloads == v1.workloads
    assert [d.code for d in v01.warnings] == ["deprecated-api-version"]


@pytest.mark.parametrize("name", ["police/manifest.yaml", "migration/manifest.yaml",
                                  "fallback/manifest.yaml"])
def test_examples_validate_without_diagnostics(name: str) -> None:
    manifest, diagnostics = check_manifest([str(EXAMPLES / name)])
    assert manifest is not None and diagnostics == ()


def test_templates_render_before_runtime_config_is_parsed() -> None:
    manifest = load_manifest([str(EXAMPLES / "migration" / "manifest.yaml")])
    app = manifest.workload("app")
    assert app is not None and app.podman is not None
    assert app.podman.command_args == ("stub", "client", "--port", "7461", "--needs",
                                       "127.0.0.1:7460")
    assert app.configs == (("ports", "demo_ports"),)
    assert manifest.config_keys == ("demo_ports",)


def test_kube_runtime_config(tmp_path: Path) -> None:
    text = HEAD + ("  pod:\n    agent: a\n    runtime: podman-kube\n    runtimeConfig: |\n"
                   "      playOptions: [\"--replace\"]\n      manifest: |\n        kind: Pod\n")
    manifest, diagnostics = check(tmp_path, text)
    assert diagnostics == []
    pod = manifest.workload("pod")  # type: ignore[attr-defined]
    assert pod.runtime_config == KubeConfig(manifest="kind: Pod\n", play_options=("--replace",))


def test_files_are_rendered_and_sorted(tmp_path: Path) -> None:
    text = HEAD + SIMPLE + ("    configs: {c: conf}\n    files:\n"
                            "      - mountPoint: /z\n        binaryData: '{{c.bin}}'\n"
                            "      - mountPoint: /a\n        data: 'port={{c.port}}'\n"
                            "configs:\n  conf: {bin: aGk=, port: '1'}\n")
    manifest, diagnostics = check(tmp_path, text)
    assert diagnostics == []
    web = manifest.workload("web")  # type: ignore[attr-defined]
    assert web.files == (WorkloadFile(mount_point="/a", data="port=1"),
                         WorkloadFile(mount_point="/z", binary_data="aGk="))


def test_workloads_null_and_configs_only(tmp_path: Path) -> None:
    manifest, diagnostics = check(tmp_path, "apiVersion: v1\nworkloads:\nconfigs: {a: b}\n")
    assert diagnostics == [] and manifest.workloads == ()  # type: ignore[attr-defined]


# --- agents ----------------------------------------------------------------------------------


def test_missing_agent_is_an_error_with_a_hint(tmp_path: Path) -> None:
    manifest, diagnostics = check(tmp_path, HEAD + SIMPLE.replace("    agent: agent_A\n", ""))
    assert manifest is None and codes(diagnostics) == [("error", "no-agent", 3, 3)]
    assert diagnostics[0].summary == "no agent for workload 'web'"
    assert "--agent" in diagnostics[0].hint


def test_agent_override_applies_to_every_workload(tmp_path: Path) -> None:
    text = HEAD + SIMPLE.replace("    agent: agent_A\n", "") + SIMPLE.replace("web", "db")
    manifest, diagnostics = check(tmp_path, text, agent_override="infotainment")
    assert diagnostics == []
    assert {w.agent for w in manifest.workloads} == {"infotainment"}  # type: ignore[attr-defined]


def test_empty_agent_is_allowed(tmp_path: Path) -> None:
    manifest, diagnostics = check(tmp_path, HEAD + SIMPLE.replace("agent_A", '""'))
    assert diagnostics == [] and manifest.workloads[0].agent == ""  # type: ignore[attr-defined]


def test_templated_agent(tmp_path: Path) -> None:
    text = HEAD + SIMPLE.replace("agent_A", '"{{a.name}}"') + ("    configs: {a: agents}\n"
                                                             "configs:\n  agents: {name: car}\n")
    manifest, diagnostics = check(tmp_path, text)
    assert diagnostics == [] and manifest.workloads[0].agent == "car"  # type: ignore[attr-defined]


def test_template_without_configs_stays_literal_and_fails_the_agent_check(tmp_path: Path) -> None:
    _, diagnostics = check(tmp_path, HEAD + SIMPLE.replace("agent_A", '"{{a.name}}"'))
    assert codes(diagnostics) == [("error", "invalid-name", 4, 12)]
    assert "configs" in diagnostics[0].hint


# --- runtimeConfig positions -----------------------------------------------------------------


def test_runtime_config_unknown_key_points_inside_the_block(tmp_path: Path) -> None:
    _, diagnostics = check(tmp_path, HEAD + SIMPLE + "      imagee: x\n")
    assert codes(diagnostics) == [("error", "unknown-key", 9, 7)]
    assert diagnostics[0].summary == "unknown key 'imagee' in workload 'web' runtimeConfig"
    assert diagnostics[0].location.pointer == "/workloads/web/runtimeConfig/imagee"  # type: ignore[union-attr]


def test_runtime_config_syntax_error_points_inside_the_block(tmp_path: Path) -> None:
    text = HEAD + SIMPLE.replace('["-p", "8080:80"]', '["-p", "8080:80"') + "      x: 1\n"
    _, diagnostics = check(tmp_path, text)
    assert codes(diagnostics) == [("error", "yaml-syntax", 9, 7)]
    assert diagnostics[0].summary.startswith("workload 'web' runtimeConfig: invalid YAML")


def test_runtime_config_wrong_type_points_at_the_item(tmp_path: Path) -> None:
    _, diagnostics = check(tmp_path, HEAD + SIMPLE + "      commandArgs: [sleep, 5]\n")
    assert codes(diagnostics) == [("error", "wrong-type", 9, 28)]
    assert diagnostics[0].hint == 'quote it: "5"'


def test_runtime_config_in_a_quoted_string(tmp_path: Path) -> None:
    text = HEAD + ('  web:\n    agent: a\n    runtime: podman\n'
                   '    runtimeConfig: "{image: x, imagee: y}"\n')
    _, diagnostics = check(tmp_path, text)
    assert codes(diagnostics) == [("error", "unknown-key", 6, 32)]


def test_runtime_config_missing_image(tmp_path: Path) -> None:
    _, diagnostics = check(tmp_path, HEAD + SIMPLE.replace(
        "      image: docker.io/library/nginx:1.27\n", ""))
    assert codes(diagnostics) == [("error", "missing-key", 7, 7)]
    assert diagnostics[0].summary == "missing required key 'image' in workload 'web' runtimeConfig"


def test_runtime_config_that_is_not_a_mapping(tmp_path: Path) -> None:
    text = HEAD + "  web:\n    agent: a\n    runtime: podman\n    runtimeConfig: nginx:latest\n"
    _, diagnostics = check(tmp_path, text)
    assert codes(diagnostics) == [("error", "runtime-config", 6, 20)]
    assert "runtimeConfig: |" in diagnostics[0].hint


def test_error_after_a_template_that_added_lines_names_the_rendered_line(tmp_path: Path) -> None:
    text = HEAD + ('  web:\n    agent: a\n    runtime: podman\n    configs: {c: conf}\n'
                   '    runtimeConfig: |\n      image: x\n      commandArgs:\n'
                   '        {{#each c.args}}\n        - "{{this}}"\n        {{/each}}\n'
                   '      oops: 1\n'
                   'configs:\n  conf: {args: [a, b, c, d]}\n')
    _, diagnostics = check(tmp_path, text)
    assert codes(diagnostics) == [("error", "unknown-key", 7, 20)]
    assert diagnostics[0].summary.endswith("(line 7 of the rendered runtimeConfig)")
    same_length = text.replace("[a, b, c, d]", "[a, b, c]")
    _, diagnostics = check(tmp_path, same_length)
    assert codes(diagnostics) == [("error", "unknown-key", 13, 7)]  # lines still line up


# --- templates and configs -------------------------------------------------------------------


def test_render_error_names_field_workload_and_position(tmp_path: Path) -> None:
    text = HEAD + SIMPLE.replace('"8080:80"', '"{{port.acces_port}}:80"') + (
        "    configs: {port: web_server}\nconfigs:\n  web_server: {access_port: '8081'}\n")
    _, diagnostics = check(tmp_path, text)
    assert codes(diagnostics) == [("error", "template", 8, 31)]
    assert diagnostics[0].summary == (
        "failed to render field 'runtimeConfig' of workload 'web': 'port.acces_port' not found: "
        "'port' has no key 'acces_port'")
    assert diagnostics[0].hint == "did you mean 'access_port'?"


def test_render_error_in_a_file_field(tmp_path: Path) -> None:
    text = HEAD + SIMPLE + ("    configs: {c: conf}\n    files:\n      - mountPoint: /a\n"
                            "        data: '{{c.nope}}'\nconfigs:\n  conf: {x: y}\n")
    _, diagnostics = check(tmp_path, text)
    assert diagnostics[0].summary.startswith("failed to render field 'files[0].data' of "
                                             "workload 'web'")


def test_unknown_config_reference(tmp_path: Path) -> None:
    text = HEAD + SIMPLE + "    configs: {port: web_servr}\nconfigs:\n  web_server: {a: b}\n"
    _, diagnostics = check(tmp_path, text)
    assert codes(diagnostics) == [("error", "unknown-config", 9, 21)]
    assert diagnostics[0].summary == ("workload 'web' references config key 'web_servr' that "
                                      "does not exist")
    assert diagnostics[0].hint == "did you mean 'web_server'?"


def test_unreferenced_templates_stay_literal(tmp_path: Path) -> None:
    manifest, diagnostics = check(tmp_path, HEAD + SIMPLE + "      commandArgs: ['{{x}}']\n")
    assert diagnostics == []
    assert manifest.workloads[0].podman.command_args == ("{{x}}",)  # type: ignore[attr-defined]


# --- runtimes, files, access -----------------------------------------------------------------


def test_containerd_and_unknown_runtimes_are_warnings(tmp_path: Path) -> None:
    text = HEAD + SIMPLE.replace("runtime: podman", "runtime: containerd") + \
        SIMPLE.replace("web", "db").replace("runtime: podman", "runtime: podmn")
    manifest, diagnostics = check(tmp_path, text)
    assert manifest is not None
    assert codes(diagnostics) == [("warning", "unsupported-runtime", 5, 14),
                                  ("warning", "unknown-runtime", 11, 14)]
    assert diagnostics[1].hint == "did you mean 'podman'?"
    assert {w.runtime_config for w in manifest.workloads} == {None}  # type: ignore[attr-defined]


def test_access_rules_are_accepted_with_a_warning(tmp_path: Path) -> None:
    text = HEAD + SIMPLE + ("    controlInterfaceAccess:\n      allowRules:\n"
                            "        - {type: LogRule, workloadNames: ['*']}\n")
    manifest, diagnostics = check(tmp_path, text)
    assert codes(diagnostics) == [("warning", "not-acted-on", 9, 5)]
    assert "accepted, not acted on by ankplan" in diagnostics[0].summary
    assert manifest.workloads[0].control_interface_access  # type: ignore[attr-defined]


@pytest.mark.parametrize("mount, code", [("etc/x", "invalid-mount-point"),
                                         ("/etc/", "invalid-mount-point"),
                                         ("/etc/../x", "invalid-mount-point")])
def test_bad_mount_points(tmp_path: Path, mount: str, code: str) -> None:
    text = HEAD + SIMPLE + f"    files:\n      - mountPoint: {mount}\n        data: x\n"
    _, diagnostics = check(tmp_path, text)
    assert codes(diagnostics) == [("error", code, 10, 21)]


def test_bad_base64(tmp_path: Path) -> None:
    text = HEAD + SIMPLE + "    files:\n      - mountPoint: /x\n        binaryData: 'no!'\n"
    _, diagnostics = check(tmp_path, text)
    assert codes(diagnostics) == [("error", "invalid-base64", 11, 21)]


# --- documents and files ---------------------------------------------------------------------


@pytest.mark.parametrize("text, code, summary", [
    ("", "empty-manifest", "the file holds no manifest (it is empty)"),
    ("- a\n", "not-a-manifest", ("a manifest is a mapping with apiVersion and workloads, but "
                                 "this file holds a list")),
    ("workloads: {}\n", "missing-key", "missing required key 'apiVersion' at the top level"),
    ("apiVersion: v0.2\n", "api-version",
     "unsupported apiVersion 'v0.2'; ankplan accepts v1 and v0.1"),
    ("desiredState:\n  apiVersion: v1\n", "not-a-manifest",
     "this is an Ankaios CompleteState (desiredState:), not a manifest"),
])
def test_documents_that_are_not_manifests(tmp_path: Path, text: str, code: str,
                                          summary: str) -> None:
    manifest, diagnostics = check(tmp_path, text)
    assert manifest is None and [(d.code, d.summary) for d in diagnostics] == [(code, summary)]


def test_several_files_are_one_manifest(tmp_path: Path) -> None:
    first = write(tmp_path, HEAD + SIMPLE + "    configs: {c: shared}\n", "a.yaml")
    second = write(tmp_path, HEAD + SIMPLE.replace("web", "db") + "configs:\n  shared: {x: y}\n",
                   "b.yaml")
    manifest = load_manifest([first, second])
    assert manifest.names() == ("db", "web") and manifest.sources == (first, second)


def test_workload_defined_twice_names_both_places(tmp_path: Path) -> None:
    first = write(tmp_path, HEAD + SIMPLE, "a.yaml")
    second = write(tmp_path, HEAD + "\n" + SIMPLE, "b.yaml")
    manifest, diagnostics = check_manifest([first, second])
    assert manifest is None and len(diagnostics) == 1
    assert diagnostics[0].summary == (f"workload 'web' is defined twice: {first}:3:3 and "
                                      f"{second}:4:3")
    assert diagnostics[0].location.file == second  # type: ignore[union-attr]


def test_config_defined_twice_with_different_values(tmp_path: Path) -> None:
    first = write(tmp_path, "apiVersion: v1\nconfigs: {a: '1'}\n", "a.yaml")
    second = write(tmp_path, "apiVersion: v1\nconfigs: {a: '2'}\n", "b.yaml")
    same = write(tmp_path, "apiVersion: v1\nconfigs: {a: '1'}\n", "c.yaml")
    assert [d.code for d in check_manifest([first, second])[1]] == ["duplicate-config"]
    assert check_manifest([first, same])[1] == ()


def test_every_problem_at_once(tmp_path: Path) -> None:
    text = HEAD + SIMPLE + "    restartpolicy: ALWAYS\n    dependencies: {ghost: ADD_COND_RUNNING}\n"
    text = text.replace('"8080:80"]', '"8080:80", "--rm"]\n      imagee: x')
    _, diagnostics = check(tmp_path, text)
    assert [d.code for d in diagnostics] == ["unknown-key", "unknown-key", "conflicting-option",
                                             "unknown-dependency"]


def test_load_manifest_raises_with_every_diagnostic(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + SIMPLE + "    restartPolicy: SOMETIMES\n")
    with pytest.raises(ManifestError) as raised:
        load_manifest([path])
    assert raised.value.summary == f"invalid manifest ({path}): 1 error"
    assert [d.code for d in raised.value.diagnostics] == ["invalid-value"]


def test_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    manifest, diagnostics = check_manifest([str(tmp_path / "missing.yaml")])
    assert manifest is None and [d.code for d in diagnostics] == ["file-not-found"]


def test_invalid_agent_override() -> None:
    manifest, diagnostics = check_manifest([str(EXAMPLES / "police" / "manifest.yaml")],
                                           agent_override="a.b")
    assert manifest is None and [d.code for d in diagnostics] == ["invalid-name"]


@settings(max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300) | st.builds(lambda tail: HEAD + SIMPLE + tail, st.text(max_size=80)))
def test_any_text_gives_clean_diagnostics(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    start = time.perf_counter()
    manifest, diagnostics = check_manifest([str(path)])
    assert time.perf_counter() - start < 2
    assert manifest is not None or any(d.is_error for d in diagnostics)
    assert all("\n" not in d.summary for d in diagnostics)
