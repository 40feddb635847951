"""Hostile input on the real test bed: values crafted to run commands on a node through an
unquoted shell, and SSH trust problems (changed, unknown or missing host keys, a key others may
read) through the full `ankplan plan` / `apply` path.

Does I/O: runs ankplan in-process against the bed's nodes and podman over SSH. Injection
markers are files under a fresh /tmp folder (and in root's home, the remote shells' working
folder); the bed's nodes share the host's filesystem there, so a command that ran on a node
would leave its marker where this test looks.
"""

from __future__ import annotations

import io
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ankplan.cli import main as cli_main
from ankplan.cli.env import Env

pytestmark = pytest.mark.integration

IMAGE = "localhost/ankplan-demo:latest"


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run ankplan in-process without a terminal; (exit status, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(""), environ={},
              stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    status = cli_main.main(list(argv), env)
    return status, stdout.getvalue(), stderr.getvalue()


def assert_clean(err: str) -> None:
    """No traceback and no internal error reached the user."""
    assert "Traceback" not in err and "internal error" not in err, err


def podman_workload(agent: str, config: dict[str, Any]) -> dict[str, Any]:
    """A workload entry whose runtimeConfig is `config` (as YAML text)."""
    return {"runtime": "podman", "agent": agent, "restartPolicy": "NEVER",
            "runtimeConfig": yaml.safe_dump(config, sort_keys=False)}


def write_manifest(path: Path, workloads: dict[str, Any]) -> Path:
    """Write a v1 manifest with `workloads` at `path`."""
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "workloads": workloads},
                                   sort_keys=False))
    return path


class Markers:
    """Where injected commands would leave files: a fresh folder in /tmp, and names in the
    remote shell's working folder (root's home) for payloads that cannot hold a slash."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex[:10]
        self.folder = Path(f"/tmp/ankplan-pwn-{self.token}")
        self.folder.mkdir()
        self.home = Path.home()

    def path(self, name: str) -> str:
        """An absolute marker path for payload `name`."""
        return str(self.folder / name)

    def relative(self, name: str) -> str:
        """A marker name without a slash (lands in the remote working folder)."""
        return f"ankplan-pwn-{self.token}-{name}"

    def found(self) -> list[str]:
        """Every marker that appeared."""
        return sorted([p.name for p in self.folder.iterdir()] +
                      [p.name for p in self.home.glob(f"ankplan-pwn-{self.token}-*")])

    def remove(self) -> None:
        """Delete the folder and any marker that appeared."""
        for marker in [*self.folder.iterdir(), *self.home.glob(f"ankplan-pwn-{self.token}-*")]:
            marker.unlink()
        self.folder.rmdir()


@pytest.fixture
def markers() -> Iterator[Markers]:
    found = Markers()
    yield found
    found.remove()


def payloads(markers: Markers, name: str) -> list[str]:
    """Shell tricks that would create marker `name` if a shell parsed them."""
    return [f"$(touch {markers.path(name + '-subst')})",
            f"`touch {markers.path(name + '-backtick')}`",
            f"'; touch {markers.path(name + '-quote')} #",
            f"x; touch {markers.path(name + '-semicolon')}",
            f"x && touch {markers.path(name + '-and')}",
            f"x\ntouch {markers.path(name + '-newline')}",
            f"x | touch {markers.path(name + '-pipe')}"]


# --- injection through the manifest ----------------------------------------------------------------


def test_manifest_values_reach_podman_literally(clean_nodes: Any, demo_image: str,
                                                tmp_path: Path, markers: Markers) -> None:
    env_values, label_values, args = (payloads(markers, kind) for kind in ("env", "label", "arg"))
    options = [word for index, value in enumerate(env_values)
               for word in ("-e", f"INJECT{index}={value}")]
    options += [word for index, value in enumerate(label_values)
                for word in ("--label", f"inject{index}={value}")]
    workloads = {"literal": podman_workload("node1", {
        "image": IMAGE, "commandOptions": options, "commandArgs": ["stub", "idle", *args]})}
    # the file name travels too: into the lock holder written on every node
    manifest = write_manifest(tmp_path / f"m;touch {markers.relative('file')};$(touch "
                              f"{markers.relative('file2')}).yaml", workloads)
    inventory = clean_nodes.write_inventory(tmp_path / "inventory.yaml", {"node1": "node1"})
    status, out, err = run_cli("apply", str(manifest), "-i", str(inventory), "--project",
                               f"pwn-{markers.token}", "--yes", "--timeout", "30")
    assert status == 0, out + err
    assert markers.found() == []
    proc = clean_nodes.podman("node1", "inspect", "literal")
    assert proc.returncode == 0, proc.stderr
    inspected = json.loads(proc.stdout)[0]
    for index, value in enumerate(env_values):  # the container got them as written
        assert f"INJECT{index}={value}" in inspected["Config"]["Env"]
    labels = inspected["Config"]["Labels"]
    assert [labels[f"inject{i}"] for i in range(len(label_values))] == label_values
    assert inspected["Config"]["Cmd"][2:] == args
    assert "$(touch" not in err  # env values are masked in progress and errors


def test_image_with_shell_characters_runs_nothing(clean_nodes: Any, demo_image: str,
                                                  tmp_path: Path, markers: Markers) -> None:
    workloads = {f"bad{index}": podman_workload("node2", {"image": f"{IMAGE}{payload}",
                                                          "commandArgs": ["stub", "idle"]})
                 for index, payload in enumerate(payloads(markers, "image"))}
    manifest = write_manifest(tmp_path / "m.yaml", workloads)
    inventory = clean_nodes.write_inventory(tmp_path / "inventory.yaml", {"node2": "node2"})
    status, out, err = run_cli("apply", str(manifest), "-i", str(inventory), "--project",
                               f"pwn-{markers.token}", "--yes", "--timeout", "30")
    assert status == 1, out + err  # refused by validation or by podman, never run
    assert_clean(err)
    assert markers.found() == []


@pytest.mark.parametrize("field,value", [
    ("name", "a;touch x"), ("name", "$(touch x)"), ("name", "a b"), ("agent", "a;touch x"),
    ("agent", "$(id)"), ("dependency", "x;touch y")])
def test_names_with_shell_characters_are_refused(tmp_path: Path, field: str, value: str) -> None:
    entry = podman_workload("agent_a", {"image": IMAGE})
    name = "web"
    if field == "name":
        name = value
    elif field == "agent":
        entry["agent"] = value
    else:
        entry["dependencies"] = {value: "ADD_COND_RUNNING"}
    manifest = write_manifest(tmp_path / "m.yaml", {name: entry})
    status, out, err = run_cli("validate", str(manifest))
    assert status == 1, out + err
    assert_clean(err)
    assert "error" in out + err


def test_project_name_with_shell_characters_is_refused(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.yaml",
                              {"web": podman_workload("agent_a", {"image": IMAGE})})
    status, out, err = run_cli("plan", str(manifest), "--project", "p;touch x")
    assert status == 1 and "invalid project name" in err, out + err
    assert_clean(err)


# --- injection through the inventory ---------------------------------------------------------------


def inventory_with(testbed: Any, path: Path, **node2: Any) -> Path:
    """The bed's inventory (agent nodeN -> nodeN) with `node2` settings replaced."""
    nodes = {n.name: {"host": n.host, "port": n.port} for n in testbed.nodes}
    nodes["node2"].update(node2)
    data = {"defaults": {"connection": "ssh", "user": "root", "identity_file": str(testbed.key),
                         "known_hosts_file": str(testbed.known_hosts), "connect_timeout": 5},
            "nodes": nodes, "agents": {n: n for n in nodes}}
    path.write_text(yaml.safe_dump(data))
    return path


def inventory_payloads(markers: Markers) -> list[dict[str, Any]]:
    """node2 settings that would run a marker command if a shell (or ssh) parsed them."""
    return [
        {"podman": f"podman; touch {markers.path('podman-string')}"},
        {"podman": f"podman $(touch {markers.path('podman-subst')})"},
        {"podman": ["podman", f"--log-level=$(touch {markers.path('podman-list')})"]},
        {"podman": [f"podman; touch {markers.path('podman-word')}"]},
        {"host": f"node2;touch {markers.path('host')}"},
        {"host": f"-oProxyCommand=touch {markers.path('proxy')}"},
        {"user": f"root;touch {markers.path('user')}"},
        {"user": f"$(touch {markers.path('user-subst')})"},
        {"identity_file": f"/tmp/$(touch {markers.path('identity')})"},
        {"known_hosts_file": f"/tmp/`touch {markers.path('known-hosts')}`"},
    ]


def test_inventory_fields_never_reach_a_shell(clean_nodes: Any, demo_image: str, tmp_path: Path,
                                              markers: Markers) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", {
        name: podman_workload(name.replace("w", "node"), {"image": IMAGE,
                                                          "commandArgs": ["stub", "idle"]})
        for name in ("w1", "w2")})
    for index, settings in enumerate(inventory_payloads(markers)):
        inventory = inventory_with(clean_nodes, tmp_path / f"inv{index}.yaml", **settings)
        for command in ("plan", "apply"):
            extra = ("--yes",) if command == "apply" else ()
            status, out, err = run_cli(command, str(manifest), "-i", str(inventory), "--project",
                                       f"pwn-{markers.token}", "--timeout", "20", *extra)
            assert status == 1, (settings, command, out + err)  # node2 can never work
            assert_clean(err)
            assert "node2" in out + err, (settings, out + err)
            assert markers.found() == [], (settings, command)
    # the node1 half of an apply refused as a whole never started either
    assert clean_nodes.podman("node1", "ps", "-aq").stdout.split() == []


# --- SSH trust through the full CLI -----------------------------------------------------------------


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True,
                   capture_output=True)
    return path


def known_hosts_variant(testbed: Any, path: Path, impostor: Path | None) -> Path:
    """The bed's known_hosts without node2's key, or with an impostor key for node2."""
    host = testbed.node("node2").host
    lines = [line for line in testbed.known_hosts.read_text().splitlines()
             if host not in line.split()[0].split(",")]
    if impostor is not None:
        key_type, key = Path(f"{impostor}.pub").read_text().split()[:2]
        lines.append(f"node2,{host} {key_type} {key}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def trust(clean_nodes: Any, demo_image: str, tmp_path: Path) -> dict[str, Any]:
    """A two-node manifest on node1 and node2, and a helper running plan/apply with an
    inventory whose node2 settings are given."""
    manifest = write_manifest(tmp_path / "m.yaml", {
        "w1": podman_workload("node1", {"image": IMAGE, "commandArgs": ["stub", "idle"]}),
        "w2": podman_workload("node2", {"image": IMAGE, "commandArgs": ["stub", "idle"]})})
    project = f"trust-{uuid.uuid4().hex[:8]}"

    def run(command: str, *extra: str, **node2: Any) -> tuple[int, str, str]:
        inventory = inventory_with(clean_nodes, tmp_path / "inv.yaml", **node2)
        args = ["--yes"] if command == "apply" else []
        return run_cli(command, str(manifest), "-i", str(inventory), "--project", project,
                       *args, *extra)

    return {"run": run, "bed": clean_nodes}


def assert_refused(result: tuple[int, str, str], reason: str, hint: str, bed: Any) -> None:
    """Exit 1, the reason naming node2 and the hint, and no container made on any node."""
    status, out, err = result
    assert status == 1, out + err
    assert_clean(err)
    assert "node node2: " in out + err and reason in out + err, out + err
    assert hint in out + err, out + err
    for node in bed.nodes:
        assert bed.podman(node.name, "ps", "-aq").stdout.split() == [], node.name


def test_changed_host_key_refused_by_plan_and_apply_even_with_accept_new(
        trust: dict[str, Any], tmp_path: Path) -> None:
    bed = trust["bed"]
    known_hosts = known_hosts_variant(bed, tmp_path / "known_hosts",
                                      keygen(tmp_path / "impostor"))
    before = known_hosts.read_bytes()
    hint = f"ssh-keygen -R {bed.node('node2').host} -f {known_hosts}"
    for command in ("plan", "apply"):
        for extra in ((), ("--accept-new-host-keys",)):
            result = trust["run"](command, *extra, known_hosts_file=str(known_hosts))
            assert_refused(result, "has CHANGED", hint, bed)
    assert known_hosts.read_bytes() == before  # never rewritten


def test_unknown_host_key_refused_then_learned_on_request(trust: dict[str, Any],
                                                         tmp_path: Path) -> None:
    bed = trust["bed"]
    known_hosts = known_hosts_variant(bed, tmp_path / "known_hosts", None)
    for command in ("plan", "apply"):
        result = trust["run"](command, known_hosts_file=str(known_hosts))
        assert_refused(result, "is not known (ssh-ed25519 SHA256:", "--accept-new-host-keys", bed)
    status, out, err = trust["run"]("apply", "--accept-new-host-keys",
                                    known_hosts_file=str(known_hosts))
    assert status == 0, out + err
    assert bed.node("node2").host in known_hosts.read_text()


def test_missing_known_hosts_refused_and_not_created(trust: dict[str, Any],
                                                     tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "known_hosts"
    for command in ("plan", "apply"):
        result = trust["run"](command, known_hosts_file=str(missing))
        assert_refused(result, f"known_hosts file {missing} not found", "ssh-keyscan", trust["bed"])
    assert not missing.exists()


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o640], ids=["0644", "0604", "0640"])
def test_identity_file_others_can_read_is_refused(trust: dict[str, Any], tmp_path: Path,
                                                  mode: int) -> None:
    key = tmp_path / "id_copy"
    key.write_bytes(trust["bed"].key.read_bytes())
    key.chmod(mode)
    for command in ("plan", "apply"):
        result = trust["run"](command, identity_file=str(key))
        assert_refused(result, f"accessible by others (mode {mode:04o})", f"chmod 600 {key}",
                       trust["bed"])
