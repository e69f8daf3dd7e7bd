"""``caxton keys``: make CurveZMQ key pairs and check a folder of authorized keys.

``generate`` writes ``NAME.key`` (public, to hand out) and
``NAME.key_secret`` (0600, to keep) with the role in the key's metadata;
``list`` reads a folder the way a node reads its ``--authorized-keys``, so
an operator sees what the node will admit before starting it. Local
commands: no node involved. ``docs/security.md`` walks through the setup.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from caxton.cli.output import emit
from caxton.security.keys import KeyFileError, generate, load_authorized
from caxton.security.roles import ROLES, VIEWER

__all__ = ["add_parser", "resolve_keys", "run"]

#: the environment variable the CLI reads keys from when ``--keys`` is not given
KEYS_ENV = "CAXTON_KEYS"


def add_parser(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="make and check CurveZMQ keys")
    verbs = keys.add_subparsers(dest="verb", required=True, metavar="VERB")
    gen = verbs.add_parser("generate", help="write a new key pair")
    gen.add_argument("--out", default="caxton-keys", metavar="DIR",
                     help="folder to write into, created 0700 (default: ./caxton-keys)")
    gen.add_argument("--name", default="client",
                     help="file name of the pair: NAME.key and NAME.key_secret "
                          "(default: client; 'node' for a node's own key)")
    gen.add_argument("--role", default=VIEWER, choices=ROLES,
                     help="what a node that authorizes this key lets it do (default: viewer)")
    listing = verbs.add_parser("list", help="the keys a node would admit from a folder")
    listing.add_argument("folder", metavar="DIR", help="an --authorized-keys folder")


def run(args: argparse.Namespace) -> int:
    try:
        if args.verb == "generate":
            return _generate(args)
        return _list(args)
    except KeyFileError as exc:
        print(f"caxton: {exc}", file=sys.stderr)
        return 1


def _generate(args: argparse.Namespace) -> int:
    public, secret = generate(args.out, args.name, args.role)
    emit({"public": str(public), "secret": str(secret), "role": args.role}, args.output,
         f"wrote {public} (public: give it to the node's --authorized-keys folder, or to "
         f"clients as node.key)\nwrote {secret} (secret, 0600: keep it here)\n"
         f"role: {args.role}")
    return 0


def _list(args: argparse.Namespace) -> int:
    keys, problems = load_authorized(args.folder, strict=False)
    rows = [{"name": k.name, "role": k.role, "public_key": k.public.decode()}
            for k in sorted(keys.values(), key=lambda k: k.name)]
    text = "\n".join(f"{r['name']:<24} {r['role']:<9} {r['public_key']}" for r in rows)
    emit({"keys": rows, "problems": problems}, args.output,
         text or f"(no keys in {args.folder}: a node would refuse every client)")
    for problem in problems:
        print(f"caxton: left out: {problem}", file=sys.stderr)
    return 1 if problems else 0


def resolve_keys(option: str | None) -> str | None:
    """``--keys``, else ``CAXTON_KEYS``, else no keys (the text ``caxton.Keys.parse`` reads)."""
    if option is not None:
        return option
    return os.environ.get(KEYS_ENV) or None
