"""Semantic checks on built workloads: dependency cycles, dependencies that cannot hold, and
podman options that fight what ankplan manages.

Pure: returns Diagnostics, errors and warnings apart by severity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from ankplan.errors import Diagnostic, Location, Severity
from ankplan.manifests.yaml_reader import join_pointer
from ankplan.model import LABEL_PREFIX, AddCondition, RestartPolicy, Workload
from ankplan.planner.graph import find_cycles
from ankplan.planner.hashing import dependencies_label
from ankplan.podman.limits import (
    LABEL_RESERVE,
    MAX_ARG_STRLEN,
    MAX_ARGUMENT_BYTES,
    MAX_WORKLOAD_BYTES,
    argument_bytes,
    command_bytes,
)
from ankplan.podman.options import RUN, Token, tokenize

# locate(workload_name, pointer relative to the workload, key) -> where that sits in the file.
Locate = Callable[[str, str, bool], Location | None]

def check_workloads(workloads: Sequence[Workload], *, defined_names: Iterable[str] | None = None,
                    locate: Locate | None = None) -> tuple[Diagnostic, ...]:
    """Every semantic problem of `workloads`; `defined_names` also counts workloads that are
    defined but could not be built (so they are not reported as missing)."""
    by_name = {workload.name: workload for workload in workloads}
    defined = set(defined_names) if defined_names is not None else set(by_name)
    where = _Where(by_name, locate)
    found = list(_cycle_errors(workloads, where))
    for workload in sorted(workloads, key=lambda item: item.name):
        found.extend(_dependency_problems(workload, by_name, defined, where))
        found.extend(_option_problems(workload, where))
        found.extend(_size_problems(workload, where))
    return tuple(found)


class _Where:
    """Finds file locations for pointers relative to a workload."""

    def __init__(self, by_name: dict[str, Workload], locate: Locate | None) -> None:
        self.by_name = by_name
        self.locate = locate

    def __call__(self, workload_name: str, relative: str, key: bool = False) -> Location | None:
        if self.locate is not None:
            return self.locate(workload_name, relative, key)
        workload = self.by_name.get(workload_name)
        if workload is None or workload.location is None:
            return None
        base = workload.location
        return Location(file=base.file, line=base.line, column=base.column,
                        pointer=base.pointer + relative)


def _cycle_errors(workloads: Sequence[Workload], where: _Where) -> Iterator[Diagnostic]:
    for cycle in find_cycles(workloads):
        yield _diagnostic(
            Severity.ERROR, "dependency-cycle", "dependency cycle: " + " -> ".join(cycle),
            "Ankaios refuses a state whose dependencies form a cycle; remove one of them",
            where(cycle[0], join_pointer("/dependencies", cycle[1]), True))


def _dependency_problems(workload: Workload, by_name: dict[str, Workload], defined: set[str],
                         where: _Where) -> Iterator[Diagnostic]:
    for dependency in workload.dependencies:
        target_name = dependency.workload_name
        location = where(workload.name, join_pointer("/dependencies", target_name), True)
        target = by_name.get(target_name)
        if target_name not in defined:
            # Never the workload itself: depending on yourself is no fix for a typo.
            others = sorted(defined - {workload.name})
            import difflib  # here: only a mistake needs it (~1 ms to import)
            close = difflib.get_close_matches(target_name, others, n=1)
            hint = f"did you mean '{close[0]}'?" if close else \
                f"define '{target_name}' or remove the dependency"
            yield _diagnostic(Severity.WARNING, "unknown-dependency",
                              f"workload '{workload.name}' depends on '{target_name}', which is "
                              "not defined: Ankaios would wait forever (Pending(WaitingToStart))",
                              hint, location)
        elif target is not None:
            yield from _condition_problems(workload, dependency.condition, target, location)


def _condition_problems(workload: Workload, condition: AddCondition, target: Workload,
                        location: Location | None) -> Iterator[Diagnostic]:
    head = f"workload '{workload.name}' depends on '{target.name}'"
    if target.agent == "":
        yield _diagnostic(Severity.ERROR, "dependency-not-scheduled",
                          f"{head}, which has agent \"\" and is never scheduled, so "
                          f"'{workload.name}' can never start",
                          f"give '{target.name}' an agent, or remove the dependency", location)
    elif condition is AddCondition.SUCCEEDED and target.restart_policy is RestartPolicy.ALWAYS:
        yield _diagnostic(Severity.WARNING, "fragile-condition",
                          f"{head} with ADD_COND_SUCCEEDED, but '{target.name}' has restartPolicy "
                          "ALWAYS: it is restarted at once, so Succeeded never holds for long",
                          f"use ADD_COND_RUNNING, or give '{target.name}' restartPolicy NEVER",
                          location)
    elif condition is AddCondition.FAILED and target.restart_policy is not RestartPolicy.NEVER:
        yield _diagnostic(Severity.WARNING, "fragile-condition",
                          f"{head} with ADD_COND_FAILED, but '{target.name}' has restartPolicy "
                          f"{target.restart_policy.value}: it is restarted on failure, so Failed "
                          "holds only briefly", f"give '{target.name}' restartPolicy NEVER",
                          location)


def _option_problems(workload: Workload, where: _Where) -> Iterator[Diagnostic]:
    if workload.podman is None:
        return
    for token in tokenize(workload.podman.command_options):
        found = _option_problem(token)
        if found is not None:
            severity, summary, hint = found
            location = where(workload.name, f"/runtimeConfig/commandOptions/{token.word}")
            yield _diagnostic(severity, "conflicting-option",
                              f"workload '{workload.name}': commandOptions {summary}", hint,
                              location)


def _size_problems(workload: Workload, where: _Where) -> Iterator[Diagnostic]:
    """An error when the workload's `podman run` would exceed what a node accepts
    (podman/limits.py): one argument over MAX_ARG_STRLEN, or the whole command line over it
    once ankplan's labels are added, as it travels over SSH."""
    config = workload.podman
    if config is None:
        return
    fields = (("generalOptions", config.general_options),
              ("commandOptions", config.command_options), ("image", (config.image,)),
              ("commandArgs", config.command_args))
    hint = ("put big content in a file (`files:` in the manifest) or a volume, and pass its "
            "path")
    for field, words in fields:
        for index, word in enumerate(words):
            size = argument_bytes(word)
            if size > MAX_ARGUMENT_BYTES:
                pointer = "/runtimeConfig/image" if field == "image" else \
                    f"/runtimeConfig/{field}/{index}"
                yield _diagnostic(
                    Severity.ERROR, "argument-too-long",
                    f"workload '{workload.name}': {field}[{index}] is {size:,} bytes, over "
                    f"Linux's limit of {MAX_ARG_STRLEN:,} bytes for one argument "
                    "(MAX_ARG_STRLEN)", hint, where(workload.name, pointer))
                return
    every = [word for _, field_words in fields for word in field_words]
    size = command_bytes(every) + argument_bytes(dependencies_label(workload))
    if size > MAX_WORKLOAD_BYTES:
        yield _diagnostic(
            Severity.ERROR, "command-too-long",
            f"workload '{workload.name}': its podman options and arguments are {size:,} bytes, "
            f"over the {MAX_WORKLOAD_BYTES:,} bytes a node accepts: over SSH the whole command "
            f"line is one argument of the node's shell (Linux MAX_ARG_STRLEN, "
            f"{MAX_ARG_STRLEN:,} bytes), and ankplan keeps {LABEL_RESERVE:,} of them for its "
            "labels", hint, where(workload.name, "/runtimeConfig"))


_REMEDY = {
    "--detach": "remove {flag}",
    "--restart": "remove --restart; use restartPolicy: ON_FAILURE or ALWAYS",
    "label": "ankplan sets these labels to track its containers; use another prefix",
    "--name": "remove --name; ankplan names the container after the workload",
    "--rm": "remove --rm to keep the exit state; ankplan removes containers it no longer needs",
    "--replace": "remove --replace",
}


def _option_problem(token: Token) -> tuple[Severity, str, str] | None:
    """(severity, what is wrong, hint) for one podman option, or None when it is fine."""
    flag, value = token.spelling, token.value
    if token.name in ("--detach", "--rm", "--replace") and (value or "").lower() == "false":
        return None  # `--rm=false` turns the flag off
    if token.name == "--detach":
        return Severity.ERROR, f"set {flag}: ankplan starts containers detached itself", \
            _REMEDY["--detach"].format(flag=flag)
    if token.name == "--restart":
        return Severity.ERROR, ("set --restart: podman's restart policy fights restartPolicy, "
                                "which ankplan manages"), _REMEDY["--restart"]
    if token.name == "--label" and (value or "").startswith(LABEL_PREFIX):
        return Severity.ERROR, (f"set label '{value}' in ankplan's own namespace "
                                f"'{LABEL_PREFIX}*'"), _REMEDY["label"]
    if token.name == "--name":
        return Severity.WARNING, ("set --name: the container will not be named after the "
                                  "workload"), _REMEDY["--name"]
    if token.name == "--rm":
        return Severity.WARNING, ("set --rm: the container vanishes when it exits, so its exit "
                                  "state is lost: once it ran, it is Failed(Lost) and not run "
                                  "again (as in Ankaios)"), _REMEDY["--rm"]
    if token.name == "--replace":
        return Severity.WARNING, ("set --replace: podman may remove a container of the same "
                                  "name that ankplan does not own"), _REMEDY["--replace"]
    if token.is_option and token.value is None and RUN.takes_value(token.name):
        return Severity.ERROR, (f"end with {flag}, which takes a value: podman would take the "
                                "image for it"), f"give {flag} its value, or remove it"
    return None


def _diagnostic(severity: Severity, code: str, summary: str, hint: str,
                location: Location | None) -> Diagnostic:
    return Diagnostic(severity=severity, code=code, summary=summary, hint=hint,
                      location=location)
