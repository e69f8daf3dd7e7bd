"""Where the node's time goes: cProfile summaries of the node processes of a run.

``--profile DIR`` starts every node under ``python -m cProfile``; each node
writes ``DIR/<benchmark>.node.prof`` when it exits, and this module turns each
into a short text summary (the functions with the most time of their own, and
the most time including callees). Figures measured under the profiler are
slower than normal ones: they say where time goes, not how much there is.
"""

from __future__ import annotations

import io
import pstats
from pathlib import Path

TOP = 25


def summarise(profile: Path, top: int = TOP) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(profile), stream=out)
    stats.strip_dirs()
    out.write(f"== {profile.name}: by own time ==\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write(f"== {profile.name}: by cumulative time ==\n")
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def write_summaries(directory: Path) -> list[Path]:
    """Write ``NAME.txt`` beside every ``NAME.prof`` in ``directory``; return the text files."""
    written = []
    for profile in sorted(directory.glob("*.prof")):
        try:
            text = summarise(profile)
        except (OSError, EOFError, TypeError, ValueError) as exc:
            text = f"{profile.name}: unreadable profile ({exc})\n"
        target = profile.with_suffix(".txt")
        target.write_text(text)
        written.append(target)
    return written
