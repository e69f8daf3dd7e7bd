"""One transaction per loop turn, and what happens when a commit fails: shared by both backends.

Every write since the last successful commit is also kept in ``_log``, in
order. A commit (or a statement) that fails rolls the transaction back
explicitly and leaves the store *faulted*: writes are then only logged, reads
are refused, and ``commit`` retries by replaying the whole log in one
transaction. So a commit always writes a prefix of what the node did, never a
later snapshot without the handled marks that came before it.

The journal's two hot writes, appending a message and marking it handled,
are buffered and written in one ``executemany`` each just before anything
else is written or read, so the order of writes is always the order of calls.
A backend supplies its connection (``_db``), its error types, how it runs a
statement, and how it reconnects; the scheme is the same.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from caxton.errors import StorageUnavailable

log = logging.getLogger("caxton.node")

#: one logged write: (sql, params, executemany?)
Write = tuple[str, Any, bool]
#: ids before a store asks for a block (``id_blocks``): no store hands out more
NO_BLOCK_END = 2**62


class Fenced(Exception):
    """The transaction's guard refused it: this node no longer owns what it writes.

    A cluster node's store guards every transaction with its lease and epoch
    (``caxton.cluster.membership``); once another node took its agents over,
    nothing more it writes may land.
    """


class WriteLog:
    """The transaction and fault scheme of a store (see the module's docstring)."""

    #: the exceptions of the backend's driver that mean "this write did not happen"
    ERRORS: ClassVar[tuple[type[Exception], ...]] = ()
    #: the journal's two buffered statements, in the backend's dialect
    APPEND_SQL: ClassVar[str] = ""
    MARK_HANDLED_SQL: ClassVar[str] = ""

    _db: Any
    #: run on the transaction's connection right after each BEGIN; False refuses the
    #: whole transaction (``Fenced``). A cluster node renews its lease with it.
    guard: Callable[[Any, int], bool] | None = None
    #: whether the transaction that ran the guard with this number committed: asked
    #: after a COMMIT whose answer was lost with the connection (it may have landed)
    landed: Callable[[Any, int], bool] | None = None
    #: a block of message ids (first, last) when the current one is used up; None:
    #: the store's own counter is the only writer (a single node)
    id_blocks: Callable[[], tuple[int, int]] | None = None
    #: the guard refused a transaction: the node must let go of its agents and rejoin
    fenced = False

    def _start_log(self, next_id: int) -> None:
        self._in_transaction = False
        #: commits so far; the node compares it across ticks to tell it was idle
        self.commits = 0
        self._appended: list[tuple[int, str, str, bytes]] = []
        self._handled: list[tuple[int]] = []
        self._log: list[Write] = []
        #: why writes fail now (None while they succeed), and since when
        self.fault: str | None = None
        self.fault_since: float | None = None
        self._next_id = next_id
        self._id_end = NO_BLOCK_END
        #: each transaction's number, handed to the guard (which keeps it in the row)
        self._commit_seq = 0
        #: (number, log entries) of a COMMIT that failed without an answer: it may
        #: have landed, and a replay of what it wrote would then apply it twice
        self._uncertain: tuple[int, int] | None = None
        #: every message id up to this one is committed: durable
        self.durable_through = next_id - 1

    @property
    def ids_left(self) -> int:
        """Ids left in the current block (a cluster node takes the next one early)."""
        return self._id_end - self._next_id + 1

    def new_id_block(self) -> None:
        """Take the next block of ids now: every id from it is above any id handed out
        anywhere before (a node adopting an agent keeps the agent's ids rising)."""
        if self.id_blocks is not None:
            self._next_id, self._id_end = self.id_blocks()

    # -- what a backend provides --------------------------------------------------------

    def _run(self, sql: str, params: Any, many: bool) -> None:
        if many:
            self._db.executemany(sql, params)
        else:
            self._db.execute(sql, params)

    def _rollback(self) -> None:
        with contextlib.suppress(*self.ERRORS):
            self._db.execute("ROLLBACK")

    def _reconnect(self) -> None:
        """Before a retry: a backend whose connection can break opens a new one."""

    def _describe(self, exc: Exception) -> str:
        return str(exc) or type(exc).__name__

    # -- the scheme -----------------------------------------------------------------------

    def _begin(self) -> None:
        if not self._in_transaction:
            self._db.execute("BEGIN")
            self._in_transaction = True
            self._check_guard()

    def _failures(self) -> tuple[type[Exception], ...]:
        """What makes a write not happen: the driver's errors, and the fence."""
        return (*self.ERRORS, Fenced)

    def _check_guard(self) -> None:
        self._commit_seq += 1
        if self.guard is not None and not self.guard(self._db, self._commit_seq):
            self.fenced = True
            raise Fenced("fenced: another node owns this node's agents now")

    def _apply(self, sql: str, params: Any, many: bool) -> None:
        self._log.append((sql, params, many))
        if self.fault is not None:
            return  # unwritten: the next retry applies it, in order
        try:
            self._begin()
            self._run(sql, params, many)
        except self._failures() as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self._rollback()
        self._in_transaction = False
        if self.fault is None:
            self.fault_since = time.time()
        self.fault = self._describe(exc)
        log.error("store: %s; accepting nothing until a write succeeds (%d writes kept)",
                  self.fault, len(self._log))

    def _write_behind(self) -> None:
        """Write the buffered journal appends and handled marks, in that order."""
        if self._appended:
            appended, self._appended = self._appended, []
            self._apply(self.APPEND_SQL, appended, True)
        if self._handled:
            handled, self._handled = self._handled, []
            self._apply(self.MARK_HANDLED_SQL, handled, True)

    def append_message(self, agent: str, sender: str, payload: bytes) -> int:
        """Journal a message (write-behind: durable at the next commit); returns its id."""
        message_id = self._next_id
        if message_id > self._id_end:
            self.new_id_block()
            message_id = self._next_id
        self._next_id += 1
        self._appended.append((message_id, agent, sender, payload))
        return message_id

    def mark_handled(self, message_ids: list[int]) -> None:
        """Mark messages handled (write-behind: durable at the next commit)."""
        self._handled += [(i,) for i in message_ids]

    def _write(self, sql: str, params: Iterable[Any] = ()) -> None:
        self._write_behind()
        self._apply(sql, tuple(params), False)

    def _refuse_reads(self) -> None:
        """Before a read: written-behind work goes first; a faulted store reads nothing."""
        self._write_behind()
        if self.fault is not None:
            raise StorageUnavailable(f"the node cannot write its store: {self.fault}",
                                     fault=self.fault)

    @property
    def dirty(self) -> bool:
        return self._in_transaction or bool(self._appended or self._handled)

    def renew(self) -> bool:
        """Commit, running the guard even when nothing was written (a lease's renewal)."""
        if self.fault is None and self.guard is not None:
            try:
                self._begin()
            except self._failures() as exc:
                self._fail(exc)
        return self.commit()

    def discard(self) -> None:
        """Let go of every write not yet committed and of the fault: a fenced node's
        writes must never land, and it starts over from what the store holds."""
        self._rollback()
        self._in_transaction = False
        self._appended.clear()
        self._handled.clear()
        self._log.clear()
        self.fault = None
        self.fault_since = None
        self.fenced = False
        self._uncertain = None

    def commit(self) -> bool:
        """Make everything written so far durable; False if the store is (still) faulted."""
        self._write_behind()
        if self.fault is not None:
            return self._retry()
        if self._in_transaction:
            try:
                self._db.execute("COMMIT")
            except self.ERRORS as exc:
                self._uncertain = (self._commit_seq, len(self._log))
                self._fail(exc)
                return False
            self._in_transaction = False
            self.commits += 1
        self._log.clear()
        self.durable_through = self._next_id - 1
        return True

    def _retry(self) -> bool:
        """Replay every unwritten write in one transaction and commit it."""
        committing = False
        try:
            self._reconnect()
            self._settle_uncertain()
            self._db.execute("BEGIN")
            self._check_guard()  # even with nothing to replay: a fenced store stays so
            for sql, params, many in self._log:
                self._run(sql, params, many)
            committing = True
            self._db.execute("COMMIT")
        except self._failures() as exc:
            if committing:
                self._uncertain = (self._commit_seq, len(self._log))
            self._rollback()
            self.fault = self._describe(exc)
            return False
        log.warning("store: writes succeed again after %.1fs (%d writes applied)",
                    time.time() - (self.fault_since or time.time()), len(self._log))
        self.fault = None
        self.fault_since = None
        self._log.clear()
        self.commits += 1
        self.durable_through = self._next_id - 1
        return True

    def _settle_uncertain(self) -> None:
        """A COMMIT whose answer was lost: if it landed, what it wrote is durable and
        is dropped from the log (replaying it would apply it twice)."""
        if self._uncertain is None or self.landed is None:
            return
        seq, entries = self._uncertain
        if self.landed(self._db, seq):
            log.warning("store: the commit whose answer was lost had landed; %d writes"
                        " not replayed", entries)
            del self._log[:entries]
        self._uncertain = None

    def _close_log(self) -> None:
        if not self.commit():
            log.error("store: closing with %d writes unwritten (%s); nothing acknowledged"
                      " depends on them", len(self._log), self.fault)
