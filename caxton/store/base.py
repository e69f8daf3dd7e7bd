"""The store interface: what the node, its router and rooms and ``caxton.deploy`` rely on.

Two backends keep it: SQLite in the data folder (``caxton.store.sqlite``, the
embedded default) and PostgreSQL (``caxton.store.postgres``), which several
nodes can share. Both make the same promises, and one conformance suite
(``tests/store``) holds them to it:

* **One transaction per loop turn.** Writes go into an open transaction that
  ``commit`` ends. What the node wrote before ``commit`` returned True survives
  the node's process dying (with ``durability="machine"``, a power cut too).
* **Write order is call order.** ``append_message`` and ``mark_handled`` are
  write-behind (buffered, written in one batch before the commit or before
  any other statement), yet no statement ever overtakes one issued before it.
* **A commit is a prefix.** A failed write or commit rolls back and leaves the
  store *faulted* (``fault`` says why, ``fault_since`` since when): writes are
  then only logged, reads raise ``StorageUnavailable``, and each ``commit``
  retries by replaying the whole log in one transaction. So what lands is
  always everything the node did up to some point, never a later write
  without an earlier one, and a write is never applied twice.
* **Ids are the store's.** ``append_message`` hands out message ids at once
  (so the node can deliver before journaling); they rise and are never reused,
  across a reopen too, and ``durable_through`` never names an uncommitted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A journaled message as the store gives it back (recovery, replay, dead letters)."""

    id: int
    sender: str
    payload: bytes
    attempts: int
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """An agent's latest snapshot: its state after message ``last_message_id``."""

    state: bytes
    last_message_id: int
    created: float


#: what a commit survives: ``process`` (the node's process dying, even by
#: SIGKILL) or ``machine`` (the machine losing power too); each backend maps it
DURABILITIES = ("process", "machine")


class StoreError(Exception):
    """A store that cannot be opened: the message is one line, fit to stop a node's start."""


class Store(Protocol):
    """The node's durable state; only the node's loop uses it (no locking inside).

    Attributes a caller reads: ``durability`` (one of ``DURABILITIES``),
    ``commits`` (successful commits so far: the node compares it across ticks
    to tell its loop was idle), ``fault``/``fault_since`` (why and since when
    writes fail; None while they succeed) and ``durable_through`` (every
    message id up to it is committed).
    """

    durability: str
    commits: int
    fault: str | None
    fault_since: float | None
    durable_through: int

    @property
    def dirty(self) -> bool:
        """Whether anything is written or buffered but not committed."""
        ...

    # -- transactions -------------------------------------------------------------

    def commit(self) -> bool:
        """Make everything written so far durable, in call order; False while faulted.

        While faulted, each call retries the whole log in one transaction."""
        ...

    def checkpoint(self) -> bool:
        """Housekeeping the node runs when its loop is idle; returns whether any ran."""
        ...

    def close(self) -> None:
        """Commit what can be committed and let go of the database."""
        ...

    # -- modules ------------------------------------------------------------------

    def put_module(self, sha256: str, wasm: bytes) -> None:
        """Keep a module by its content hash (a second put of the same hash is a no-op)."""
        ...

    def get_module(self, sha256: str) -> bytes | None:
        """The module's bytes, or None if the store never had them."""
        ...

    # -- agents -------------------------------------------------------------------

    def save_agent(self, name: str, spec: dict[str, Any], state: str) -> None:
        """Keep the agent's spec and lifecycle state (insert or replace; ``created`` kept)."""
        ...

    def set_agent_state(self, name: str, state: str) -> None:
        """Record the agent's lifecycle state."""
        ...

    def load_agents(self) -> list[tuple[dict[str, Any], str]]:
        """Every agent's spec and state, in the order they were first saved."""
        ...

    def delete_agent(self, name: str) -> None:
        """Forget the agent and everything of it (journal, snapshot, dead letters,
        deployments); the message ids it used stay used."""
        ...

    # -- the journal ----------------------------------------------------------------

    def append_message(self, agent: str, sender: str, payload: bytes) -> int:
        """Journal a message (write-behind: durable at the next commit); returns its id."""
        ...

    def mark_handled(self, message_ids: list[int]) -> None:
        """Mark messages handled (write-behind: durable at the next commit)."""
        ...

    def record_attempt(self, message_id: int, attempts: int, reasons: list[str]) -> None:
        """Record how often a message was tried and why each try failed."""
        ...

    def pending_messages(self, agent: str) -> list[StoredMessage]:
        """The agent's journaled messages not yet handled, oldest first."""
        ...

    def handled_messages(self, agent: str, after: int = 0) -> list[StoredMessage]:
        """Handled messages still journaled with ids above ``after``, oldest first: what
        a replacement restored from a snapshot covering ``after`` must replay."""
        ...

    # -- snapshots -------------------------------------------------------------------

    def save_snapshot(self, agent: str, state: bytes, last_message_id: int, *,
                      cut: bool = True) -> None:
        """Keep the agent's new snapshot and (unless ``cut=False``) drop the handled
        journal entries it covers, in the same commit."""
        ...

    def delete_snapshot(self, agent: str) -> None:
        """Forget the agent's snapshot."""
        ...

    def cut_journal(self, agent: str, last_message_id: int) -> None:
        """Forget handled messages up to ``last_message_id``: nothing will replay them."""
        ...

    def latest_snapshot(self, agent: str) -> StoredSnapshot | None:
        """The agent's latest snapshot, if any."""
        ...

    # -- dead letters -------------------------------------------------------------------

    def dead_letter(self, agent: str, message: StoredMessage, reasons: list[str]) -> None:
        """Move a message from the journal to the dead letters, with why."""
        ...

    def dead_letters(self, agent: str) -> list[dict[str, Any]]:
        """The agent's dead letters, oldest first."""
        ...

    # -- lifecycle events ----------------------------------------------------------------

    def record_event(self, agent: str, kind: str, from_state: str | None,
                     to_state: str | None, reason: str | None) -> None:
        """Append a lifecycle event to the agent's history."""
        ...

    def events(self, agent: str) -> list[dict[str, Any]]:
        """The agent's lifecycle events, oldest first."""
        ...

    # -- deployments (caxton.deploy) ----------------------------------------------------

    def save_deployment(self, deployment_id: int, agent: str, state: str,
                        body: dict[str, Any]) -> None:
        """Keep a deployment's whole record as it is now (insert or replace)."""
        ...

    def load_deployments(self) -> list[dict[str, Any]]:
        """Every deployment's record, oldest first."""
        ...

    def last_deployment_id(self) -> int:
        """The highest deployment id kept (0: none)."""
        ...

    def save_deploy_snapshot(self, deployment_id: int, agent: str, state: bytes | None,
                             last_message_id: int) -> None:
        """The previous version's state at a switch: what a rollback restores."""
        ...

    def deploy_snapshot(self, deployment_id: int, agent: str) -> tuple[bytes | None, int] | None:
        """The state kept by ``save_deploy_snapshot`` and its last message id, if any."""
        ...

    def drop_deploy_snapshots(self, deployment_id: int) -> None:
        """Forget a finished deployment's kept states."""
        ...
