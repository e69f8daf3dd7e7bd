"""Rendering command results as text for people or JSON for tools."""

from __future__ import annotations

import json
import sys
from typing import Any

from caxton.status import AgentStatus

STATUS_COLUMNS = ("name", "state", "pid", "restarts", "messages_handled", "mailbox_depth",
                  "health", "last_failure")


def emit(data: Any, output: str, text: str | None = None) -> None:
    if output == "json":
        json.dump(data, sys.stdout, indent=2, default=_jsonable)
        sys.stdout.write("\n")
    elif text is not None:
        print(text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return render_bytes(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render_bytes(value: bytes) -> str:
    """UTF-8 text when it is text, else hex prefixed with ``0x``."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + value.hex()
    return text if text.isprintable() or not text else "0x" + value.hex()


def status_table(statuses: list[AgentStatus]) -> str:
    return table(STATUS_COLUMNS, [[getattr(s, c) for c in STATUS_COLUMNS] for s in statuses],
                 "(no agents)")


#: the columns of ``caxton cluster status``
NODE_COLUMNS = ("name", "state", "address", "lease_age_s", "agents", "epoch")


def nodes_table(nodes: list[dict[str, Any]]) -> str:
    rows = [[f"{n['name']} *" if n.get("self") else n["name"],
             *(n.get(c) for c in NODE_COLUMNS[1:])] for n in nodes]
    return table(NODE_COLUMNS, rows, "(no nodes)") + "\n* the node asked"


def table(columns: tuple[str, ...], values: list[list[Any]], empty: str) -> str:
    """Columns padded to their widest cell, a header in capitals."""
    rows = [[_cell(v) for v in row] for row in values]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines) if rows else lines[0] + "\n" + empty


def status_detail(status: AgentStatus) -> str:
    lines = [f"{k:>17}: {_cell(v)}" for k, v in status.to_dict().items() if k != "instances"]
    return "\n".join([*lines, "", instances_table(status)])


def instances_table(status: AgentStatus) -> str:
    """One row per instance behind the agent's name (``caxton agents scale``)."""
    rows = [f"{'INSTANCE':>8}  {'PID':>7}  {'STATE':<9} {'HEALTH':<10} {'MAILBOX':>7}  "
            f"{'HANDLED':>9}  {'RESTARTS':>8}  VERSION"]
    rows += [f"{i['index']:>8}  {_cell(i['pid']):>7}  {i['state']:<9} {i['health']:<10.10} "
             f"{i['mailbox_depth']:>7}  {i['messages_handled']:>9}  {i['restarts']:>8}  "
             f"{i['version']}" for i in status.instances]
    return "\n".join(rows)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)
