"""The node process: supervised agents, delivery, snapshots, the store."""

from caxton.node.lifecycle import IllegalTransition, State
from caxton.node.node import Node, NodeError

__all__ = ["IllegalTransition", "Node", "NodeError", "State"]
