"""The Quadlet builder: which nodes get Quadlet files, the version probe's parser, and the
.container text (image, command, ankplan's labels, restart rule, back-off, dependencies)."""

from __future__ import annotations

from pathlib import Path

from test_systemd_unit import fake_systemctl, run_script  # noqa: F401 (a fixture)

from ankplan.model import Node, PodmanConfig, RestartPolicy, UnitFlavour, Workload
from ankplan.planner.hashing import labels_for, spec_hash
from ankplan.podman.quadlet import (
    container_text,
    dropin_text,
    file_name,
    flavour_for,
    parse_probe,
)
from ankplan.podman.systemd_unit import install_argv, project_line, remove_argv

NODE = Node(name="node1")


def workload(policy: RestartPolicy = RestartPolicy.ON_FAILURE) -> Workload:
    return Workload(name="web", agent="a1", runtime="podman", runtime_config_text="",
                    runtime_config=PodmanConfig(image="localhost/x:1",
                                                general_options=("--log-level=info",),
                                                command_options=("-e", "A=b c$d%e"),
                                                command_args=("stub", "idle")),
                    restart_policy=policy)


def text_of(wl: Workload, backoff: bool = False) -> str:
    return container_text(NODE, wl, labels_for(wl, "proj"), project="proj",
                          spec_hash=spec_hash(wl), required=("ankplan-db-1.service",),
                          backoff=backoff)


def test_podman_4_4_and_later_get_quadlet_4_3_and_unknown_a_unit() -> None:
    assert flavour_for("5.4.2") is UnitFlavour.QUADLET
    assert flavour_for("4.4.0") is UnitFlavour.QUADLET
    assert flavour_for("4.3.1") is UnitFlavour.UNIT
    assert flavour_for("") is UnitFlavour.UNIT


def test_the_probe_reads_podman_and_systemd_versions() -> None:
    assert parse_probe("5.4.2\nsystemd 257 (257.9-1~deb13u1)\n") == ("5.4.2", 257)
    assert parse_probe("4.3.1\nsystemd 252 (252.38-1~deb12u1)\n") == ("4.3.1", 252)
    assert parse_probe("sh: podman: not found\n") == ("", 0)


def test_the_container_file_carries_image_command_labels_and_restart_rule() -> None:
    wl = workload()
    text = text_of(wl)
    assert "Image=localhost/x:1\n" in text and "Exec=stub idle\n" in text
    assert "ContainerName=web\n" in text and "GlobalArgs=--log-level=info\n" in text
    # systemd takes $$ and %% literally; --rm=false keeps the exited container (the drop-in)
    assert 'PodmanArgs=--rm=false -e "A=b c$$d%%e"\n' in text
    assert project_line("proj") + "\n" in text and f"X-Ankplan-Spec-Hash={spec_hash(wl)}" in text
    assert 'Label="ankplan.project=proj"' in text or "Label=ankplan.project=proj\n" in text
    assert "Requires=ankplan-db-1.service\nAfter=ankplan-db-1.service\n" in text
    assert "Restart=on-failure\nRestartSec=5\n" in text and "RestartSteps" not in text
    assert "[Install]\nWantedBy=multi-user.target\n" in text
    assert "Restart=always\n" in text_of(workload(RestartPolicy.ALWAYS))
    assert "Restart=no\n" in text_of(workload(RestartPolicy.NEVER))


def test_a_systemd_with_restart_steps_gets_the_growing_delay() -> None:
    text = text_of(workload(), backoff=True)
    assert "RestartSec=5\nRestartSteps=3\nRestartMaxDelaySec=30\n" in text


def test_the_quadlet_file_goes_to_the_quadlet_folder_under_the_units_stem() -> None:
    unit = "ankplan-web-1a2b3c4d.service"
    assert file_name(unit) == "ankplan-web-1a2b3c4d.container"
    argv = install_argv(unit, "proj", flavour=UnitFlavour.QUADLET, dropin="D")
    assert argv[-7:] == ("/etc/containers/systemd", unit, project_line("proj"), "start",
                         "ankplan-web-1a2b3c4d.container", f"/etc/systemd/system/{unit}.d", "D")
    assert install_argv(unit, "proj")[-5] == "/etc/systemd/system"


def test_the_drop_in_keeps_the_exited_container_and_carries_the_mark() -> None:
    text = dropin_text(NODE, "proj")
    assert project_line("proj") + "\n" in text
    stop = "podman stop --ignore -t 10 --cidfile=%t/%N.cid"
    assert f"ExecStop=\nExecStop={stop}\nExecStopPost=\nExecStopPost=-{stop}\n" in text
    assert "ExecStartPre=/bin/rm -f %t/%N.cid\n" in text and " rm -v" not in text


def test_remove_takes_the_projects_quadlet_file_and_leaves_a_foreign_one(
        tmp_path: Path, fake_systemctl: tuple[Path, Path]) -> None:  # noqa: F811 (the fixture)
    bin_dir, log = fake_systemctl
    unit = "ankplan-web-1a2b3c4d.service"
    quadlet_dir = tmp_path / "quadlet"
    quadlet_dir.mkdir()
    argv = remove_argv(unit, "proj")
    argv = (*argv[:-1], str(quadlet_dir))  # the Quadlet folder, moved under tmp_path
    (quadlet_dir / file_name(unit)).write_text("[Container]\nImage=someone/else\n")
    assert run_script(argv, tmp_path, bin_dir).returncode == 0
    assert (quadlet_dir / file_name(unit)).exists() and not log.exists()
    (quadlet_dir / file_name(unit)).write_text(f"[Unit]\n{project_line('proj')}\n")
    result = run_script(argv, tmp_path, bin_dir)
    assert result.returncode == 0, result.stderr
    assert not (quadlet_dir / file_name(unit)).exists()
    assert log.read_text().splitlines()[:2] == [f"systemctl stop {unit}",
                                                "systemctl daemon-reload"]
