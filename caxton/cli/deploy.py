"""``caxton deploy``, ``deployments list|show``, ``rollback``, ``promote`` and ``abort``.

``deploy`` prints each stage as the node completes it, in ADR-0008's style
(``✓ Validation passed (0.8s)``): it starts the deployment without waiting and
follows it with ``deployment`` requests until it is live or over.
``--no-wait`` prints the deployment's id and returns at once. A canary prints
its stages, the figures each stage ended on and the verdict as they happen.
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
                        choices=["immediate", "rolling", "blue-green", "blue_green", "canary",
                                 "traffic-splitting", "traffic_splitting", "shadow",
                                 "parallel"])
    deploy.add_argument("--duration", type=float, default=None,
                        help="shadow: seconds the new version is compared with the live one")
    deploy.add_argument("--stages", type=_stages, default=None,
                        help="canary stages as PERCENT:SECONDS,... (default 5:300,25:600,"
                             "50:600,100:0)")
    deploy.add_argument("--error-rate", type=float, default=None, dest="error_rate",
                        help="canary: roll back above this error rate (default 0.01)")
    deploy.add_argument("--p99-latency-ms", type=float, default=None, dest="p99_latency_ms",
                        help="canary: roll back above this p99 latency (default 100)")
    deploy.add_argument("--analysis-interval", type=float, default=None,
                        dest="analysis_interval", help="canary: seconds between verdicts")
    deploy.add_argument("--min-samples", type=int, default=None, dest="min_samples",
                        help="canary: messages each side needs before a verdict")
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

    promote = subparsers.add_parser("promote", help="a canary's next stage now")
    promote.add_argument("id", type=int)
    promote.add_argument("--full", action="store_true", help="straight to 100%%")
    add_common_options(promote)
    abort = subparsers.add_parser("abort", help="roll a canary back now (reason manual)")
    abort.add_argument("id", type=int)
    add_common_options(abort)

    rollback = subparsers.add_parser("rollback", help="bring back an agent's previous version")
    rollback.add_argument("target", metavar="NAME|ID")
    add_common_options(rollback)


def _stages(text: str) -> list[tuple[float, float]]:
    """``5:300,25:600`` -> [(5, 300), (25, 600)] (argparse turns a ValueError into one
    line naming the option)."""
    stages = []
    for part in text.split(","):
        percent, sep, seconds = part.partition(":")
        if not sep:
            raise ValueError(part)
        stages.append((float(percent), float(seconds)))
    return stages


def _stage_line(stage: dict[str, Any]) -> str:
    mark = stage.get("mark") or ("✓" if stage.get("ok", True) else "✗")
    seconds = stage.get("seconds")
    return f"{mark} {stage['text']}" + (f" ({float(seconds):.1f}s)" if seconds is not None
                                         else "")


def run_deploy(args: argparse.Namespace, client: Client) -> int:
    canary: dict[str, Any] = {}
    if args.strategy.replace("-", "_") in ("canary", "traffic_splitting"):
        rollback_on = {k: v for k, v in (("error_rate", args.error_rate),
                                         ("p99_latency_ms", args.p99_latency_ms))
                       if v is not None}
        canary = {k: v for k, v in (("stages", args.stages), ("rollback_on", rollback_on or None),
                                    ("analysis_interval", args.analysis_interval),
                                    ("min_samples", args.min_samples)) if v is not None}
    if args.duration is not None:
        canary["duration"] = args.duration
    dep = client.deploy(args.name, args.module, strategy=args.strategy, version=args.version,
                        batch_size=args.batch_size, warm_up=args.warm_up,
                        keep_previous=args.keep_previous, wait=False, **canary)
    text = args.output == "text"
    if args.no_wait:
        emit(dep.to_dict(), args.output, f"→ Deployment {dep.id} of {dep.agent} started "
             f"({dep.strategy}, version {dep.version}): caxton deployments show {dep.id}")
        return 0
    for event in client.follow(dep.id, poll=FOLLOW_SECONDS):
        if text:
            print(_stage_line(event), flush=True)
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


def run_promote(args: argparse.Namespace, client: Client) -> int:
    dep = client.promote(args.id, to_full=args.full)
    emit(dep.to_dict(), args.output, f"→ Deployment {dep.id} of {dep.agent}: promoting "
         f"{'to 100%' if args.full else 'to its next stage'}")
    return 0


def run_abort(args: argparse.Namespace, client: Client) -> int:
    dep = client.abort(args.id, timeout=max(args.request_timeout, 60.0))
    emit(dep.to_dict(), args.output, f"→ Deployment {dep.id} of {dep.agent} {dep.state}: "
         f"{dep.reason}")
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
    report = dep.report or {}
    if "equivalence" in report:
        head.append(f"  equivalence: {100 * report['equivalence']:.2f}% ({report['equal']} of "
                    f"{report['compared']} outputs equal, {report['skipped']} skipped)")
        head.append(f"  {'':8}{'messages':>10}{'errors':>8}{'p50 ms':>10}{'p99 ms':>10}"
                    f"{'fuel/msg':>12}{'memory':>12}")
        for who in ("live", "shadow"):
            side = report[who]
            head.append(f"  {who:8}{side['messages']:>10}{side['errors']:>8}"
                        f"{side['p50_ms']:>10.4g}{side['p99_ms']:>10.4g}"
                        f"{side['fuel_per_message']:>12.1f}{side['memory_bytes']:>12}")
    if dep.canary and not dep.canary.get("shadow"):
        plan = dep.canary
        head.append(f"  canary: stage {plan.get('stage')} at {plan.get('percent'):g}% of "
                    f"{[f'{p:g}%/{t:g}s' for p, t in plan.get('stages', [])]}")
        for verdict in plan.get("verdicts", [])[-5:]:
            f = verdict["figures"]
            head.append(f"    {verdict['percent']:g}%: {verdict['decision']}"
                        f"{' (' + verdict['reason'] + ')' if verdict['reason'] else ''} "
                        f"errors {100 * f['canary_error_rate']:.2f}% vs "
                        f"{100 * f['baseline_error_rate']:.2f}%, p99 {f['canary_p99_ms']:.3g}ms "
                        f"vs {f['baseline_p99_ms']:.3g}ms, samples {f['canary_samples']} vs "
                        f"{f['baseline_samples']}")
    head += [f"  {time.strftime('%H:%M:%S', time.localtime(e['time']))} "
             f"{e['from']} -> {e['to']}: {e['reason']}" for e in dep.events]
    return "\n".join(head)
