"""What the observer knows, over the management protocol: overview, crashes, crash.

``overview`` is the dashboard's JSON (``caxton top`` shows it); ``crashes``
lists an agent's flight-recorder crashes and ``crash`` hands one over whole,
with the agent's module, for ``caxton agents replay`` to re-run offline.
Crash records outlive their agent's removal: a post-mortem needs them most
then. With ``--metrics off`` there is no observer and these are refused.
"""

from __future__ import annotations

from typing import Any

from caxton.errors import InvalidRequest
from caxton.node.context import Handler, NodeContext
from caxton.node.records import Waiter
from caxton.observe.observer import Observer


def _observer(ctx: NodeContext) -> Observer:
    observer = ctx.agents.observe
    if not isinstance(observer, Observer):
        raise InvalidRequest("this node runs with --metrics off: no metrics, no flight recorder")
    return observer


def _name(arguments: dict[str, Any]) -> str:
    name = arguments.get("name")
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise InvalidRequest("name must be an agent's name", field="name")
    return name


def overview(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    return _observer(ctx).publish().overview


def crashes(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    return _observer(ctx).crashes.summaries(_name(arguments))


def crash(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    name = _name(arguments)
    crash_id = arguments.get("id")
    if type(crash_id) is not int:
        raise InvalidRequest("id must be a crash id (an integer)", field="id")
    record = _observer(ctx).crashes.load(name, crash_id)
    if record is None:
        raise InvalidRequest(f"agent {name!r} has no crash {crash_id} "
                             f"(caxton agents crashes {name} lists them)", field="id")
    record["module"] = ctx.store.get_module(record["spec"]["module_sha256"])
    return record


OPERATIONS: dict[str, Handler] = {
    "overview": overview,
    "crashes": crashes,
    "crash": crash,
}
