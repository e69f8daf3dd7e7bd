"""``caxton top``: the dashboard's live view in a terminal.

It asks the node for its ``overview`` (the same JSON the dashboard at ``/``
shows) once a second over the management protocol, so it works wherever the
CLI does (keys included), with or without the HTTP endpoint, and redraws with
``rich``. ``--once`` prints one frame and exits (for scripts and tests).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from caxton.client import Client

STATE_STYLES = {"running": "green", "failed": "bold red", "stopped": "dim",
                "draining": "yellow", "loaded": "yellow", "ready": "yellow"}


def add_parser(subparsers: Any) -> None:
    top = subparsers.add_parser("top", help="a live view of the node's agents")
    top.add_argument("--interval", type=float, default=1.0, help="seconds between frames")
    top.add_argument("--once", action="store_true", help="print one frame and exit")


def _bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "-"


def render(overview: dict[str, Any]) -> Group:
    """One frame: the node's line, the agents, the recent DOWNs, deployments."""
    node = overview["node"]
    head = Text.assemble(("caxton ", "bold"), (str(node["name"]), "bold cyan"),
                         f"  pid {node['pid']}  up {node['uptime_s']:.0f}s  "
                         f"{node['agents']} agents  dead letters {overview['dead_letters']}")
    if node.get("recovering"):
        head.append(f"  recovering {node['recovering']['done']}/{node['recovering']['total']}",
                    style="yellow")
    agents = Table(expand=True, header_style="bold")
    for column in ("agent", "state", "version", "inst", "msg/s", "p99", "restarts",
                   "memory / limit", "mailbox", "health"):
        agents.add_column(column, justify="right" if column in (
            "inst", "msg/s", "p99", "restarts", "mailbox") else "left")
    for a in overview["agents"]:
        ratio = a["memory_bytes"] / a["memory_limit_bytes"] if a["memory_limit_bytes"] else 0
        agents.add_row(
            a["name"], Text(a["state"], style=STATE_STYLES.get(a["state"], "")),
            ", ".join(a["versions"]), str(a["instances"]), f"{a['rate']:.1f}",
            "-" if a["p99_ms"] is None else f"{a['p99_ms']:.2f} ms", str(a["restarts"]),
            Text(f"{_bytes(a['memory_bytes'])} / {_bytes(a['memory_limit_bytes'])}",
                 style="red" if ratio > 0.9 else ""),
            str(a["mailbox_depth"]), str(a["health"]))
    downs = Table(title="recent DOWN events", expand=True, show_header=False, box=None)
    for d in overview["downs"][:8]:
        downs.add_row(time.strftime("%H:%M:%S", time.localtime(d["time"])), d["agent"],
                      f"pid {d['pid']}", Text(d["reason"], style="red"),
                      "restarting" if d["restarting"] else "stays down")
    parts: list[Any] = [head, agents, downs if overview["downs"] else Text("no DOWN events",
                                                                        style="dim")]
    if overview["deployments"]:
        deployments = Table(title="deployments in progress", expand=True)
        for column in ("id", "agent", "version", "strategy", "stage", "traffic"):
            deployments.add_column(column)
        for d in overview["deployments"]:
            deployments.add_row(d["id"], d["agent"], d["version"], d["strategy"], d["stage"],
                                f"{d['percentage']}%")
        parts.append(deployments)
    return Group(*parts)


def run(args: argparse.Namespace, client: Client) -> int:
    console = Console()
    if args.once:
        console.print(render(client.overview()))
        return 0
    interval = max(0.1, args.interval)
    with Live(render(client.overview()), console=console, refresh_per_second=4,
              screen=False) as live:
        while True:
            time.sleep(interval)
            live.update(render(client.overview()))
