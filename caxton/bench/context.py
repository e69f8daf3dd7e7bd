"""What every benchmark is handed: the plan, a scratch folder, Ray (or why not).

Benchmarks stay plain functions ``run(ctx) -> results``; the context is the one
place that knows where nodes keep their data, whether they run under the
profiler and how progress is reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caxton.bench.errors import BenchUnavailable
from caxton.bench.nodes import PROJECT_ROOT, BenchNode, child_env
from caxton.bench.plan import Plan
from caxton.bench.raybench import RaySession
from caxton.bench.results import Measurement

#: What a benchmark returns: a measurement per figure key, or why it is missing.
Results = dict[str, Measurement | str]


@dataclass
class Context:
    plan: Plan
    workdir: Path
    ray: RaySession | None
    profile_dir: Path | None = None
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)
    #: added to every node's command line (``--node-arg``: a setting's cost, a bisect)
    node_args: Sequence[str] = ()

    def node(self, name: str, *, extra: Sequence[str] = ()) -> BenchNode:
        """A fresh node for one benchmark; ``extra`` adds to its command line."""
        profile = None if self.profile_dir is None else self.profile_dir / f"{name}.node.prof"
        return BenchNode(self.workdir / name, profile_to=profile,
                         extra=(*self.node_args, *extra))


HELPERS = Path(__file__).resolve().parent


def run_helper(program: str, *args: str, timeout: float = 300.0) -> Any:
    """Run a helper interpreter and parse the JSON it prints.

    ``program`` is a script beside this module (``forkbase.py``: run by path, so
    the interpreter imports nothing of the project and stays lean) or a module
    name (``caxton.bench.handleworker``: run with ``-m``).
    """
    target = [str(HELPERS / program)] if program.endswith(".py") else ["-m", program]
    try:
        done = subprocess.run([sys.executable, *target, *args], capture_output=True,
                              text=True, timeout=timeout, env=child_env(), cwd=str(PROJECT_ROOT),
                              check=False)
    except subprocess.TimeoutExpired:
        raise BenchUnavailable(f"{program} {' '.join(args)} took over {timeout:g}s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchUnavailable(f"{program} failed: {last}")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        raise BenchUnavailable(f"{program} printed no JSON: {done.stdout[:200]!r}") from None
