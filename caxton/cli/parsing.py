"""An argument parser whose errors are one clear line, never a usage dump."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that prints one line and exits 2 on a usage error."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def payload_bytes(args: argparse.Namespace) -> bytes:
    """The message from PAYLOAD text, ``--hex`` or ``--file``."""
    if getattr(args, "file", None):
        with open(args.file, "rb") as handle:
            return handle.read()
    if getattr(args, "hex", False):
        return bytes.fromhex(args.payload)
    return str(args.payload).encode()


def add_payload_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("payload", nargs="?", default="", help="message text (UTF-8)")
    parser.add_argument("--hex", action="store_true", help="PAYLOAD is hex-encoded bytes")
    parser.add_argument("--file", help="read the message bytes from this file")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--node`` and ``--output`` after the verb too; SUPPRESS keeps the top-level value."""
    parser.add_argument("--node", default=argparse.SUPPRESS, metavar="ADDR",
                        help="node address (default: tcp://127.0.0.1:7700)")
    parser.add_argument("--output", default=argparse.SUPPRESS, choices=["text", "json"])
