"""Typed errors of the supervision library.

Every error a caller can provoke is a subclass of :class:`SupervisorError`, so an
embedder can catch one type at its boundary; the subclasses say which mistake
was made so that a CLI can print a readable message instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "ChildExists",
    "ChildNotRunning",
    "ChildRestarting",
    "ChildRunning",
    "EncodeError",
    "NoSuchChild",
    "RuntimeClosed",
    "SimpleOneForOne",
    "SpecError",
    "StartFailed",
    "SupervisorError",
    "SupervisorStopped",
    "ZygoteError",
]


class SupervisorError(Exception):
    """Base class of every error raised by the supervision library."""


class SpecError(SupervisorError, ValueError):
    """A child or supervisor spec is invalid; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class NoSuchChild(SupervisorError, KeyError):
    """No child with this id is known to the supervisor."""

    def __init__(self, child_id: str, detail: str = "no such child") -> None:
        self.child_id = child_id
        super().__init__(child_id)
        self._message = f"{child_id!r}: {detail}"

    def __str__(self) -> str:
        return self._message


class ChildNotRunning(NoSuchChild):
    """The child exists but has no live process right now (it is restarting,
    waiting for a manual restart, or stopped)."""

    def __init__(self, child_id: str) -> None:
        super().__init__(child_id, "child is not running")


class ChildExists(SupervisorError):
    """``start_child`` was given an id that is already in use."""

    def __init__(self, child_id: str) -> None:
        self.child_id = child_id
        super().__init__(f"{child_id!r}: a child with this id already exists")


class ChildRunning(SupervisorError):
    """The operation needs the child to be stopped first (OTP's ``{error, running}``)."""

    def __init__(self, child_id: str) -> None:
        self.child_id = child_id
        super().__init__(f"{child_id!r}: child is running; terminate it first")


class SupervisorStopped(SupervisorError):
    """The supervisor has stopped (explicitly or after its restart intensity
    was exceeded) and accepts no more operations until restarted."""


class RuntimeClosed(SupervisorError):
    """The runtime was closed; nothing can be started on it any more."""


class EncodeError(SupervisorError, TypeError):
    """A message could not be encoded with msgpack."""


class ZygoteError(SupervisorError):
    """The fork server could not be started or did not answer."""


class StartFailed(SupervisorError):
    """A child failed before it acknowledged its start (OTP's ``{error, Reason}``
    from ``start_child``, or a supervisor whose initial child could not start)."""

    def __init__(self, child_id: str, reason: str) -> None:
        self.child_id = child_id
        self.reason = reason
        super().__init__(f"{child_id!r} failed to start: {reason}")


class ChildRestarting(SupervisorError):
    """The child has a restart pending (OTP's ``{error, restarting}``)."""

    def __init__(self, child_id: str) -> None:
        self.child_id = child_id
        super().__init__(f"{child_id!r}: child is restarting")


class SimpleOneForOne(SupervisorError):
    """The operation does not apply to a ``simple_one_for_one`` supervisor
    (OTP's ``{error, simple_one_for_one}``)."""
