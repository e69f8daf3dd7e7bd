"""The exceptions a Caxton user can meet, under one base class.

The node's management protocol carries errors by *type name*; the client turns
each name back into the class below, so a failure raised in the node process
arrives in the user's process as the same typed exception.
"""

from __future__ import annotations

from typing import Any


class CaxtonError(Exception):
    """Base of every error the client API raises."""

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data: dict[str, Any] = data

    def __str__(self) -> str:
        return self.message


class NoSuchAgent(CaxtonError):
    """The node has no agent of that name."""


class AgentExists(CaxtonError):
    """An agent of that name already exists."""


class AgentNotRunning(CaxtonError):
    """The agent exists but accepts no messages now (stopped, draining, failed)."""


class ValidationFailed(CaxtonError):
    """The module failed the validation pipeline; ``report`` says which stage and why."""

    @property
    def report(self) -> dict[str, Any]:
        report = self.data.get("report")
        return report if isinstance(report, dict) else {}


class CallFailed(CaxtonError):
    """The agent could not handle the message; ``reason`` classifies the outcome."""

    @property
    def reason(self) -> str:
        return str(self.data.get("reason", "unknown"))

    @property
    def reply(self) -> bytes | None:
        reply = self.data.get("reply")
        return reply if isinstance(reply, bytes) else None


class CallTimeout(CaxtonError):
    """No reply came within the call's timeout (the message may still be handled)."""


class MessageTooLarge(CaxtonError):
    """The payload is over the agent's message-size limit; nothing was queued."""


class MailboxFull(CaxtonError):
    """The agent's mailbox is at its bound; nothing was queued."""


class NodeUnavailable(CaxtonError):
    """No node answered at the address within the timeout."""


class InvalidRequest(CaxtonError):
    """The request was malformed or named an unknown operation or bad argument."""


class AboveMaximum(InvalidRequest):
    """The request asked for more than this node allows (``--max-limit``): ``field`` names
    what, ``asked`` the value asked for and ``maximum`` the node's maximum. Nothing was
    started."""


class SpawnFailed(CaxtonError):
    """The module passed validation but its first instance did not come up."""


class StorageUnavailable(CaxtonError):
    """The node cannot write its store (disk full, I/O error): it accepts nothing until it
    can again, and recovers on its own. Nothing acknowledged before is lost."""


class ResourceExhausted(CaxtonError):
    """The node is at one of its budgets (agents, memory, file descriptors); ``budget``
    names which. Nothing was started."""


class PermissionDenied(CaxtonError):
    """The node refused this client: its key's role does not allow the operation, or the
    node does not admit its key (or its lack of one). See ``docs/security.md``."""


class DeploymentFailed(CaxtonError):
    """A deployment did not go live: its new version failed its warm-up (a restore that
    failed, a trap, an unhealthy probe) and it was rolled back, or a rollback could not
    finish. ``deployment`` holds the deployment's record with its stages and reason."""


class NoSuchDeployment(CaxtonError):
    """The node has no deployment of that id (or the agent has none to roll back)."""


ERROR_TYPES: dict[str, type[CaxtonError]] = {
    cls.__name__: cls
    for cls in (
        CaxtonError,
        NoSuchAgent,
        AgentExists,
        AgentNotRunning,
        ValidationFailed,
        CallFailed,
        CallTimeout,
        MessageTooLarge,
        MailboxFull,
        NodeUnavailable,
        InvalidRequest,
        AboveMaximum,
        SpawnFailed,
        PermissionDenied,
        StorageUnavailable,
        ResourceExhausted,
        DeploymentFailed,
        NoSuchDeployment,
    )
}


def error_from_wire(kind: str, message: str, data: dict[str, Any] | None) -> CaxtonError:
    """Rebuild the typed exception a node reply names (unknown kinds stay CaxtonError)."""
    cls = ERROR_TYPES.get(kind, CaxtonError)
    return cls(message, **(data or {}))
