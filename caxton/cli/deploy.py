"""``caxton deploy``, ``caxton deployments list|show`` and ``caxton rollback``.

``deploy`` prints each stage as the node completes it, in ADR-0008's style
(``✓ Validation passed (0.8s)``): it starts the deployment without waiting and
follows it with ``deployment`` requests until it is live or over.
``--no-wait`` prints the deployment's id and returns at once.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from caxton.cli.output import emit
from caxton.cli.parsing import add_common_options
from caxton.client import Client
from caxton.deployments import Deployment

#: how often ``deploy`` asks the node how its deployment is going
FOLLOW_SECONDS = 0.05
#: states a deployment reaches once it is live or over
SETTLED = ("running", "failed", "rolled_back", "retired", "draining")


def add_parsers(subparsers: Any) -> None:
    deploy = subparsers.add_parser("deploy", help="put a new version of an agent live")
    deploy.add_argument("name")
    deploy.add_argument("module", help="a .wasm or .wat file")
    deploy.add_argument("--strategy", default="immediate",
                        choices=["immediate", "rolling", "blue-green", "blue_green"])
    deploy.add_argument("--batch-size", type=int, default=1, dest="batch_size",
                        help="instances switched at a time (rolling)")
    deploy.add_argument("--version", default=None, help="a label for the version")
    deploy.add_argument("--warm-up", type=float, default=None, dest="warm_up",
                        help="seconds the new version warms up before the switch, at least")
    deploy.add_argument("--keep-previous", type=float, default=300.0, dest="keep_previous",
                        help="seconds the previous version is kept for a fast rollback")
    deploy.add_argument("--no-wait", action="store_true", dest="no_wait",
                        help="return once the deployment started")
    add_common_options(deploy)

    deployments = subparsers.add_parser("deployments", help="an agent's versions")
    verbs = deployments.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="every version of an agent, oldest first")
    listing.add_argument("name")
    show = verbs.add_parser("show", help="one deployment, with its stages and events")
    show.add_argument("id", type=int)
    for leaf in verbs.choices.values():
        add_common_options(leaf)

    rollback = subparsers.add_parser("rollback", help="bring back an agent's previous version")
    rollback.add_argument("target", metavar="NAME|ID")
    add_common_options(rollback)


def _stage_line(stage: dict[str, Any]) -> str:
    mark = "✓" if stage.get("ok", True) else "✗"
    return f"{mark} {stage['text']} ({float(stage['seconds']):.1f}s)"


def run_deploy(args: argparse.Namespace, client: Client) -> int:
    dep = client.deploy(args.name, args.module, strategy=args.strategy, version=args.version,
                        batch_size=args.batch_size, warm_up=args.warm_up,
                        keep_previous=args.keep_previous, wait=False)
    text = args.output == "text"
    if args.no_wait:
        emit(dep.to_dict(), args.output, f"→ Deployment {dep.id} of {dep.agent} started "
             f"({dep.strategy}, version {dep.version}): caxton deployments show {dep.id}")
        return 0
    printed = 0
    while True:
        for stage in dep.stages[printed:]:
            if text:
                print(_stage_line(stage), flush=True)
        printed = len(dep.stages)
        if dep.state in SETTLED:
            break
        time.sleep(FOLLOW_SECONDS)
        dep = client.deployment(dep.id)
    if text:
        if dep.state == "running":
            print(f"→ Agent {dep.agent} runs version {dep.version} (deployment {dep.id})")
            print("→ Receiving messages")
        else:
            print(f"→ Deployment {dep.id} {dep.state.replace('_', ' ')}: {dep.reason}")
    else:
        emit(dep.to_dict(), "json")
    return 0 if dep.state == "running" else 1


def run_deployments(args: argparse.Namespace, client: Client) -> int:
    if args.verb == "list":
        found = client.deployments(args.name)
        emit([d.to_dict() for d in found], args.output, _table(found))
        return 0
    dep = client.deployment(args.id)
    emit(dep.to_dict(), args.output, _detail(dep))
    return 0


def run_rollback(args: argparse.Namespace, client: Client) -> int:
    target: str | int = int(args.target) if args.target.isdigit() else args.target
    started = time.monotonic()
    dep = client.rollback(target, timeout=max(args.request_timeout, 60.0))
    lines = [_stage_line(s) for s in dep.stages if s["name"] in ("divert", "restore")]
    lines.append(f"→ Rollback complete in {time.monotonic() - started:.1f}s: "
                 f"{dep.agent} runs {(dep.previous or {}).get('version')} again")
    emit(dep.to_dict(), args.output, "\n".join(lines))
    return 0


def _table(found: list[Deployment]) -> str:
    columns = ("id", "version", "strategy", "state", "created", "reason")
    rows = [[str(d.id), d.version, d.strategy, d.state,
             time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.created)), d.reason[:60]]
            for d in found]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _detail(dep: Deployment) -> str:
    head = [f"deployment {dep.id}: {dep.agent} version {dep.version} ({dep.strategy})",
            f"  state: {dep.state}{' (finalised)' if dep.finalised else ''}",
            f"  module: {dep.sha256}"]
    if dep.previous:
        head.append(f"  previous: version {dep.previous.get('version')} "
                    f"({str(dep.previous.get('sha256'))[:12]})")
    if dep.reason:
        head.append(f"  reason: {dep.reason}")
    head += [f"  {_stage_line(s)}" for s in dep.stages]
    head += [f"  {time.strftime('%H:%M:%S', time.localtime(e['time']))} "
             f"{e['from']} -> {e['to']}: {e['reason']}" for e in dep.events]
    return "\n".join(head)
