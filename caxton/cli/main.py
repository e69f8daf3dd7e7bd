"""The ``caxton`` entry point: parse, dispatch, and turn every failure into one line."""

from __future__ import annotations

import os
import sys

from caxton.cli import agents, messages, node
from caxton.cli.parsing import Parser
from caxton.errors import CaxtonError


def build_parser() -> Parser:
    parser = Parser(prog="caxton", description="Run and manage WebAssembly agents.")
    parser.add_argument("--node", default=None, metavar="ADDR",
                        help="node address (default: tcp://127.0.0.1:7700)")
    parser.add_argument("--output", default="text", choices=["text", "json"])
    parser.add_argument("--keys", default=None, metavar="PATH",
                        help="keys for a node that requires them: a folder (node.key and one "
                             "*.key_secret) or SECRET_FILE:NODE_KEY_FILE "
                             "(default: $CAXTON_KEYS; see docs/security.md)")
    parser.add_argument("--timeout", dest="request_timeout", type=float, default=5.0,
                        help="seconds to wait for the node (default: 5)")
    nouns = parser.add_subparsers(dest="noun", required=True, metavar="COMMAND",
                                  parser_class=Parser)
    from caxton.cli import keys

    keys.add_parser(nouns)
    node.add_parser(nouns)
    agents.add_parser(nouns)
    messages.add_parser(nouns)
    from caxton.cli import validate

    validate.add_parser(nouns)
    # agent projects in Rust and C (issue 17)
    from caxton.cli import build, new

    new.add_parser(nouns)
    build.add_parser(nouns)
    from caxton.cli import top

    top.add_parser(nouns)  # the dashboard in a terminal (issue 16)
    from caxton.cli import deploy

    deploy.add_parsers(nouns)
    from caxton.cli import apply

    apply.add_parser(nouns)  # manifests (agents.yaml)
    from caxton.cli import cluster

    cluster.add_parser(nouns)  # several nodes over one PostgreSQL store (issue 15)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except CaxtonError as exc:
        print(f"caxton: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader stopped (`| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        print(f"caxton: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: object) -> int:
    import argparse

    assert isinstance(args, argparse.Namespace)
    if args.noun == "node":
        return node.run(args)
    from caxton.cli import keys

    if args.noun == "keys":  # local: no node involved
        return keys.run(args)
    if args.noun == "validate":
        from caxton.cli import validate

        return int(validate.run(args))
    if args.noun in ("new", "build"):  # local commands: no node involved
        from caxton.cli import build, new

        return int(new.run(args) if args.noun == "new" else build.run(args))
    from caxton.client import connect

    with connect(args.node, timeout=args.request_timeout,
                 keys=keys.resolve_keys(args.keys)) as client:
        if args.noun == "agents":
            return agents.run(args, client)
        if args.noun in ("deploy", "deployments", "rollback", "promote", "abort"):
            from caxton.cli import deploy

            run = {"deploy": deploy.run_deploy, "deployments": deploy.run_deployments,
                   "rollback": deploy.run_rollback, "promote": deploy.run_promote,
                   "abort": deploy.run_abort}[args.noun]
            return run(args, client)
        if args.noun == "send":
            return messages.run_send(args, client)
        if args.noun == "apply":
            from caxton.cli import apply

            return apply.run(args, client)
        if args.noun == "cluster":
            from caxton.cli import cluster

            return cluster.run(args, client)
        if args.noun == "top":
            from caxton.cli import top

            return top.run(args, client)
        return messages.run_call(args, client)


if __name__ == "__main__":
    raise SystemExit(main())
