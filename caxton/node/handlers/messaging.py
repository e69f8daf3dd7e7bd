"""Messages from clients to agents: call, send, send_batch, and the dead letters.

Each accepted message is journaled by the router in this loop turn; the
client hears "accepted" (or, for a call, the reply) only after the turn's
commit, so an acknowledged message is never lost.
"""

from __future__ import annotations

from typing import Any

from caxton.errors import InvalidRequest, MailboxFull
from caxton.node.context import DEFERRED, Handler, NodeContext
from caxton.node.records import AgentRecord, Waiter
from caxton.node.router import EXTERNAL


def _payload(arguments: dict[str, Any]) -> bytes:
    payload = arguments.get("payload")
    if not isinstance(payload, bytes):
        raise InvalidRequest("payload must be bytes", field="payload")
    return payload


def _instance(ctx: NodeContext, arguments: dict[str, Any]) -> AgentRecord:
    """The agent's instance the message goes to (by ``key``, or ``instance``, or the
    least loaded; ``caxton.node.instances``)."""
    return ctx.router.route(ctx.agents.lookup(arguments), arguments.get("key"),
                            arguments.get("instance"))


def call(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    rec = _instance(ctx, arguments)
    payload = _payload(arguments)
    ctx.router.check_accepts(rec, payload)
    ctx.router.accept(rec, EXTERNAL, payload, caller=waiter, key=arguments.get("key"))
    return DEFERRED


def send(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    rec = _instance(ctx, arguments)
    payload = _payload(arguments)
    ctx.router.check_accepts(rec, payload)
    return ctx.router.accept(rec, EXTERNAL, payload, key=arguments.get("key"))


def send_batch(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    """Several messages in one request: all accepted, in order, or none (all to one
    instance: the key's, or the least loaded)."""
    rec = _instance(ctx, arguments)
    payloads = arguments.get("payloads")
    if not isinstance(payloads, list) or not all(isinstance(p, bytes) for p in payloads):
        raise InvalidRequest("payloads must be a list of bytes", field="payloads")
    for payload in payloads:
        ctx.router.check_accepts(rec, payload)
    if rec.depth + len(payloads) > rec.spec.mailbox:
        raise MailboxFull(f"agent {rec.name!r} has room for {rec.spec.mailbox - rec.depth}"
                          f" of {len(payloads)} messages", bound=rec.spec.mailbox)
    key = arguments.get("key")
    return [ctx.router.accept(rec, EXTERNAL, payload, key=key) for payload in payloads]


def dead_letters(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    return ctx.store.dead_letters(ctx.agents.lookup(arguments).name)


OPERATIONS: dict[str, Handler] = {
    "call": call,
    "send": send,
    "send_batch": send_batch,
    "dead_letters": dead_letters,
}
