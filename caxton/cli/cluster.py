"""``caxton cluster status``: every node of the cluster the node asked belongs to."""

from __future__ import annotations

import argparse
from typing import Any

from caxton.cli.output import emit, nodes_table
from caxton.client import Client


def add_parser(subparsers: Any) -> None:
    cluster = subparsers.add_parser("cluster", help="the nodes that share this node's store")
    verbs = cluster.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser("status", help="every node: state, address, lease age, agents")


def run(args: argparse.Namespace, client: Client) -> int:
    nodes = client.nodes()
    emit(nodes, args.output, nodes_table(nodes))
    return 0
