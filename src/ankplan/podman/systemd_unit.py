"""systemd units for workloads that systemd supervises on their node (`--supervisor systemd`):
the unit's name and text, in the shape `podman generate systemd --new` writes on Podman 4.3, and
the shell commands that install, start, restart, remove and read such units.

Pure: no I/O. The executors send these commands; the unit text goes on stdin.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ankplan.model import AddCondition, Node, RestartPolicy, UnitFlavour, Workload
from ankplan.podman.commands import UNIT_CIDFILE, Argv, unit_run_argv

UNIT_DIR = "/etc/systemd/system"  # system units; ankplan's are named ankplan-*.service
QUADLET_DIR = "/etc/containers/systemd"  # Quadlet files (podman/quadlet.py), ankplan-*.container
RUNTIME_DIR = "/run"  # what %t means for system units
# systemd 252 restarts after a fixed delay (RestartSteps=/RestartMaxDelaySec=, a growing delay
# like the guide's 0, 5, 10, 20, 30 s, need systemd 254): 5 s, the guide's second step, and
# never gives up (StartLimitIntervalSec=0), as Ankaios and the guide never do.
RESTART_SEC = 5
STOP_TIMEOUT = 10  # seconds `podman stop -t` gives the container before SIGKILL
RESTART = {RestartPolicy.NEVER: "no", RestartPolicy.ON_FAILURE: "on-failure",
           RestartPolicy.ALWAYS: "always"}
KEY_PROJECT = "X-Ankplan-Project"  # the identity lines; systemd ignores X- keys
KEY_WORKLOAD = "X-Ankplan-Workload"
KEY_SPEC_HASH = "X-Ankplan-Spec-Hash"
_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                  "_-+=:,./@")


def unit_name(project: str, workload_name: str) -> str:
    """`ankplan-<workload>-<8 hex of the project's sha256>.service`: readable, and two projects'
    workloads of one name never share a unit."""
    digest = hashlib.sha256(project.encode()).hexdigest()[:8]
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_"
                   for c in workload_name)
    return f"ankplan-{safe}-{digest}.service"


def project_line(project: str) -> str:
    """The line that marks a unit file as `project`'s: a file without it is never touched."""
    return f"{KEY_PROJECT}={unit_value(project)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitDependencies:
    """How a workload's dependencies look to its node's systemd."""

    required: tuple[str, ...] = ()  # units of same-node ADD_COND_RUNNING dependencies
    # Dependencies only ankplan's apply enforces (once, when it starts the workload), one line
    # each: "db (ADD_COND_SUCCEEDED)", "broker (on node2)".
    apply_only: tuple[str, ...] = ()


def unit_dependencies(workload: Workload, node_name: str, project: str,
                      unit_nodes: Mapping[str, str],
                      placed: Mapping[str, str] | None = None) -> UnitDependencies:
    """Split the workload's dependencies: an ADD_COND_RUNNING one whose workload systemd runs on
    the same node (`unit_nodes`: workload name -> node, for workloads run by units) becomes
    Requires=/After=; every other one is enforced by apply alone (`placed`: workload name ->
    node of every placed workload, to name where a dependency runs)."""
    placed = placed or {}
    required, apply_only = [], []
    for dependency in workload.dependencies:
        name, condition = dependency.workload_name, dependency.condition
        where = unit_nodes.get(name) or placed.get(name)
        if condition is AddCondition.RUNNING and unit_nodes.get(name) == node_name:
            required.append(unit_name(project, name))
        elif condition is not AddCondition.RUNNING:
            apply_only.append(f"{name} ({condition.value})")
        elif where and where != node_name:
            apply_only.append(f"{name} (on {where})")
        else:
            apply_only.append(f"{name} (not run by a systemd unit)")
    return UnitDependencies(required=tuple(sorted(required)), apply_only=tuple(apply_only))


def unit_text(node: Node, workload: Workload, labels: Mapping[str, str], *, project: str,
              spec_hash: str, required: Sequence[str] = (), mounts: Sequence[str] = ()) -> str:
    """The unit that runs the workload's container: `podman run` with ankplan's labels (so
    plan, get and destroy see it as before), Restart= from its restartPolicy, ordered after the
    units it requires, enabled for multi-user.target (it comes back after a reboot)."""
    argv = unit_run_argv(node, workload, labels, mounts=mounts)
    podman_prefix = " ".join(exec_word(word) for word in node.podman)
    cidfile = f"--cidfile={UNIT_CIDFILE}"
    stop = f"{podman_prefix} stop --ignore -t {STOP_TIMEOUT} {cidfile}"
    lines = [
        f"# Written by ankplan for workload {_comment(workload.name)} of project "
        + f"{_comment(project)}; `ankplan apply` rewrites it, `ankplan destroy` removes it.",
        "[Unit]",
        f"Description=ankplan workload {unit_value(workload.name)} (project {unit_value(project)})",
        "Wants=network-online.target",
        "After=network-online.target",
        "RequiresMountsFor=%t/containers",
        *(f"Requires={unit}\nAfter={unit}" for unit in required),
        "StartLimitIntervalSec=0",
        project_line(project),
        f"{KEY_WORKLOAD}={unit_value(workload.name)}",
        f"{KEY_SPEC_HASH}={unit_value(spec_hash)}",
        "",
        "[Service]",
        "Environment=PODMAN_SYSTEMD_UNIT=%n",
        f"Restart={RESTART[workload.restart_policy]}",
        f"RestartSec={RESTART_SEC}",
        f"TimeoutStopSec={STOP_TIMEOUT + 60}",
        f"ExecStartPre=/bin/rm -f {UNIT_CIDFILE}",
        "ExecStart=" + " ".join(word if word == cidfile else exec_word(word) for word in argv),
        f"ExecStop={stop}",
        f"ExecStopPost={stop}",
        "Type=notify",
        "NotifyAccess=all",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def exec_word(word: str) -> str:
    """One word of an Exec= line: bare when safe, else double-quoted with C escapes; `%` and
    `$` doubled so systemd takes them literally."""
    if word and all(c in _BARE for c in word):
        return word
    escaped = (word.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\t", "\\t").replace("%", "%%").replace("$", "$$"))
    return f'"{escaped}"'


def unit_value(text: str) -> str:
    """A value on a unit line: one line, `%` doubled (a specifier otherwise)."""
    return text.replace("\n", " ").replace("%", "%%")


def _comment(text: str) -> str:
    return text.replace("\n", " ")


# The unit's file (a unit, or the Quadlet file the unit is generated from) is replaced only
# when it is absent or this project's; the unit is then enabled (a Quadlet unit is enabled by
# its [Install] section) and, unless only reloaded, (re)started; the container's id is the last
# line printed. A start that fails leaves no file behind (systemd would retry it forever) and
# prints why.
_CID = r"""
cid() { cat "$RUNTIME/$1.ctr-id" 2>/dev/null || cat "$RUNTIME/${1%.service}.cid"; }
"""
_INSTALL = _CID + r"""
dir=$1 unit=$2 mark=$3 mode=$4 file=$5 f="$1/$5" dropin=${6:+$6/ankplan.conf}
enable() { case "$file" in *.container) :;; *) systemctl enable -q "$unit";; esac; }
for g in "$f" $dropin; do
  if [ -e "$g" ] && ! grep -qxF -- "$mark" "$g"; then
    echo "Error: $g exists and is not this project's unit; ankplan leaves it alone" >&2; exit 3
  fi
done
(umask 077 && cat > "$f.ankplan-new") && mv -f "$f.ankplan-new" "$f" || exit 4
if [ -n "$dropin" ]; then
  mkdir -p "$6" && printf '%s' "$7" > "$dropin.ankplan-new" && mv -f "$dropin.ankplan-new" "$dropin" || exit 4
fi
systemctl daemon-reload || exit 5
if [ "$mode" = reload ]; then enable; exit; fi
systemctl reset-failed "$unit" 2>/dev/null
if enable && systemctl restart "$unit"; then cid "$unit"; exit; fi
status=$?
journalctl -u "$unit" -n 8 --no-pager -o cat 2>/dev/null | grep -i error >&2
systemctl disable -q "$unit" 2>/dev/null; systemctl stop "$unit" 2>/dev/null
rm -f "$f" $dropin; [ -z "$dropin" ] || rmdir "$6" 2>/dev/null; systemctl daemon-reload
systemctl reset-failed "$unit" 2>/dev/null
exit $status
"""

# The unit's file is a unit in UNIT_DIR or a Quadlet file in QUADLET_DIR: each is removed
# only when it carries the project's mark.
_REMOVE = r"""
unit=$2 mark=$3 removed= foreign=
for f in "$1/$2" "$4/${2%.service}.container" "$1/$2.d/ankplan.conf"; do
  [ -e "$f" ] || continue
  if ! grep -qxF -- "$mark" "$f"; then
    echo "$f is not this project's unit; ankplan leaves it alone" >&2; foreign=1; continue
  fi
  case "$f" in
    *.conf) ;;  # the drop-in of a Quadlet unit, stopped with its .container
    *.container) systemctl stop "$unit" || exit;;  # generated units are not enabled/disabled
    *) systemctl disable -q --now "$unit" || exit;;
  esac
  rm -f "$f" && removed=1
done
rmdir "$1/$2.d" 2>/dev/null
if [ -n "$removed" ]; then systemctl daemon-reload || exit; elif [ -n "$foreign" ]; then exit 0; fi
systemctl reset-failed "$unit" 2>/dev/null
exit 0
"""

_RESTART = _CID + r"""
systemctl reset-failed "$1" 2>/dev/null
systemctl restart "$1" && cid "$1"
"""


def install_argv(unit: str, project: str, *, start: bool = True,
                 flavour: UnitFlavour = UnitFlavour.UNIT, dropin: str = "") -> Argv:
    """Write the unit's file (its text on stdin: a unit, or a Quadlet file for
    `UnitFlavour.QUADLET` with `dropin`, the text of the unit's drop-in
    `<unit>.d/ankplan.conf`), enable the unit and (re)start it, printing the container id;
    `start=False` only rewrites, reloads and enables (an in-place change: Restart=, Requires=
    take effect without touching the running container)."""
    mode = "start" if start else "reload"
    if flavour is UnitFlavour.QUADLET:
        return ("env", f"RUNTIME={RUNTIME_DIR}", "sh", "-c", _INSTALL, "sh", QUADLET_DIR, unit,
                project_line(project), mode, unit.removesuffix(".service") + ".container",
                f"{UNIT_DIR}/{unit}.d", dropin)
    return ("env", f"RUNTIME={RUNTIME_DIR}", "sh", "-c", _INSTALL, "sh", UNIT_DIR, unit,
            project_line(project), mode, unit)


def remove_argv(unit: str, project: str) -> Argv:
    """Stop, disable and remove `project`'s unit, a unit file or a Quadlet file (a unit's
    container stays, exited, for `podman rm`; Quadlet's is removed with it); a file of that
    name without the project's mark is left alone."""
    return ("sh", "-c", _REMOVE, "sh", UNIT_DIR, unit, project_line(project), QUADLET_DIR)


def stop_argv(unit: str) -> Argv:
    """Stop the unit (and so its container), keeping it enabled."""
    return ("systemctl", "stop", unit)


def restart_argv(unit: str) -> Argv:
    """Start the unit again, printing the new container's id."""
    return ("env", f"RUNTIME={RUNTIME_DIR}", "sh", "-c", _RESTART, "sh", unit)


def show_argv(units: Sequence[str]) -> Argv:
    """`systemctl show` of the units' name, state and restart count, one block per unit."""
    return ("systemctl", "show", "--property=Id,ActiveState,SubState,NRestarts", "--", *units)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitState:
    """A unit as `systemctl show` reports it."""

    unit: str
    active_state: str = ""  # active, activating, failed, inactive, ...
    sub_state: str = ""  # running, auto-restart, dead, ...
    restarts: int = 0  # NRestarts: restarts systemd did since the unit was last started

    @property
    def state(self) -> str:
        """`active (running)`, `activating (auto-restart)`, ... as `systemctl status` words it."""
        return f"{self.active_state} ({self.sub_state})" if self.sub_state else self.active_state


def parse_show(text: str) -> tuple[UnitState, ...]:
    """The units of `show_argv`'s output (blocks of KEY=VALUE lines, blank-line separated)."""
    states = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if not fields.get("Id"):
            continue
        restarts = fields.get("NRestarts", "0")
        states.append(UnitState(unit=fields["Id"], active_state=fields.get("ActiveState", ""),
                                sub_state=fields.get("SubState", ""),
                                restarts=int(restarts) if restarts.isdigit() else 0))
    return tuple(sorted(states, key=lambda state: state.unit))
