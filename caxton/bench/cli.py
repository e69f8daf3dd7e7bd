"""``python -m caxton.bench [--quick] [--only NAME] [--json FILE] [--profile DIR]``.

Prints the table on stdout (progress goes to stderr) and exits 0 whatever the
figures say: a missed target is information, not a failure. Only bad usage
(exit 2) and Ctrl-C (exit 130) end it otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from caxton.bench import catalogue
from caxton.bench.errors import BenchError
from caxton.bench.plan import Plan
from caxton.bench.profiling import write_summaries
from caxton.bench.suite import run_benchmarks


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m caxton.bench",
        description="Measure Caxton's headline figures beside their baselines (and Ray, when"
                    " installed) and print them as a table.")
    p.add_argument("--quick", action="store_true",
                   help="fewer samples and no 1,000-agent run: a smoke run under a minute")
    p.add_argument("--only", action="append", metavar="NAME",
                   help=f"run only these benchmarks (repeat or comma-separate): "
                        f"{', '.join(catalogue.BENCHMARKS)}")
    p.add_argument("--json", metavar="FILE", type=Path,
                   help="also write the report as JSON to FILE ('-' for stdout)")
    p.add_argument("--profile", metavar="DIR", type=Path,
                   help="run the nodes under cProfile and write summaries to DIR"
                        " (figures are then slower than normal)")
    p.add_argument("--data-root", metavar="DIR", type=Path,
                   help="where the nodes keep their data folders (default: the system temp"
                        " folder); the journal's commit cost depends on its file system")
    p.add_argument("--node-arg", action="append", default=[], metavar="ARG", dest="node_args",
                   help="add ARG to every node's command line, e.g. --node-arg=--metrics"
                        " --node-arg=off (repeatable; figures then measure that setting)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and figures")
    return p


def list_figures() -> str:
    lines = []
    for name in catalogue.BENCHMARKS:
        lines.append(name)
        for f in catalogue.figures_of(name):
            extra = " (full run only)" if f.full_only else ""
            lines.append(f"  {f.key:<18} {f.title}{extra}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.list:
        print(list_figures())
        return 0
    if args.json is not None and str(args.json) != "-" and not args.json.parent.is_dir():
        print(f"caxton.bench: cannot write {args.json}: no such folder {args.json.parent}",
              file=sys.stderr)
        return 2
    plan = Plan.for_mode(args.quick)
    try:
        report = run_benchmarks(plan, args.only, profile_dir=args.profile,
                                data_root=args.data_root, node_args=args.node_args)
    except BenchError as exc:
        print(f"caxton.bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("caxton.bench: interrupted", file=sys.stderr)
        return 130
    from caxton.bench.report import render_table

    if args.json is not None and str(args.json) == "-":
        json.dump(report.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(render_table(report))
    if args.json is not None and str(args.json) != "-":
        try:
            args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        except OSError as exc:
            print(f"caxton.bench: cannot write {args.json}: {exc.strerror}", file=sys.stderr)
            return 2
    if args.profile is not None:
        for path in write_summaries(args.profile):
            print(f"profile summary: {path}", file=sys.stderr)
    return 0
