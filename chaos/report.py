"""The run's JSON report and the few lines a person reads at the end.

The report carries everything needed to judge or replay the run: the
configuration (seed included), the planned schedule, every fault as it
happened, the message accounting per agent, the recovery times, node liveness
and the verdict with its reasons.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chaos.checker import Verdict
from chaos.config import RunConfig
from chaos.faults import FaultRecord
from chaos.scenarios import NODE_CRASH
from chaos.schedule import PlannedFault
from chaos.workload import (
    FLOOD_MAILBOX,
    MAX_ATTEMPTS,
    MAX_MESSAGE_BYTES,
    WORKLOAD_HEALTH,
    WORKLOAD_INTENSITY,
    AgentSet,
)

REPORT_VERSION = 1


def build_report(config: RunConfig, schedule: Sequence[PlannedFault], agents: AgentSet,
                 verdict: Verdict, records: Sequence[FaultRecord], liveness: dict[str, Any],
                 timing: dict[str, Any], node_log: Path | None = None,
                 cluster: dict[str, Any] | None = None) -> dict[str, Any]:
    injected = [r for r in records if r.status == "injected"]
    report = {
        "report_version": REPORT_VERSION,
        "verdict": verdict.label,
        "reasons": verdict.reasons,
        "warnings": verdict.warnings,
        "config": config.to_dict(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "agents": {
            "ledgers": list(agents.ledgers),
            "counters": list(agents.counters),
            "flood_victim": agents.flood_victim,
            "spawn": {"intensity": WORKLOAD_INTENSITY, "health": WORKLOAD_HEALTH,
                      "max_message_bytes": MAX_MESSAGE_BYTES, "max_attempts": MAX_ATTEMPTS,
                      "flood_victim_mailbox": FLOOD_MAILBOX},
        },
        "timing": timing,
        "messages": verdict.messages,
        "per_agent": verdict.agents,
        "faults": {
            # a node the harness did not start cannot be crashed and restarted
            "excluded_kinds": [NODE_CRASH] if config.node is not None else [],
            "planned": len(schedule),
            "injected": len(injected),
            "by_kind": verdict.faults,
        },
        "recovery": verdict.recovery,
        "dead_letters": verdict.dead_letters,
        "node": liveness,
        # kept only on request (--keep-data): the node's log and data folder
        "node_log": None if node_log is None or not config.keep_data else str(node_log),
        "schedule": [f.to_dict() for f in schedule],
        "fault_log": [r.to_dict() for r in records],
    }
    if cluster is not None:  # the cluster scenarios' nodes, as each saw itself at the end
        report["cluster"] = cluster
    return report


def write_report(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=1, default=str) + "\n")


def format_summary(report: dict[str, Any]) -> str:
    """A dozen lines: the figures that matter and the verdict, reasons first."""
    cfg = report["config"]
    msgs = report["messages"]
    rec = report["recovery"]["all"]
    node = report["node"]
    faults = report["faults"]
    rate = report["timing"].get("achieved_rate", 0)

    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f} ms"

    lines = [
        f"scenario {cfg['scenario']}  seed {cfg['seed']}  duration {cfg['duration']:g}s  "
        f"rate {cfg['rate']:g}/s  agents {cfg['agents']}",
        f"faults: {faults['injected']} injected of {faults['planned']} planned  "
        + "  ".join(f"{kind} {c.get('injected', 0)}" for kind, c in faults["by_kind"].items()),
        f"messages: {msgs.get('attempted', 0)} sent ({rate:g}/s), "
        f"{msgs.get('acknowledged', 0)} acknowledged, "
        f"{msgs.get('unacknowledged', 0)} unacknowledged "
        f"({msgs.get('unacknowledged_applied', 0)} of them applied)",
        f"lost {msgs.get('lost', 0)}  duplicated {msgs.get('duplicated', 0)}",
        f"recovery: p50 {secs(rec['p50_s'])}  p95 {secs(rec['p95_s'])}  "
        f"max {secs(rec['max_s'])}  ({rec['count']} faults)",
        f"node: {node.get('answered', 0)}/{node.get('pings', 0)} pings answered, "
        f"{len(node.get('deliberate_outages', []))} deliberate outages, "
        f"{len(node.get('unexpected', []))} unexpected",
    ]
    cluster = report.get("cluster")
    if cluster is not None:
        nodes = cluster["nodes"]
        lines.append(
            "cluster: " + "  ".join(f"{n} epoch {r.get('epoch')} {r.get('state')}"
                                    for n, r in nodes.items())
            + f"; takeovers {cluster['takeovers']}, fenced "
            + str(sum(int(r.get("fenced", 0)) for r in nodes.values()))
            + "; acknowledged through "
            + "  ".join(f"{n} {c}" for n, c in cluster["acknowledged_through"].items()))
    lines += [f"warning: {w}" for w in report["warnings"]]
    lines += [f"reason: {r}" for r in report["reasons"][:20]]
    if len(report["reasons"]) > 20:
        lines.append(f"... and {len(report['reasons']) - 20} more reasons in the report")
    lines.append(report["verdict"])
    return "\n".join(lines)
