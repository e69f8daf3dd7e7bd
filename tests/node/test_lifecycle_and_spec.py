"""The lifecycle state machine and spawn-spec checking."""

from __future__ import annotations

import pytest

from caxton.errors import InvalidRequest
from caxton.node.lifecycle import TRANSITIONS, IllegalTransition, Lifecycle, State
from caxton.node.spec import parse_spawn


def test_happy_path_records_every_transition():
    seen = []
    life = Lifecycle(on_transition=seen.append)
    for target in (State.LOADED, State.READY, State.RUNNING, State.DRAINING, State.RUNNING,
                   State.DRAINING, State.STOPPED):
        life.to(target, f"to {target}")
    assert [t.target for t in seen] == [t.target for t in life.history]
    assert life.history[-1].source is State.DRAINING
    assert all(t.reason for t in life.history)


@pytest.mark.parametrize("source", list(State))
def test_only_listed_transitions_are_allowed(source: State):
    for target in State:
        life = Lifecycle(state=source)
        if target in TRANSITIONS[source]:
            life.to(target)
            assert life.state is target
        else:
            with pytest.raises(IllegalTransition):
                life.to(target)
            assert life.state is source


def test_running_cannot_jump_back_to_loaded_or_stopped_without_draining():
    life = Lifecycle(state=State.RUNNING)
    with pytest.raises(IllegalTransition):
        life.to(State.STOPPED)
    with pytest.raises(IllegalTransition):
        life.to(State.LOADED)


def _spawn(**overrides):
    return parse_spawn({"name": "a", **overrides}, "0" * 64, {"fuel": 10})


def test_spawn_defaults_and_overrides():
    spec = _spawn(policy={"kind": "backoff", "initial": 0.5}, limits={"deadline_ms": 50},
                  snapshot_every=10, health="off")
    assert spec.policy == {"kind": "backoff", "initial": 0.5, "factor": 2.0, "maximum": 30.0,
                           "jitter": 0.1}
    assert spec.limits == {"fuel": 10, "deadline_ms": 50}
    assert spec.snapshot_every == {"messages": 10, "seconds": 30.0}
    assert spec.health is None
    assert _spawn().health == {"interval": 1.0, "timeout": 1.0, "misses": 3}


@pytest.mark.parametrize(("overrides", "field"), [
    ({"name": "has space"}, "name"),
    ({"restart": "sometimes"}, "restart"),
    ({"policy": "later"}, "policy"),
    ({"policy": {"kind": "backoff", "factor": 0.5}}, "policy.factor"),
    ({"limits": {"fuel": -1}}, "limits.fuel"),
    ({"limits": {"cpu": 1}}, "limits.cpu"),
    ({"health": {"interval": 0}}, "health.interval"),
    ({"health": {"interval": 0.1, "timeout": 0.5}}, "health.timeout"),
    ({"snapshot_every": "often"}, "snapshot_every"),
    ({"mailbox": 0}, "mailbox"),
    ({"security": "none"}, "security"),
    ({"init": "text"}, "init"),
])
def test_bad_spawn_fields_are_refused_by_name(overrides, field):
    with pytest.raises(InvalidRequest) as refused:
        _spawn(**overrides)
    assert refused.value.data["field"] == field
