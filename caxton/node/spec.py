"""An agent's deployment spec: what ``spawn`` asked for, checked in one place.

Kept as plain data (msgpack-able maps) so the store can persist it and a node
restarted on the same data folder rebuilds every agent exactly as spawned.
Every field is checked here and a bad one is refused with its name, the way
OTP checks a child spec before it starts anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from caxton.errors import AboveMaximum, InvalidRequest
from caxton.protocol import quote

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
RESTART_TYPES = ("permanent", "transient", "temporary")
POLICY_KINDS = ("immediate", "backoff", "manual", "never")
SECURITY_PRESETS = ("strict", "default", "relaxed")
LIMIT_FIELDS = (
    "memory_bytes",
    "table_elements",
    "fuel",
    "deadline_ms",
    "max_message_bytes",
    "max_reply_bytes",
)


@dataclass(frozen=True)
class Maximums:
    """The most a spawn may ask for, per field: a node setting (``NodeConfig.maximums``,
    ``--max-limit NAME=VALUE``), so that no client can choose limits that let its
    agent take the node's memory, CPU or store. A spawn over one is refused with
    ``AboveMaximum`` naming the field, the value asked and the maximum; a default
    above a maximum the operator lowered is lowered with it. ``docs/security.md``
    lists them.
    """

    #: ``limits.memory_bytes``: a guest's linear memory (wasm32 cannot pass 4 GiB)
    memory_bytes: int = 2**30
    #: ``limits.table_elements``
    table_elements: int = 1_000_000
    #: ``limits.fuel``: per call. More than a call can burn within the deadline's
    #: maximum, so that "fuel high, the deadline decides" stays possible; values
    #: wasmtime cannot count to (2**62, 2**64 - 1) are refused
    fuel: int = 10**13
    #: ``limits.deadline_ms``: per call
    deadline_ms: int = 30_000
    #: ``limits.max_message_bytes``: each message is journaled and held in the mailbox
    max_message_bytes: int = 16 * 2**20
    #: ``limits.max_reply_bytes``
    max_reply_bytes: int = 16 * 2**20
    #: ``mailbox``: messages queued and in flight
    mailbox: int = 100_000
    #: ``max_attempts``: deliveries of a message that kills its agent
    max_attempts: int = 100
    #: ``snapshot_every.messages``: handled messages the journal keeps between snapshots
    snapshot_messages: int = 1_000_000
    #: ``snapshot_every.seconds``
    snapshot_seconds: float = 86_400.0
    #: ``health.interval`` (``health.timeout`` is at most the interval)
    health_interval: float = 86_400.0
    #: ``health.misses``
    health_misses: int = 1_000
    #: ``intensity.intensity``: restarts allowed within the period
    intensity: int = 1_000
    #: ``intensity.period``
    intensity_period: float = 86_400.0
    #: ``policy.initial`` and ``policy.maximum`` of a backoff, in seconds
    backoff_seconds: float = 86_400.0
    #: ``policy.factor`` of a backoff
    backoff_factor: float = 1_000.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            integer = item.type in (int, "int")
            if (isinstance(value, bool) or not isinstance(value, int if integer else int | float)
                    or not math.isfinite(value) or value <= 0):
                kind = "a positive integer" if integer else "a positive number"
                raise ValueError(f"the maximum {item.name} must be {kind}, not {quote(value)}")

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Maximums:
        """From ``NAME=VALUE`` settings (the node's ``--max-limit``); ValueError names
        the bad one."""
        types = {item.name: item.type for item in fields(cls)}
        values: dict[str, int | float] = {}
        for name, text in pairs:
            if name not in types:
                raise ValueError(f"unknown maximum {name!r} (known: {', '.join(types)})")
            try:
                values[name] = int(text) if types[name] in (int, "int") else float(text)
            except ValueError:
                raise ValueError(f"the maximum {name} must be a number, not {text!r}") from None
        return cls(**values)  # type: ignore[arg-type]  # each converted to its field type


def _limit_maximums(maximums: Maximums) -> dict[str, int]:
    return {name: getattr(maximums, name) for name in LIMIT_FIELDS}


@dataclass(frozen=True)
class AgentSpec:
    """What a spawn asked for, checked: persisted as is, so a restarted node rebuilds it."""

    name: str
    module_sha256: str
    init: bytes = b""
    restart: str = "permanent"
    policy: dict[str, Any] = field(default_factory=lambda: {"kind": "immediate"})
    limits: dict[str, int] = field(default_factory=dict)
    health: dict[str, float] | None = field(
        default_factory=lambda: {"interval": 1.0, "timeout": 1.0, "misses": 3}
    )
    snapshot_every: dict[str, float] = field(
        default_factory=lambda: {"messages": 1000, "seconds": 30.0}
    )
    security: str = "default"
    mailbox: int = 10_000
    max_attempts: int = 3
    intensity: dict[str, float] = field(default_factory=lambda: {"intensity": 20, "period": 10.0})
    #: processes behind the name (``scale``; ``caxton.node.instances``)
    instances: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentSpec:
        return cls(**data)

    @property
    def policy_kind(self) -> str:
        return str(self.policy["kind"])


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidRequest(
            f"agent name {quote(name)} is invalid: use 1-128 letters, digits, '.', '_', ':'"
            " or '-', starting with a letter or digit",
            field="name",
        )
    return name


def _number(value: Any, field_name: str, *, minimum: float, integer: bool = False,
            maximum: float | None = None) -> float:
    """A number within [minimum, maximum]: NaN and infinities are refused (NaN passes
    every comparison test written as a refusal, and would reach a timer)."""
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or not (value >= minimum) or (
            isinstance(value, float) and math.isinf(value)):
        kind = "an integer" if integer else "a finite number"
        raise InvalidRequest(f"{field_name} must be {kind} >= {minimum:g}, not {quote(value)}",
                             field=field_name)
    if maximum is not None and value > maximum:
        raise AboveMaximum(f"{field_name} asks for {quote(value)}, over this node's maximum"
                           f" of {maximum:g}", field=field_name, asked=value, maximum=maximum)
    return value  # type: ignore[no-any-return]


def _unknown(value: dict[Any, Any], known: Iterable[str], what: str) -> None:
    unknown = [key for key in value if key not in known]
    if unknown:
        key = unknown[0]
        name = key[:40] if isinstance(key, str) else quote(key, 40)
        raise InvalidRequest(f"{what} has an unknown field {quote(key)}"
                             f" (known: {', '.join(known)})", field=f"{what}.{name}")


def parse_policy(value: Any, maximums: Maximums | None = None) -> dict[str, Any]:
    """``"immediate"`` or ``{"kind": "backoff", "initial": .., "factor": .., ...}``."""
    most = maximums or Maximums()
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, dict) or value.get("kind") not in POLICY_KINDS:
        raise InvalidRequest(
            f"policy must be one of {', '.join(POLICY_KINDS)} (or a map with 'kind')",
            field="policy",
        )
    _unknown(value, ("kind", "initial", "factor", "maximum", "jitter"), "policy")
    policy: dict[str, Any] = {"kind": value["kind"]}
    if value["kind"] == "backoff":
        defaults = {"initial": 0.1, "factor": 2.0, "maximum": 30.0, "jitter": 0.1}
        ceilings = {"initial": most.backoff_seconds, "factor": most.backoff_factor,
                    "maximum": most.backoff_seconds, "jitter": None}
        for key, default in defaults.items():
            policy[key] = float(_number(value.get(key, default), f"policy.{key}", minimum=0,
                                        maximum=ceilings[key]))
        if policy["factor"] < 1:
            raise InvalidRequest("policy.factor must be >= 1", field="policy.factor")
        if policy["jitter"] >= 1:
            raise InvalidRequest("policy.jitter must be < 1 (a fraction)", field="policy.jitter")
    return policy


def parse_health(value: Any, maximums: Maximums | None = None) -> dict[str, float] | None:
    most = maximums or Maximums()
    if value is None or value is False or value == "off":
        return None
    if not isinstance(value, dict):
        raise InvalidRequest("health must be a map {interval, timeout, misses} or 'off'",
                             field="health")
    _unknown(value, ("interval", "timeout", "misses"), "health")
    health = {"interval": 1.0, "timeout": 1.0, "misses": 3}
    health["interval"] = _number(value.get("interval", 1.0), "health.interval", minimum=0.01,
                                 maximum=most.health_interval)
    health["timeout"] = _number(value.get("timeout", 1.0), "health.timeout", minimum=0.01)
    health["misses"] = _number(value.get("misses", 3), "health.misses", minimum=1, integer=True,
                               maximum=most.health_misses)
    if health["timeout"] > health["interval"]:
        raise InvalidRequest("health.timeout must be <= health.interval (one ping in flight)",
                             field="health.timeout")
    return health


def parse_snapshot_every(value: Any, maximums: Maximums | None = None) -> dict[str, float]:
    """An int means "every N messages"; a map may give messages and/or seconds (0 = off)."""
    most = maximums or Maximums()
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"messages": value}
    if not isinstance(value, dict):
        raise InvalidRequest("snapshot_every must be a message count or {messages, seconds}",
                             field="snapshot_every")
    _unknown(value, ("messages", "seconds"), "snapshot_every")
    return {
        "messages": _number(value.get("messages", 1000), "snapshot_every.messages", minimum=0,
                            integer=True, maximum=most.snapshot_messages),
        "seconds": _number(value.get("seconds", 30.0), "snapshot_every.seconds", minimum=0,
                           maximum=most.snapshot_seconds),
    }


def parse_limits(value: Any, defaults: dict[str, int],
                 maximums: Maximums | None = None) -> dict[str, int]:
    """The instance's limits: the defaults (lowered to a maximum under them), then what
    the request asked for, each at most this node's maximum."""
    ceilings = _limit_maximums(maximums or Maximums())
    limits = {key: min(amount, ceilings.get(key, amount)) for key, amount in defaults.items()}
    if value is None:
        return limits
    if not isinstance(value, dict):
        raise InvalidRequest("limits must be a map", field="limits")
    _unknown(value, LIMIT_FIELDS, "limits")
    for key, amount in value.items():
        limits[key] = int(_number(amount, f"limits.{key}", minimum=1, integer=True,
                                  maximum=ceilings[key]))
    return limits


def parse_intensity(value: Any, maximums: Maximums | None = None) -> dict[str, float]:
    most = maximums or Maximums()
    if value is None:
        return {"intensity": min(20, most.intensity), "period": 10.0}
    if not isinstance(value, dict):
        raise InvalidRequest("intensity must be a map {intensity, period}", field="intensity")
    _unknown(value, ("intensity", "period"), "intensity")
    return {
        "intensity": _number(value.get("intensity", min(20, most.intensity)),
                             "intensity.intensity", minimum=0, integer=True,
                             maximum=most.intensity),
        "period": _number(value.get("period", 10.0), "intensity.period", minimum=0.001,
                          maximum=most.intensity_period),
    }


def parse_spawn(arguments: dict[str, Any], module_sha256: str,
                default_limits: dict[str, int], maximums: Maximums | None = None) -> AgentSpec:
    """Build a spec from a spawn request's arguments, refusing any bad field by name,
    and any field over this node's ``maximums`` with ``AboveMaximum``."""
    most = maximums or Maximums()
    restart = arguments.get("restart", "permanent")
    if restart not in RESTART_TYPES:
        raise InvalidRequest(f"restart must be one of {', '.join(RESTART_TYPES)}",
                             field="restart")
    security = arguments.get("security", "default")
    if security not in SECURITY_PRESETS:
        raise InvalidRequest(f"security must be one of {', '.join(SECURITY_PRESETS)}",
                             field="security")
    init = arguments.get("init", b"")
    if not isinstance(init, bytes):
        raise InvalidRequest("init must be bytes", field="init")
    return AgentSpec(
        name=check_name(arguments.get("name")),
        module_sha256=module_sha256,
        init=init,
        restart=restart,
        policy=parse_policy(arguments.get("policy", "immediate"), most),
        limits=parse_limits(arguments.get("limits"), default_limits, most),
        health=parse_health(arguments.get("health", {}), most),
        snapshot_every=parse_snapshot_every(arguments.get("snapshot_every", {}), most),
        security=security,
        mailbox=int(_number(arguments.get("mailbox", min(10_000, most.mailbox)), "mailbox",
                            minimum=1, integer=True, maximum=most.mailbox)),
        max_attempts=int(_number(arguments.get("max_attempts", min(3, most.max_attempts)),
                                 "max_attempts", minimum=1, integer=True,
                                 maximum=most.max_attempts)),
        intensity=parse_intensity(arguments.get("intensity"), most),
    )
