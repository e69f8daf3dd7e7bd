"""``caxton send`` and ``caxton call``."""

from __future__ import annotations

import argparse
from typing import Any

from caxton.cli.output import emit, render_bytes
from caxton.cli.parsing import add_common_options, add_payload_arguments, payload_bytes
from caxton.client import Client


def add_parser(subparsers: Any) -> None:
    send = subparsers.add_parser("send", help="queue a message for an agent")
    send.add_argument("name")
    add_payload_arguments(send)
    add_common_options(send)
    call = subparsers.add_parser("call", help="send a message and print the reply")
    call.add_argument("name")
    add_payload_arguments(call)
    add_common_options(call)
    call.add_argument("--timeout", type=float, default=5.0)
    for verb in (send, call):
        verb.add_argument("--key", default=None,
                          help="route by this key: its instance keeps its state")
        verb.add_argument("--instance", type=int, default=None, metavar="K",
                          help="to instance K of a scaled agent (e.g. to read its state)")


def run_send(args: argparse.Namespace, client: Client) -> int:
    message_id = client.send(args.name, payload_bytes(args), key=args.key,
                             instance=args.instance)
    emit({"message_id": message_id}, args.output, f"✓ accepted as message {message_id}")
    return 0


def run_call(args: argparse.Namespace, client: Client) -> int:
    reply = client.call(args.name, payload_bytes(args), timeout=args.timeout, key=args.key,
                        instance=args.instance)
    emit({"reply": render_bytes(reply)}, args.output, render_bytes(reply))
    return 0
