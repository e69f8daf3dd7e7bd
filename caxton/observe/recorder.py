"""The flight recorder: an agent's last messages, kept with the crash that ended them.

Every agent keeps its last ``RING`` acknowledgements (message id, status,
error text, fuel; never the reply, which may be large) in memory: one
``deque.extend(map(PICK, acks))`` per ack batch, in C, nothing in Python per
message. When
an instance dies of something its guest did or could not stop doing
(``CRASH_KINDS``), the recorder writes one crash file beside the store:

* the agent's spec (module hash, limits, policy, init bytes);
* the start state of the dead instance: the latest snapshot and the message it
  covers (or none: the instance started from ``caxton_init``);
* the messages it handled since that snapshot, from the journal, in order;
* the message it died on (the one its process reported, or the oldest one in
  its window for a crash nobody reported, e.g. a hang);
* the recent outcomes from the ring.

That is exactly what ``caxton agents replay`` needs to rebuild the instance
offline and hand it the same message (``caxton.observe.replay``). Files live
in ``DATA/crashes/AGENT/ID.crash`` (msgpack, 0600 like the rest of the data
folder); the newest ``KEPT`` per agent are kept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import deque
from operator import itemgetter
from pathlib import Path
from typing import Any

import msgpack

__all__ = ["CRASH_KINDS", "KEPT", "PICK", "RING", "CrashStore", "capture", "crash_kind", "new_ring"]

log = logging.getLogger("caxton.observe")

#: the deaths worth a crash record: the guest's own doing, or a hang
CRASH_KINDS = frozenset({"trap", "out_of_fuel", "memory_limit", "timeout", "unhealthy",
                         "stack_overflow"})
RING = 64       # acknowledgements kept per agent
KEPT = 20       # crash records kept per agent
MAX_REPLAY = 10_000  # handled messages stored with one crash (snapshot_every is 1,000 by default)


#: what the ring keeps of an ack ``(id, status, text, reply, sends, fuel)``
PICK = itemgetter(0, 1, 2, 5)


def crash_kind(reason: str) -> str:
    """``trap: unreachable ...`` -> ``trap``; the first word of a DOWN reason."""
    return reason.split(":", 1)[0].strip()


def new_ring() -> deque[Any]:
    return deque(maxlen=RING)


class CrashStore:
    """Crash records of one data folder: written by the node, read by ``crashes``/``crash``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "crashes"

    def _folder(self, agent: str) -> Path:
        # agent names are checked by the spec (no path separators); be safe anyway
        return self.root / agent.replace("/", "_")

    def ids(self, agent: str) -> list[int]:
        folder = self._folder(agent)
        if not folder.is_dir():
            return []
        return sorted(int(p.stem) for p in folder.glob("*.crash") if p.stem.isdigit())

    def record(self, agent: str, crash: dict[str, Any]) -> int:
        """Store a crash and return its id; the oldest beyond ``KEPT`` are deleted."""
        folder = self._folder(agent)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        ids = self.ids(agent)
        crash_id = (ids[-1] + 1) if ids else 1
        crash["id"] = crash_id
        path = folder / f"{crash_id}.crash"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(msgpack.packb(crash, use_bin_type=True))
        tmp.replace(path)
        for old in ids[:max(0, len(ids) + 1 - KEPT)]:
            with contextlib.suppress(OSError):
                (folder / f"{old}.crash").unlink()
        return crash_id

    def load(self, agent: str, crash_id: int) -> dict[str, Any] | None:
        path = self._folder(agent) / f"{int(crash_id)}.crash"
        try:
            data = msgpack.unpackb(path.read_bytes(), raw=False)
        except (OSError, ValueError, msgpack.UnpackException):
            return None
        return data if isinstance(data, dict) else None

    def summaries(self, agent: str) -> list[dict[str, Any]]:
        """Each crash without its payloads: what ``caxton agents crashes`` lists."""
        out = []
        for crash_id in self.ids(agent):
            crash = self.load(agent, crash_id)
            if crash is None:
                continue
            message = crash.get("message")
            out.append({"id": crash_id, "time": crash.get("time"), "kind": crash.get("kind"),
                        "reason": crash.get("reason"), "pid": crash.get("pid"),
                        "message_id": message[0] if message else None,
                        "replayed_messages": len(crash.get("replay") or []),
                        "from_snapshot": crash.get("snapshot") is not None})
        return out

    def forget(self, agent: str) -> None:
        folder = self._folder(agent)
        for path in folder.glob("*.crash") if folder.is_dir() else []:
            with contextlib.suppress(OSError):
                path.unlink()


def capture(rec: Any, store: Any, ring: deque[Any], pid: int | None, reason: str,
            blame: Any) -> dict[str, Any]:
    """Everything a replay of this death needs, read before the router puts the window back.

    ``blame`` is the message the death is charged to (a ``Message``), or None.
    """
    spec = rec.spec
    snapshot = store.latest_snapshot(rec.name)
    handled = store.handled_messages(rec.name)[-MAX_REPLAY:]
    return {
        "agent": rec.name,
        "time": time.time(),
        "kind": crash_kind(rec.blame_reason or reason),
        "reason": rec.blame_reason or reason,
        "pid": pid,
        "spec": spec.to_dict(),
        "snapshot": None if snapshot is None else snapshot.state,
        "snapshot_last_message_id": None if snapshot is None else snapshot.last_message_id,
        "replay": [[m.id, m.sender, m.payload] for m in handled],
        "message": None if blame is None else [blame.id, blame.sender, blame.payload],
        "recent": [list(entry) for entry in ring],
    }
