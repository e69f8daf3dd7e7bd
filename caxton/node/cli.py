"""Command line of the node process (``python -m caxton.node``, ``caxton node start``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from caxton import protocol

if TYPE_CHECKING:
    from caxton.node.config import NodeConfig
    from caxton.node.node import Node


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="n1", help="node name (default: n1)")
    parser.add_argument("--data-dir", default="caxton-data",
                        help="data folder for the store and caches (default: ./caxton-data)")
    parser.add_argument("--listen", default=protocol.DEFAULT_ADDRESS,
                        help=f"management endpoint (default: {protocol.DEFAULT_ADDRESS})")
    parser.add_argument("--secret-key", default=None, metavar="FILE",
                        help="the node's CurveZMQ secret key (caxton keys generate); with "
                             "--authorized-keys every client needs an authorized key")
    parser.add_argument("--authorized-keys", default=None, metavar="DIR",
                        help="folder of the client public keys (*.key, each with its role) "
                             "the node admits")
    parser.add_argument("--insecure", action="store_true",
                        help="allow a --listen other hosts can reach without keys")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    parser.add_argument("--max-limit", action="append", default=[], type=_maximum,
                        metavar="NAME=VALUE",
                        help="the most a spawn may ask for, e.g. fuel=1000000000 or"
                             " mailbox=50000 (repeatable; names and defaults in"
                             " docs/security.md)")
    parser.add_argument("--durability", default="process", choices=["process", "machine"],
                        help="what an acknowledged message survives: the node's process dying"
                             " (default), or the machine losing power too (every commit is"
                             " fsynced)")
    parser.add_argument("--store", default=None, metavar="URL",
                        help="keep the store in PostgreSQL (postgresql://...) rather than in"
                             " SQLite in the data folder (docs/node.md, Store backends)")
    parser.add_argument("--lease-seconds", type=_positive_seconds, default=3.0, metavar="S",
                        help="with a PostgreSQL store, how long this node's lease lasts"
                             " unrenewed before the other nodes take its agents over"
                             " (default: 3; a node whose process died is taken over"
                             " sooner; docs/cluster.md)")
    parser.add_argument("--advertise", default=None, metavar="ENDPOINT",
                        help="the address other nodes reach this one at (default: the"
                             " --listen address)")
    parser.add_argument("--max-agents", type=int, default=None, metavar="N",
                        help="the most agents running at once (default: what the file"
                             " descriptor limit allows)")
    parser.add_argument("--memory-budget", type=int, default=None, metavar="BYTES",
                        help="what the agents' memory limits may add up to (default: 80%% of"
                             " the machine's memory)")
    parser.add_argument("--agent-cpu", type=_cores, default=None, metavar="CORES",
                        help="cores each agent process may use, through its cgroup (default:"
                             " 0, uncapped)")
    parser.add_argument("--agent-memory-overhead", type=_overhead, default=None,
                        metavar="BYTES", help="what an agent process's cgroup allows beside"
                                              " its guest's memory limit (default: 64 MiB)")
    parser.add_argument("--http", default="127.0.0.1:7780", metavar="HOST:PORT", type=_http,
                        help="serve /metrics and the dashboard here (default: 127.0.0.1:7780;"
                             " none: no HTTP endpoint)")
    parser.add_argument("--metrics", default="on", choices=["on", "off"],
                        help="metrics, flight recorder and dashboard (default: on)")
    parser.add_argument("--log-format", default="text", choices=["text", "json"],
                        help="one event per line, as text or as JSON objects (default: text)")
    parser.add_argument("--traces", default="none", choices=["none", "console", "otlp"],
                        help="export OpenTelemetry spans (needs the otel extra; otlp reads the"
                             " OTEL_EXPORTER_OTLP_* settings)")
    parser.add_argument("--trace-every", type=int, default=100, metavar="N",
                        help="one ack batch in N gets a message.handle span (default: 100)")
    parser.add_argument("--validation-seconds", type=_positive_seconds, default=120.0,
                        metavar="S",
                        help="the longest one module's validation may run (default: 120)")


def _http(text: str) -> str:
    """``--http``, checked as it is parsed: a usage error, not a failure at start."""
    from caxton.observe.http import parse_http

    try:
        parse_http(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"must be above 0 and below 1e6 seconds, not {text}")
    return value


def _cores(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of cores: {text!r}") from None
    if not 0 <= value <= 4096:
        raise argparse.ArgumentTypeError(f"must be from 0 (uncapped) to 4096 cores, not {text}")
    return None if value == 0 else max(value, 0.01)


def _overhead(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of bytes: {text!r}") from None
    if not 0 <= value <= 2**40:
        raise argparse.ArgumentTypeError(f"must be from 0 to 2**40 bytes, not {text}")
    return value


def _maximum(text: str) -> tuple[str, str]:
    """One ``--max-limit NAME=VALUE``, checked as it is parsed: a usage error, not a
    traceback at start."""
    from caxton.node.spec import Maximums

    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError(f"expected NAME=VALUE, got {text!r}")
        Maximums.from_pairs([(name.strip(), value.strip())])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name.strip(), value.strip()


def config_from_args(args: argparse.Namespace) -> NodeConfig:
    """The node's settings from its command line (one place, so every flag lands in it)."""
    from caxton.node.config import NodeConfig
    from caxton.node.spec import Maximums

    return NodeConfig(secret_key=args.secret_key, authorized_keys=args.authorized_keys,
                      insecure=args.insecure, durability=args.durability, store=args.store,
                      lease_seconds=args.lease_seconds, advertise=args.advertise,
                      validation_seconds=args.validation_seconds,
                      max_agents=args.max_agents, memory_budget_bytes=args.memory_budget,
                      maximums=Maximums.from_pairs(args.max_limit),
                      agent_cpu=args.agent_cpu,
                      agent_memory_overhead=NodeConfig.agent_memory_overhead
                      if args.agent_memory_overhead is None else args.agent_memory_overhead,
                      metrics=args.metrics == "on", trace_every=max(1, args.trace_every),
                      http=None if args.http.strip().lower() in ("none", "off", "")
                      else args.http)


def run(args: argparse.Namespace, node_class: type[Node] | None = None) -> int:
    """Run a node in the foreground; ``node_class`` lets a test double of the node reuse this."""
    import setproctitle

    from caxton.node.node import Node, NodeError
    from caxton.observe import configure_logging, tracing

    configure_logging(args.log_level, args.log_format)
    if args.traces != "none":
        try:
            tracing.install(args.traces)
        except ValueError as exc:
            print(f"caxton: {exc}", file=sys.stderr)
            return 2
    setproctitle.setproctitle(f"caxton node {args.name}")
    # nothing the node or its agents create is readable by other users
    from caxton.security.files import PROCESS_UMASK

    os.umask(PROCESS_UMASK)
    try:
        node = (node_class or Node)(name=args.name, data_dir=args.data_dir, listen=args.listen,
                                    config=config_from_args(args))
    except NodeError as exc:
        print(f"caxton: {exc}", file=sys.stderr)
        return 1
    node.serve_forever()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m caxton.node",
                                     description="Run a Caxton node in the foreground.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
