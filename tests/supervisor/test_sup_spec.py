"""Specs are validated at construction and name the offending field."""

from __future__ import annotations

import pytest

from supervisor import (
    Backoff,
    ChildSpec,
    HealthCheck,
    Immediate,
    Manual,
    SpecError,
    SupervisorSpec,
    supervisor_child,
)
from tests.supervisor import sup_workers as w


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"id": ""}, "id"),
        ({"id": 3}, "id"),
        ({"start": None}, "start"),
        ({"start": "no_colon"}, "start"),
        ({"start": "mod:bad name"}, "start"),
        ({"start": 42}, "start"),
        ({"start": lambda link: None}, "start"),
        ({"args": [1, 2]}, "args"),
        ({"args": (lambda: 0,)}, "args"),
        ({"kwargs": {1: 2}}, "kwargs"),
        ({"kwargs": [("a", 1)]}, "kwargs"),
        ({"restart": "sometimes"}, "restart"),
        ({"policy": "immediate"}, "policy"),
        ({"shutdown": -1}, "shutdown"),
        ({"shutdown": "later"}, "shutdown"),
        ({"shutdown": True}, "shutdown"),
        ({"type": "thread"}, "type"),
        ({"health": 5}, "health"),
        ({"title": 5}, "title"),
        ({"trap_exits": "yes"}, "trap_exits"),
        ({"supervisor": SupervisorSpec("x")}, "supervisor"),
    ],
)
def test_invalid_child_spec_names_field(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {"id": "c", "start": w.echo}
    base.update(kwargs)
    with pytest.raises(SpecError) as info:
        ChildSpec(**base)
    assert info.value.field == field
    assert str(info.value).startswith(field)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Backoff(initial=0), "policy.initial"),
        (lambda: Backoff(factor=0.5), "policy.factor"),
        (lambda: Backoff(initial=2, maximum=1), "policy.maximum"),
        (lambda: Backoff(jitter=1.0), "policy.jitter"),
        (lambda: Backoff(jitter=-0.1), "policy.jitter"),
        (lambda: Backoff(initial=float("nan")), "policy.initial"),
        (lambda: HealthCheck(interval=0), "health.interval"),
        (lambda: HealthCheck(interval=1, timeout=2), "health.timeout"),
        (lambda: HealthCheck(misses=0), "health.misses"),
        (lambda: SupervisorSpec(""), "id"),
        (lambda: SupervisorSpec("s", strategy="all_for_one"), "strategy"),
        (lambda: SupervisorSpec("s", intensity=-1), "intensity"),
        (lambda: SupervisorSpec("s", period=0), "period"),
        (lambda: ChildSpec("a", type="supervisor"), "supervisor"),
        (lambda: ChildSpec("a", type="supervisor", supervisor=SupervisorSpec("b")),
         "supervisor.id"),
        (lambda: ChildSpec("a", type="supervisor", supervisor=SupervisorSpec("a"),
                           start=w.echo), "start"),
        (lambda: supervisor_child(SupervisorSpec("a"),
                                  [ChildSpec("x", w.echo), ChildSpec("x", w.echo)]),
         "children[1].id"),
    ],
)
def test_invalid_specs_name_field(make: object, field: str) -> None:
    with pytest.raises(SpecError) as info:
        make()  # type: ignore[operator]
    assert info.value.field == field


def test_valid_specs_keep_their_values() -> None:
    spec = ChildSpec("c", "tests.supervisor.sup_workers:echo", args=(1,), kwargs={"a": 2},
                     restart="transient", policy=Backoff(initial=0.5), shutdown="brutal_kill",
                     health=HealthCheck(0.2, 0.1, 2), title="t")
    assert spec.policy == Backoff(initial=0.5)
    assert ChildSpec("d", w.echo).policy == Immediate()
    sub = supervisor_child(SupervisorSpec("s", "rest_for_one"), [spec], policy=Manual())
    assert sub.type == "supervisor" and sub.shutdown == "infinity" and sub.children == (spec,)


def test_backoff_delay_grows_caps_and_jitters() -> None:
    policy = Backoff(initial=0.1, factor=2.0, maximum=0.5, jitter=0.2)
    assert [round(policy.delay(n, 0.5), 6) for n in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert policy.delay(0, 0.0) == pytest.approx(0.08)
    assert policy.delay(0, 0.999999) == pytest.approx(0.12, abs=1e-6)
