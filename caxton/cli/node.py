"""``caxton node start``: run a node in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

from caxton.node import cli as node_cli


def add_parser(subparsers: Any) -> None:
    node = subparsers.add_parser("node", help="run a node")
    verbs = node.add_subparsers(dest="verb", required=True, metavar="VERB")
    node_cli.add_arguments(verbs.add_parser("start", help="run a node in the foreground"))


def run(args: argparse.Namespace) -> int:
    return node_cli.run(args)
