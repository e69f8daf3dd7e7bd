"""``caxton agents spawn|list|status|stop|restart|remove|dead-letters``."""

from __future__ import annotations

import argparse
from typing import Any

from caxton.cli import crashes
from caxton.cli.output import (
    emit,
    instances_table,
    render_bytes,
    status_detail,
    status_table,
)
from caxton.cli.parsing import add_common_options
from caxton.client import Client


def add_parser(subparsers: Any) -> None:
    agents = subparsers.add_parser("agents", help="manage agents on a node")
    verbs = agents.add_subparsers(dest="verb", required=True, metavar="VERB")

    spawn = verbs.add_parser("spawn", help="validate, load and start an agent")
    spawn.add_argument("name")
    spawn.add_argument("module", help="a .wasm or .wat file")
    spawn.add_argument("--init", default="", help="init bytes given to caxton_init (text)")
    spawn.add_argument("--policy", default="immediate",
                       choices=["immediate", "backoff", "manual", "never"])
    spawn.add_argument("--restart", default="permanent",
                       choices=["permanent", "transient", "temporary"])
    spawn.add_argument("--security", default="default", choices=["strict", "default", "relaxed"])
    spawn.add_argument("--memory-bytes", type=int, dest="memory_bytes")
    spawn.add_argument("--fuel", type=int)
    spawn.add_argument("--deadline-ms", type=int, dest="deadline_ms")
    spawn.add_argument("--max-message-bytes", type=int, dest="max_message_bytes")
    spawn.add_argument("--snapshot-every", type=int, dest="snapshot_every",
                       help="snapshot after this many messages")
    spawn.add_argument("--mailbox", type=int, help="mailbox bound (messages)")
    spawn.add_argument("--no-health", action="store_true", help="no health pings")
    spawn.add_argument("--on", default=None, metavar="NODE", dest="on_node",
                       help="in a cluster, the node to run it on (default: the least loaded)")

    verbs.add_parser("list", help="list agents")
    for verb, text in (("status", "show one agent"), ("remove", "stop and forget an agent"),
                       ("restart", "bring back a stopped or failed agent"),
                       ("dead-letters", "messages that repeatedly killed the agent")):
        verbs.add_parser(verb, help=text).add_argument("name")
    crashes.add_verbs(verbs)  # the flight recorder: crashes, replay
    scale = verbs.add_parser("scale", help="run N instances of an agent behind its name")
    scale.add_argument("name")
    scale.add_argument("--instances", type=int, required=True, metavar="N")
    scale.add_argument("--drain-timeout", type=float, default=60.0, dest="drain_timeout",
                       help="seconds a leaving instance may take to drain (default: 60)")
    stop = verbs.add_parser("stop", help="drain, snapshot and stop an agent")
    stop.add_argument("name")
    stop.add_argument("--timeout", type=float, default=30.0)
    for leaf in verbs.choices.values():
        add_common_options(leaf)


def run(args: argparse.Namespace, client: Client) -> int:
    verb = args.verb
    if verb in ("crashes", "replay"):
        return crashes.run(args, client)
    if verb == "spawn":
        limits = {k: getattr(args, k) for k in ("memory_bytes", "fuel", "deadline_ms",
                                                "max_message_bytes") if getattr(args, k)}
        status = client.spawn(
            args.name, args.module, init=args.init.encode(), policy=args.policy,
            restart=args.restart, security=args.security, limits=limits or None,
            snapshot_every=args.snapshot_every, mailbox=args.mailbox,
            health="off" if args.no_health else None, node=args.on_node)
        emit(status.to_dict(), args.output, f"✓ agent {status.name} {status.state} "
             f"(pid {status.pid}, module {status.module_sha256[:12]}, node {status.node})")
    elif verb == "list":
        statuses = client.list_agents()
        emit([s.to_dict() for s in statuses], args.output, status_table(statuses))
    elif verb == "status":
        status = client.status(args.name)
        emit(status.to_dict(), args.output, status_detail(status))
    elif verb == "stop":
        status = client.stop(args.name, timeout=args.timeout)
        emit(status.to_dict(), args.output, f"✓ agent {status.name} {status.state}")
    elif verb == "scale":
        status = client.scale(args.name, args.instances, drain_timeout=args.drain_timeout,
                              timeout=max(args.request_timeout, args.drain_timeout + 30.0))
        count = len(status.instances)
        emit(status.to_dict(), args.output,
             f"✓ agent {status.name} runs {count} instance{'s' if count > 1 else ''}\n"
             + instances_table(status))
    elif verb == "restart":
        status = client.restart(args.name)
        emit(status.to_dict(), args.output, f"✓ agent {status.name} {status.state}")
    elif verb == "remove":
        client.remove(args.name)
        emit({"removed": args.name}, args.output, f"✓ agent {args.name} removed")
    elif verb == "dead-letters":
        letters = client.dead_letters(args.name)
        rows: list[dict[str, Any]] = [{"message_id": d.message_id, "sender": d.sender,
                 "payload": render_bytes(d.payload), "reasons": d.reasons, "time": d.time}
                for d in letters]
        text = "\n".join(f"#{r['message_id']} from {r['sender'] or '(outside)'}: "
                         f"{r['payload']!s:.60}  reasons: {'; '.join(r['reasons'])}"
                         for r in rows) or "(no dead letters)"
        emit(rows, args.output, text)
    return 0
