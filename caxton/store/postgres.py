"""The store in PostgreSQL (psycopg 3): the same tables and promises as the SQLite store.

Chosen with ``caxton-node --store postgresql://...``. It keeps the SQLite
store's shape on purpose (``caxton.store.base`` states the promises both
keep): one transaction per loop turn ended by ``commit``; journal appends and
handled marks write-behind, sent in one ``executemany`` each, which psycopg
runs in pipeline mode (one round trip for the batch, not one per row); ids
handed out by the store; every write since the last commit kept in a log
that a failed commit replays in one transaction, so what lands is always a
prefix of what the node did. A server that goes away faults the store like a
full disk does: the node refuses new work and each retry reconnects first.

Only plain SQL is used (tables, primary keys, ``ON CONFLICT``, ``BYTEA``,
``BIGINT``, ``DOUBLE PRECISION``, ``BIGSERIAL``): ``docs/cluster.md`` lists it,
so which Postgres-compatible servers can hold a node's store is knowable.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

import psycopg

from caxton.errors import StorageUnavailable
from caxton.store.base import DURABILITIES, StoredMessage, StoredSnapshot, StoreError
from caxton.store.sqlite import _pack, _unpack
from caxton.store.writelog import WriteLog

log = logging.getLogger("caxton.node")

SCHEMA = """
CREATE TABLE IF NOT EXISTS modules (
    sha256 TEXT PRIMARY KEY,
    wasm BYTEA NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS agents (
    name TEXT PRIMARY KEY,
    spec BYTEA NOT NULL,
    state TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id BIGINT PRIMARY KEY,
    agent TEXT NOT NULL,
    sender TEXT NOT NULL,
    payload BYTEA NOT NULL,
    handled INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    reasons BYTEA
);
CREATE INDEX IF NOT EXISTS messages_by_agent_id ON messages (agent, id);
CREATE TABLE IF NOT EXISTS snapshots (
    agent TEXT PRIMARY KEY,
    state BYTEA NOT NULL,
    last_message_id BIGINT NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id BIGSERIAL PRIMARY KEY,
    agent TEXT NOT NULL,
    message_id BIGINT NOT NULL,
    sender TEXT NOT NULL,
    payload BYTEA NOT NULL,
    reasons BYTEA NOT NULL,
    time DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_agent ON dead_letters (agent, id);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    agent TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS deployments (
    id BIGINT PRIMARY KEY,
    agent TEXT NOT NULL,
    state TEXT NOT NULL,
    body BYTEA NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS deployments_by_agent ON deployments (agent, id);
CREATE TABLE IF NOT EXISTS deploy_snapshots (
    deployment BIGINT NOT NULL,
    agent TEXT NOT NULL,
    state BYTEA,
    last_message_id BIGINT NOT NULL,
    PRIMARY KEY (deployment, agent)
);
"""

#: what a commit survives -> the session's ``synchronous_commit``. A commit the
#: server acknowledged is in its own WAL on disk (``on``) in both settings: the
#: server is another process, so the node's death cannot lose it anyway, and
#: ``machine`` also waits for a synchronous standby to apply it, where one is
#: configured (``remote_apply``; without one it is the same as ``on``).
DURABILITY = {"process": "on", "machine": "remote_apply"}

#: the advisory lock taken while the tables are created (any constant: ours)
SCHEMA_LOCK = 0x636178746F6E  # "caxton"

#: how long opening (or reopening, on a retry) a connection may take
CONNECT_SECONDS = 5

_MESSAGE_COLUMNS = "SELECT id, sender, payload, attempts, reasons FROM messages"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_postgres(url: str, *, durability: str = "process") -> PostgresStore:
    """Connect and set up the tables; ``StoreError`` in one line when it cannot."""
    try:
        return PostgresStore(url, durability=durability)
    except psycopg.Error as exc:
        raise StoreError(f"cannot open the store {_redacted(url)}: {_one_line(exc)}") from None


def _redacted(url: str) -> str:
    """The URL without its password, fit for a log line or an error."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


class PostgresStore(WriteLog):
    """The node's durable state in a PostgreSQL database (``caxton.store.base.Store``).

    In a cluster (``caxton.cluster``) several nodes share the tables: ``owner``
    names this node, and what it loads at start is only what the placement
    gives it; agents of other nodes reach it as transfers (``transfer``).
    """

    #: this node's name in a cluster: it loads only the agents placed on it
    owner: str | None = None

    ERRORS = (psycopg.Error,)
    APPEND_SQL = "INSERT INTO messages (id, agent, sender, payload) VALUES (%s, %s, %s, %s)"
    MARK_HANDLED_SQL = "UPDATE messages SET handled = 1 WHERE id = %s"
    _db: psycopg.Connection[Any]

    def __init__(self, url: str, *, durability: str = "process") -> None:
        if durability not in DURABILITIES:
            raise ValueError(f"durability must be one of {', '.join(DURABILITIES)}")
        self.url = url
        self.durability = durability
        self._db = self._connect()
        try:
            with self._db.transaction():
                # nodes starting together would race on CREATE TABLE IF NOT EXISTS
                # (PostgreSQL checks "not exists" before it locks): one at a time
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                self._db.execute(SCHEMA)
            self._next_id = self._last_message_id() + 1
        except BaseException:
            self._db.close()
            raise
        self._start_log(self._next_id)

    #: a transaction left open longer than this is ended by the server (a cluster
    #: node sets it to its lease: a node paused mid-transaction must not hold the
    #: row a takeover needs); 0: never
    idle_in_transaction_ms = 0

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_SECONDS,
                               application_name="caxton-node")
        conn.execute(f"SET synchronous_commit = {DURABILITY[self.durability]}")
        conn.execute(f"SET idle_in_transaction_session_timeout = {self.idle_in_transaction_ms}")
        return conn

    def join_cluster(self, owner: str, idle_in_transaction_ms: int) -> None:
        """From now on this store is one node's share of a cluster's (``caxton.cluster``)."""
        self.owner = owner
        self.idle_in_transaction_ms = idle_in_transaction_ms
        self._db.execute(f"SET idle_in_transaction_session_timeout = {idle_in_transaction_ms}")

    def _last_message_id(self) -> int:
        """The highest message id ever used (see ``SQLiteStore._last_message_id``)."""
        row = self._db.execute(
            "SELECT greatest(coalesce((SELECT max(id) FROM messages), 0),"
            " coalesce((SELECT max(message_id) FROM dead_letters), 0),"
            " coalesce((SELECT max(last_message_id) FROM snapshots), 0),"
            " coalesce((SELECT value FROM meta WHERE key = 'id_floor'), 0))").fetchone()
        return int(row[0]) if row is not None else 0

    # -- transactions: one per loop turn (``caxton.store.writelog``) -------------

    def _run(self, sql: str, params: Any, many: bool) -> None:
        if many:
            with self._db.cursor() as cursor:
                cursor.executemany(sql, params)
        else:
            self._db.execute(sql, params)

    def _rollback(self) -> None:
        with contextlib.suppress(psycopg.Error):
            if not self._db.closed:
                self._db.execute("ROLLBACK")

    def _reconnect(self) -> None:
        """A lost connection (the server restarted) is opened again before a retry."""
        if self._db.closed or self._db.broken:
            with contextlib.suppress(psycopg.Error):
                self._db.close()
            self._db = self._connect()

    def _describe(self, exc: Exception) -> str:
        return _one_line(exc)

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        self._refuse_reads()
        try:
            return self._db.execute(sql, tuple(params)).fetchall()
        except psycopg.Error as exc:
            self._fail(exc)
        raise StorageUnavailable(f"the node cannot write its store: {self.fault}",
                                 fault=self.fault)

    def checkpoint(self) -> bool:
        """Nothing to do: the server checkpoints its own WAL."""
        return False

    def close(self) -> None:
        self._close_log()
        with contextlib.suppress(psycopg.Error):
            self._db.close()

    # -- modules ------------------------------------------------------------------

    def put_module(self, sha256: str, wasm: bytes) -> None:
        self._write("INSERT INTO modules (sha256, wasm, created) VALUES (%s, %s, %s)"
                    " ON CONFLICT (sha256) DO NOTHING", (sha256, wasm, time.time()))

    def get_module(self, sha256: str) -> bytes | None:
        rows = self._read("SELECT wasm FROM modules WHERE sha256 = %s", (sha256,))
        return bytes(rows[0][0]) if rows else None

    # -- agents -------------------------------------------------------------------

    def save_agent(self, name: str, spec: dict[str, Any], state: str) -> None:
        now = time.time()
        self._write(
            "INSERT INTO agents (name, spec, state, created, updated)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, state = excluded.state,"
            " updated = excluded.updated",
            (name, _pack(spec), state, now, now))

    def set_agent_state(self, name: str, state: str) -> None:
        self._write("UPDATE agents SET state = %s, updated = %s WHERE name = %s",
                    (state, time.time(), name))

    def load_agents(self) -> list[tuple[dict[str, Any], str]]:
        if self.owner is None:
            rows = self._read("SELECT spec, state FROM agents ORDER BY created, name")
        else:  # an agent's instances (NAME#k) go with the agent
            rows = self._read(
                "SELECT spec, state FROM agents WHERE split_part(name, '#', 1) IN"
                " (SELECT agent FROM placement WHERE node = %s) ORDER BY created, name",
                (self.owner,))
        return [(_unpack(bytes(spec)), state) for spec, state in rows]

    def load_agent(self, name: str) -> list[tuple[dict[str, Any], str]]:
        """One agent's spec and state with its instances' (an adopted agent's)."""
        rows = self._read("SELECT spec, state FROM agents WHERE split_part(name, '#', 1) = %s"
                          " ORDER BY created, name", (name,))
        return [(_unpack(bytes(spec)), state) for spec, state in rows]

    # -- transfers: messages for agents another node owns (caxton.cluster) ----------

    def transfer(self, agent: str, sender: str, payload: bytes) -> None:
        """Keep a message for an agent of another node, in this turn's transaction."""
        self._write("INSERT INTO transfers (agent, sender, payload) VALUES (%s, %s, %s)",
                    (agent, sender, payload))

    def transfers(self, limit: int) -> list[tuple[int, str, str, bytes]]:
        """Messages waiting for agents this node owns, oldest first."""
        rows = self._read(
            "SELECT id, agent, sender, payload FROM transfers WHERE agent IN"
            " (SELECT agent FROM placement WHERE node = %s) ORDER BY id LIMIT %s",
            (self.owner, limit))
        return [(int(i), a, s, bytes(p)) for i, a, s, p in rows]

    def drop_transfer(self, transfer_id: int) -> None:
        """A transfer taken into the journal (in the same transaction)."""
        self._write("DELETE FROM transfers WHERE id = %s", (transfer_id,))

    def delete_agent(self, name: str) -> None:
        for table in ("agents", "messages", "snapshots", "dead_letters", "deployments",
                      "deploy_snapshots"):
            column = "name" if table == "agents" else "agent"
            self._write(f"DELETE FROM {table} WHERE {column} = %s", (name,))
        if self.owner is not None:
            self._write("DELETE FROM placement WHERE agent = %s", (name,))
            self._write("DELETE FROM transfers WHERE agent = %s", (name,))
        self._write("INSERT INTO meta (key, value) VALUES ('id_floor', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = greatest(meta.value,"
                    " excluded.value)", (self._next_id - 1,))

    # -- the journal ----------------------------------------------------------------

    def record_attempt(self, message_id: int, attempts: int, reasons: list[str]) -> None:
        self._write("UPDATE messages SET attempts = %s, reasons = %s WHERE id = %s",
                    (attempts, _pack(reasons), message_id))

    @staticmethod
    def _messages(rows: list[tuple[Any, ...]]) -> list[StoredMessage]:
        return [StoredMessage(int(i), s, bytes(p), a, _unpack(None if r is None else bytes(r))
                              or []) for i, s, p, a, r in rows]

    def pending_messages(self, agent: str) -> list[StoredMessage]:
        return self._messages(self._read(
            f"{_MESSAGE_COLUMNS} WHERE agent = %s AND handled = 0 ORDER BY id", (agent,)))

    def handled_messages(self, agent: str, after: int = 0) -> list[StoredMessage]:
        return self._messages(self._read(
            f"{_MESSAGE_COLUMNS} WHERE agent = %s AND handled = 1 AND id > %s ORDER BY id",
            (agent, after)))

    # -- snapshots -------------------------------------------------------------------

    def save_snapshot(self, agent: str, state: bytes, last_message_id: int, *,
                      cut: bool = True) -> None:
        self._write(
            "INSERT INTO snapshots (agent, state, last_message_id, created)"
            " VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (agent) DO UPDATE SET state = excluded.state,"
            " last_message_id = excluded.last_message_id, created = excluded.created",
            (agent, state, last_message_id, time.time()))
        if cut:
            self.cut_journal(agent, last_message_id)

    def delete_snapshot(self, agent: str) -> None:
        self._write("DELETE FROM snapshots WHERE agent = %s", (agent,))

    def cut_journal(self, agent: str, last_message_id: int) -> None:
        self._write("DELETE FROM messages WHERE agent = %s AND handled = 1 AND id <= %s",
                    (agent, last_message_id))

    def latest_snapshot(self, agent: str) -> StoredSnapshot | None:
        rows = self._read("SELECT state, last_message_id, created FROM snapshots"
                          " WHERE agent = %s", (agent,))
        if not rows:
            return None
        state, last, created = rows[0]
        return StoredSnapshot(bytes(state), int(last), float(created))

    # -- dead letters -------------------------------------------------------------------

    def dead_letter(self, agent: str, message: StoredMessage, reasons: list[str]) -> None:
        self._write(
            "INSERT INTO dead_letters (agent, message_id, sender, payload, reasons, time)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (agent, message.id, message.sender, message.payload, _pack(reasons), time.time()))
        self._write("DELETE FROM messages WHERE id = %s", (message.id,))

    def dead_letters(self, agent: str) -> list[dict[str, Any]]:
        rows = self._read("SELECT message_id, sender, payload, reasons, time FROM dead_letters"
                          " WHERE agent = %s ORDER BY id", (agent,))
        return [{"message_id": int(m), "sender": s, "payload": bytes(p),
                 "reasons": _unpack(bytes(r)), "time": t} for m, s, p, r, t in rows]

    # -- lifecycle events ----------------------------------------------------------------

    def record_event(self, agent: str, kind: str, from_state: str | None,
                     to_state: str | None, reason: str | None) -> None:
        self._write("INSERT INTO events (agent, time, kind, from_state, to_state, reason)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (agent, time.time(), kind, from_state, to_state, reason))

    def events(self, agent: str) -> list[dict[str, Any]]:
        rows = self._read("SELECT time, kind, from_state, to_state, reason FROM events"
                          " WHERE agent = %s ORDER BY id", (agent,))
        return [{"time": t, "kind": k, "from": f, "to": s, "reason": r}
                for t, k, f, s, r in rows]

    # -- deployments (caxton.deploy) ----------------------------------------------------

    def save_deployment(self, deployment_id: int, agent: str, state: str,
                        body: dict[str, Any]) -> None:
        self._write(
            "INSERT INTO deployments (id, agent, state, body, updated)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body,"
            " updated = excluded.updated",
            (deployment_id, agent, state, _pack(body), time.time()))

    def load_deployments(self) -> list[dict[str, Any]]:
        if self.owner is None:
            rows = self._read("SELECT body FROM deployments ORDER BY id")
        else:
            rows = self._read("SELECT body FROM deployments WHERE agent IN"
                              " (SELECT agent FROM placement WHERE node = %s) ORDER BY id",
                              (self.owner,))
        return [_unpack(bytes(body)) for (body,) in rows]

    def last_deployment_id(self) -> int:
        rows = self._read("SELECT max(id) FROM deployments")
        return int(rows[0][0] or 0)

    def save_deploy_snapshot(self, deployment_id: int, agent: str, state: bytes | None,
                             last_message_id: int) -> None:
        self._write(
            "INSERT INTO deploy_snapshots (deployment, agent, state, last_message_id)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (deployment, agent) DO UPDATE SET"
            " state = excluded.state, last_message_id = excluded.last_message_id",
            (deployment_id, agent, state, last_message_id))

    def deploy_snapshot(self, deployment_id: int, agent: str) -> tuple[bytes | None, int] | None:
        rows = self._read("SELECT state, last_message_id FROM deploy_snapshots"
                          " WHERE deployment = %s AND agent = %s", (deployment_id, agent))
        if not rows:
            return None
        state, last = rows[0]
        return (None if state is None else bytes(state)), int(last)

    def drop_deploy_snapshots(self, deployment_id: int) -> None:
        self._write("DELETE FROM deploy_snapshots WHERE deployment = %s", (deployment_id,))
