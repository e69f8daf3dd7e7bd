"""The embedded store (the default): SQLite in WAL mode in the data folder.

Everything the node must not forget lives here: modules by content hash, agent
specs and lifecycle state, the message journal, the latest snapshot of each
agent, dead letters and lifecycle events. The node writes within one open
transaction per loop turn and commits once at the end of the turn, so the
journal costs one commit per batch rather than one per message.

The two writes on the message hot path, appending to the journal and marking
a message handled, are write-behind: they are buffered in memory and written
in one ``executemany`` each just before the commit (or before any other
statement, so the order of writes is always the order of calls). Message ids
are therefore handed out here rather than by SQLite, which lets the node send
a message to its agent first and journal it while the agent works. Nothing is
promised to a client before the commit, so the buffer is never a hole in the
delivery promise.

``synchronous=NORMAL`` in WAL mode makes a commit durable against the node
process dying (even by SIGKILL), which is the failure the delivery promise is
about; it does not fsync each commit, so a power cut may lose the last turns.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgpack

from caxton.store.base import StoredMessage, StoredSnapshot
from caxton.store.writelog import WriteLog

log = logging.getLogger("caxton.node")

SCHEMA = """
CREATE TABLE IF NOT EXISTS modules (
    sha256 TEXT PRIMARY KEY,
    wasm BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS agents (
    name TEXT PRIMARY KEY,
    spec BLOB NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL,
    sender TEXT NOT NULL,
    payload BLOB NOT NULL,
    handled INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    reasons BLOB
);
CREATE INDEX IF NOT EXISTS messages_by_agent_id ON messages (agent, id);
CREATE TABLE IF NOT EXISTS snapshots (
    agent TEXT PRIMARY KEY,
    state BLOB NOT NULL,
    last_message_id INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    sender TEXT NOT NULL,
    payload BLOB NOT NULL,
    reasons BLOB NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_agent ON dead_letters (agent, id);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS deployments (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL,
    state TEXT NOT NULL,
    body BLOB NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deployments_by_agent ON deployments (agent, id);
CREATE TABLE IF NOT EXISTS deploy_snapshots (
    deployment INTEGER NOT NULL,
    agent TEXT NOT NULL,
    state BLOB,
    last_message_id INTEGER NOT NULL,
    PRIMARY KEY (deployment, agent)
);
"""


#: what a commit survives -> SQLite's ``synchronous`` setting in WAL mode:
#: ``process``: the node's process dying (even by SIGKILL); the WAL is synced
#: at checkpoints only, so a power cut may lose the last commits.
#: ``machine``: the machine losing power too; every commit is fsynced.
DURABILITY = {"process": "NORMAL", "machine": "FULL"}



def _pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def _unpack(blob: bytes | None) -> Any:
    return None if blob is None else msgpack.unpackb(blob, raw=False, strict_map_key=False)


# A checkpoint copies the WAL back into the database file and syncs both: a
# few milliseconds during which the node's loop does nothing else. SQLite's
# default (every 1,000 pages: ~330 journal commits here) puts one inside every
# ~330th call. The node checkpoints when its loop has been idle for a tick
# (``checkpoint``); SQLite does it on its own only once the WAL passes this
# size, under load that never pauses.
WAL_CHECKPOINT_BYTES = 16 * 1024 * 1024
# after a checkpoint, a WAL file grown larger than this is cut back to it
WAL_KEEP_BYTES = 4 * 1024 * 1024


class SQLiteStore(WriteLog):
    """The node's durable state in one SQLite file (``caxton.store.base.Store``).

    Owns the connection and the write-behind buffers. Promises that what the
    node wrote before a ``commit`` returned survives the node's process dying;
    that message ids are never reused; and that ``durable_through`` never
    names a message that is not committed.
    """

    ERRORS = (sqlite3.Error,)
    APPEND_SQL = "INSERT INTO messages (id, agent, sender, payload) VALUES (?, ?, ?, ?)"
    MARK_HANDLED_SQL = "UPDATE messages SET handled = 1 WHERE id = ?"
    _db: sqlite3.Connection

    def __init__(self, path: Path, *, durability: str = "process") -> None:
        if durability not in DURABILITY:
            raise ValueError(f"durability must be one of {', '.join(DURABILITY)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.durability = durability
        existed = path.exists() and path.stat().st_size > 0
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        # private before a byte is written: SQLite gives its WAL the database's mode
        os.chmod(path, 0o600)
        try:
            self._setup(existed)
        except BaseException:
            self._db.close()
            raise
        self._commits_checkpointed = 0
        self._start_log(self._last_message_id() + 1)

    def _setup(self, existed: bool) -> None:
        # Only the node opens its store: exclusive locking spares every
        # transaction the file locks and the shared-memory index of WAL mode.
        self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
        # Small pages (new stores only): a journal commit rewrites two or three
        # pages, and the WAL bytes they add are what each checkpoint must sync.
        # At 1 KiB rather than 4 KiB a commit costs ~19 us on average rather
        # than ~30, and the checkpoint stall inside a commit ~2.5 ms, not ~10.
        self._db.execute("PRAGMA page_size=1024")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={DURABILITY[self.durability]}")
        page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
        self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_BYTES // page_size}")
        self._db.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
        if existed:
            # a half-written or foreign file must stop the node here, not
            # surface as a malformed page in the middle of serving
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("failed its integrity check: "
                                            + "; ".join(problems)[:300])
        self._db.executescript(SCHEMA)

    def _last_message_id(self) -> int:
        """The highest message id ever used: ids are never reused.

        Every id that left the journal is still on record: a snapshot's
        ``last_message_id`` covers what a cut deleted, a dead letter keeps its
        message's id, and removing an agent raises the ``id_floor``. Keeping
        it this way, rather than with AUTOINCREMENT, spares every commit a
        write of the ``sqlite_sequence`` page.
        """
        row = self._db.execute(
            "SELECT max(coalesce((SELECT max(id) FROM messages), 0),"
            " coalesce((SELECT max(message_id) FROM dead_letters), 0),"
            " coalesce((SELECT max(last_message_id) FROM snapshots), 0),"
            " coalesce((SELECT value FROM meta WHERE key = 'id_floor'), 0))").fetchone()
        last = int(row[0])
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
                            ).fetchone() is not None:  # a data folder from before
            seq = self._db.execute(
                "SELECT max(seq) FROM sqlite_sequence WHERE name = 'messages'").fetchone()
            last = max(last, int(seq[0] or 0))
        return last

    # -- transactions: one per loop turn (``caxton.store.writelog``) -------------

    def _read(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        self._refuse_reads()
        return self._db.execute(sql, tuple(params))

    def checkpoint(self) -> bool:
        """Copy the WAL into the database file, if anything was committed since the last time.

        Called by the node when it has nothing else to do (see
        ``WAL_CHECKPOINT_BYTES``); returns whether a checkpoint ran.
        """
        if self.commits == self._commits_checkpointed or self.dirty or self.fault is not None:
            return False
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("store: checkpoint failed: %s", exc)
            return False
        self._commits_checkpointed = self.commits
        return True

    def close(self) -> None:
        self._close_log()
        self._db.close()

    # -- modules ------------------------------------------------------------------

    def put_module(self, sha256: str, wasm: bytes) -> None:
        self._write(
            "INSERT OR IGNORE INTO modules (sha256, wasm, created) VALUES (?, ?, ?)",
            (sha256, wasm, time.time()),
        )

    def get_module(self, sha256: str) -> bytes | None:
        row = self._read("SELECT wasm FROM modules WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else bytes(row[0])

    # -- agents -------------------------------------------------------------------

    def save_agent(self, name: str, spec: dict[str, Any], state: str) -> None:
        now = time.time()
        self._write(
            "INSERT INTO agents (name, spec, state, created, updated) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, state = excluded.state,"
            " updated = excluded.updated",
            (name, _pack(spec), state, now, now),
        )

    def set_agent_state(self, name: str, state: str) -> None:
        self._write("UPDATE agents SET state = ?, updated = ? WHERE name = ?",
                    (state, time.time(), name))

    def load_agents(self) -> list[tuple[dict[str, Any], str]]:
        rows = self._read("SELECT spec, state FROM agents ORDER BY created").fetchall()
        return [(_unpack(spec), state) for spec, state in rows]

    def delete_agent(self, name: str) -> None:
        for table in ("agents", "messages", "snapshots", "dead_letters", "deployments",
                      "deploy_snapshots"):
            column = "name" if table == "agents" else "agent"
            self._write(f"DELETE FROM {table} WHERE {column} = ?", (name,))
        # the ids it used are no longer on record anywhere: remember the floor
        self._write("INSERT INTO meta (key, value) VALUES ('id_floor', ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (self._next_id - 1,))

    # -- the journal ----------------------------------------------------------------

    def record_attempt(self, message_id: int, attempts: int, reasons: list[str]) -> None:
        self._write("UPDATE messages SET attempts = ?, reasons = ? WHERE id = ?",
                    (attempts, _pack(reasons), message_id))

    def _messages(self, agent: str, handled: int) -> list[StoredMessage]:
        rows = self._read(
            "SELECT id, sender, payload, attempts, reasons FROM messages"
            " WHERE agent = ? AND handled = ? ORDER BY id",
            (agent, handled),
        ).fetchall()
        return [StoredMessage(i, s, bytes(p), a, _unpack(r) or []) for i, s, p, a, r in rows]

    def pending_messages(self, agent: str) -> list[StoredMessage]:
        return self._messages(agent, 0)

    def handled_messages(self, agent: str, after: int = 0) -> list[StoredMessage]:
        """Handled messages still journaled with ids above ``after``: what a replacement
        restored from a snapshot covering ``after`` must replay. While a deployment keeps
        the journal (``save_snapshot(cut=False)``) it holds messages a snapshot covers."""
        if not after:
            return self._messages(agent, 1)
        rows = self._read(
            "SELECT id, sender, payload, attempts, reasons FROM messages"
            " WHERE agent = ? AND handled = 1 AND id > ? ORDER BY id",
            (agent, after),
        ).fetchall()
        return [StoredMessage(i, s, bytes(p), a, _unpack(r) or []) for i, s, p, a, r in rows]

    # -- snapshots -------------------------------------------------------------------

    def save_snapshot(self, agent: str, state: bytes, last_message_id: int, *,
                      cut: bool = True) -> None:
        """Keep the new snapshot and drop the journal entries it covers, atomically.

        ``cut=False`` keeps them: a deployment not yet finalised may have to
        rebuild the previous version's state from an older snapshot.
        """
        self._write(
            "INSERT INTO snapshots (agent, state, last_message_id, created) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(agent) DO UPDATE SET state = excluded.state,"
            " last_message_id = excluded.last_message_id, created = excluded.created",
            (agent, state, last_message_id, time.time()),
        )
        if cut:
            self.cut_journal(agent, last_message_id)

    def delete_snapshot(self, agent: str) -> None:
        """Forget the agent's snapshot (a rollback to a version that never took one)."""
        self._write("DELETE FROM snapshots WHERE agent = ?", (agent,))

    def cut_journal(self, agent: str, last_message_id: int) -> None:
        """Forget handled messages up to ``last_message_id``: nothing will replay them."""
        self._write("DELETE FROM messages WHERE agent = ? AND handled = 1 AND id <= ?",
                    (agent, last_message_id))

    def latest_snapshot(self, agent: str) -> StoredSnapshot | None:
        row = self._read(
            "SELECT state, last_message_id, created FROM snapshots WHERE agent = ?", (agent,)
        ).fetchone()
        return None if row is None else StoredSnapshot(bytes(row[0]), row[1], row[2])

    # -- dead letters -------------------------------------------------------------------

    def dead_letter(self, agent: str, message: StoredMessage, reasons: list[str]) -> None:
        self._write(
            "INSERT INTO dead_letters (agent, message_id, sender, payload, reasons, time)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (agent, message.id, message.sender, message.payload, _pack(reasons), time.time()),
        )
        self._write("DELETE FROM messages WHERE id = ?", (message.id,))

    def dead_letters(self, agent: str) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT message_id, sender, payload, reasons, time FROM dead_letters"
            " WHERE agent = ? ORDER BY id",
            (agent,),
        ).fetchall()
        return [
            {"message_id": m, "sender": s, "payload": bytes(p), "reasons": _unpack(r), "time": t}
            for m, s, p, r, t in rows
        ]

    # -- lifecycle events ----------------------------------------------------------------

    def record_event(self, agent: str, kind: str, from_state: str | None,
                     to_state: str | None, reason: str | None) -> None:
        self._write(
            "INSERT INTO events (agent, time, kind, from_state, to_state, reason)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (agent, time.time(), kind, from_state, to_state, reason),
        )

    def events(self, agent: str) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT time, kind, from_state, to_state, reason FROM events WHERE agent = ?"
            " ORDER BY id",
            (agent,),
        ).fetchall()
        return [
            {"time": t, "kind": k, "from": f, "to": s, "reason": r} for t, k, f, s, r in rows
        ]

    # -- deployments (caxton.deploy) ----------------------------------------------------

    def save_deployment(self, deployment_id: int, agent: str, state: str,
                        body: dict[str, Any]) -> None:
        """Keep a deployment as it is now (its whole record, written in this turn's commit)."""
        self._write(
            "INSERT INTO deployments (id, agent, state, body, updated) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET state = excluded.state, body = excluded.body,"
            " updated = excluded.updated",
            (deployment_id, agent, state, _pack(body), time.time()),
        )

    def load_deployments(self) -> list[dict[str, Any]]:
        """Every deployment's record, oldest first."""
        rows = self._read("SELECT body FROM deployments ORDER BY id").fetchall()
        return [_unpack(body) for (body,) in rows]

    def last_deployment_id(self) -> int:
        row = self._read("SELECT max(id) FROM deployments").fetchone()
        return int(row[0] or 0)

    def save_deploy_snapshot(self, deployment_id: int, agent: str, state: bytes | None,
                             last_message_id: int) -> None:
        """The previous version's state at a switch: what a rollback restores."""
        self._write(
            "INSERT OR REPLACE INTO deploy_snapshots (deployment, agent, state, last_message_id)"
            " VALUES (?, ?, ?, ?)", (deployment_id, agent, state, last_message_id))

    def deploy_snapshot(self, deployment_id: int, agent: str) -> tuple[bytes | None, int] | None:
        row = self._read(
            "SELECT state, last_message_id FROM deploy_snapshots WHERE deployment = ?"
            " AND agent = ?", (deployment_id, agent)).fetchone()
        if row is None:
            return None
        return (None if row[0] is None else bytes(row[0])), int(row[1])

    def drop_deploy_snapshots(self, deployment_id: int) -> None:
        self._write("DELETE FROM deploy_snapshots WHERE deployment = ?", (deployment_id,))
