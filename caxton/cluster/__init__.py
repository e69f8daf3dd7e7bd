"""Several nodes as one system: membership, placement and the fence in the shared
PostgreSQL store (``membership``), and node-to-node links over ZeroMQ (``links``).

What a node does with them lives in ``caxton.node.cluster``; ``docs/cluster.md``
states the guarantees.
"""

from __future__ import annotations
