"""The report: a plain-text table for people, JSON for tools, both from the same rows.

The JSON carries everything the table shows plus the machine, the versions and
each row's raw detail, so a run can be compared with another one later.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from caxton.bench.nodes import PROJECT_ROOT
from caxton.bench.plan import Plan
from caxton.bench.results import OK, Row

PACKAGES = ("wasmtime", "pyzmq", "msgpack", "psutil")
COLUMNS = ("figure", "median", "p95/p99", "baseline", "vs baseline", "target", "met")


@dataclass(frozen=True)
class Report:
    meta: dict[str, Any]
    rows: list[Row]

    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "rows": [row.to_dict() for row in self.rows]}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def environment(plan: Plan) -> dict[str, Any]:
    """Where and with what the figures were taken."""
    import zmq

    import caxton

    versions: dict[str, str | None] = {"caxton": caxton.__version__,
                                       "python": platform.python_version()}
    versions.update({p: _version(p) for p in PACKAGES})
    versions["libzmq"] = zmq.zmq_version()
    versions["ray"] = None  # filled in once Ray has (or has not) started
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if plan.quick else "full",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.machine()},
        "versions": versions,
        "commit": _git_commit(),
    }


def number(value: float | None) -> str:
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def with_unit(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{number(value)} {unit}"


def ratio_text(ratio: float | None) -> str:
    """The ratio as words: ``3.10x better`` or ``8.3x worse`` than the baseline. A bare
    ``0.12x`` reads as "twelve percent of" or as "a tenth as good" alike."""
    if ratio is None or ratio <= 0:
        return "-"
    return f"{ratio:.2f}x better" if ratio >= 1 else f"{1 / ratio:.2f}x worse"


def cells(row: Row) -> list[str]:
    f = row.figure
    if row.status != OK:
        note = row.status if not row.reason or row.status == "not installed" else (
            f"{row.status}: {row.reason}")
        target = f.target.text if f.target else "-"
        return [f.title, note, "", "", "", target, "-"]
    tail = "-" if row.tail is None or f.tail is None else f"{f.tail} {with_unit(row.tail, f.unit)}"
    ratio = ratio_text(row.ratio)
    met = {None: "-", True: "met", False: "NOT MET"}[row.met]
    return [f.title, with_unit(row.value, f.unit), tail, with_unit(row.baseline, f.unit), ratio,
            f.target.text if f.target else "-", met]


def render_table(report: Report) -> str:
    """The table: fixed columns; a row that was not measured says why in place of numbers."""
    table = [list(COLUMNS)] + [cells(row) for row in report.rows]
    measured = [c for c, row in zip(table[1:], report.rows, strict=True) if row.status == OK]
    widths = [max(len(c[i]) for c in [table[0], *measured]) for i in range(len(COLUMNS))]
    lines = []
    for line_cells, row in zip(table, [None, *report.rows], strict=True):
        if row is not None and row.status != OK:
            figure, note = line_cells[0], line_cells[1]
            lines.append(f"{figure:<{widths[0]}}  {note}")
            continue
        parts = [line_cells[0].ljust(widths[0])]
        parts += [c.rjust(widths[i]) for i, c in enumerate(line_cells[1:5], start=1)]
        parts += [line_cells[5].ljust(widths[5]), line_cells[6]]
        lines.append("  ".join(parts).rstrip())
    meta = report.meta
    versions = meta.get("versions", {})
    header = (f"Caxton benchmarks, {meta.get('mode')} run, {meta.get('date')}, "
              f"{meta.get('machine', {}).get('cpus')} CPUs, Python {versions.get('python')}, "
              f"wasmtime {versions.get('wasmtime')}, pyzmq {versions.get('pyzmq')}, "
              f"commit {meta.get('commit')}, {meta.get('duration_s')} s")
    footer = ("ratio: times better than the comparison (comparison time / Caxton time, "
              "Caxton rate / comparison rate); MB = 10^6 bytes")
    return "\n".join([header, "", *lines, "", footer])
