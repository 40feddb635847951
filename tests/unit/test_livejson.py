"""LiveState <-> JSON for recorded observations."""

from __future__ import annotations

import json

import pytest

from ankplan.errors import PlanError
from ankplan.model import LABEL_RESTART_COUNT, LiveState, NodeObservation, ObservedContainer
from ankplan.planfile.livejson import live_state_from_json, live_state_to_json

FULL = LiveState(nodes=(
    NodeObservation(node_name="node1", containers=(
        ObservedContainer(id="a" * 64, name="db", node_name="node1", image="localhost/db:1",
                          state="exited", exit_code=3, started_at=10.0, finished_at=20.5,
                          health="unhealthy",
                          labels=(("ankplan.project", "p"), (LABEL_RESTART_COUNT, "2")),
                          restart_count=2),
        ObservedContainer(id="b" * 64, name="web", node_name="node1", image="x",
                          state="running"),
    )),
    NodeObservation(node_name="node2", error="connection refused", hint="is sshd running?"),
))


def test_round_trip() -> None:
    data = live_state_to_json(FULL)
    assert live_state_from_json(json.loads(json.dumps(data))) == FULL


def test_short_form_defaults_and_sorting() -> None:
    live = live_state_from_json({"nodes": [
        {"node": "z", "containers": [{"id": "2", "name": "b", "state": "Running"},
                                     {"id": "1", "name": "a",
                                      "labels": {LABEL_RESTART_COUNT: "4"}}]},
        {"node": "a"},
    ]})
    assert [n.node_name for n in live.nodes] == ["a", "z"]
    first, second = live.nodes[1].containers
    assert (first.name, first.state, first.restart_count, first.node_name) == ("a", "running",
                                                                               4, "z")
    assert second.state == "running"  # lower-cased
    assert live.nodes[0].reachable and live.nodes[0].containers == ()


@pytest.mark.parametrize("data, message", [
    ([], "the document must be a JSON object"),
    ({"nodes": {}}, "nodes must be a JSON list"),
    ({"nodes": [{}]}, "nodes[0].node must be a string"),
    ({"nodes": [{"node": "n", "error": 3}]}, "nodes[0].error must be a string or null"),
    ({"nodes": [{"node": "n", "containers": [{"name": "x"}]}]},
     "nodes[0].containers[0].id must be a string"),
    ({"nodes": [{"node": "n", "containers": [{"id": "1", "name": "x", "exit_code": "1"}]}]},
     "nodes[0].containers[0].exit_code must be a number"),
    ({"nodes": [{"node": "n", "containers": [{"id": "1", "name": "x", "labels": []}]}]},
     "nodes[0].containers[0].labels must be a JSON object"),
    ({"nodes": [{"node": "n", "containers": [{"id": "1", "name": "x",
                                              "restart_count": "2"}]}]},
     "restart_count must be an integer"),
])
def test_malformed_input_names_the_field(data: object, message: str) -> None:
    with pytest.raises(PlanError, match=message.replace("[", r"\[").replace("]", r"\]")):
        live_state_from_json(data)
