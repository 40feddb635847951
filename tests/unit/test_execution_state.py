"""The Ankaios execution states are typed: `State`/`SubState` members print, compare and
serialize as the Ankaios spellings, and no Ankaios state is written as a string literal in
src/ankplan outside model.py (an AST walk, so that a string cannot creep back into a decision).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import yaml

from ankplan.model import ExecutionState, State, SubState

SRC = Path(__file__).resolve().parents[2] / "src" / "ankplan"
SPELLINGS = frozenset(m.value for m in State) | frozenset(m.value for m in SubState)
STATE_FIELDS = ("state", "sub_state")


def test_states_are_exactly_the_ankaios_ones() -> None:
    """ankaios-reference.md §4.1: the eight states, and the substates ankplan reports."""
    assert [m.value for m in State] == [
        "Pending", "Running", "Succeeded", "Failed", "Stopping", "Removed", "NotScheduled",
        "AgentDisconnected"]
    assert {m.value for m in SubState} == {
        "Initial", "WaitingToStart", "Starting", "StartingFailed", "Ok", "ExecFailed", "Unknown",
        "Lost", "Stopping", "WaitingToStop", "RequestedAtRuntime", "DeleteFailed"}


def test_members_print_and_serialize_as_their_spelling() -> None:
    failed = ExecutionState(state=State.FAILED, sub_state=SubState.EXEC_FAILED, info="x")
    assert (str(failed), f"{failed}", f"{failed.state}") == (
        "Failed(ExecFailed)", "Failed(ExecFailed)", "Failed")
    unscheduled = ExecutionState(state=State.NOT_SCHEDULED)
    assert str(unscheduled) == "NotScheduled" and type(str(unscheduled)) is str
    assert type(str(failed)) is str  # a plain str, which yaml.safe_dump accepts
    assert json.dumps([failed.state, failed.sub_state]) == '["Failed", "ExecFailed"]'
    assert yaml.safe_load(yaml.safe_dump({"s": str(failed.state)})) == {"s": "Failed"}
    assert failed.state == "Failed" and State("Running") is State.RUNNING


def _mentions_state_field(node: ast.expr) -> bool:
    """`x.state`, `x.sub_state`, or a tuple/list of expressions that includes one."""
    if isinstance(node, ast.Attribute):
        return node.attr in STATE_FIELDS
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_mentions_state_field(element) for element in node.elts)
    return False


def _spellings_in(node: ast.expr) -> list[str]:
    """The Ankaios spellings written as string literals in `node` (or its tuple/list/set)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value] if node.value in SPELLINGS else []
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [text for element in node.elts for text in _spellings_in(element)]
    return []


def _is_execution_state_call(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "ExecutionState"


def _held_spellings(node: ast.Assign | ast.AnnAssign) -> list[str]:
    """Spellings a module-level assignment keeps: `FAILED = "Failed"`, `X = ("Pending", ...)`,
    or the keys of a dict literal (`{"Running": "green"}`)."""
    value = node.value
    if isinstance(value, ast.Dict):
        return [text for key in value.keys if key is not None for text in _spellings_in(key)]
    return _spellings_in(value) if value is not None else []


def string_states(source: str) -> list[str]:
    """Each place in `source` that builds an ExecutionState from a string literal, compares
    `.state`/`.sub_state` with an Ankaios spelling written as a string, or keeps spellings in
    a module constant (which a comparison then reads)."""
    tree = ast.parse(source)
    found = [f"line {node.lineno}: constant holds {texts}" for node in tree.body
             if isinstance(node, ast.Assign | ast.AnnAssign) and (texts := _held_spellings(node))]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_execution_state_call(node):
            arguments = [*node.args, *(k.value for k in node.keywords if k.arg in STATE_FIELDS)]
            if any(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in arguments):
                found.append(f"line {node.lineno}: ExecutionState built from a string")
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_mentions_state_field(operand) for operand in operands):
                texts = [text for operand in operands for text in _spellings_in(operand)]
                if texts:
                    found.append(f"line {node.lineno}: state compared with {texts}")
    return found


def test_the_check_finds_strings_in_constructions_and_decisions() -> None:
    """The walk below would catch each way a string state was written before the enums."""
    bad = '''
FAILED = "Failed"
STARTING_FAILED = ("Pending", "StartingFailed")
STYLE = {"Running": "green"}
ExecutionState(state="Failed", sub_state="Lost")
ExecutionState(state=State.FAILED, sub_state="Lost")
if state.state == "Running": pass
if s.sub_state in ("ExecFailed", "Lost"): pass
if (state.state, state.sub_state) == ("Pending", "WaitingToStart"): pass
if "Failed" != step.execution.state: pass
'''
    assert len(string_states(bad)) == 9
    good = '''
ExecutionState(state=State.FAILED, sub_state=SubState.LOST, info="gone")
if container.state == "running": pass  # podman's state, not Ankaios's
STYLE = {State.RUNNING: "green"}
PENDING_STATES = frozenset({"created", "configured"})
if (state.state, state.sub_state) == (State.PENDING, SubState.WAITING_TO_START): pass
'''
    assert string_states(good) == []


def test_no_string_states_in_src_outside_model() -> None:
    modules = [path for path in sorted(SRC.rglob("*.py")) if path.name != "model.py"]
    assert len(modules) > 50  # the walk really covers the package
    found = {str(path.relative_to(SRC)): hits for path in modules
             if (hits := string_states(path.read_text()))}
    assert found == {}
