"""Who is in the cluster, who owns which agent, and the fence that keeps it so.

Nodes that share a PostgreSQL store form a cluster. Everything here is rows
in that store, read and written on the membership's own connection (the
store's connection carries the loop turn's transaction):

* ``cluster_nodes``: one row per node name, with the node's address, its
  *epoch* (raised each time the name joins), its state (``alive``, ``left``
  after a clean exit, ``dead`` once another node took it over) and when it
  last renewed its lease, in the server's clock (no two nodes' clocks are
  ever compared).
* ``placement``: the one node that owns each agent, with the agent's own
  epoch, raised each time it moves.
* ``meta``'s ``id_block``: message ids are handed out in blocks so that two
  nodes never use the same id, and a node that adopts an agent takes a fresh
  block, so the agent's ids keep rising across owners.

**The fence.** Every transaction a node's store opens starts with the
guard (``guard``): it renews the lease *only if* the node's row still has
its epoch and is alive, and the transaction is refused otherwise. Taking a
node over is one conditional update of that same row (its lease lapsed, its
epoch unchanged), so the two serialize on the row's lock: either the
node's transaction commits first (and its lease is fresh, so nobody takes it
over) or the takeover does (and every later transaction of the stale node is
refused). A node paused past its lease and resumed can therefore neither
acknowledge nor apply anything for the agents it lost.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from caxton.store.base import StoreError
from caxton.store.postgres import SCHEMA_LOCK

log = logging.getLogger("caxton.cluster")

SCHEMA = """
CREATE TABLE IF NOT EXISTS cluster_nodes (
    name TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    public_key TEXT,
    epoch BIGINT NOT NULL,
    state TEXT NOT NULL,
    renewed DOUBLE PRECISION NOT NULL,
    started DOUBLE PRECISION NOT NULL,
    agents INTEGER NOT NULL DEFAULT 0,
    commit_seq BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS placement (
    agent TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    epoch BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS placement_by_node ON placement (node);
CREATE TABLE IF NOT EXISTS transfers (
    id BIGSERIAL PRIMARY KEY,
    agent TEXT NOT NULL,
    sender TEXT NOT NULL,
    payload BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS transfers_by_agent ON transfers (agent, id);
"""

#: the server's clock, in seconds: leases are compared in it only
NOW = "extract(epoch from clock_timestamp())::double precision"
#: message ids taken at once (a block costs one round trip)
ID_BLOCK = 100_000
#: how long a takeover waits for a row another transaction holds
LOCK_TIMEOUT = "500ms"


@dataclass(frozen=True, slots=True)
class Member:
    """One node as the store sees it."""

    name: str
    address: str
    public_key: str | None
    epoch: int
    state: str
    age: float  # seconds since its lease was last renewed
    agents: int
    started: float

    def lapsed(self, lease: float) -> bool:
        """Dead to the others: it left, or its lease ran out."""
        return self.state == "left" or (self.state == "alive" and self.age > lease)

    def as_dict(self, lease: float) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "epoch": self.epoch,
                "state": self.state if not self.lapsed(lease) or self.state != "alive"
                else "lapsed", "lease_age_s": round(self.age, 3), "agents": self.agents,
                "started": self.started}


class Membership:
    """This node's row in the cluster and its view of the others (see the module).

    Its connection is autocommit; a statement that fails because the server
    went away raises ``psycopg.Error`` to the caller, and the next call
    reconnects. A statement safe to run twice is first tried once more on a
    fresh connection (``_execute``): a connection the server ended while it
    sat idle fails only its first statement, and the server may be back.
    """

    def __init__(self, url: str, name: str, address: str, *, lease_seconds: float,
                 public_key: str | None = None) -> None:
        self.url = url
        self.name = name
        self.address = address
        self.public_key = public_key
        self.lease = lease_seconds
        self.epoch = 0
        self._db: psycopg.Connection[Any] | None = None
        try:
            with self._conn().transaction():
                self._conn().execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                self._conn().execute(SCHEMA)
                self._conn().execute(
                    "INSERT INTO meta (key, value) VALUES ('id_block',"
                    " greatest(coalesce((SELECT max(id) FROM messages), 0),"
                    " coalesce((SELECT max(message_id) FROM dead_letters), 0),"
                    " coalesce((SELECT max(last_message_id) FROM snapshots), 0)))"
                    " ON CONFLICT (key) DO NOTHING")
        except psycopg.Error as exc:
            raise StoreError(f"cannot set up the cluster's tables: {exc}") from None

    def _conn(self) -> psycopg.Connection[Any]:
        if self._db is None or self._db.closed or self._db.broken:
            if self._db is not None:
                with contextlib.suppress(psycopg.Error):
                    self._db.close()
            self._db = psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                                       application_name=f"caxton-cluster {self.name}")
        return self._db

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> psycopg.Cursor[Any]:
        """One statement that may run twice (a read, or a write whose repeat is harmless),
        tried once more on a fresh connection when this one turns out to be dead.

        A connection that sat idle through a server restart learns so only on its
        next statement ("terminating connection due to administrator command"):
        without the retry, the first request after every restart to need the
        placement would fail with ``StorageUnavailable`` although the server is back.
        """
        try:
            return self._conn().execute(sql, params)
        except psycopg.OperationalError:
            db = self._db
            if db is not None and not (db.closed or db.broken):
                raise  # the server answered: a real error, not a dead connection
            return self._conn().execute(sql, params)

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(psycopg.Error):
                self._db.close()

    # -- joining and leaving -----------------------------------------------------------

    def join(self) -> int:
        """Take this node's row with a new epoch; refuse when a live node holds the name.

        A row still within its lease may be this node's previous life (killed and
        restarted at once): the join waits up to two leases for it to lapse, and
        refuses only a name that keeps renewing."""
        deadline = time.monotonic() + 2 * self.lease
        while not self._try_join():
            if time.monotonic() > deadline:
                raise StoreError(f"a live node named {self.name!r} is in the cluster;"
                                 " each node needs its own --name")
            time.sleep(min(0.25, self.lease / 4))
        log.info("node %s joined the cluster with epoch %d", self.name, self.epoch)
        return self.epoch

    def _try_join(self) -> bool:
        db = self._conn()
        with db.transaction():
            row = db.execute(f"SELECT state, {NOW} - renewed, address, epoch FROM cluster_nodes"
                             " WHERE name = %s FOR UPDATE", (self.name,)).fetchone()
            if row is not None and row[0] == "alive" and row[1] <= self.lease:
                return False
            self.epoch = int(row[3]) + 1 if row is not None else 1
            db.execute(
                "INSERT INTO cluster_nodes (name, address, public_key, epoch, state, renewed,"
                f" started) VALUES (%s, %s, %s, %s, 'alive', {NOW}, {NOW})"
                " ON CONFLICT (name) DO UPDATE SET address = excluded.address,"
                " public_key = excluded.public_key, epoch = excluded.epoch, state = 'alive',"
                " renewed = excluded.renewed, started = excluded.started",
                (self.name, self.address, self.public_key, self.epoch))
        return True

    def leave(self) -> None:
        """A clean exit: the others take this node's agents over at once."""
        with contextlib.suppress(psycopg.Error):
            self._conn().execute("UPDATE cluster_nodes SET state = 'left'"
                                 " WHERE name = %s AND epoch = %s AND state = 'alive'",
                                 (self.name, self.epoch))

    def guard(self, db: psycopg.Connection[Any], agents: int, seq: int) -> bool:
        """The fence, run first in each of the store's transactions (see the module).

        It also keeps the transaction's number in the row: after a COMMIT whose
        answer was lost, ``landed`` tells whether it committed."""
        cursor = db.execute(
            f"UPDATE cluster_nodes SET renewed = {NOW}, agents = %s, commit_seq = %s"
            " WHERE name = %s AND epoch = %s AND state = 'alive'",
            (agents, seq, self.name, self.epoch))
        return cursor.rowcount == 1

    def landed(self, db: psycopg.Connection[Any], seq: int) -> bool:
        """Whether the store's transaction number ``seq`` committed (see ``guard``)."""
        row = db.execute("SELECT commit_seq FROM cluster_nodes WHERE name = %s AND epoch = %s",
                         (self.name, self.epoch)).fetchone()
        return row is not None and int(row[0]) == seq

    # -- the others ------------------------------------------------------------------

    def members(self) -> list[Member]:
        rows = self._execute(
            f"SELECT name, address, public_key, epoch, state, {NOW} - renewed, agents, started"
            " FROM cluster_nodes ORDER BY name").fetchall()
        return [Member(n, a, k, int(e), s, float(age), int(c), float(st))
                for n, a, k, e, s, age, c, st in rows]

    def take_over(self, member: Member, heirs: list[str],
                  silence: float | None = None) -> list[tuple[str, str]] | None:
        """Declare ``member`` dead and hand its agents to ``heirs`` in turn, if it has not
        renewed its lease for ``silence`` seconds (default: the whole lease).

        Returns (agent, heir) for each agent moved, or None when another node was
        first or the member renewed meanwhile (the update's condition failed).
        """
        db = self._conn()
        with db.transaction():
            db.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            taken = db.execute(
                "UPDATE cluster_nodes SET state = 'dead' WHERE name = %s AND epoch = %s"
                f" AND (state = 'left' OR (state = 'alive' AND renewed < {NOW} - %s))",
                (member.name, member.epoch,
                 self.lease if silence is None else silence)).rowcount
            if taken != 1:
                return None
            agents = [a for (a,) in db.execute(
                "SELECT agent FROM placement WHERE node = %s ORDER BY agent",
                (member.name,)).fetchall()]
            moved = [(agent, heirs[i % len(heirs)]) for i, agent in enumerate(agents)]
            with db.cursor() as cursor:
                cursor.executemany("UPDATE placement SET node = %s, epoch = epoch + 1"
                                   " WHERE agent = %s", [(heir, a) for a, heir in moved])
        log.warning("node %s lost (epoch %d): %d agents moved to %s", member.name,
                    member.epoch, len(moved), ", ".join(sorted(set(heirs))))
        return moved

    # -- placement ---------------------------------------------------------------------

    def owner(self, agent: str) -> Member | None:
        """The node that owns ``agent`` now, or None if no node does."""
        row = self._execute(
            f"SELECT n.name, n.address, n.public_key, n.epoch, n.state, {NOW} - n.renewed,"
            " n.agents, n.started FROM placement p JOIN cluster_nodes n ON n.name = p.node"
            " WHERE p.agent = %s", (agent,)).fetchone()
        if row is None:
            return None
        n, a, k, e, s, age, c, st = row
        return Member(n, a, k, int(e), s, float(age), int(c), float(st))

    def claim(self, agent: str) -> str | None:
        """Place a new agent here; returns None, or the node that already owns the name."""
        db = self._conn()
        inserted = db.execute("INSERT INTO placement (agent, node, epoch) VALUES (%s, %s, 1)"
                              " ON CONFLICT (agent) DO NOTHING", (agent, self.name)).rowcount
        if inserted == 1:
            return None
        row = db.execute("SELECT node FROM placement WHERE agent = %s", (agent,)).fetchone()
        return str(row[0]) if row is not None else None

    def placed_here(self) -> list[tuple[str, int, bool]]:
        """The agents this node owns: (name, epoch, whether the store keeps its spec)."""
        rows = self._execute(
            "SELECT p.agent, p.epoch, a.name IS NOT NULL FROM placement p"
            " LEFT JOIN agents a ON a.name = p.agent WHERE p.node = %s", (self.name,)).fetchall()
        return [(str(a), int(e), bool(kept)) for a, e, kept in rows]

    def placed_counts(self) -> dict[str, int]:
        """Agents placed on each node now (what a spawn's choice of node weighs)."""
        rows = self._execute("SELECT node, count(*) FROM placement GROUP BY node")
        return {str(n): int(c) for n, c in rows.fetchall()}

    def count_here(self) -> int:
        row = self._execute("SELECT count(*) FROM placement WHERE node = %s",
                                   (self.name,)).fetchone()
        return int(row[0]) if row is not None else 0

    def drop_orphan(self, agent: str) -> None:
        """A placement whose spawn never completed (no spec kept): let the name go."""
        self._execute(
            "DELETE FROM placement WHERE agent = %s AND node = %s"
            " AND NOT EXISTS (SELECT 1 FROM agents WHERE name = %s)",
            (agent, self.name, agent))

    def next_deployment_id(self) -> int:
        """Deployment ids are the cluster's: one counter, so two nodes never share one."""
        row = self._execute(
            "INSERT INTO meta (key, value) VALUES ('deployment_id',"
            " (SELECT coalesce(max(id), 0) + 1 FROM deployments))"
            " ON CONFLICT (key) DO UPDATE SET value = meta.value + 1 RETURNING value"
        ).fetchone()
        assert row is not None
        return int(row[0])

    def id_block(self) -> tuple[int, int]:
        row = self._execute("UPDATE meta SET value = value + %s WHERE key = 'id_block'"
                                   " RETURNING value", (ID_BLOCK,)).fetchone()
        assert row is not None  # written when the tables were set up
        last = int(row[0])
        return last - ID_BLOCK + 1, last
