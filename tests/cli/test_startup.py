"""Start-up cost of the commands people run most: what `plan` and `apply` import.

`plan` must not import networkx (its order is computed in plain Python) and neither command
imports rich unless it draws the live table on a terminal: together about 0.15 s of imports
per run, which the no-change `plan` benchmark (benchmarks/bench_apply.py) would otherwise pay.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

from ankplan.cli.env import Env
from ankplan.cli.views.apply import Progress
from ankplan.executors.apply_state import ApplyEvent
from ankplan.model import Action, ActionKind, PlanStep, Reason


def imported_after(module: str) -> set[str]:
    """Top-level package names imported by `import module` in a fresh interpreter."""
    code = (f"import sys, {module}; "
            "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return set(done.stdout.split())


def test_plan_and_apply_commands_import_neither_networkx_nor_rich() -> None:
    for module in ("ankplan.cli.commands.plan", "ankplan.cli.commands.apply"):
        loaded = imported_after(module)
        assert "ankplan" in loaded
        assert "networkx" not in loaded, module
        assert "rich" not in loaded, module


WRITERS = ("ankplan.cli.commands.plan", "ankplan.cli.commands.apply")


def loaded_before_the_nodes(command_module: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with one of `prefixes` that the entry point and `command_module`
    import in a fresh interpreter: what runs before the command reaches its nodes."""
    code = (f"import json, sys, ankplan.cli.main, {command_module}; "
            f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return list(json.loads(done.stdout))


def test_without_an_inventory_the_node_is_reached_before_yaml_is_imported() -> None:
    """All that `plan` and `apply` import before they start reaching the nodes
    (cli/nodes_ahead.py): without an inventory file, neither PyYAML nor the schemas, whose
    import (~20 ms) then overlaps the node's answers instead of coming before them."""
    for module in WRITERS:
        assert loaded_before_the_nodes(module, ("yaml", "ankplan.schemas", "ankplan.manifests",
                                                "ankplan.inventories.")) == [], module


def test_the_modules_read_before_the_node_is_reached_leave_out_rare_helpers() -> None:
    """Helpers needed only on a terminal (shutil), for a typo (difflib), over SSH (socket),
    for event times or a saved plan (datetime, tempfile) are imported where they are used,
    not before the first command on a node (together ~4-8 ms of start-up)."""
    for module in WRITERS:
        rare = ("difflib", "shutil", "socket", "datetime", "getpass", "tempfile")
        assert [m for m in loaded_before_the_nodes(module, rare) if m in rare] == [], module


def test_plan_with_targets_needs_no_networkx_either() -> None:
    code = ("import sys; from ankplan.model import *; from ankplan.planner import graph; "
            "w = [Workload(name=n, agent='a', runtime='podman', runtime_config_text='', "
            "runtime_config=None, dependencies=tuple(Dependency(workload_name=d, "
            "condition=AddCondition.RUNNING) for d in deps)) for n, deps in "
            "(('a', ()), ('b', ('a',)), ('c', ('b',)))]; "
            "print(graph.topological_order(w), sorted(graph.with_dependencies(w, ['c'])), "
            "sorted(graph.with_dependents(w, ['a'])), 'networkx' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split("\n")[0] == (
        "('a', 'b', 'c') ['a', 'b', 'c'] ['a', 'b', 'c'] False")


def test_live_progress_table_still_draws_on_a_terminal() -> None:
    stderr = io.StringIO()
    env = Env(stdout=io.StringIO(), stderr=stderr, stdin=io.StringIO(""), environ={},
              stdout_isatty=False, stderr_isatty=True, stdin_isatty=False)
    step = PlanStep(id=1, action=Action(kind=ActionKind.CREATE, node_name="node1",
                                        workload_name="web", reason=Reason.NOT_FOUND))
    with Progress(env, "text", [step]) as progress:
        progress(ApplyEvent(time=time.time(), node="node1", workload="web",
                            from_state="Pending(Starting)", to_state="Running(Ok)",
                            outcome="done", elapsed=0.4))
    shown = stderr.getvalue()
    assert "WORKLOAD" in shown and "Running(Ok)" in shown and "0.4s" in shown


def test_what_apply_imports_before_its_first_podman_run_leaves_out_rare_helpers() -> None:
    """The manifest's reading and checks, the planner and the executor are imported while the
    node answers, and apply's first `podman run` waits for them: did-you-mean suggestions
    (difflib), a replace's details (difflib) and package resources (importlib.resources, which
    brings pathlib, tempfile and shutil: ~4 ms) are imported only where they are used."""
    modules = ("ankplan.cli.commands.apply, ankplan.manifests.load, ankplan.planner.plan, "
               "ankplan.executors.apply, ankplan.cli.views.apply")
    rare = ("difflib", "importlib.resources", "pathlib", "tempfile", "shutil")
    loaded = loaded_before_the_nodes(modules, rare)
    assert [m for m in loaded if m in rare] == []
