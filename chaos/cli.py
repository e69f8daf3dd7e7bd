"""``python -m chaos``: run a scenario, list the scenarios, or print a schedule.

Exit codes are the verdict: 0 PASS, 1 FAIL, 2 a usage error (reported on one
line, never as a traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

from chaos.config import RunConfig, random_seed
from chaos.errors import HarnessError, UsageError
from chaos.report import format_summary, write_report
from chaos.scenarios import SCENARIOS

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints the whole usage)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m chaos",
                     description="Fault-injection runs against a Caxton node, with a verdict.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run a scenario and judge it (exit code = verdict)")
    _add_plan_arguments(run)
    run.add_argument("--rate", type=float, default=1000.0,
                     help="messages per second over all workload agents (default 1000)")
    run.add_argument("--report", type=Path, help="write the JSON report to this file")
    run.add_argument("--node", metavar="ADDR",
                     help="use this running node instead of starting one (no node crashes)")
    run.add_argument("--call-share", type=float, default=0.05,
                     help="share of the messages sent as calls rather than sends (default 0.05)")
    run.add_argument("--node-arg", action="append", default=[], metavar="ARG",
                     help="extra argument for the node the harness starts (repeatable)")
    run.add_argument("--prefix", help="prefix for the agents' names")
    run.add_argument("--keep-data", action="store_true",
                     help="keep the started node's data folder and log")
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    commands.add_parser("scenarios", help="list the scenarios")

    schedule = commands.add_parser("schedule", help="print the faults a run would inject")
    _add_plan_arguments(schedule)
    return parser


def _add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS),
                        metavar="NAME", help=f"one of: {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, help="fault schedule seed (default: random)")
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds of load and faults (default 60)")
    parser.add_argument("--agents", type=int, default=4,
                        help="ledger agents in the workload (default 4)")
    parser.add_argument("--counters", type=int, default=0,
                        help="counter agents (examples/agents/counter.wat) too (default 0)")


def _config(args: argparse.Namespace) -> RunConfig:
    return RunConfig(
        scenario=args.scenario,
        seed=random_seed() if args.seed is None else args.seed,
        duration=args.duration,
        rate=getattr(args, "rate", 1000.0),
        agents=args.agents,
        counters=args.counters,
        call_share=getattr(args, "call_share", 0.05),
        report=getattr(args, "report", None),
        node=getattr(args, "node", None),
        node_args=tuple(getattr(args, "node_arg", ())),
        prefix=getattr(args, "prefix", None),
        keep_data=getattr(args, "keep_data", False),
    ).validate()


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "scenarios":
            width = max(len(name) for name in SCENARIOS)
            for scenario in SCENARIOS.values():
                print(f"{scenario.name:{width}} {scenario.description}")
            return EXIT_PASS
        config = _config(args)
        if args.command == "schedule":
            from chaos.runner import plan

            for fault in plan(config):
                print(json.dumps(fault.to_dict()))
            return EXIT_PASS
        return _run(config, quiet=args.quiet)
    except UsageError as exc:
        print(f"chaos: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("chaos: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader stopped (`| head`): not an error; stdout goes nowhere from now on,
        # so the interpreter's last flush does not fail again on the way out
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PASS


def _run(config: RunConfig, *, quiet: bool) -> int:
    from chaos.runner import run

    def progress(line: str) -> None:
        if not quiet:
            print(f"chaos: {line}", file=sys.stderr, flush=True)

    try:
        result = run(config, progress)
    except HarnessError as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        print("FAIL")
        return EXIT_FAIL
    if config.report is not None:
        write_report(result.report, config.report)
    print(format_summary(result.report))
    if result.report["reasons"] and result.report["reasons"][0].startswith("interrupted"):
        return EXIT_INTERRUPTED
    return result.exit_code
