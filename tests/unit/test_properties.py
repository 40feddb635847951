"""Hostile input, property-based: the manifest loader, the inventory loader and the CLI's
argument handling turn ANY input into a valid model or a clean error.

Never a traceback, never a hang (hypothesis deadline, plus an alarm for real hangs), bounded
memory (tracemalloc). Inputs are drawn from junk text, random YAML data, and near-valid
documents with one or more fields replaced by random values. No podman and no network: the
CLI runs in a scratch folder with a fake podman on PATH (an empty node that refuses changes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import signal
import string
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ankplan.cli import main as cli_main
from ankplan.cli.env import Env
from ankplan.errors import AnkplanError, Diagnostic, Severity
from ankplan.inventories.load import load_inventory
from ankplan.manifests.load import check_manifest
from ankplan.model import Inventory, Manifest

SCRATCH = Path(tempfile.mkdtemp(prefix="ankplan-props-"))
PROPS = settings(max_examples=120, deadline=3000, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.fixture(scope="module", autouse=True)
def _remove_scratch() -> Iterator[None]:
    """Delete the scratch folder once this module's tests are done."""
    yield
    shutil.rmtree(SCRATCH, ignore_errors=True)


class Hang(BaseException):
    """Raised by the alarm when one example runs far beyond its deadline (a real hang)."""


@contextlib.contextmanager
def alarm(seconds: int) -> Iterator[None]:
    """Raise Hang in the main thread after `seconds` (hypothesis' deadline only measures)."""
    def fire(signum: int, frame: object) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def write(name: str, text: str) -> str:
    """Write `text` into the scratch folder; returns the path."""
    path = SCRATCH / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return str(path)


# --- strategies ----------------------------------------------------------------------------

IDENTIFIER = st.text(alphabet=string.ascii_letters + string.digits + "_-.", min_size=1,
                     max_size=12)
NASTY = st.sampled_from(["", " ", "\t", "~", "null", "yes", "no", "0", "-1", "1e999", ".nan",
                         "'", '"', "{", "[", "]", "}", "&a", "*a", "!!python/object:os.system",
                         "!!binary AAAA", "$(touch /tmp/ankplan-pwn)", "`id`", "; rm -rf /",
                         "a" * 300, "é🚗", "\u202e", "{{ x }}", "{{#each}}", "---", "...",
                         "%YAML 1.1", "<<: *a"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=30), NASTY, IDENTIFIER)
DATA = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.one_of(IDENTIFIER, NASTY), inner,
                                                 max_size=5)), max_leaves=25)
NAME = st.from_regex(r"\A[a-z][a-z0-9_-]{0,9}\Z")


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` three times in four, else `bad`: near-valid input reaches the deeper checks."""
    return st.one_of(good, good, good, bad)


CONDITIONS = st.sampled_from(["ADD_COND_RUNNING", "ADD_COND_SUCCEEDED", "ADD_COND_FAILED",
                              "ADD_COND_NOPE", "running"])
POLICIES = st.sampled_from(["NEVER", "ON_FAILURE", "ALWAYS", "SOMETIMES", None])


@st.composite
def runtime_configs(draw: st.DrawFn) -> Any:
    """A runtimeConfig: usually the YAML text Ankaios expects, sometimes junk."""
    config: dict[str, Any] = {"image": draw(mostly(st.just("localhost/app:1"),
                                                   st.one_of(IDENTIFIER, NASTY)))}
    if draw(st.booleans()):
        benign = st.lists(st.sampled_from(["-e", "X=1", "--network", "host", "-p", "80:80",
                                           "--health-cmd", "true", "--health-interval", "1s"]),
                          max_size=6)
        config["commandOptions"] = draw(mostly(benign, st.lists(st.one_of(
            NASTY, st.sampled_from(["-d", "--restart", "always", "--label", "ankplan.workload=x",
                                    "--name", "other"])), max_size=6)))
    if draw(st.booleans()):
        config["commandArgs"] = draw(st.lists(mostly(IDENTIFIER, NASTY), max_size=4))
    if draw(st.integers(0, 9)) == 0:
        config[draw(IDENTIFIER)] = draw(DATA)
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(DATA)
    if kind == 1:
        return draw(st.text(max_size=80))
    return yaml.safe_dump(config, sort_keys=False)


@st.composite
def workloads(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    """One workload entry, with random dependencies among `names` (and unknown ones)."""
    workload: dict[str, Any] = {"runtime": draw(mostly(st.just("podman"), st.sampled_from(
                                    ["podman-kube", "docker", ""]))),
                                "agent": draw(mostly(NAME, NASTY)),
                                "runtimeConfig": draw(runtime_configs())}
    if draw(st.booleans()):
        deps = draw(st.lists(mostly(st.sampled_from(names), IDENTIFIER), max_size=3))
        workload["dependencies"] = {dep: draw(mostly(CONDITIONS, DATA)) for dep in deps}
    policy = draw(POLICIES)
    if policy is not None:
        workload["restartPolicy"] = policy
    if draw(st.booleans()):
        workload["tags"] = draw(st.one_of(
            st.dictionaries(IDENTIFIER, st.one_of(IDENTIFIER, NASTY), max_size=3),
            st.lists(st.fixed_dictionaries({"key": IDENTIFIER, "value": IDENTIFIER}),
                     max_size=2)))
    if draw(st.integers(0, 9)) == 0:
        workload[draw(IDENTIFIER)] = draw(DATA)  # an unknown key
    if draw(st.integers(0, 9)) == 0:
        del workload[draw(st.sampled_from(sorted(workload)))]  # a missing key
    return workload


@st.composite
def near_valid_manifests(draw: st.DrawFn) -> str:
    """A manifest shaped like a real one, with random values in many places."""
    names = draw(st.lists(mostly(NAME, NASTY), min_size=1, max_size=5, unique=True))
    document: dict[str, Any] = {
        "apiVersion": draw(st.sampled_from(["v1"] * 5 + ["v0.1", "v0.1", "v2", "", 1, None])),
        "workloads": {name: draw(workloads(names)) for name in names},
    }
    if draw(st.integers(0, 3)) == 0:
        document["configs"] = draw(st.dictionaries(IDENTIFIER, DATA, max_size=3))
    if draw(st.integers(0, 9)) == 0:
        document[draw(IDENTIFIER)] = draw(DATA)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


@st.composite
def valid_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A manifest that should load: dependencies only on earlier workloads (no cycles)."""
    names = draw(st.lists(NAME, min_size=1, max_size=6, unique=True))
    workloads: dict[str, Any] = {}
    for index, name in enumerate(names):
        options = draw(st.lists(st.sampled_from(["-e", "X=1", "--network", "host"]),
                                max_size=4))
        config = yaml.safe_dump({"image": "localhost/app:1",
                                 "commandOptions": [o for o in options if o != "-e"],
                                 "commandArgs": draw(st.lists(IDENTIFIER, max_size=3))})
        workload: dict[str, Any] = {"runtime": "podman", "agent": draw(NAME),
                                    "restartPolicy": draw(st.sampled_from(
                                        ["NEVER", "ON_FAILURE", "ALWAYS"])),
                                    "runtimeConfig": config}
        if index:
            deps = draw(st.lists(st.sampled_from(names[:index]), max_size=2, unique=True))
            workload["dependencies"] = {dep: draw(st.sampled_from(
                ["ADD_COND_RUNNING", "ADD_COND_SUCCEEDED", "ADD_COND_FAILED"])) for dep in deps}
        workloads[name] = workload
    return {"apiVersion": "v1", "workloads": workloads}


@st.composite
def mutated_manifests(draw: st.DrawFn) -> str:
    """A valid manifest, with one value (anywhere in it) replaced by junk half the time."""
    document = draw(valid_manifests())
    if draw(st.booleans()):
        target: Any = document
        while True:
            key = draw(st.sampled_from(sorted(target)))
            if not isinstance(target[key], dict) or draw(st.integers(0, 3)) == 0:
                break
            target = target[key]
        target[key] = draw(st.one_of(DATA, NASTY, runtime_configs()))
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def yaml_of(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """YAML text of the data drawn from `strategy`."""
    return strategy.map(lambda data: yaml.safe_dump(data, allow_unicode=True))


MANIFEST_TEXTS = st.one_of(st.text(max_size=200), yaml_of(DATA), near_valid_manifests(),
                           mutated_manifests(), mutated_manifests(),
                           st.sampled_from(["", "---\n---\n", "apiVersion: v1\n", "[",
                                            "a: &a [*a]\n", "\ufeffapiVersion: v1\n"]))


def node_field(keys: list[str]) -> st.SearchStrategy[Any]:
    """A value for some node key: plausible ones for every key, or anything."""
    plausible = st.one_of(NAME, st.integers(1, 65535), st.sampled_from(
        ["ssh", "local", "127.0.0.1", "sudo -n podman", "~/.ssh/id", "5"]),
        st.lists(NAME, min_size=1, max_size=3))
    return mostly(plausible, st.one_of(NASTY, st.integers(-5, 70000), st.none(), DATA))


@st.composite
def near_valid_inventories(draw: st.DrawFn) -> str:
    """An inventory shaped like a real one (native or Ansible), with random values."""
    node_names = draw(st.lists(mostly(NAME, NASTY), min_size=1, max_size=4, unique=True))
    field = mostly(NAME, st.one_of(NASTY, st.integers(-5, 70000), st.none(),
                                   st.lists(IDENTIFIER, max_size=3)))
    keys = ["host", "port", "user", "identity_file", "known_hosts_file", "connection",
            "connect_timeout", "podman", "become"]
    if draw(st.booleans()):
        hosts = {name: draw(st.dictionaries(st.sampled_from(
            ["ansible_host", "ansible_port", "ansible_user", "ansible_connection",
             "ansible_ssh_private_key_file", "ansible_become", "ankplan_podman"]), field,
            max_size=4)) for name in node_names}
        return yaml.safe_dump({"all": {"hosts": hosts, "vars": draw(
            st.dictionaries(IDENTIFIER, field, max_size=2))}})
    document: dict[str, Any] = {
        "nodes": {name: draw(st.dictionaries(st.sampled_from(keys), node_field(keys),
                                             max_size=4)) for name in node_names},
        "agents": draw(st.dictionaries(mostly(NAME, NASTY), mostly(
            st.sampled_from(node_names), st.one_of(IDENTIFIER, st.dictionaries(
                st.sampled_from(["node", *keys]), field, max_size=3))), max_size=4)),
    }
    if draw(st.booleans()):
        document["defaults"] = draw(st.dictionaries(st.sampled_from(keys), field, max_size=4))
    if draw(st.booleans()):
        document["default_node"] = draw(st.one_of(st.sampled_from(node_names), IDENTIFIER))
    if draw(st.integers(0, 9)) == 0:
        document[draw(IDENTIFIER)] = draw(DATA)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


INVENTORY_TEXTS = st.one_of(st.text(max_size=200), yaml_of(DATA), near_valid_inventories())


# --- manifest loader -----------------------------------------------------------------------


def assert_clean_outcome(manifest: Manifest | None, diagnostics: tuple[Diagnostic, ...]) -> None:
    """Either a manifest with only warnings, or None with at least one error; all printable."""
    assert all(isinstance(d, Diagnostic) and d.summary.strip() for d in diagnostics)
    assert all("\n" not in d.summary for d in diagnostics), [d.summary for d in diagnostics]
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    if manifest is None:
        assert errors, diagnostics
    else:
        assert not errors, errors
        assert isinstance(manifest, Manifest)
        names = [workload.name for workload in manifest.workloads]
        assert len(names) == len(set(names))


@PROPS
@given(text=MANIFEST_TEXTS)
def test_manifest_loader_yields_model_or_diagnostics(text: str) -> None:
    path = write("manifest.yaml", text)
    with alarm(20):
        manifest, diagnostics = check_manifest([path])
    assert_clean_outcome(manifest, diagnostics)


@PROPS
@given(first=st.one_of(near_valid_manifests(), mutated_manifests()),
       second=st.one_of(near_valid_manifests(), mutated_manifests()))
def test_two_manifests_together_yield_model_or_diagnostics(first: str, second: str) -> None:
    paths = [write("first.yaml", first), write("second.yaml", second)]
    with alarm(20):
        manifest, diagnostics = check_manifest(paths)
    assert_clean_outcome(manifest, diagnostics)


@PROPS
@given(data=st.binary(max_size=300))
def test_manifest_loader_survives_any_bytes(data: bytes) -> None:
    path = SCRATCH / "bytes.yaml"
    path.write_bytes(data)
    with alarm(20):
        manifest, diagnostics = check_manifest([str(path)])
    assert_clean_outcome(manifest, diagnostics)


@pytest.mark.parametrize("value", ['"line one\\nline two"', '"\\e[2J\\e[31mred"',
                                   '"tab\\there\\u0085"'])
def test_quoted_values_cannot_break_lines_or_drive_the_terminal(value: str) -> None:
    path = write("escape.yaml", f"apiVersion: {value}\nworkloads: {{}}\n")
    manifest, diagnostics = check_manifest([path])
    assert manifest is None
    summary = diagnostics[0].summary
    assert summary.startswith("unsupported apiVersion '") and "\\" in summary, summary
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", summary), summary
    status, out, err = run_main(["validate", path])
    assert status == 1 and not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out + err), err


@pytest.mark.parametrize("where", ["manifest", "runtime-config", "inventory"])
def test_nul_characters_are_refused_where_they_are_written(where: str) -> None:
    # A NUL fits no program argument, path or host name: refused, not passed on to fail later
    # (subprocess and os.stat raise on it; a C library cuts the string short).
    manifest = VALID_MANIFEST
    if where == "manifest":  # the runtimeConfig string itself, double-quoted with \0
        manifest = manifest.replace("runtimeConfig: |\n      image: localhost/router:1",
                                    'runtimeConfig: "image: localhost/router\\0:1"', 1)
    elif where == "runtime-config":
        manifest = manifest.replace("image: localhost/router:1",
                                    'image: localhost/router:1\n      commandArgs: ["a\\0b"]')
    path = write("nul.yaml", manifest)
    identity = "/tmp/a\\0b" if where == "inventory" else "/tmp/id"
    inventory = write("nul-inv.yaml", 'nodes: {n: {host: 127.0.0.1, identity_file: '
                      f'"{identity}"}}}}\ndefault_node: n\n')
    if where == "inventory":
        with pytest.raises(AnkplanError) as caught:
            load_inventory(inventory, ssh_config="")
        summaries = [d.summary for d in caught.value.diagnostics]  # type: ignore[attr-defined]
    else:
        manifest_value, diagnostics = check_manifest([path])
        assert manifest_value is None
        summaries = [d.summary for d in diagnostics]
    assert any("NUL" in summary for summary in summaries), summaries
    status, out, err = run_main(["plan", path, "-i", inventory])
    assert status == 1 and "NUL" in out + err, out + err
    assert "internal error" not in err


# --- inventory loader ----------------------------------------------------------------------


@PROPS
@given(text=INVENTORY_TEXTS)
def test_inventory_loader_yields_model_or_clean_error(text: str) -> None:
    path = write("inventory.yaml", text)
    with alarm(20):
        try:
            inventory = load_inventory(path, ssh_config="")
        except AnkplanError as error:
            assert error.summary.strip()
            return
    assert isinstance(inventory, Inventory)
    names = [node.name for node in inventory.nodes]
    assert len(names) == len(set(names))
    for node in inventory.nodes:
        assert 0 < node.port < 65536
        assert node.podman and all(isinstance(word, str) and word for word in node.podman)


# --- CLI argument handling -----------------------------------------------------------------

COMMANDS = ["validate", "schema", "nodes", "plan", "apply", "delete", "destroy", "graph",
            "get", "logs", "workloads", "workload"]
OPTIONS = ["-i", "--inventory", "--ssh-config", "--forks", "--accept-new-host-keys",
           "--timeout", "--project", "--output", "-o", "--format", "--strict", "--yes", "-y",
           "--parallelism", "--lock-timeout", "--stop-timeout", "--agent", "--target",
           "--no-prune", "--detailed-exitcode", "-f", "--follow", "--tail", "--debug", "-h",
           "--help", "--version", "--", "-", "--no-such-option", "-Z", "--output=json",
           "--forks=0", "--timeout=-1", "--timeout=nan", "--timeout=inf", "--format=mermaid",
           "--format=dot", "--format=json", "--format=github", "-otext"]
VALUES = ["0", "-1", "1", "2.5", "nan", "inf", "1e400", "json", "text", "mermaid", "", " ",
          "x" * 200, "é", "$(touch /tmp/ankplan-pwn)", "../..", "/", "/dev/null", "/dev/zero",
          "/proc/self/mem", "a;b", "router", "app"]
VALID_MANIFEST = """\
apiVersion: v1
workloads:
  router:
    runtime: podman
    agent: agent_A
    runtimeConfig: |
      image: localhost/router:1
  app:
    runtime: podman
    agent: agent_A
    dependencies: {router: ADD_COND_RUNNING}
    runtimeConfig: |
      image: localhost/app:1
"""
FILES = {"valid.yaml": VALID_MANIFEST, "broken.yaml": "workloads: [\n",
         "ssh-inv.yaml": "nodes: {n: {host: 127.0.0.1, port: 1}}\ndefault_node: n\n",
         "empty.yaml": "", "inv.yaml": "nodes: {n: {connection: local}}\ndefault_node: n\n",
         "plan.json": '{"format": "ankplan-plan/1", "plan": 3}'}
# What an OS can pass in argv: any text but NUL.
ARG_TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00",
                                          blacklist_categories=("Cs",)), max_size=12)
ARGS = st.lists(st.one_of(st.sampled_from(OPTIONS), st.sampled_from(VALUES),
                          st.sampled_from(sorted(FILES) + ["missing.yaml", "."]),
                          ARG_TEXT), max_size=8)
# How a failure explains itself (argparse, diagnostics, AnkplanError, apply summary).
CLEAN_FAILURE = re.compile(r"error|warning|usage|failed|incomplete", re.IGNORECASE)


FAKE_PODMAN = """#!/bin/sh
# A stand-in podman: an empty node that refuses every change.
case "$1" in
  ps) echo "[]" ;;
  info) echo '{"host": {"hostname": "fake"}, "version": {"Version": "4.3.1"}}' ;;
  *) echo "Error: fake podman refuses: $*" >&2; exit 125 ;;
esac
"""
TOOLS = ("sh", "cat", "flock", "id", "mkdir", "cksum", "cut", "printf", "sleep",  # the lock
         "rm", "rmdir", "mv", "chmod", "dirname", "base64", "date")  # the workload folders


def fake_bin() -> Path:
    """A folder with the fake podman and the shell tools the apply lock and the workload
    folders need (podman/nodestore.py), nothing else."""
    folder = SCRATCH / "bin"
    if not folder.is_dir():
        folder.mkdir()
        (folder / "podman").write_text(FAKE_PODMAN)
        (folder / "podman").chmod(0o755)
        for tool in TOOLS:
            found = shutil.which(tool)
            if found:
                (folder / tool).symlink_to(found)
    return folder


@contextlib.contextmanager
def sandbox() -> Iterator[None]:
    """Run in the scratch folder with a PATH whose podman is a fake (no container is touched,
    no node reached) and a HOME without ssh files."""
    for name, text in FILES.items():
        (SCRATCH / name).write_text(text)
    old_cwd, old_path, old_home = os.getcwd(), os.environ.get("PATH", ""), os.environ.get("HOME")
    os.chdir(SCRATCH)
    os.environ["PATH"] = str(fake_bin())
    os.environ["HOME"] = str(SCRATCH)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        os.environ["PATH"] = old_path
        if old_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old_home


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """main(argv) in-process without a terminal; (status, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Env(stdout=stdout, stderr=stderr, stdin=io.StringIO(""), environ={"NO_COLOR": "1"},
              stdout_isatty=False, stderr_isatty=False, stdin_isatty=False)
    with sandbox(), alarm(30):
        status = cli_main.main(argv, env)
    return status, stdout.getvalue(), stderr.getvalue()


def assert_clean_cli(argv: list[str], status: int, out: str, err: str) -> None:
    """No traceback and no internal error; a failure says so in words."""
    assert "Traceback" not in err + out, (argv, err)
    assert "internal error" not in err, (argv, err)
    assert status in (0, 1, 2, 3, 4, 130), (argv, status)
    if status not in (0, 2):
        assert CLEAN_FAILURE.search(err + out), (argv, status, out, err)


def option_table() -> dict[str, list[tuple[str, bool, tuple[str, ...]]]]:
    """command -> [(option string, takes a value, choices)], read from the real parser."""
    parser = cli_main.build_parser()
    table: dict[str, list[tuple[str, bool, tuple[str, ...]]]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                table[name] = [(option, item.nargs != 0, tuple(item.choices or ()))
                               for item in sub._actions
                               for option in item.option_strings if option not in ("-h", "--help")]
    return table


OPTION_TABLE = option_table()
# Per kind of option: values that should work, and values that should be refused cleanly.
NUMBERS = (["1", "2", "0.5", "3"],
           ["0", "-1", "nan", "inf", "-inf", "1e400", "99999999999", "x", ""])
DURATIONS = (["0.3s", "1s", "2m", "0.5"], ["0", "-1s", "nan", "infs", "x", "1e400s", ""])
BACKOFFS = (["0,1,2", "1", "0"], ["x", "1,,2", "-1", "nan", "inf", ""])
PATHS = (["valid.yaml"], sorted(FILES) + ["missing.yaml", "", "/dev/null", "."])
INVENTORIES = (["inv.yaml", "ssh-inv.yaml"], sorted(FILES) + ["missing.yaml", "", "."])
NAMES = (["router", "app", "agent_A"], ["ghost", "x;y", "", "a" * 100, "-x", "UPPER", "é"])
VALUE_POOLS = {
    **dict.fromkeys(["--forks", "--timeout", "--parallelism", "--lock-timeout", "--stop-timeout",
                     "-t", "--tail", "--max-restarts"], NUMBERS),
    **dict.fromkeys(["--duration", "--settle", "--backoff-reset", "--tick", "-s", "--since"],
                    DURATIONS),
    "--backoff": BACKOFFS,
    **dict.fromkeys(["-i", "--inventory", "--ssh-config"], INVENTORIES),
    **dict.fromkeys(["-f", "--file", "-m", "--manifest", "-o", "--out"], PATHS),
}


def pick(pool: tuple[list[str], list[str]]) -> st.SearchStrategy[str]:
    """Usually a good value of `pool`, sometimes a bad one, now and then junk."""
    good, bad = pool
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(bad),
                     ARG_TEXT)


def option_values(option: str, choices: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Values for `option`: its choices, or the pool for its kind."""
    if choices:
        return pick((list(choices), ["", "x"]))
    return pick(VALUE_POOLS.get(option, NAMES))


@st.composite
def structured_argv(draw: st.DrawFn) -> list[str]:
    """A command with options it really has, plausible values, files, and some junk."""
    command = draw(st.sampled_from(sorted(OPTION_TABLE)))
    argv = [command]
    if command == "get":
        argv.append(draw(st.sampled_from(["workloads", "workloads", "workload", "pods"])))
    if command in ("get", "logs", "delete"):
        argv += draw(st.lists(pick(NAMES), max_size=2))
    for option, takes_value, choices in draw(st.lists(st.sampled_from(
            OPTION_TABLE[command] or [("--debug", False, ())]), max_size=5)):
        argv.append(option)
        if takes_value:
            argv.append(draw(option_values(option, choices)))
    if command not in ("schema", "nodes"):
        argv += draw(st.one_of(st.just(["valid.yaml"]), st.lists(pick(PATHS), max_size=2)))
    if draw(st.integers(0, 5)) == 0:  # one junk word somewhere after the command
        argv.insert(draw(st.integers(1, len(argv))), draw(st.one_of(ARG_TEXT,
                                                                    st.sampled_from(OPTIONS))))
    if command == "watch":
        argv += ["--duration", "0.3s"]  # watch runs until --duration
    if command == "logs":
        argv = [a for a in argv if a not in ("-f", "--follow")]  # follow runs until Ctrl-C
    return [a for a in argv if a != "--debug"]  # --debug prints tracebacks on purpose


@pytest.mark.parametrize("argv,expected", [(["--help"], "usage: ankplan"),
                                           (["apply", "-h"], "usage: ankplan apply"),
                                           (["--version"], "ankplan ")])
def test_help_and_version_go_to_the_env_stdout(argv: list[str], expected: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_main(argv)
    assert status == 0 and out.startswith(expected), (out, err)
    assert capsys.readouterr().out == ""  # nothing bypassed the Env


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1"])
@pytest.mark.parametrize("command", [["nodes"], ["plan", "valid.yaml"], ["apply", "valid.yaml"]])
def test_timeout_must_be_a_finite_positive_number(command: list[str], value: str) -> None:
    status, out, err = run_main([*command, "--timeout", value])
    assert status == 1, out + err
    assert "argument --timeout: " in err and "internal error" not in err, err


@settings(PROPS, max_examples=300)
@given(argv=structured_argv())
def test_cli_structured_argv_ends_cleanly(argv: list[str]) -> None:
    status, out, err = run_main(argv)
    assert_clean_cli(argv, status, out, err)


@PROPS
@given(command=st.sampled_from(COMMANDS), args=ARGS)
def test_cli_any_argv_ends_cleanly(command: str, args: list[str]) -> None:
    argv = [command, *args]
    if "--debug" in argv:
        argv.remove("--debug")  # --debug would print a traceback on purpose
    status, out, err = run_main(argv)
    assert_clean_cli(argv, status, out, err)


@PROPS
@given(args=ARGS)
def test_cli_watch_argv_ends_cleanly(args: list[str]) -> None:
    # watch runs until --duration: always bound it, after the random options
    argv = ["watch", *[a for a in args if a != "--debug"], "--duration", "0.3s"]
    status, out, err = run_main(argv)
    assert_clean_cli(argv, status, out, err)


@PROPS
@given(argv=st.lists(st.one_of(ARG_TEXT, st.sampled_from(OPTIONS + COMMANDS)),
                     max_size=6))
def test_cli_junk_argv_ends_cleanly(argv: list[str]) -> None:
    argv = [a for a in argv if a != "--debug"]
    status, out, err = run_main(argv)
    assert_clean_cli(argv, status, out, err)


# --- bounded memory and time for big-but-legal and bomb inputs ------------------------------


def big_manifest(count: int) -> str:
    """`count` workloads, each depending on the one before (a long chain) and on the first."""
    lines = ["apiVersion: v1", "workloads:"]
    for index in range(count):
        lines += [f"  w{index}:", "    runtime: podman", f"    agent: agent_{index % 50}",
                  "    restartPolicy: ON_FAILURE"]
        if index:
            lines += ["    dependencies:", f"      w{index - 1}: ADD_COND_RUNNING"]
        if index > 1:
            lines += ["      w0: ADD_COND_RUNNING"]
        lines += ["    runtimeConfig: |", "      image: localhost/app:1",
                  f'      commandOptions: ["-e", "INDEX={index}", "--label", "tier=t{index}"]',
                  '      commandArgs: ["stub", "idle"]']
    return "\n".join(lines) + "\n"


def measured(work: Any) -> tuple[Any, float, float]:
    """(result, peak MB, seconds) of work()."""
    tracemalloc.start()
    began = time.monotonic()
    try:
        result = work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / 1e6, time.monotonic() - began


def test_big_legal_manifest_bounded_memory_and_time() -> None:
    path = write("big.yaml", big_manifest(2000))
    with alarm(120):
        (manifest, diagnostics), peak_mb, seconds = measured(lambda: check_manifest([path]))
    assert manifest is not None, [d.summary for d in diagnostics if d.is_error][:3]
    assert len(manifest.workloads) == 2000
    assert peak_mb < 200, f"peak {peak_mb:.0f} MB"
    assert seconds < 60, f"{seconds:.1f} s"


@pytest.mark.parametrize("text", [
    # billion laughs: 9 levels of 9 aliases each (387 million leaves once expanded)
    "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10)),
    # the same bomb inside a runtimeConfig string
    "apiVersion: v1\nworkloads:\n  w:\n    runtime: podman\n    agent: a\n"
    "    runtimeConfig: |\n" + "".join(
        f"      a{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i else "x"] * 9) + "]\n"
        for i in range(10)),
    "[" * 100000 + "]" * 100000,  # deep nesting
    "a: " + "b" * 3_000_000 + "\n",  # a big scalar below the size limit
    "x" * 5_000_000,  # over the size limit
], ids=["alias-bomb", "alias-bomb-in-runtime-config", "deep-nesting", "big-scalar",
        "too-large"])
def test_bombs_are_refused_quickly_with_bounded_memory(text: str) -> None:
    path = write("bomb.yaml", text)
    with alarm(60):
        (manifest, diagnostics), peak_mb, seconds = measured(lambda: check_manifest([path]))
    assert manifest is None and any(d.is_error for d in diagnostics)
    assert peak_mb < 200, f"peak {peak_mb:.0f} MB"
    assert seconds < 20, f"{seconds:.1f} s"
    with alarm(60), pytest.raises(AnkplanError):
        load_inventory(path, ssh_config="")


# --- secrets never shown -------------------------------------------------------------------

SECRET_NAME = st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,7}\Z")
BENIGN_CHUNKS = st.sampled_from([("--cpus", "1"), ("-p", "80:80"), ("--network", "host"),
                                 ("-it",), ("--rm",), ("-v", "/a:/b"), ("--health-cmd", "true"),
                                 ("--env-file", "/etc/app.env"), ("-e", "PASSTHROUGH"),
                                 ("--label", "team=a"), ("-w", "/srv")])
# Letters of boolean flags that may share a word with -e (`-ite`, `-dPe`).
FLAG_LETTERS = st.text(alphabet="itdPq", max_size=3)


def marked(value: str) -> str:
    """A secret no rendering could show by chance: the drawn value between two markers."""
    return f"qZ{value}Zq"


@st.composite
def secret_chunks(draw: st.DrawFn) -> tuple[tuple[str, ...], str]:
    """(the words of one env option in any spelling podman accepts, the secret in it):
    `-e N=V`, `-eN=V`, `-e=N=V`, `--env N=V`, `--env=N=V`, combined (`-ite N=V`, `-itN=V`...),
    `--env-merge`."""
    name, secret = draw(SECRET_NAME), marked(draw(st.text(max_size=20)))
    combined = f"-{draw(FLAG_LETTERS)}e"
    option, joiner = draw(st.sampled_from([
        ("-e", " "), ("-e", ""), ("-e", "="), ("--env", " "), ("--env", "="), (combined, " "),
        (combined, ""), (combined, "="), ("--env-merge", " "), ("--env-merge", "=")]))
    assignment = f"{name}={secret}"
    if joiner == " ":
        return (option, assignment), secret
    return (option + joiner + assignment,), secret


@st.composite
def secret_options(draw: st.DrawFn) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(an option list mixing benign options with secret-bearing ones, its secrets)."""
    words: list[str] = []
    secrets: list[str] = []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            words += draw(BENIGN_CHUNKS)
        else:
            chunk, secret = draw(secret_chunks())
            words += chunk
            secrets.append(secret)
    if not secrets:
        chunk, secret = draw(secret_chunks())
        words += chunk
        secrets.append(secret)
    return tuple(words), tuple(secrets)


def leaks(text: str, secrets: tuple[str, ...]) -> list[str]:
    """The secrets found in `text`, raw or as JSON escapes them."""
    return [s for s in secrets if s in text or json.dumps(s)[1:-1] in text]


def test_secret_chunks_are_what_podman_reads_as_env() -> None:
    """The generator's spellings are env options to the tokenizer (the property's premise)."""
    from ankplan.podman.options import env_assignments, option_values

    @given(chunk=secret_chunks())
    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    def check(chunk: tuple[tuple[str, ...], str]) -> None:
        words, secret = chunk
        values = [v for _, v in env_assignments(words)] + [
            v.partition("=")[2] for v in option_values(words, "--env-merge")]
        assert secret in values, (words, secret)

    check()


@PROPS
@given(new=secret_options(), old=secret_options())
def test_no_secret_value_reaches_any_rendered_output(
        new: tuple[tuple[str, ...], tuple[str, ...]],
        old: tuple[tuple[str, ...], tuple[str, ...]]) -> None:
    """Plan text and JSON (create and replace with a field diff), the saved plan, labels,
    masked command lines and command errors never show an env value, whatever the spelling."""
    from ankplan.cli.views.plan import render_plan_json, render_plan_text
    from ankplan.errors import RemoteCommandError
    from ankplan.executors.transport import CommandResult, check_result, command_timeout
    from ankplan.model import (
        Inventory,
        LiveState,
        Node,
        NodeObservation,
        ObservedContainer,
        PodmanConfig,
        Workload,
    )
    from ankplan.planfile.savedplan import dumps_saved_plan, make_saved_plan
    from ankplan.planner.hashing import labels_for
    from ankplan.planner.plan import plan
    from ankplan.podman import mask_argv, run_argv

    (options, secrets), (old_options, old_secrets) = new, old
    every = secrets + old_secrets

    def workload(name: str, words: tuple[str, ...]) -> Workload:
        return Workload(name=name, agent="a", runtime="podman", runtime_config_text="",
                        runtime_config=PodmanConfig(image="localhost/app:1",
                                                    command_options=words))

    fresh, changed = workload("fresh", options), workload("changed", options)
    before = workload("changed", old_options)
    labels = labels_for(before, "p", "host:/m.yaml")
    container = ObservedContainer(id="c" * 64, name="changed", node_name="n", image="i",
                                  state="running", labels=tuple(sorted(labels.items())))
    node = Node(name="n")
    inventory = Inventory(nodes=(node,), agents=(("a", "n"),))
    manifest = Manifest(api_version="v1", workloads=(changed, fresh))
    live = LiveState(nodes=(NodeObservation(node_name="n", containers=(container,)),))
    result = plan(manifest, inventory, live, project="p")
    argv = run_argv(node, changed, labels_for(changed, "p"))
    shown = [render_plan_text(result), render_plan_json(result),
             dumps_saved_plan(make_saved_plan(result, manifest, inventory, live, created_at="")),
             json.dumps(labels_for(changed, "p")), json.dumps(labels), " ".join(mask_argv(argv)),
             str(command_timeout(node, argv, 1).summary)]
    try:
        check_result(node, argv, CommandResult(exit_code=1, stdout="", stderr="boom", duration=0.0))
    except RemoteCommandError as error:
        shown.append(" ".join(error.argv) + error.summary + error.detail)
    for text in shown:
        assert not leaks(text, every), (options, old_options, text)
