"""Roles a key carries and the operations each may ask a node for.

Three nested roles: ``viewer`` looks, ``operator`` also talks to agents,
``admin`` also changes which agents exist and runs code. An operation not
listed for ``operator`` or ``viewer`` (including any operation added to the
protocol later) is an admin's: a new operation is refused to the lesser roles
until someone decides otherwise here.
"""

from __future__ import annotations

__all__ = ["ADMIN", "OPERATOR", "ROLES", "VIEWER", "allowed_operations", "check_role"]

ADMIN = "admin"
OPERATOR = "operator"
VIEWER = "viewer"

#: every role, the most powerful first
ROLES = (ADMIN, OPERATOR, VIEWER)

_VIEWER_OPERATIONS = frozenset({"status", "list", "ping", "deployments", "deployment",
                                "overview", "crashes", "nodes"})
# a crash record carries message payloads, as dead letters do
_OPERATOR_OPERATIONS = _VIEWER_OPERATIONS | frozenset(
    {"send", "call", "send_batch", "monitor", "dead_letters", "crash"})

# None: every operation (no check at all on the request path)
_ALLOWED: dict[str, frozenset[str] | None] = {
    ADMIN: None,
    OPERATOR: _OPERATOR_OPERATIONS,
    VIEWER: _VIEWER_OPERATIONS,
}


def check_role(role: str) -> str:
    """``role`` if it is one of ``ROLES``; ``ValueError`` naming the choices otherwise."""
    if role not in _ALLOWED:
        raise ValueError(f"unknown role {role!r} (choose from {', '.join(ROLES)})")
    return role


def allowed_operations(role: str) -> frozenset[str] | None:
    """The operations ``role`` may ask for; ``None`` means every one (admin)."""
    return _ALLOWED[check_role(role)]
