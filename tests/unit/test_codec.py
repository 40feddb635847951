"""JSON codecs of workloads, inventories and plans used by saved plan files."""

from __future__ import annotations

import enum
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ankplan.errors import PlanError
from ankplan.model import (
    Action,
    ActionKind,
    AddCondition,
    Connection,
    Dependency,
    Inventory,
    KubeConfig,
    Node,
    Plan,
    PlanStep,
    PodmanConfig,
    Reason,
    RestartPolicy,
    Workload,
    WorkloadFile,
)
from ankplan.planfile.codec import (
    Reader,
    inventory_from_json,
    inventory_to_json,
    node_from_json,
    plan_from_json,
    plan_to_json,
    workload_from_json,
    workload_to_json,
)

words = st.lists(st.text(max_size=6), max_size=3).map(tuple)
names = st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True)


@st.composite
def workloads(draw: st.DrawFn) -> Workload:
    config = draw(st.one_of(
        st.none(),
        st.builds(PodmanConfig, image=st.text(max_size=8), general_options=words,
                  command_options=words, command_args=words),
        st.builds(KubeConfig, manifest=st.text(max_size=20), play_options=words,
                  down_options=words, general_options=words,
                  control_interface_target=st.text(max_size=5)),
    ))
    files = draw(st.lists(st.one_of(
        st.builds(WorkloadFile, mount_point=st.text(max_size=8), data=st.text(max_size=8)),
        st.builds(WorkloadFile, mount_point=st.text(max_size=8),
                  binary_data=st.text(max_size=8))), max_size=2))
    return Workload(
        name=draw(names), agent=draw(st.text(max_size=6)), runtime=draw(st.text(max_size=8)),
        runtime_config_text=draw(st.text(max_size=20)), runtime_config=config,
        restart_policy=draw(st.sampled_from(list(RestartPolicy))),
        dependencies=tuple(draw(st.lists(st.builds(
            Dependency, workload_name=names, condition=st.sampled_from(list(AddCondition))),
            max_size=2))),
        tags=tuple(draw(st.lists(st.tuples(names, st.text(max_size=4)), max_size=2))),
        configs=tuple(draw(st.lists(st.tuples(names, names), max_size=2))),
        files=tuple(files), control_interface_access=draw(st.booleans()))


@given(workloads())
def test_any_workload_round_trips(workload: Workload) -> None:
    text = json.dumps(workload_to_json(workload))
    assert workload_from_json(json.loads(text)) == workload


@given(st.lists(workloads(), max_size=3), st.lists(st.text(max_size=10), max_size=2))
def test_any_plan_round_trips(steps_workloads: list[Workload], errors: list[str]) -> None:
    steps = tuple(
        PlanStep(id=index + 1, depends_on=tuple(range(1, index + 1)), action=Action(
            kind=list(ActionKind)[index % len(ActionKind)], node_name="n",
            workload_name=workload.name, reason=list(Reason)[index % len(Reason)],
            details=("a", "b"), workload=workload if index % 2 else None,
            container_id=f"c{index}"))
        for index, workload in enumerate(steps_workloads))
    original = Plan(project="p", steps=steps, errors=tuple(errors),
                    fingerprints=(("n", "sha256:1"),))
    assert plan_from_json(json.loads(json.dumps(plan_to_json(original)))) == original


def test_inventory_round_trip_and_defaults() -> None:
    inventory = Inventory(nodes=(Node(name="a", connection=Connection.SSH, host="h", port=2200,
                                      user="u", identity_file="k", known_hosts_file="kh",
                                      connect_timeout=2.5, podman=("sudo", "podman")),
                                 Node(name="b")),
                          agents=(("x", "a"),), default_node="b", source="inv.yaml")
    assert inventory_from_json(json.loads(json.dumps(inventory_to_json(inventory)))) == inventory
    assert node_from_json({"name": "n", "connection": "local"}) == Node(name="n")


def test_jump_hosts_and_ssh_flags_round_trip() -> None:
    gate = Node(name="admin@gate:2200", connection=Connection.SSH, host="10.0.0.1", port=2200,
                user="admin", identities_only=True, hash_known_hosts=True)
    hop = Node(name="hop", connection=Connection.SSH, host="10.9.0.1", proxy_jump=gate)
    inner = Node(name="inner", connection=Connection.SSH, host="10.9.0.3", proxy_jump=hop)
    inventory = Inventory(nodes=(inner,), agents=())
    assert inventory_from_json(json.loads(json.dumps(inventory_to_json(inventory)))) == inventory
    with pytest.raises(PlanError, match=r"inventory.nodes\[0\].proxy_jump.identities_only must "
                                        "be true or false"):
        inventory_from_json({"nodes": [{"name": "n", "connection": "ssh", "proxy_jump": {
            "name": "j", "connection": "ssh", "identities_only": "yes"}}]})


class Colour(str, enum.Enum):
    RED = "red"


def test_reader_messages_name_the_field() -> None:
    reader = Reader({"s": 1, "n": "x", "b": "yes", "l": {}, "w": [1], "p": [["a"]],
                     "e": "blue", "o": None}, "thing")
    cases = [
        (lambda: reader.text("s"), "thing.s must be a string"),
        (lambda: reader.optional_text("s"), "thing.s must be a string or null"),
        (lambda: reader.number("n"), "thing.n must be a number"),
        (lambda: reader.flag("b"), "thing.b must be true or false"),
        (lambda: reader.items("l"), "thing.l must be a list"),
        (lambda: reader.words("w"), "thing.w must be a list of strings"),
        (lambda: reader.pairs("p"), r"thing.p must be a list of \[string, string\] pairs"),
        (lambda: reader.choice("e", Colour), "thing.e must be one of red \\(got 'blue'\\)"),
        (lambda: reader.child("o"), "thing.o must be a JSON object"),
        (lambda: Reader([], "top"), "top must be a JSON object"),
    ]
    for call, message in cases:
        with pytest.raises(PlanError, match=message):
            call()


def test_reader_defaults() -> None:
    reader = Reader({"t": True, "n": 2}, "x")
    assert reader.text("missing", "d") == "d"
    assert reader.optional_text("missing") is None
    assert reader.number("missing", 1.5) == 1.5 and reader.number("n") == 2
    assert reader.flag("t") is True and reader.flag("missing") is False
    assert reader.items("missing") == [] and reader.words("missing") == ()
    with pytest.raises(PlanError, match="x.n must be a number"):
        Reader({"n": True}, "x").number("n")  # a bool is not a number


def test_unknown_runtime_config_kind() -> None:
    document = workload_to_json(Workload(name="w", agent="a", runtime="podman",
                                         runtime_config_text="", runtime_config=None))
    document["runtime_config"] = {"kind": "docker"}
    with pytest.raises(PlanError, match="runtime_config.kind must be podman or podman-kube"):
        workload_from_json(document)
