"""Command line of the node process (``python -m caxton.node``, ``caxton node start``)."""

from __future__ import annotations

import argparse
import logging
import sys

from caxton import protocol


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="n1", help="node name (default: n1)")
    parser.add_argument("--data-dir", default="caxton-data",
                        help="data folder for the store and caches (default: ./caxton-data)")
    parser.add_argument("--listen", default=protocol.DEFAULT_ADDRESS,
                        help=f"management endpoint (default: {protocol.DEFAULT_ADDRESS})")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    # Breaks the delivery promise on purpose: only to show a checker can fail.
    parser.add_argument("--unsafe-disable-redelivery", action="store_true",
                        help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    import setproctitle

    from caxton.node.node import Node, NodeError

    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    setproctitle.setproctitle(f"caxton node {args.name}")
    try:
        node = Node(name=args.name, data_dir=args.data_dir, listen=args.listen)
    except NodeError as exc:
        print(f"caxton: {exc}", file=sys.stderr)
        return 1
    if args.unsafe_disable_redelivery:
        logging.getLogger("caxton.node").warning("redelivery is OFF: messages will be lost")
        node.router.redelivery = False
    node.serve_forever()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m caxton.node",
                                     description="Run a Caxton node in the foreground.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
