"""A test double of the node that breaks the delivery promise on purpose.

Its router forgets the window in flight when an instance dies, instead of
putting it back in the mailbox: accepted messages are lost. The chaos tests
run the harness against it (``RunConfig(node_module=...)``) to prove that
the checker fails a node that loses messages. Run as ``python -m
tests.chaos.lossy_node`` with the node's own command line.
"""

from __future__ import annotations

import argparse
import sys

from caxton.node.cli import add_arguments, run
from caxton.node.node import Node
from caxton.node.records import AgentRecord
from caxton.node.router import Router


class ForgetfulRouter(Router):
    def on_down(self, rec: AgentRecord, reason: str) -> None:
        rec.in_flight.clear()
        super().on_down(rec, reason)


class LossyNode(Node):
    router_class = ForgetfulRouter


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.lossy_node")
    add_arguments(parser)
    sys.exit(run(parser.parse_args(), LossyNode))
