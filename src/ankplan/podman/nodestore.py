"""The folder ankplan keeps per workload on its node: builders of the shell commands that write
and read it, the parser of what they print, and the `--mount` options for workload files.

Pure: no I/O. Layout on the node (one tree per Podman; the same user, CONTAINERS_CONF and
CONTAINERS_STORAGE_CONF select the same Podman, and so the same tree):

    <base>/<podman>/<project>/<workload>/
        applied.json   restartPolicy, dependencies and tags as last applied (in place)
        run.json       the container ankplan last started, the node's boot ID then, when, and
                       watch's restart count of it (a restart by `podman start` keeps the label)
        files/<path>   the workload's `files`, bind-mounted read-only at each mountPoint

<base> is /var/lib/ankplan for root, else ${XDG_DATA_HOME:-~/.local/share}/ankplan (mode
0700); <podman> is `default` for a plain `podman` without CONTAINERS_CONF or
CONTAINERS_STORAGE_CONF, else `podman-<cksum>` of those and the podman command. Contents
travel on the command's stdin (base64 for files); names are passed as arguments and checked
here, never spliced into the script.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ankplan.errors import AnkplanError
from ankplan.model import AppliedRecord, Node, RunRecord, Workload, WorkloadFile

Argv = tuple[str, ...]

STORE_HEADER = "ankplan-store 1"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")

# Sets u to the user's ID, read from /proc by the shell itself (`id -u` where there is no /proc).
UID_SCRIPT = (
    'u=; if [ -r /proc/self/status ]; then while read -r k v rest; do '
    'if [ "$k" = Uid: ]; then u=$v; break; fi; done < /proc/self/status; fi; '
    '[ -n "$u" ] || u=$(id -u); '
)
# Sets b (the base) and d (this Podman's tree); $1 = the podman program of the node. The
# scripts read with shell builtins where they can: each forked command costs the node a process
# (1-3 ms of CPU on a small node), and records are written beside the next containers' starts.
_STORE = (
    'set -eu; ' + UID_SCRIPT
    + 'if [ "$u" = 0 ]; then b=/var/lib/ankplan; '
    'else b=${XDG_DATA_HOME:-${HOME:-/tmp}/.local/share}/ankplan; fi; '
    'if [ -z "${CONTAINERS_CONF:-}${CONTAINERS_STORAGE_CONF:-}" ] && [ "$1" = podman ]; '
    'then k=default; else k=$(printf "%s|%s|%s" "${CONTAINERS_CONF:-}" '
    '"${CONTAINERS_STORAGE_CONF:-}" "$1" | cksum); k=podman-${k%% *}; fi; d=$b/$k; '
)

# Sets boot to the node's boot ID ("" where the kernel does not tell it).
_BOOT_ID = 'boot=; { IFS= read -r boot < /proc/sys/kernel/random/boot_id; } 2>/dev/null || true; '

# $2 = project. Prints the header with the tree, the boot ID, then every record of the project.
READ_SCRIPT = _STORE + _BOOT_ID + (
    f'printf "{STORE_HEADER} %s\\n" "$d"; '
    'printf "boot %s\\n" "$boot"; '
    'for f in "$d/$2"/*/applied.json "$d/$2"/*/run.json; do '
    'if [ -f "$f" ]; then while IFS= read -r l || [ -n "$l" ]; do printf "%s\\n" "$l"; '
    'done < "$f"; fi; done'
)

PS_MARK = "ankplan-ps"
IMAGES_MARK = "ankplan-images"
# READ_SCRIPT, then a line PS_MARK and the containers (`podman ps --all --format json`), a line
# "PS_MARK <its exit code>", a line IMAGES_MARK and the node's image table (`podman images
# --format json`): a node's whole observation in one command, so that over SSH it costs one
# channel (a channel costs the node an sshd session process and a shell; a plan of 30 nodes is
# bound by the machine's CPU). A failed `podman ps` ends it with ps's code (its stderr alone);
# else it exits with `podman images`' code. Without the first mark in its output, reading the
# records failed (and it exited non-zero).
READ_ALL_SCRIPT = READ_SCRIPT + (
    f'; printf "\\n{PS_MARK}\\n"; "$1" ps --all --format json || '
    f'{{ s=$?; printf "\\n{PS_MARK} %s\\n" "$s"; exit "$s"; }}; '
    f'printf "\\n{PS_MARK} 0\\n{IMAGES_MARK}\\n"; exec "$1" images --format json'
)

# $2 = project, $3 = workload, $4 = "new" (a new container: fresh files, no run record) or
# "keep"; then the files' paths below files/. stdin: the applied record (one JSON line), then
# one base64 line per file. Prints the workload's folder.
PREPARE_SCRIPT = _STORE + (
    'w=$d/$2/$3; mode=$4; shift 4; mkdir -p "$b" "$w"; chmod 700 "$b"; umask 022; '
    'IFS= read -r applied; '
    'if [ "$mode" = new ]; then rm -rf "$w/files.new" "$w/run.json"; mkdir "$w/files.new"; '
    'for rel in "$@"; do IFS= read -r data; mkdir -p "$(dirname "$w/files.new/$rel")"; '
    'printf "%s" "$data" | base64 -d > "$w/files.new/$rel"; done; '
    'rm -rf "$w/files"; mv "$w/files.new" "$w/files"; fi; '
    'printf "%s\\n" "$applied" > "$w/applied.json.tmp"; '
    'mv -f "$w/applied.json.tmp" "$w/applied.json"; printf "%s\\n" "$w"'
)

# $2 = project, $3 = workload, $4 = the container, $5 = its restart count, or "" to keep the
# count recorded for the same container (0 for another), $6 = "" (the run record only), or
# "keep"/"new" to write the applied record too, when nothing was written before the start
# ("new": a new container without files, so a files/ folder of an older one goes). stdin: the
# run record's JSON without its closing brace, ending in a comma (the node adds the count, its
# boot ID and clock); then, with "keep"/"new", the applied record (one JSON line).
RECORD_START_SCRIPT = _STORE + _BOOT_ID + (
    'w=$d/$2/$3; if [ ! -d "$w" ]; then mkdir -p "$b" "$w"; chmod 700 "$b"; fi; umask 022; '
    'IFS= read -r run; n=$5; '
    'if [ "$6" = new ] && [ -e "$w/files" ]; then rm -rf "$w/files"; fi; '
    'if [ -n "$6" ]; then IFS= read -r applied; '
    'printf "%s\\n" "$applied" > "$w/applied.json.tmp"; '
    'mv -f "$w/applied.json.tmp" "$w/applied.json"; fi; '
    'if [ -z "$n" ] && [ -f "$w/run.json" ]; then old=; '
    'IFS= read -r old < "$w/run.json" || true; '
    'case $old in *"\\"container\\":\\"$4\\""*) n=${old##*\\"restartCount\\":}; '
    'n=${n%%[!0-9]*};; esac; fi; '
    'printf "%s\\"restartCount\\":%s,\\"bootId\\":\\"%s\\",\\"startedAt\\":%s}\\n" '
    '"$run" "${n:-0}" "$boot" "$(date +%s)" > "$w/run.json.tmp"; '
    'mv -f "$w/run.json.tmp" "$w/run.json"'
)

# $2 = project, $3 = workload: the folder goes, and the project's and the tree's when empty.
FORGET_SCRIPT = _STORE + 'rm -rf -- "$d/$2/$3"; rmdir -- "$d/$2" "$d" 2>/dev/null || true'


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreView:
    """What the read command printed: the tree, the boot ID and the project's records."""

    folder: str = ""  # this Podman's tree on the node; "" when nothing was read
    boot_id: str = ""
    applied: tuple[AppliedRecord, ...] = ()  # sorted by workload
    runs: tuple[RunRecord, ...] = ()  # sorted by workload


def _checked(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise AnkplanError(f"cannot keep a folder on the node for {kind} {name!r}: only "
                           "a-z, A-Z, 0-9, _ and - are allowed (at most 63)")
    return name


def _shell(node: Node, script: str, *args: str) -> Argv:
    """`sh -c SCRIPT` with the node's podman prefix (e.g. sudo) and its podman program."""
    return (*node.podman[:-1], "sh", "-c", script, "sh", node.podman[-1], *args)


def read_argv(node: Node, project: str) -> Argv:
    """Print the node's boot ID and every record of `project` (READ_SCRIPT)."""
    return _shell(node, READ_SCRIPT, _checked("project", project))


def read_all_argv(node: Node, project: str) -> Argv:
    """Print the records of `project` as `read_argv` does, then the node's containers and its
    image table (READ_ALL_SCRIPT); `split_all` parts them."""
    return _shell(node, READ_ALL_SCRIPT, _checked("project", project))


@dataclass(frozen=True, slots=True, kw_only=True)
class AllParts:
    """READ_ALL_SCRIPT's output, parted."""

    records: str
    ps: str | None  # `podman ps` output; None when the records could not be read
    ps_exit: int  # its exit code (-1 when it did not finish)
    images: str | None  # `podman images` output; None when it did not begin


def split_all(text: str) -> AllParts:
    """The parts of READ_ALL_SCRIPT's output (see AllParts)."""
    records, mark, rest = text.partition(f"\n{PS_MARK}\n")
    if not mark:
        return AllParts(records=text, ps=None, ps_exit=-1, images=None)
    ps, mark, rest = rest.partition(f"\n{PS_MARK} ")
    code, mark, images = rest.partition(f"\n{IMAGES_MARK}\n")
    return AllParts(records=records, ps=ps, ps_exit=int(code) if code.isdigit() else -1,
                    images=images if mark else None)


def file_path(file: WorkloadFile) -> str:
    """Where a file lives below the folder's files/: its mount point without the leading /."""
    return file.mount_point.lstrip("/")


def _content_line(file: WorkloadFile) -> str:
    """The file's bytes as one base64 line (`data` as UTF-8 text, `binaryData` decoded)."""
    if file.binary_data is not None:
        raw = base64.b64decode("".join(file.binary_data.split()), validate=True)
    else:
        raw = (file.data or "").encode()
    return base64.b64encode(raw).decode("ascii")


def applied_fields(workload: Workload) -> dict[str, object]:
    """restartPolicy, dependencies and tags in manifest spelling: the in-place fields."""
    return {"restartPolicy": workload.restart_policy.value,
            "dependencies": {d.workload_name: d.condition.value for d in workload.dependencies},
            "tags": dict(workload.tags)}


def _applied_line(project: str, workload: Workload) -> str:
    """The applied record of `workload` as one JSON line."""
    record = {"kind": "applied", "project": project, "workload": workload.name,
              **applied_fields(workload)}
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def prepare_argv(node: Node, project: str, workload: Workload, *,
                 new_container: bool) -> tuple[Argv, str]:
    """(argv, stdin) writing the applied record and, for a new container, the files.

    Prints the workload's folder, from which `file_mounts` makes the --mount options.
    """
    paths = [file_path(file) for file in workload.files] if new_container else []
    lines = [_applied_line(project, workload)]
    if new_container:
        lines += [_content_line(file) for file in workload.files]
    argv = _shell(node, PREPARE_SCRIPT, _checked("project", project),
                  _checked("workload", workload.name), "new" if new_container else "keep",
                  *paths)
    return argv, "\n".join(lines) + "\n"


def record_start_argv(node: Node, project: str, workload_name: str, spec_hash: str,
                      container_id: str, restart_count: int | None = None, *,
                      applied: Workload | None = None,
                      new_container: bool = False) -> tuple[Argv, str]:
    """(argv, stdin) recording that ankplan started `container_id` now (RECORD_START_SCRIPT),
    with `restart_count`, or with None the count recorded before for the same container;
    with `applied`, the workload's applied record too (nothing was written before the start;
    `new_container`: one without files, whose folder keeps no files of an older one)."""
    record = {"kind": "run", "project": project, "workload": workload_name,
              "specHash": spec_hash, "container": container_id}
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    count = "" if restart_count is None else str(max(0, restart_count))
    argv = _shell(node, RECORD_START_SCRIPT, _checked("project", project),
                  _checked("workload", workload_name), container_id, count,
                  "" if applied is None else "new" if new_container else "keep")
    stdin = text[:-1] + ",\n"
    if applied is not None:
        stdin += _applied_line(project, applied) + "\n"
    return argv, stdin


def forget_argv(node: Node, project: str, workload_name: str) -> Argv:
    """Remove the workload's folder (files and records) on the node."""
    return _shell(node, FORGET_SCRIPT, _checked("project", project),
                  _checked("workload", workload_name))


def has_folder_name(workload_name: str) -> bool:
    """True when a workload of this name can have a folder (its name is a valid path part)."""
    return bool(_NAME.match(workload_name))


def file_mounts(folder: str, files: Iterable[WorkloadFile]) -> Argv:
    """`--mount=type=bind,...,readonly=true` for each file, from the workload's folder."""
    mounts = []
    for file in files:
        source = f"{folder.rstrip('/')}/files/{file_path(file)}"
        if "," in source or "," in file.mount_point:
            raise AnkplanError(f"cannot mount {file.mount_point!r} from {source!r}: podman's "
                               "--mount cannot carry a comma in a path")
        mounts.append(f"--mount=type=bind,source={source},destination={file.mount_point},"
                      "readonly=true")
    return tuple(mounts)


def parse_store(text: str, project: str) -> StoreView:
    """The StoreView of the read command's output; empty output gives an empty view."""
    lines = text.splitlines()
    if not lines:
        return StoreView()
    if not lines[0].startswith(STORE_HEADER + " "):
        raise AnkplanError(f"ankplan's records on the node could not be read: {lines[0][:80]!r}",
                           hint="the node needs a POSIX sh with cksum")
    folder = lines[0][len(STORE_HEADER) + 1:].strip()
    boot = next((line[5:].strip() for line in lines[1:2] if line.startswith("boot ")), "")
    applied, runs = parse_records(lines[1:], project)
    return StoreView(folder=folder, boot_id=boot, applied=applied, runs=runs)


def parse_records(lines: Iterable[str], project: str | None = None
                  ) -> tuple[tuple[AppliedRecord, ...], tuple[RunRecord, ...]]:
    """The applied and run records among JSON `lines` (of `project`, or of any project),
    each sorted by project and workload; other and unreadable lines are skipped."""
    applied: dict[tuple[str, str], AppliedRecord] = {}
    runs: dict[tuple[str, str], RunRecord] = {}
    for line in lines:
        record = _json_object(line)
        if record is None or (project is not None and record.get("project") != project):
            continue
        owner, workload = str(record.get("project") or ""), str(record.get("workload") or "")
        if not owner or not workload:
            continue
        if record.get("kind") == "applied":
            applied[owner, workload] = _applied(record, owner, workload)
        elif record.get("kind") == "run":
            runs[owner, workload] = _run(record, owner, workload)
    return (tuple(applied[key] for key in sorted(applied)),
            tuple(runs[key] for key in sorted(runs)))


def records_to_json(applied: Iterable[AppliedRecord],
                    runs: Iterable[RunRecord]) -> list[dict[str, object]]:
    """The records as the node keeps them (for recorded live states)."""
    out: list[dict[str, object]] = [
        {"kind": "applied", "project": r.project, "workload": r.workload,
         "restartPolicy": r.restart_policy, "dependencies": dict(r.dependencies),
         "tags": dict(r.tags)} for r in applied]
    out += [{"kind": "run", "project": r.project, "workload": r.workload,
             "specHash": r.spec_hash, "container": r.container_id, "bootId": r.boot_id,
             "startedAt": r.started_at, "restartCount": r.restart_count} for r in runs]
    return out


def _json_object(line: str) -> dict[str, object] | None:
    """A record line as a dict; None for the header lines and unreadable (half-written) ones."""
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(sorted((str(key), str(item)) for key, item in value.items()))


def _applied(record: dict[str, object], project: str, workload: str) -> AppliedRecord:
    return AppliedRecord(project=project, workload=workload,
                         restart_policy=str(record.get("restartPolicy") or ""),
                         dependencies=_pairs(record.get("dependencies")),
                         tags=_pairs(record.get("tags")))


def _run(record: dict[str, object], project: str, workload: str) -> RunRecord:
    started, count = record.get("startedAt"), record.get("restartCount")
    return RunRecord(project=project, workload=workload,
                     spec_hash=str(record.get("specHash") or ""),
                     container_id=str(record.get("container") or ""),
                     boot_id=str(record.get("bootId") or ""),
                     started_at=float(started) if isinstance(started, (int, float))
                     and not isinstance(started, bool) else 0.0,
                     restart_count=max(0, count) if isinstance(count, int)
                     and not isinstance(count, bool) else 0)
