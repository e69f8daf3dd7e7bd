"""Limits and security policies: plain data, checked in one place."""

from __future__ import annotations

import pytest

from caxton.wasm import FEATURES, Limits, SecurityPolicy
from caxton.wasm.policy import PRESETS


def test_limits_defaults_round_trip_through_dict() -> None:
    limits = Limits()
    assert limits.memory_bytes == 16 * 2**20
    assert limits.fuel == 50_000_000
    assert Limits.from_dict(limits.to_dict()) == limits


def test_limits_from_dict_keeps_defaults_for_missing_keys() -> None:
    limits = Limits.from_dict({"fuel": 1234, "deadline_ms": 50})
    assert (limits.fuel, limits.deadline_ms) == (1234, 50)
    assert limits.memory_bytes == Limits().memory_bytes


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"fuel": -1}, "fuel"),
        ({"fuel": 0}, "fuel"),
        ({"memory_bytes": "16M"}, "memory_bytes"),
        ({"deadline_ms": 1.5}, "deadline_ms"),
        ({"max_reply_bytes": True}, "max_reply_bytes"),
        ({"table_elements": 2**64}, "table_elements"),
        ({"cpu": 1}, "cpu"),
    ],
)
def test_limits_from_dict_names_the_bad_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Limits.from_dict(data)


def test_limits_from_dict_rejects_non_mapping() -> None:
    with pytest.raises(ValueError, match="mapping"):
        Limits.from_dict([("fuel", 1)])  # type: ignore[arg-type]


def test_every_preset_sets_every_field_and_refuses_threads() -> None:
    for name in ("strict", "default", "relaxed"):
        policy = SecurityPolicy.preset(name)
        data = policy.to_dict()
        assert data["name"] == name
        for key in ("max_imports", "max_memory_pages", "max_table_elements", "max_module_bytes"):
            assert isinstance(data[key], int) and data[key] > 0, (name, key)
        assert "threads" not in policy.features
        assert policy.allowed_imports


def test_preset_contents() -> None:
    strict, default, relaxed = (SecurityPolicy.preset(n) for n in ("strict", "default", "relaxed"))
    assert strict.allowed_imports == {"caxton.log", "caxton.now_ms"}
    assert default.allowed_imports == strict.allowed_imports | {
        "caxton.send",
        "caxton.error",
        "caxton.sender",
    }
    assert relaxed.allowed_imports == default.allowed_imports
    assert (strict.allows_wasi, default.allows_wasi, relaxed.allows_wasi) == (False, False, True)
    assert "simd" in relaxed.features
    assert "simd" not in default.features and "simd" not in strict.features
    assert strict.max_memory_pages <= default.max_memory_pages <= relaxed.max_memory_pages


def test_unknown_preset_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown security policy 'lax'"):
        SecurityPolicy.preset("lax")


def test_policy_round_trips_and_custom_overrides() -> None:
    for policy in PRESETS.values():
        assert SecurityPolicy.from_dict(policy.to_dict()) == policy
    custom = SecurityPolicy.from_dict({"preset": "strict", "features": ["threads", "bulk_memory"]})
    assert custom.name == "custom"
    assert custom.features == {"threads", "bulk_memory"}
    assert custom.allowed_imports == PRESETS["strict"].allowed_imports
    named = SecurityPolicy.from_dict({"name": "tight", "max_imports": 1})
    assert named.name == "tight" and named.max_imports == 1
    assert named.allowed_imports == PRESETS["default"].allowed_imports


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"allowed_imports": ["env.system"]}, "allowed_imports"),
        ({"allowed_imports": "caxton.log"}, "allowed_imports"),
        ({"features": ["gc"]}, "features"),
        ({"max_imports": -1}, "max_imports"),
        ({"allows_wasi": "yes"}, "allows_wasi"),
        ({"colour": "red"}, "colour"),
        ({"preset": "nope"}, "nope"),
    ],
)
def test_policy_from_dict_names_the_bad_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SecurityPolicy.from_dict(data)


def test_policy_features_are_known() -> None:
    assert set(FEATURES) == {"threads", "simd", "reference_types", "bulk_memory", "multi_memory"}
