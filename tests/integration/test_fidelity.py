"""What Ankaios does that ankplan does too, on the real 3-node test bed (issue 11, items 2, 3, 7).

Apply converges to the restart policy; restartPolicy/dependencies/tags change in place;
`files` are written on the node and mounted read-only; a `--rm` job that ran is not run again;
an unsupported runtime fails only its own workload; a node that stopped everything gets its
project back in dependency order, by apply and by watch. Agents a1..a3 run on node1..node3.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import test_watch
import yaml
from test_watch import Project, run_cli, start, workload

pytestmark = pytest.mark.integration
make_project = test_watch.make_project  # the watch tests' fixtures, shared
watches = test_watch.watches


def apply(project: Project, *extra: str) -> tuple[int, str, str]:
    return run_cli("apply", *project.args("--yes", "--timeout", "30", *extra))


def plan_text(project: Project) -> str:
    status, out, err = run_cli("plan", *project.args())
    assert status == 0, out + err
    return out


def states(project: Project) -> dict[str, str]:
    """workload -> its `get workloads` line."""
    status, out, err = run_cli("get", "workloads", *project.args())
    assert status == 0, out + err
    return {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}


def container(project: Project, node: str, name: str) -> dict[str, Any]:
    found = project.container(node, name)
    assert found is not None, f"no container {name} on {node}"
    return found


def started(project: Project, node: str, name: str) -> datetime:
    text = project.testbed.podman(node, "inspect", "--format", "{{.State.StartedAt}}",
                                  name).stdout.strip()
    return datetime.fromisoformat(text.split(" +")[0][:26])


def write(project: Project, document: dict[str, Any]) -> None:
    project.manifest.write_text(yaml.safe_dump({"apiVersion": "v1", **document}))


# --- item 2: apply converges to the restart policy -------------------------------------------


def test_apply_restarts_a_killed_on_failure_workload_and_leaves_a_never_one(
        make_project: Any) -> None:
    project = make_project({
        "bridge": workload("a1", "stub", "idle", policy="ON_FAILURE"),
        "setup": workload("a2", "stub", "idle", policy="NEVER")})
    status, out, err = apply(project)
    assert status == 0, out + err
    bridge_id = container(project, "node1", "bridge")["Id"]
    project.podman("node1", "kill", "bridge")
    project.podman("node2", "kill", "setup")
    assert container(project, "node1", "bridge")["ExitCode"] == 137
    text = plan_text(project)
    assert "  ~ node1/bridge will be started\n      # exited 137, restartPolicy ON_FAILURE\n" in (
        text)
    assert "setup" not in text
    status, out, err = apply(project)
    assert status == 0, out + err
    bridge = container(project, "node1", "bridge")
    assert bridge["State"] == "running" and bridge["Id"] == bridge_id  # `podman start`
    setup = container(project, "node2", "setup")
    assert setup["State"] == "exited" and setup["ExitCode"] == 137
    assert "No changes." in plan_text(project)


# --- item 3: in-place changes -----------------------------------------------------------------


def test_restart_policy_and_tags_change_in_place_then_no_change(make_project: Any) -> None:
    router = workload("a1", "stub", "idle", policy="ALWAYS")
    project = make_project({"router": router})
    status, out, err = apply(project)
    assert status == 0, out + err
    first = container(project, "node1", "router")["Id"]
    write(project, {"workloads": {"router": {**router, "restartPolicy": "ON_FAILURE",
                                             "tags": {"owner": "team-b"}}}})
    text = plan_text(project)
    assert ("  ~ node1/router will be updated in place\n"
            "      # restartPolicy: ALWAYS -> ON_FAILURE\n"
            "      # tags: +owner (team-b)\n") in text
    assert "Plan: 0 to create, 0 to replace, 0 to start, 1 to update in place, 0 to remove." in (
        text)
    status, out, err = apply(project)
    assert status == 0, out + err
    assert container(project, "node1", "router")["Id"] == first  # no new container
    assert "No changes." in plan_text(project)


# --- item 7a: files ---------------------------------------------------------------------------


FILES_DOCUMENT = {
    "workloads": {
        # upstream manifest_with_workload_files.yaml and update_state_workload_files.yaml
        "podman_workload_with_mounted_binary_file": {
            "agent": "a1", "runtime": "podman", "configs": {"bin_data": "bin_data"},
            "files": [{"mountPoint": "/hello", "binaryData": "{{bin_data}}"},
                      {"mountPoint": "/second/hello", "binaryData": "{{bin_data}}"}],
            "runtimeConfig": "image: localhost/ankplan-demo:latest\n"
                             'commandArgs: ["sh", "-c", "cat /hello && cat /second/hello"]\n'},
        "web": {
            "agent": "a2", "runtime": "podman", "configs": {"conf": "web_config"},
            "files": [{"mountPoint": "/etc/web/app.conf", "data": "{{conf}}"}],
            "runtimeConfig": "image: localhost/ankplan-demo:latest\n"
                             'commandArgs: ["stub", "idle"]\n'},
    },
    "configs": {"bin_data": "SGVsbG8sIFdvcmxkIQ==",
                "web_config": "listen 80;\nlocation /custom { return 200 'it''s mounted'; }\n"},
}


def test_files_are_mounted_read_only_and_a_change_replaces(make_project: Any) -> None:
    project = make_project({})
    write(project, FILES_DOCUMENT)
    status, out, err = apply(project)
    assert status == 0, out + err
    reader = container(project, "node1", "podman_workload_with_mounted_binary_file")
    assert (reader["State"], reader["ExitCode"]) == ("exited", 0)
    logs = project.testbed.podman("node1", "logs", reader["Id"]).stdout
    assert logs == "Hello, World!Hello, World!"
    web = container(project, "node2", "web")
    seen = project.testbed.podman("node2", "exec", "web", "cat", "/etc/web/app.conf").stdout
    assert seen == FILES_DOCUMENT["configs"]["web_config"]
    mounts = json.loads(project.testbed.podman("node2", "inspect", "--format",
                                               "{{json .Mounts}}", "web").stdout)
    (mount,) = [m for m in mounts if m["Destination"] == "/etc/web/app.conf"]
    folder = project.testbed.store_folder("node2")
    assert mount["RW"] is False and mount["Source"] == (
        f"{folder}/{project.name}/web/files/etc/web/app.conf")
    denied = project.testbed.podman("node2", "exec", "web", "sh", "-c",
                                    "echo x > /etc/web/app.conf")
    assert denied.returncode != 0 and "Read-only" in denied.stderr

    changed = json.loads(json.dumps(FILES_DOCUMENT))
    changed["configs"]["web_config"] = "listen 8080;\n"
    write(project, changed)
    text = plan_text(project)
    assert "-/+ node2/web must be replaced\n      # file /etc/web/app.conf changed\n" in text
    assert "binary_file" not in text  # its files did not change: it stays Succeeded
    status, out, err = apply(project)
    assert status == 0, out + err
    assert container(project, "node2", "web")["Id"] != web["Id"]
    assert project.testbed.podman("node2", "exec", "web", "cat",
                                  "/etc/web/app.conf").stdout == "listen 8080;\n"

    status, out, err = run_cli("destroy", *project.args("--yes"))
    assert status == 0, out + err
    gone = project.testbed.ssh("node2", ["test", "-e", f"{folder}/{project.name}/web"])
    assert gone.returncode == 1  # the folder went with the workload


# --- item 7b: a --rm job that ran --------------------------------------------------------------


def test_rm_job_is_not_run_again_by_plan_apply_or_watch(make_project: Any,
                                                         watches: Any) -> None:
    project = make_project({
        "migrate": workload("a1", "stub", "job", "1", "0", options=("--rm",)),
        "web": workload("a2", "stub", "idle")})
    status, out, err = apply(project)
    assert status == 0, out + err
    deadline = time.monotonic() + 20
    while project.container("node1", "migrate") is not None:  # it removes itself
        assert time.monotonic() < deadline, "the --rm job never went away"
        time.sleep(0.3)
    assert "No changes." in plan_text(project)
    assert "Failed(Lost)" in states(project)["migrate"]
    status, out, err = apply(project)
    assert status == 0 and "No changes." in out, out + err
    run = start(watches, project, "--duration", "4")
    code, _ = run.finish(timeout=30)
    assert code == 0 and not run.of("migrate", "create"), run.records
    assert run.of("migrate", "state")[-1]["to"] == "Failed(Lost)"
    ran = project.testbed.podman("node1", "events", "--stream=false", "--filter",
                                 f"label=ankplan.project={project.name}", "--filter",
                                 "event=start", "--format", "{{.Name}}").stdout.split()
    assert ran.count("migrate") == 1  # started once, over apply, apply and watch


# --- item 7c: an unsupported runtime next to healthy workloads --------------------------------


def test_unsupported_runtime_fails_alone_the_others_are_applied(make_project: Any) -> None:
    project = make_project({
        "web": workload("a2", "stub", "idle"),
        "api": workload("a3", "stub", "idle"),
        "client": workload("a1", "stub", "idle", needs={"simple": "ADD_COND_RUNNING"})})
    document = yaml.safe_load(project.manifest.read_text())
    document["workloads"]["simple"] = {  # upstream simple_with_invalid_runtime.yaml
        "runtime": "invalid_runtime", "restartPolicy": "NEVER", "agent": "a1",
        "runtimeConfig": 'image: ghcr.io/eclipse-ankaios/tests/alpine:latest\n'
                         'commandArgs: [ "echo", "Hello Ankaios"]\n'}
    project.manifest.write_text(yaml.safe_dump(document))
    status, out, err = apply(project)
    assert status == 1, out + err  # not everything runs
    assert ("ankplan: warning: node1/simple: Unsupported Runtime 'invalid_runtime' (ankplan "
            "runs podman and podman-kube): it stays Pending(StartingFailed); so do its "
            "dependents client\n") in err
    assert "node1/client will be created\n      # will not start: it depends on simple" in out
    assert container(project, "node2", "web")["State"] == "running"
    assert container(project, "node3", "api")["State"] == "running"
    assert project.container("node1", "client") is None
    lines = states(project)
    assert "Pending(StartingFailed)" in lines["simple"] and "Unsupported Runtime" in (
        lines["simple"])
    assert "Pending(StartingFailed)" in lines["client"]
    assert "Running(Ok)" in lines["web"] and "Running(Ok)" in lines["api"]


# --- item 7d: the node stopped everything -----------------------------------------------------


def stopped_node_project(make_project: Any) -> Project:
    """On node1: init (a finished job), router (ALWAYS) -> app (ON_FAILURE) -> viewer (NEVER,
    a bare `sleep` that ignores SIGTERM, so `podman stop` kills it: 137); api runs on node2."""
    return make_project({
        "init": workload("a1", "stub", "job", "0", "0"),
        "router": workload("a1", "stub", "idle", policy="ALWAYS",
                           needs={"init": "ADD_COND_SUCCEEDED"}),
        "app": workload("a1", "stub", "idle", policy="ON_FAILURE",
                        needs={"router": "ADD_COND_RUNNING"}),
        "viewer": workload("a1", "sleep", "100000", needs={"app": "ADD_COND_RUNNING"}),
        "api": workload("a2", "stub", "idle")})


def test_apply_brings_a_stopped_node_back_in_order(make_project: Any) -> None:
    project = stopped_node_project(make_project)
    status, out, err = apply(project)
    assert status == 0, out + err
    before = {name: container(project, "node1", name)["Id"]
              for name in ("init", "router", "app", "viewer")}
    init_started = started(project, "node1", "init")
    time.sleep(3)  # init ended by itself; a job ending with the stop is taken for stopped
    project.podman("node1", "stop", "-a", "-t", "2")  # in the node's own Podman
    assert container(project, "node1", "viewer")["ExitCode"] == 137
    text = plan_text(project)
    for name in ("router", "app", "viewer"):
        assert f"  ~ node1/{name} will be started\n      # the node stopped all " in text
    assert "init" not in text and "api" not in text
    status, out, err = apply(project)
    assert status == 0, out + err
    after = {name: container(project, "node1", name) for name in before}
    assert {name: c["Id"] for name, c in after.items()} == before  # started, not replaced
    assert all(after[name]["State"] == "running" for name in ("router", "app", "viewer"))
    assert started(project, "node1", "router") < started(project, "node1", "app") < started(
        project, "node1", "viewer")
    assert started(project, "node1", "init") == init_started  # it had finished before
    assert "No changes." in plan_text(project)


def test_watch_brings_a_stopped_node_back_in_order(make_project: Any, watches: Any) -> None:
    """router (ALWAYS) may come back by its own policy before viewer's kill shows the stop;
    app (ON_FAILURE, exit 0) and viewer (NEVER) come back because the node stopped them."""
    project = stopped_node_project(make_project)
    status, out, err = apply(project)
    assert status == 0, out + err
    time.sleep(3)  # init ended by itself; a job ending with the stop is taken for stopped
    run = start(watches, project)
    run.wait_state("viewer", "Running(Ok)")
    stop_at = time.time()
    project.podman("node1", "stop", "-a", "-t", "2")
    back = {name: run.wait_for(f"{name} back", lambda e, n=name: e["workload"] == n
                               and e["kind"] in ("start", "restart"), after=stop_at,
                               timeout=30)
            for name in ("router", "app", "viewer")}
    for name in ("router", "app", "viewer"):
        run.wait_state(name, "Running(Ok)", after=back[name]["time"])
    time.sleep(2)  # time enough for a wrong start to show
    code, _ = run.stop()
    assert code == 130  # ended by SIGTERM
    assert back["router"]["time"] <= back["app"]["time"] <= back["viewer"]["time"]
    for name in ("app", "viewer"):
        assert back[name]["kind"] == "start" and "the node stopped all" in back[name]["reason"]
    assert not run.of("init", "start") and not run.of("api", "start")
    assert started(project, "node1", "router") < started(project, "node1", "app") < started(
        project, "node1", "viewer")


def test_a_reboot_is_told_by_the_boot_id(make_project: Any) -> None:
    """A reboot cannot happen on the bed; what ankplan reads of one can: the boot ID it
    recorded on the node at the start differs from the node's. The finished NEVER job comes
    back, as Ankaios's agent restarts a restarted device's workloads."""
    project = make_project({"setup": workload("a3", "stub", "job", "0", "0")})
    status, out, err = apply(project)
    assert status == 0, out + err
    record = Path(project.testbed.store_folder("node3")) / project.name / "setup" / "run.json"
    text = project.testbed.ssh("node3", ["cat", str(record)]).stdout
    boot = json.loads(text)["bootId"]
    assert boot and "No changes." in plan_text(project)
    earlier = text.replace(boot, "00000000-0000-0000-0000-000000000000")
    project.testbed.ssh("node3", ["sh", "-c", 'printf "%s" "$1" > "$2"', "sh", earlier,
                                  str(record)])
    assert ("  ~ node3/setup will be started\n      # the node restarted since ankplan "
            "started it (its boot ID changed)\n") in plan_text(project)
    status, out, err = apply(project)
    assert status == 0, out + err
    assert "No changes." in plan_text(project)
