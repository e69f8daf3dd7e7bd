"""``python -m caxton.bench.before --before DIR``: this checkout's node against another's.

A change that touches the message path must keep the call and pipeline
figures within a few percent of what they were before it. Two full benchmark
runs, one after the other, cannot tell: on a shared 2-core machine the same
node measured twice in a row differs by up to 10%, and which of two nodes
lands where the scheduler favours decides a comparison more than the code.

So this runs many independent *pairs*: each pair is a fresh node of the other
checkout (its own ``.venv/bin/python``) beside a fresh node of this one, an
echo agent on each, measured in turns (which node goes first alternates), and
each figure of the pair is the ratio of this node's median to the other's.
The verdict is the median ratio over the pairs, printed with the spread of
the pairs; ``--same`` runs the other checkout on both sides, which measures
the method's own noise floor the same way.

The client is this checkout's on both sides: the figures compare nodes and
agent processes, with the same client cost on each side.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import caxton
from caxton.bench.agents import HEALTH_OFF, echo_module
from caxton.bench.plan import PAYLOAD_BYTES
from caxton.bench.stats import median, percentile
from caxton.bench.timing import clock, quiet_gc
from caxton.bench.workloads.pipeline import call_job, send_job
from caxton.launch import PROJECT_ROOT, free_loopback_address, stop_node, wait_until_serving

#: sequential calls per turn, messages per pipelined turn, agents of the fan-out
CALLS, MESSAGES, FAN_OUT = 400, 2000, 10
#: how far this node's median may be from the other's and still be "the same"
TOLERANCE = 0.05


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    higher_is_better: bool  # a rate (True) or a time (False)


FIGURES = (
    Figure("call", "call round trip", False),
    Figure("call_many", "call_many -> 1 agent", True),
    Figure("send_many", "send_many -> 1 agent", True),
    Figure("send_many.10", f"send_many -> {FAN_OUT} agents", True),
)


@contextmanager
def _node(tree: Path, extra: Sequence[str], folder: Path) -> Iterator[str]:
    """A node of the checkout at ``tree``, run by that checkout's interpreter."""
    python = tree / ".venv" / "bin" / "python"
    address = free_loopback_address()
    if (tree / "caxton" / "observe").is_dir() and "--http" not in extra:
        extra = ("--http", "none", *extra)  # two nodes must not both take the default port
    with open(folder / "node.log", "wb") as log:
        process = subprocess.Popen(
            [str(python if python.exists() else sys.executable), "-m", "caxton.node",
             "--data-dir", str(folder / "data"), "--listen", address,
             "--log-level", "warning", *extra],
            cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)), stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until_serving(address, process, timeout=60)
        yield address
    finally:
        stop_node(process)


class _Side:
    """One node of a pair: its agents, and a client per agent."""

    def __init__(self, stack: ExitStack, address: str) -> None:
        self.clients = [stack.enter_context(caxton.connect(address, timeout=60))
                        for _ in range(FAN_OUT)]
        self.names = [f"echo{i}" for i in range(FAN_OUT)]
        for client, name in zip(self.clients, self.names, strict=True):
            client.spawn(name, echo_module(), health=HEALTH_OFF, mailbox=4 * MESSAGES)
        self.samples: dict[str, list[float]] = {f.key: [] for f in FIGURES}

    def turn(self, payload: bytes) -> None:
        client, name = self.clients[0], self.names[0]
        with quiet_gc():
            started = clock()
            for _ in range(CALLS):
                client.call(name, payload)
            self.samples["call"].append((clock() - started) / CALLS)
            for key, job in (("call_many", call_job), ("send_many", send_job)):
                started = clock()
                job(client, name, [payload] * MESSAGES)
                self.samples[key].append(MESSAGES / (clock() - started))
        self.samples["send_many.10"].append(self._fan_out(payload))

    def _fan_out(self, payload: bytes) -> float:
        each = [payload] * (MESSAGES // FAN_OUT)
        errors: list[BaseException] = []

        def work(client: caxton.Client, name: str) -> None:
            try:
                send_job(client, name, each)
            except BaseException as exc:  # re-raised below, in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=pair)
                   for pair in zip(self.clients, self.names, strict=True)]
        started = clock()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return len(each) * FAN_OUT / (clock() - started)


def measure_pair(before: Path, current: Path, extra: Sequence[str], rounds: int,
                 say: Callable[[str], None]) -> dict[str, float]:
    """One pair of fresh nodes; per figure, this node's median over the other's."""
    payload = os.urandom(PAYLOAD_BYTES)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="caxton-before-") as tmp:
        folders = {name: Path(tmp) / name for name in ("before", "current")}
        for folder in folders.values():
            folder.mkdir()
        sides = {
            "before": _Side(stack, stack.enter_context(_node(before, (), folders["before"]))),
            "current": _Side(stack, stack.enter_context(
                _node(current, extra, folders["current"]))),
        }
        for side in sides.values():  # warm both before anything counts
            side.turn(payload)
            side.samples = {f.key: [] for f in FIGURES}
        for turn in range(rounds):
            order = ("before", "current") if turn % 2 == 0 else ("current", "before")
            for name in order:
                sides[name].turn(payload)
        ratios = {}
        for figure in FIGURES:
            mine = median(sides["current"].samples[figure.key])
            theirs = median(sides["before"].samples[figure.key])
            # always "current relative to before", > 1 meaning better
            ratios[figure.key] = mine / theirs if figure.higher_is_better else theirs / mine
        say("  pair: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
        return ratios


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m caxton.bench.before",
        description="This checkout's node against another checkout's, in many fresh pairs.")
    parser.add_argument("--before", required=True, type=Path,
                        help="the other checkout (with its own .venv, or this interpreter)")
    parser.add_argument("--pairs", type=int, default=12, help="fresh node pairs (default 12)")
    parser.add_argument("--rounds", type=int, default=8,
                        help="turns per node in each pair (default 8)")
    parser.add_argument("--same", action="store_true",
                        help="run the other checkout on both sides: the method's noise floor")
    parser.add_argument("--node-arg", action="append", default=[], metavar="ARG",
                        help="an argument for this checkout's node (repeatable)")
    args = parser.parse_args(argv)
    if not (args.before / "caxton" / "node").is_dir():
        parser.error(f"--before {args.before}: not a Caxton checkout")
    if args.pairs < 1 or args.rounds < 1:
        parser.error("--pairs and --rounds must be at least 1")
    current = args.before if args.same else PROJECT_ROOT
    extra = () if args.same else tuple(args.node_arg)
    print(f"before: {args.before}  current: {current} {' '.join(extra)}".rstrip(), flush=True)
    pairs = [measure_pair(args.before, current, extra, args.rounds,
                          lambda line: print(line, flush=True)) for _ in range(args.pairs)]
    print(f"\ncurrent / before over {len(pairs)} pairs (> 1: current better; within "
          f"{TOLERANCE:.0%} passes)")
    worst = 1.0
    for figure in FIGURES:
        values = [pair[figure.key] for pair in pairs]
        middle = median(values)
        worst = min(worst, middle)
        print(f"  {figure.label:<24} median {middle:.3f}   pairs p25 "
              f"{percentile(values, 25):.3f} .. p75 {percentile(values, 75):.3f}"
              f"   {'within' if middle >= 1 - TOLERANCE else 'NOT within'} {TOLERANCE:.0%}")
    return 0 if worst >= 1 - TOLERANCE else 1


if __name__ == "__main__":
    raise SystemExit(main())
