"""An agent's status as the node reports it (``status``, ``list``, stop and spawn replies).

Built from the record alone, plus the process's resident memory read at the
moment of asking; the client reads it into ``caxton.AgentStatus``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psutil

from caxton.node.records import AgentRecord


def instance_status(rec: AgentRecord) -> dict[str, Any]:
    """One instance of an agent (``status``'s ``instances``)."""
    return {"index": rec.index, "pid": rec.pid, "state": str(rec.lifecycle.state),
            "health": rec.health if rec.pid is not None else "no instance",
            "mailbox_depth": rec.depth, "messages_handled": rec.handled,
            "messages_failed": rec.failed, "restarts": rec.restarts,
            "version": rec.version or rec.spec.module_sha256[:12]}


def agent_status(rec: AgentRecord) -> dict[str, Any]:
    status = _one_status(rec)
    status["node"] = rec.node or None
    group = rec.group
    if group is None:
        status["instances"] = [instance_status(rec)]
        return status
    # a scaled agent: each instance, and the agent's counts summed over them
    shown = list(group.members) + [i for i in group.leaving if i not in group.members]
    status["instances"] = [instance_status(i) for i in shown]
    for field, attribute in (("messages_handled", "handled"), ("messages_failed", "failed"),
                             ("restarts", "restarts"), ("mailbox_depth", "depth")):
        status[field] = sum(getattr(i, attribute) for i in shown)
    return status


def _one_status(rec: AgentRecord) -> dict[str, Any]:
    rss = 0
    if rec.pid is not None:
        with contextlib.suppress(psutil.Error):  # the process just went away
            rss = psutil.Process(rec.pid).memory_info().rss
    return {
        "name": rec.name,
        "state": str(rec.lifecycle.state),
        "module_sha256": rec.spec.module_sha256,
        "version": rec.version or rec.spec.module_sha256[:12],
        "pid": rec.pid,
        # an agent without an instance (stopped, failed, between two) has no uptime
        # and no health: showing the last instance's would say it still runs
        "uptime_s": (None if rec.started_at is None or rec.pid is None
                     else time.time() - rec.started_at),
        "restarts": rec.restarts,
        "last_failure": rec.last_failure,
        "memory_bytes": rec.memory_bytes,
        "rss_bytes": rss,
        "fuel_consumed": rec.fuel_consumed,
        "messages_handled": rec.handled,
        "messages_failed": rec.failed,
        "logs_dropped": rec.logs_dropped,
        "sends_over_quota": rec.sends_over_quota,
        "violations": rec.violations,
        "mailbox_depth": rec.depth,
        "health": (rec.health if rec.pid is not None or rec.health == "down"
                   else "no instance"),
        "monitors": len(rec.monitors),
        "restart": rec.spec.restart,
        "policy": rec.spec.policy_kind,
    }
