"""Key order of every object shape, as emitted by the reference (contract §1.4).

JSON clients do not depend on key order, so these are kept apart from the
behavioral tests: a failure here is cosmetic fidelity, not a broken client.
"""

from __future__ import annotations

import pytest

from tbcompat import (
    DETAIL_KEYS,
    EDGE_KEYS,
    EVENT_KEYS,
    GATE_KEYS,
    PUBLIC_GATE_KEYS,
    PUBLIC_VERSION_KEYS,
    RESUME_CONTRACT_KEYS,
    RUN_KEYS,
    STATE_KEYS,
    STEP_KEYS,
    STREAM_KEYS,
    USAGE_KEYS,
    VERSION_KEYS,
)


@pytest.fixture(scope="module")
def sample(server):
    """One run that exercises every shape, fetched once."""
    rid = server.ok("POST", "/runs/key-order", {"input": {"a": 1}})["run"]["id"]
    owner = server.ok("POST", f"/runs/{rid}/begin")["leaseOwner"]
    b = server.ok("POST", f"/runs/{rid}/steps/begin",
                  {"name": "s", "inputHash": "h", "leaseOwner": owner})
    server.ok("POST", f"/runs/{rid}/steps/{b['step']['id']}/complete",
              {"leaseOwner": owner, "output": 1})
    server.ok("PUT", f"/runs/{rid}/state", {"value": {"x": 1}})
    gate = server.ok("POST", f"/runs/{rid}/gates/begin", {"name": "g", "prompt": "p"})["gate"]
    server.ok("POST", f"/runs/{rid}/usage", {"inputTokens": 1})
    server.ok("POST", f"/runs/{rid}/children", {"name": "c", "workflowName": "w"})
    detail = server.detail(rid)
    return {
        "RunDetail": (detail, DETAIL_KEYS),
        "Run": (detail["run"], RUN_KEYS),
        "Step": (detail["steps"][0], STEP_KEYS),
        "ResumeContract": (detail["steps"][0]["resumeContract"], RESUME_CONTRACT_KEYS),
        "Gate": (gate, GATE_KEYS),
        "PublicGate": (next(e for e in detail["events"] if e["type"] == "gate.created")
                       ["payload"]["gate"], PUBLIC_GATE_KEYS),
        "State": (detail["state"], STATE_KEYS),
        "StateStream": (detail["stateStreams"][0], STREAM_KEYS),
        "StateVersion": (detail["stateVersions"][0], VERSION_KEYS),
        "PublicStateVersion": (next(e for e in detail["events"] if e["type"] == "state.updated")
                               ["payload"]["stateVersion"], PUBLIC_VERSION_KEYS),
        "RunEdge": (detail["runEdges"][0], EDGE_KEYS),
        "Usage": (detail["usage"][0], USAGE_KEYS),
        "Event": (detail["events"][0], EVENT_KEYS),
    }


@pytest.mark.parametrize("shape", [
    "RunDetail", "Run", "Step", "ResumeContract", "Gate", "PublicGate", "State",
    "StateStream", "StateVersion", "PublicStateVersion", "RunEdge", "Usage", "Event",
])
def test_key_order(sample, shape):
    obj, keys = sample[shape]
    assert list(obj) == keys
