"""The systemd unit builder: names, the unit text (restart mapping, dependencies, identity,
Exec= quoting that gives podman back the exact argv), the install/remove scripts' refusal to
touch a unit file that is not the project's, and the `systemctl show` parser."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from ankplan.model import (
    AddCondition,
    Dependency,
    Node,
    PodmanConfig,
    RestartPolicy,
    Workload,
)
from ankplan.planner.hashing import labels_for, spec_hash
from ankplan.podman.commands import unit_run_argv
from ankplan.podman.systemd_unit import (
    RESTART_SEC,
    install_argv,
    parse_show,
    project_line,
    remove_argv,
    unit_dependencies,
    unit_name,
    unit_text,
)

NODE = Node(name="node1")
TRICKY = 'PASS=a b$c%d"e\\f\tg'  # every character systemd treats specially in Exec= lines


def workload(name: str = "web", policy: RestartPolicy = RestartPolicy.ON_FAILURE,
             deps: tuple[tuple[str, AddCondition], ...] = (),
             options: tuple[str, ...] = ()) -> Workload:
    return Workload(name=name, agent="a1", runtime="podman", runtime_config_text="",
                    runtime_config=PodmanConfig(image="localhost/x:1", command_options=options,
                                                command_args=("stub", "idle")),
                    restart_policy=policy,
                    dependencies=tuple(Dependency(workload_name=d, condition=c) for d, c in deps))


def text_of(wl: Workload, required: tuple[str, ...] = ()) -> str:
    return unit_text(NODE, wl, labels_for(wl, "proj"), project="proj", spec_hash=spec_hash(wl),
                     required=required)


def lines(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def systemd_words(line: str) -> list[str]:
    """Split an Exec= command line the way systemd does (quotes, C escapes, %% and $$)."""
    words, word, quoted, index, started = [], "", False, 0, False
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    while index < len(line):
        char = line[index]
        if quoted and char == "\\":
            word += escapes[line[index + 1]]
            index += 2
            continue
        if char == '"':
            quoted, started = not quoted, True
        elif char == " " and not quoted:
            if started:
                words.append(word)
            word, started = "", False
        else:
            word, started = word + char, True
        index += 1
    if started:
        words.append(word)
    return [_unspecify(w) for w in words]


def _unspecify(word: str) -> str:
    """`%%` -> `%` and `$$` -> `$`; any other `%x` or `$x` would be expanded by systemd, which
    is only right for the cidfile's own %t/%n."""
    if word == "--cidfile=%t/%n.ctr-id":
        return word
    def one(match: re.Match[str]) -> str:
        assert match.group(0) in ("%%", "$$"), f"systemd would expand {match.group(0)!r}"
        return match.group(0)[0]
    return re.sub(r"[%$].?", one, word)


def test_unit_names_are_readable_and_per_project() -> None:
    assert unit_name("proj", "web").startswith("ankplan-web-")
    assert unit_name("proj", "web").endswith(".service")
    assert unit_name("proj", "web") == unit_name("proj", "web")
    assert unit_name("proj", "web") != unit_name("other", "web")
    assert unit_name("proj", "we b/x") .startswith("ankplan-we_b_x-")


@pytest.mark.parametrize(("policy", "restart"), [
    (RestartPolicy.NEVER, "no"), (RestartPolicy.ON_FAILURE, "on-failure"),
    (RestartPolicy.ALWAYS, "always")])
def test_restart_policy_maps_to_restart(policy: RestartPolicy, restart: str) -> None:
    text = text_of(workload(policy=policy))
    assert lines(text, "Restart") == [restart]
    assert lines(text, "RestartSec") == [str(RESTART_SEC)]
    assert lines(text, "StartLimitIntervalSec") == ["0"]  # never gives up, as the guide
    assert lines(text, "Type") == ["notify"]
    assert lines(text, "WantedBy") == ["multi-user.target"]


def test_unit_carries_identity_and_required_units() -> None:
    wl = workload()
    text = text_of(wl, required=("ankplan-db-1.service", "ankplan-mq-1.service"))
    assert project_line("proj") in text.splitlines()
    assert lines(text, "X-Ankplan-Workload") == ["web"]
    assert lines(text, "X-Ankplan-Spec-Hash") == [spec_hash(wl)]
    assert lines(text, "Requires") == ["ankplan-db-1.service", "ankplan-mq-1.service"]
    assert lines(text, "After") == ["network-online.target", "ankplan-db-1.service",
                                    "ankplan-mq-1.service"]


def test_exec_start_gives_podman_the_exact_argv() -> None:
    wl = workload(options=("-e", TRICKY, "--label", "x=100%"))
    labels = labels_for(wl, "pro%j")
    text = unit_text(NODE, wl, labels, project="pro%j", spec_hash=spec_hash(wl))
    [exec_start] = lines(text, "ExecStart")
    words = systemd_words(exec_start)
    expected = list(unit_run_argv(NODE, wl, labels))
    assert words == expected
    assert words[:6] == ["podman", "run", "--cidfile=%t/%n.ctr-id", "--cgroups=no-conmon",
                         "--sdnotify=conmon", "--replace"]
    assert "%t/%n.ctr-id" in exec_start  # the specifiers stay specifiers
    assert lines(text, "X-Ankplan-Project") == ["pro%%j"]


def test_dependencies_split_by_what_the_node_can_enforce() -> None:
    wl = workload(deps=(("db", AddCondition.RUNNING), ("far", AddCondition.RUNNING),
                        ("init", AddCondition.SUCCEEDED), ("kube", AddCondition.RUNNING)))
    units = {"db": "node1", "init": "node1", "web": "node1"}
    placed = {**units, "far": "node2", "kube": "node1"}
    result = unit_dependencies(wl, "node1", "proj", units, placed)
    assert result.required == (unit_name("proj", "db"),)
    assert result.apply_only == ("far (on node2)", "init (ADD_COND_SUCCEEDED)",
                                 "kube (not run by a systemd unit)")


def test_parse_show() -> None:
    text = ("Id=a.service\nActiveState=active\nSubState=running\nNRestarts=3\n\n"
            "Id=b.service\nActiveState=activating\nSubState=auto-restart\nNRestarts=\n\n"
            "ActiveState=inactive\n")
    states = parse_show(text)
    assert [(s.unit, s.active_state, s.sub_state, s.restarts) for s in states] == [
        ("a.service", "active", "running", 3), ("b.service", "activating", "auto-restart", 0)]
    assert [s.state for s in states] == ["active (running)", "activating (auto-restart)"]


@pytest.fixture
def fake_systemctl(tmp_path: Path) -> tuple[Path, Path]:
    """A PATH folder with a `systemctl` (and `journalctl`) that only log their arguments, and
    the log file."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in ("systemctl", "journalctl"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir, log


def run_script(argv: tuple[str, ...], unit_dir: Path, bin_dir: Path,
               stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run an install/remove argv with its unit folder moved to `unit_dir` (argv[...] "UNIT_DIR"
    is the first script argument)."""
    words = list(argv)
    words[words.index("/etc/systemd/system")] = str(unit_dir)
    words = [w.replace("RUNTIME=/run", f"RUNTIME={unit_dir}") for w in words]
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(words, input=stdin, capture_output=True, text=True, env=env,
                          check=False)


def test_install_writes_enables_and_starts(tmp_path: Path,
                                           fake_systemctl: tuple[Path, Path]) -> None:
    bin_dir, log = fake_systemctl
    unit = unit_name("proj", "web")
    (tmp_path / f"{unit}.ctr-id").write_text("abc123")
    result = run_script(install_argv(unit, "proj"), tmp_path, bin_dir, stdin="UNIT TEXT\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "abc123"
    assert (tmp_path / unit).read_text() == "UNIT TEXT\n"
    assert stat.S_IMODE((tmp_path / unit).stat().st_mode) == 0o600  # env values may be secret
    calls = log.read_text().splitlines()
    assert calls[0] == "systemctl daemon-reload"
    assert f"systemctl enable -q {unit}" in calls and f"systemctl restart {unit}" in calls


def test_install_refuses_a_unit_file_that_is_not_the_projects(
        tmp_path: Path, fake_systemctl: tuple[Path, Path]) -> None:
    bin_dir, log = fake_systemctl
    unit = unit_name("proj", "web")
    (tmp_path / unit).write_text(f"[Unit]\n{project_line('other')}\n")
    result = run_script(install_argv(unit, "proj"), tmp_path, bin_dir, stdin="MINE\n")
    assert result.returncode == 3
    assert "not this project's unit" in result.stderr
    assert (tmp_path / unit).read_text() == f"[Unit]\n{project_line('other')}\n"
    assert not log.exists()


def test_remove_leaves_foreign_files_and_removes_the_projects(
        tmp_path: Path, fake_systemctl: tuple[Path, Path]) -> None:
    bin_dir, log = fake_systemctl
    unit = unit_name("proj", "web")
    (tmp_path / unit).write_text("[Unit]\nDescription=someone else's\n")
    result = run_script(remove_argv(unit, "proj"), tmp_path, bin_dir)
    assert result.returncode == 0 and (tmp_path / unit).exists()
    assert not log.exists()
    (tmp_path / unit).write_text(f"[Unit]\n{project_line('proj')}\n")
    result = run_script(remove_argv(unit, "proj"), tmp_path, bin_dir)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / unit).exists()
    assert log.read_text().splitlines()[0] == f"systemctl disable -q --now {unit}"
