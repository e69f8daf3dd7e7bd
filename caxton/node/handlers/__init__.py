"""The node's request handlers, one module per group of operations.

Each module maps operation names to functions ``(context, waiter, arguments)``;
``OPERATIONS`` is their union, the table the node's loop dispatches on. A new
operation is a function in the module of its group and a line in its table.
"""

from __future__ import annotations

from caxton.node.context import Handler
from caxton.node.handlers import (
    cluster,
    deployments,
    inspection,
    instances,
    lifecycle,
    messaging,
    observing,
)

__all__ = ["OPERATIONS", "READ_ONLY"]


def _merge(*tables: dict[str, Handler]) -> dict[str, Handler]:
    merged: dict[str, Handler] = {}
    for table in tables:
        clash = merged.keys() & table.keys()
        if clash:
            raise RuntimeError(f"operations defined twice: {sorted(clash)}")
        merged.update(table)
    return merged


OPERATIONS = _merge(lifecycle.OPERATIONS, messaging.OPERATIONS, inspection.OPERATIONS,
                    deployments.OPERATIONS, observing.OPERATIONS, instances.OPERATIONS,
                    cluster.OPERATIONS)
#: operations that write nothing: served, and answered at once, even while the
#: store cannot commit
READ_ONLY = frozenset(inspection.OPERATIONS) | deployments.READ_ONLY | frozenset(
    observing.OPERATIONS) | frozenset(cluster.OPERATIONS)
