"""Structured logs: one event per line, as text for people or JSON for collectors.

``--log-format json`` turns every record of every logger into one JSON object
per line (``timestamp``, ``level``, ``logger``, ``message`` and the event's own
fields); ``text`` keeps the familiar ``time level logger: message`` line with
the fields appended as ``key=value``. Events that carry fields go through
``event()``: DOWN and restart events, validation failures, and deployment
stages in ADR-0008's shape (``deployment_id``, ``agent_id``, ``version``,
``stage``, ``percentage``, ``metrics``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

__all__ = ["FORMATS", "JsonFormatter", "TextFormatter", "configure", "event"]

FORMATS = ("text", "json")
#: the attribute a record's structured fields travel in
FIELDS = "caxton_fields"


def event(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log ``message`` with structured ``fields`` (skipped cheaply when the level is off)."""
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={FIELDS: fields})


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line; anything not JSON-serialisable becomes its ``str``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"timestamp": _timestamp(record),
                               "level": record.levelname.lower(),
                               "logger": record.name, "message": record.getMessage()}
        fields = getattr(record, FIELDS, None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` on one line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, FIELDS, None)
        if fields:
            line += " " + " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in fields.items())
        return line.replace("\n", "\\n") if not record.exc_info else line


def configure(level: str = "info", fmt: str = "text") -> None:
    """Set up the root logger of a node process: one handler on stderr, one line per event."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
