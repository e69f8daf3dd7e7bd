"""The store on a real SQLite file: journal, snapshots cutting it, dead letters, crash safety."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from caxton.store.sqlite import SQLiteStore as Store
from caxton.wasm import example_path
from tests.helpers import wait_until


def test_journal_snapshot_cut_and_replay_set(tmp_path: Path):
    store = Store(tmp_path / "db.sqlite")
    ids = [store.append_message("a", "", f"m{i}".encode()) for i in range(5)]
    store.commit()
    assert [m.id for m in store.pending_messages("a")] == ids
    store.mark_handled(ids[:3])
    store.commit()
    assert [m.payload for m in store.handled_messages("a")] == [b"m0", b"m1", b"m2"]
    store.save_snapshot("a", b"state-after-2", ids[1])
    store.commit()
    # the snapshot covers m0 and m1: only m2 is left to replay
    assert [m.payload for m in store.handled_messages("a")] == [b"m2"]
    assert [m.payload for m in store.pending_messages("a")] == [b"m3", b"m4"]
    snapshot = store.latest_snapshot("a")
    assert snapshot is not None and snapshot.state == b"state-after-2"
    assert snapshot.last_message_id == ids[1]
    store.close()


def test_dead_letter_moves_message_with_reasons(tmp_path: Path):
    store = Store(tmp_path / "db.sqlite")
    message_id = store.append_message("a", "b", b"poison")
    store.record_attempt(message_id, 3, ["trap: x", "trap: x", "trap: x"])
    (message,) = store.pending_messages("a")
    assert message.attempts == 3
    store.dead_letter("a", message, message.reasons)
    store.commit()
    assert store.pending_messages("a") == []
    (letter,) = store.dead_letters("a")
    assert letter["payload"] == b"poison" and letter["sender"] == "b"
    assert letter["reasons"] == ["trap: x"] * 3
    store.close()


def test_committed_rows_survive_sigkill_uncommitted_do_not(tmp_path: Path):
    db = tmp_path / "db.sqlite"
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from pathlib import Path
from caxton.store.sqlite import SQLiteStore as Store
store = Store(Path({str(db)!r}))
store.append_message("a", "", b"committed")
store.commit()
store.append_message("a", "", b"uncommitted")
os.kill(os.getpid(), signal.SIGKILL)
"""
    result = subprocess.run([sys.executable, "-c", script], timeout=30)
    assert result.returncode == -9
    store = Store(db)
    assert [m.payload for m in store.pending_messages("a")] == [b"committed"]
    store.close()


def test_agents_and_events_round_trip(tmp_path: Path):
    store = Store(tmp_path / "db.sqlite")
    store.save_agent("a", {"name": "a", "init": b"\x00"}, "loaded")
    store.set_agent_state("a", "running")
    store.record_event("a", "transition", "loaded", "running", "serving")
    store.commit()
    store.close()
    store = Store(tmp_path / "db.sqlite")
    assert store.load_agents() == [({"name": "a", "init": b"\x00"}, "running")]
    assert store.events("a")[0]["to"] == "running"
    store.delete_agent("a")
    store.commit()
    assert store.load_agents() == []
    store.close()


def test_message_ids_are_never_reused_after_cuts_dead_letters_and_removal(tmp_path: Path):
    db = tmp_path / "db.sqlite"
    store = Store(db)
    cut = [store.append_message("a", "", b"x") for _ in range(3)]
    store.mark_handled(cut)
    store.save_snapshot("a", b"s", cut[-1])  # the journal of "a" is now empty
    poison = store.append_message("b", "", b"p")
    store.dead_letter("b", store.pending_messages("b")[0], ["trap"])
    store.commit()
    store.close()

    store = Store(db)
    after_restart = store.append_message("c", "", b"y")
    assert after_restart > max(*cut, poison)
    store.delete_agent("a")
    store.delete_agent("b")
    store.delete_agent("c")  # nothing at all is on record now
    store.commit()
    store.close()

    store = Store(db)
    assert store.append_message("d", "", b"z") > after_restart
    store.close()


def test_uncommitted_appends_are_written_before_any_other_statement(tmp_path: Path):
    """Write-behind keeps the order of calls: a read sees the buffered rows,
    a cut after handled marks cuts them."""
    store = Store(tmp_path / "db.sqlite")
    ids = [store.append_message("a", "", f"m{i}".encode()) for i in range(3)]
    assert [m.id for m in store.pending_messages("a")] == ids
    store.mark_handled(ids[:2])
    store.cut_journal("a", ids[1])
    store.commit()
    assert [m.id for m in store.pending_messages("a")] == [ids[2]]
    assert store.handled_messages("a") == []
    assert store.durable_through == ids[-1]
    store.close()


def test_checkpoint_runs_only_when_something_new_is_committed_and_nothing_is_pending(
        tmp_path: Path):
    store = Store(tmp_path / "db.sqlite")
    wal = tmp_path / "db.sqlite-wal"
    store.checkpoint()  # whatever opening the store wrote
    first = store.append_message("a", "", b"m1")
    store.commit()
    assert wal.stat().st_size > 0  # the commit went to the WAL
    assert store.checkpoint() is True
    assert wal.stat().st_size == 0  # copied into the database file, WAL cut back
    assert store.checkpoint() is False  # nothing new since
    store.append_message("a", "", b"m2")
    assert store.checkpoint() is False  # an append still buffered: not idle
    store.commit()
    assert store.checkpoint() is True
    store.close()
    reopened = Store(tmp_path / "db.sqlite")
    assert [m.payload for m in reopened.pending_messages("a")] == [b"m1", b"m2"]
    assert reopened.pending_messages("a")[0].id == first
    reopened.close()


def test_sqlite_checkpoints_on_its_own_only_past_the_wal_budget(tmp_path: Path):
    from caxton.store.sqlite import WAL_CHECKPOINT_BYTES

    store = Store(tmp_path / "db.sqlite")
    page_size = store._db.execute("PRAGMA page_size").fetchone()[0]
    pages = store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    assert pages * page_size == WAL_CHECKPOINT_BYTES
    wal = tmp_path / "db.sqlite-wal"
    for _ in range(400):  # past SQLite's default of 1,000 pages, within the budget
        store.append_message("a", "", b"x" * 200)
        store.commit()
    assert wal.stat().st_size > 1000 * page_size
    store.close()


def test_an_idle_node_checkpoints_its_store(node, client):
    client.spawn("counter", example_path("counter"))
    for _ in range(50):
        client.call("counter", b"inc")
    wal = node.data_dir / "caxton.db-wal"
    # within a tick or two of going quiet, the WAL is folded into the database
    wait_until(lambda: wal.stat().st_size == 0, timeout=10, what="an idle checkpoint")
    assert client.call("counter", b"get") == b"50"
