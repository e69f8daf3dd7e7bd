"""Child and supervisor specs: plain, frozen, validated data.

Like OTP's ``supervisor:check_childspecs/1`` every spec is checked in exactly
one place, at construction, so an invalid spec can never reach a running
supervisor and the error names the offending field.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from .cgroups import Resources
from .errors import SpecError

__all__ = [
    "Backoff",
    "ChildSpec",
    "HealthCheck",
    "Immediate",
    "Manual",
    "Never",
    "RestartPolicy",
    "SupervisorSpec",
    "supervisor_child",
    "target_name",
]

RestartType = Literal["permanent", "transient", "temporary"]
Strategy = Literal["one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"]
AutoShutdown = Literal["never", "any_significant", "all_significant"]
ChildType = Literal["worker", "supervisor"]
Shutdown = float | Literal["brutal_kill", "infinity"]

_RESTART_TYPES = ("permanent", "transient", "temporary")
_STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one")
_AUTO_SHUTDOWN = ("never", "any_significant", "all_significant")
_CHILD_TYPES = ("worker", "supervisor")


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    if not _number(value) or not math.isfinite(value):  # type: ignore[arg-type]
        raise SpecError(name, f"must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):  # type: ignore[operator]
        bound = ">= 0" if allow_zero else "> 0"
        raise SpecError(name, f"must be {bound}, got {value!r}")


def _identifier(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise SpecError(name, f"must be a non-empty string, got {value!r}")
    if any(ch in value for ch in "\x00\n\r"):
        raise SpecError(name, "must not contain NUL or newline characters")


# ---------------------------------------------------------------- policies


@dataclass(frozen=True)
class Immediate:
    """Restart as soon as the child has exited (OTP's only behaviour)."""


@dataclass(frozen=True)
class Backoff:
    """Restart after ``initial * factor**n`` seconds (capped at ``maximum``),
    spread by ``±jitter`` (a fraction) so that a crowd of children that failed
    together does not come back together. ``n`` counts consecutive restarts and
    returns to 0 once a run lasted ``reset_after`` seconds."""

    initial: float = 0.1
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.1
    reset_after: float = 30.0

    def __post_init__(self) -> None:
        _positive("policy.initial", self.initial)
        _positive("policy.factor", self.factor)
        if self.factor < 1:
            raise SpecError("policy.factor", f"must be >= 1, got {self.factor!r}")
        _positive("policy.maximum", self.maximum)
        if self.maximum < self.initial:
            raise SpecError("policy.maximum", "must be >= policy.initial")
        _positive("policy.jitter", self.jitter, allow_zero=True)
        if self.jitter >= 1:
            raise SpecError("policy.jitter", f"must be < 1, got {self.jitter!r}")
        _positive("policy.reset_after", self.reset_after)

    def delay(self, attempt: int, rand: float) -> float:
        """Delay before restart number ``attempt`` (0-based); ``rand`` in [0, 1)."""
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 1000))
        return float(base * (1.0 + self.jitter * (2.0 * rand - 1.0)))


@dataclass(frozen=True)
class Manual:
    """Stay down after a failure, emit a ``manual_wait`` event, and come back
    only through :meth:`Supervisor.restart_child`."""


@dataclass(frozen=True)
class Never:
    """Stay down after a failure and emit ``gave_up``; the spec is kept."""


RestartPolicy: TypeAlias = Immediate | Backoff | Manual | Never
_POLICIES = (Immediate, Backoff, Manual, Never)


@dataclass(frozen=True)
class HealthCheck:
    """Ping the child every ``interval`` s; a ping unanswered after ``timeout`` s
    is a miss, and ``misses`` consecutive misses get the child SIGKILLed with
    reason ``unhealthy``."""

    interval: float = 1.0
    timeout: float = 0.5
    misses: int = 3

    def __post_init__(self) -> None:
        _positive("health.interval", self.interval)
        _positive("health.timeout", self.timeout)
        if self.timeout > self.interval:
            raise SpecError("health.timeout", "must be <= health.interval")
        if not isinstance(self.misses, int) or isinstance(self.misses, bool) or self.misses < 1:
            raise SpecError("health.misses", f"must be an integer >= 1, got {self.misses!r}")


# ---------------------------------------------------------------- specs


@dataclass(frozen=True)
class SupervisorSpec:
    """How a supervisor reacts to its children's exits (OTP's sup flags).

    ``auto_shutdown`` (OTP 24): ``any_significant`` stops the supervisor when a
    significant child exits for good by itself, ``all_significant`` when the
    last one has; ``never`` (the default) ignores significance and refuses
    significant children."""

    id: str
    strategy: Strategy = "one_for_one"
    intensity: int = 3
    period: float = 5.0
    auto_shutdown: AutoShutdown = "never"

    def __post_init__(self) -> None:
        _identifier("id", self.id)
        if self.strategy not in _STRATEGIES:
            raise SpecError("strategy", f"must be one of {', '.join(_STRATEGIES)}; "
                            f"got {self.strategy!r}")
        if (not isinstance(self.intensity, int) or isinstance(self.intensity, bool)
                or self.intensity < 0):
            raise SpecError("intensity", f"must be an integer >= 0, got {self.intensity!r}")
        _positive("period", self.period)
        if self.auto_shutdown not in _AUTO_SHUTDOWN:
            raise SpecError("auto_shutdown", f"must be one of {', '.join(_AUTO_SHUTDOWN)}; "
                            f"got {self.auto_shutdown!r}")


def target_name(start: object) -> str:
    """Return ``"module:qualname"`` for a start target, or raise SpecError.

    Targets travel as names, never as pickled callables, so that the zygote
    never imports user code: the child imports it after the fork.
    """
    if isinstance(start, str):
        module, sep, func = start.partition(":")
        if not sep or not module or not func:
            raise SpecError("start", f"must look like 'package.module:function', got {start!r}")
        parts = module.split(".") + func.split(".")
        if not all(p.isidentifier() for p in parts):
            raise SpecError("start", f"not a valid 'module:function' name: {start!r}")
        return start
    if callable(start):
        module_name = getattr(start, "__module__", None)
        qualname = getattr(start, "__qualname__", None)
        if not isinstance(module_name, str) or not isinstance(qualname, str):
            raise SpecError("start", f"{start!r} has no importable module and name")
        if "<" in qualname or module_name == "__main__":
            raise SpecError("start", f"{module_name}.{qualname} is not importable by name "
                            "(use a module-level function of an importable module)")
        return f"{module_name}:{qualname}"
    raise SpecError("start", f"must be a 'module:function' string or a function, got {start!r}")


@dataclass(frozen=True)
class ChildSpec:
    """One child of a supervisor.

    A worker names a function called in the child process as
    ``fn(link, *args, **kwargs)``. A child of ``type="supervisor"`` is a nested
    supervisor: it carries its own :class:`SupervisorSpec` in ``supervisor``
    (whose id must equal ``id``) and its initial ``children``; ``start``,
    ``args``, ``kwargs``, ``health``, ``title`` and ``resources`` do not apply to
    it. Use :func:`supervisor_child` to build one.

    ``resources`` gives each incarnation of a worker a cgroup of its own with
    those caps, where the host allows cgroups (``supervisor.cgroups``).
    """

    id: str
    start: str | Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    restart: RestartType = "permanent"
    policy: RestartPolicy = Immediate()
    shutdown: Shutdown = 5.0
    type: ChildType = "worker"
    health: HealthCheck | None = None
    title: str | None = None
    trap_exits: bool = False
    supervisor: SupervisorSpec | None = None
    children: tuple[ChildSpec, ...] = ()
    significant: bool = False
    resources: Resources | None = None

    def __post_init__(self) -> None:
        _identifier("id", self.id)
        if self.restart not in _RESTART_TYPES:
            raise SpecError("restart", f"must be one of {', '.join(_RESTART_TYPES)}; "
                            f"got {self.restart!r}")
        if not isinstance(self.policy, _POLICIES):
            raise SpecError("policy", "must be Immediate(), Backoff(...), Manual() or Never(); "
                            f"got {self.policy!r}")
        if self.shutdown not in ("brutal_kill", "infinity"):
            if not _number(self.shutdown):
                raise SpecError("shutdown", "must be a number of seconds, 'brutal_kill' or "
                                f"'infinity'; got {self.shutdown!r}")
            _positive("shutdown", self.shutdown)
        if self.type not in _CHILD_TYPES:
            raise SpecError("type", f"must be 'worker' or 'supervisor', got {self.type!r}")
        if not isinstance(self.trap_exits, bool):
            raise SpecError("trap_exits", f"must be a bool, got {self.trap_exits!r}")
        if not isinstance(self.significant, bool):
            raise SpecError("significant", f"must be a bool, got {self.significant!r}")
        if self.significant and self.restart == "permanent":
            # OTP: {bad_combination, [{restart, permanent}, {significant, true}]}
            raise SpecError("significant", "a significant child must be transient or "
                            "temporary (a permanent one would always be restarted)")
        if self.type == "supervisor":
            self._check_supervisor()
        else:
            self._check_worker()

    def _check_worker(self) -> None:
        if self.start is None:
            raise SpecError("start", "is required for a worker")
        target_name(self.start)
        if not isinstance(self.args, tuple):
            raise SpecError("args", f"must be a tuple, got {type(self.args).__name__}")
        if not isinstance(self.kwargs, Mapping):
            raise SpecError("kwargs", f"must be a mapping, got {type(self.kwargs).__name__}")
        for key in self.kwargs:
            if not isinstance(key, str):
                raise SpecError("kwargs", f"keys must be strings, got {key!r}")
        try:
            pickle.dumps((self.args, dict(self.kwargs)), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise SpecError("args", f"arguments must be picklable: {exc}") from None
        if self.health is not None and not isinstance(self.health, HealthCheck):
            raise SpecError("health", f"must be a HealthCheck or None, got {self.health!r}")
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise SpecError("resources", f"must be a Resources or None, got {self.resources!r}")
        if self.title is not None and not isinstance(self.title, str):
            raise SpecError("title", f"must be a string or None, got {self.title!r}")
        if self.supervisor is not None or self.children:
            raise SpecError("supervisor", "only a child of type 'supervisor' has a "
                            "supervisor spec and children")

    def _check_supervisor(self) -> None:
        if not isinstance(self.supervisor, SupervisorSpec):
            raise SpecError("supervisor", "a child of type 'supervisor' needs a SupervisorSpec")
        if self.supervisor.id != self.id:
            raise SpecError("supervisor.id", f"must equal the child id {self.id!r}, "
                            f"got {self.supervisor.id!r}")
        if self.start is not None:
            raise SpecError("start", "does not apply to a child of type 'supervisor'")
        if self.health is not None:
            raise SpecError("health", "does not apply to a child of type 'supervisor'")
        if self.resources is not None:
            raise SpecError("resources", "does not apply to a child of type 'supervisor' "
                            "(give its workers theirs)")
        check_children("children", self.children, self.supervisor)


def check_children(name: str, children: object,
                   sup: SupervisorSpec | None = None) -> tuple[ChildSpec, ...]:
    """Validate a sequence of child specs with unique ids; return it as a tuple.

    With ``sup``, also what the supervisor's flags demand: exactly one template
    for ``simple_one_for_one``, and no significant child under
    ``auto_shutdown="never"`` (OTP's ``check_childspecs/2``)."""
    if isinstance(children, str | bytes) or not hasattr(children, "__iter__"):
        raise SpecError(name, f"must be a sequence of ChildSpec, got {children!r}")
    result = tuple(children)
    seen: set[str] = set()
    for index, child in enumerate(result):
        if not isinstance(child, ChildSpec):
            raise SpecError(f"{name}[{index}]", f"must be a ChildSpec, got {child!r}")
        if child.id in seen:
            raise SpecError(f"{name}[{index}].id", f"duplicate child id {child.id!r}")
        seen.add(child.id)
        if sup is not None:
            check_child_for(f"{name}[{index}]", child, sup)
    if sup is not None and sup.strategy == "simple_one_for_one" and len(result) != 1:
        raise SpecError(name, "a simple_one_for_one supervisor holds exactly one template "
                        f"child spec, got {len(result)}")
    return result


def check_child_for(name: str, child: ChildSpec, sup: SupervisorSpec) -> None:
    """What a child spec must satisfy under this supervisor's flags."""
    if child.significant and sup.auto_shutdown == "never":
        # OTP: {bad_combination, [{auto_shutdown, never}, {significant, true}]}
        raise SpecError(f"{name}.significant", "a significant child needs a supervisor "
                        "with auto_shutdown 'any_significant' or 'all_significant'")


def supervisor_child(
    spec: SupervisorSpec,
    children: tuple[ChildSpec, ...] | list[ChildSpec] = (),
    *,
    restart: RestartType = "permanent",
    policy: RestartPolicy = Immediate(),
    shutdown: Shutdown = "infinity",
    significant: bool = False,
) -> ChildSpec:
    """Build the ChildSpec of a nested supervisor (OTP's ``shutdown =>
    infinity`` is the default, as for supervisor children in OTP)."""
    if not isinstance(spec, SupervisorSpec):
        raise SpecError("supervisor", f"must be a SupervisorSpec, got {spec!r}")
    return ChildSpec(id=spec.id, type="supervisor", supervisor=spec, children=tuple(children),
                     restart=restart, policy=policy, shutdown=shutdown,
                     significant=significant)
