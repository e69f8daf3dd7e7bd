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
from collections.abc import Iterable
from typing import Any, ClassVar

from caxton.errors import StorageUnavailable

log = logging.getLogger("caxton.node")

#: one logged write: (sql, params, executemany?)
Write = tuple[str, Any, bool]


class WriteLog:
    """The transaction and fault scheme of a store (see the module's docstring)."""

    #: the exceptions of the backend's driver that mean "this write did not happen"
    ERRORS: ClassVar[tuple[type[Exception], ...]] = ()
    #: the journal's two buffered statements, in the backend's dialect
    APPEND_SQL: ClassVar[str] = ""
    MARK_HANDLED_SQL: ClassVar[str] = ""

    _db: Any

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
        #: every message id up to this one is committed: durable
        self.durable_through = next_id - 1

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

    def _apply(self, sql: str, params: Any, many: bool) -> None:
        self._log.append((sql, params, many))
        if self.fault is not None:
            return  # unwritten: the next retry applies it, in order
        try:
            self._begin()
            self._run(sql, params, many)
        except self.ERRORS as exc:
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

    def commit(self) -> bool:
        """Make everything written so far durable; False if the store is (still) faulted."""
        self._write_behind()
        if self.fault is not None:
            return self._retry()
        if self._in_transaction:
            try:
                self._db.execute("COMMIT")
            except self.ERRORS as exc:
                self._fail(exc)
                return False
            self._in_transaction = False
            self.commits += 1
        self._log.clear()
        self.durable_through = self._next_id - 1
        return True

    def _retry(self) -> bool:
        """Replay every unwritten write in one transaction and commit it."""
        try:
            self._reconnect()
            self._db.execute("BEGIN")
            for sql, params, many in self._log:
                self._run(sql, params, many)
            self._db.execute("COMMIT")
        except self.ERRORS as exc:
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

    def _close_log(self) -> None:
        if not self.commit():
            log.error("store: closing with %d writes unwritten (%s); nothing acknowledged"
                      " depends on them", len(self._log), self.fault)
