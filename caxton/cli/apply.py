"""``caxton apply -f agents.yaml``: make the node run what the manifest says."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from caxton.apply import Step, execute, plan
from caxton.cli.output import emit
from caxton.cli.parsing import add_common_options
from caxton.client import Client
from caxton.manifest import load


def add_parser(subparsers: Any) -> None:
    apply = subparsers.add_parser(
        "apply", help="spawn, deploy and scale agents as a manifest (agents.yaml) says")
    apply.add_argument("-f", "--file", required=True, metavar="FILE",
                       help="the manifest (docs/deployments.md, Manifests)")
    apply.add_argument("--dry-run", action="store_true", dest="dry_run",
                       help="say what would change, change nothing")
    add_common_options(apply)


def run(args: argparse.Namespace, client: Client) -> int:
    entries = load(args.file)  # a bad manifest is refused before the node is asked
    steps = plan(client, entries)
    text = args.output == "text"

    def report(step: Step, line: str) -> None:
        if text:
            mark = "=" if line == "unchanged" else "✓"
            print(f"{mark} {step.agent}: {line}", flush=True)

    if text:
        for step in steps:
            for note in step.notes:
                print(f"! {step.agent}: {note}", file=sys.stderr)
    if all(s.actions == ["unchanged"] for s in steps):
        emit({"changed": False, "agents": [s.to_dict() for s in steps]}, args.output,
             f"Nothing to change: {len(steps)} agent{'s' if len(steps) > 1 else ''} "
             "as the manifest says")
        return 0
    if args.dry_run:
        emit({"changed": True, "dry_run": True, "agents": [s.to_dict() for s in steps]},
             args.output, "\n".join(f"{s.agent}: would {', '.join(s.actions)}" for s in steps))
        return 0
    execute(client, steps, report)
    emit({"changed": True, "agents": [s.to_dict() for s in steps]}, args.output, None)
    return 0
