"""The node process: supervised agents, delivery, snapshots, the store.

``Node`` is imported on first use, so that an agent process, which needs only
the node <-> agent frames (``caxton.node.frames``), never loads the node itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from caxton.node.lifecycle import IllegalTransition, State

if TYPE_CHECKING:
    from caxton.node.node import Node, NodeError

__all__ = ["IllegalTransition", "Node", "NodeError", "State"]


def __getattr__(name: str) -> Any:
    if name in ("Node", "NodeError"):
        from caxton.node import node

        return getattr(node, name)
    raise AttributeError(f"module 'caxton.node' has no attribute {name!r}")
