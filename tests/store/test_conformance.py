"""One store, two backends: every promise of ``caxton.store.base.Store``, held against
SQLite and PostgreSQL by the same tests (the ``backend`` fixture runs each twice)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from caxton.errors import StorageUnavailable
from caxton.launch import PROJECT_ROOT
from caxton.store import StoredMessage
from tests.store.conftest import Backend


def test_journal_appends_marks_and_replays_in_order(backend: Backend) -> None:
    store = backend.open()
    ids = [store.append_message("a", f"s{i}", bytes([i])) for i in range(6)]
    other = store.append_message("b", "s", b"other")
    assert ids == sorted(ids) and other > ids[-1]
    assert store.dirty
    store.mark_handled(ids[:3])
    # a read sees the buffered writes: write-behind never reorders
    assert [m.id for m in store.pending_messages("a")] == ids[3:]
    assert store.commit() and not store.dirty
    assert store.durable_through == other
    handled = store.handled_messages("a")
    assert [(m.id, m.sender, m.payload) for m in handled] == [
        (ids[i], f"s{i}", bytes([i])) for i in range(3)]
    assert [m.id for m in store.handled_messages("a", after=ids[1])] == [ids[2]]
    store.record_attempt(ids[3], 2, ["trap", "timeout"])
    store.commit()
    assert store.pending_messages("a")[0] == StoredMessage(ids[3], "s3", bytes([3]), 2,
                                                           ["trap", "timeout"])
    store.close()
    reopened = backend.open()
    assert [m.id for m in reopened.pending_messages("a")] == ids[3:]
    assert [m.id for m in reopened.pending_messages("b")] == [other]


def test_a_snapshot_cuts_the_journal_it_covers_unless_told_to_keep_it(backend: Backend) -> None:
    store = backend.open()
    ids = [store.append_message("a", "s", b"m") for _ in range(5)]
    store.mark_handled(ids[:4])
    store.save_snapshot("a", b"state-1", ids[1], cut=False)
    store.commit()
    assert [m.id for m in store.handled_messages("a")] == ids[:4]
    store.save_snapshot("a", b"state-2", ids[2])
    store.commit()
    snap = store.latest_snapshot("a")
    assert snap is not None and (snap.state, snap.last_message_id) == (b"state-2", ids[2])
    # handled and covered: gone; handled past the snapshot and pending: kept
    assert [m.id for m in store.handled_messages("a")] == [ids[3]]
    assert [m.id for m in store.pending_messages("a")] == [ids[4]]
    store.delete_snapshot("a")
    store.commit()
    assert store.latest_snapshot("a") is None


def test_dead_letters_leave_the_journal_with_their_reasons(backend: Backend) -> None:
    store = backend.open()
    first = store.append_message("a", "alice", b"poison")
    second = store.append_message("a", "bob", b"fine")
    store.commit()
    message = store.pending_messages("a")[0]
    store.dead_letter("a", message, ["trap: unreachable"] * 3)
    store.commit()
    assert [m.id for m in store.pending_messages("a")] == [second]
    letters = store.dead_letters("a")
    assert len(letters) == 1
    assert {k: letters[0][k] for k in ("message_id", "sender", "payload", "reasons")} == {
        "message_id": first, "sender": "alice", "payload": b"poison",
        "reasons": ["trap: unreachable"] * 3}
    assert store.dead_letters("b") == []


def test_agents_events_and_modules(backend: Backend) -> None:
    store = backend.open()
    store.put_module("abc", b"\0asm-one")
    store.put_module("abc", b"\0asm-one")  # the same hash twice is one module
    store.save_agent("first", {"name": "first", "limits": {"fuel": 5}}, "loaded")
    store.save_agent("second", {"name": "second"}, "loaded")
    store.save_agent("first", {"name": "first", "limits": {"fuel": 9}}, "running")
    store.set_agent_state("second", "stopped")
    store.record_event("first", "transition", "loaded", "running", None)
    store.record_event("first", "crash", "running", "restarting", "trap")
    assert store.commit()
    store.close()
    store = backend.open()
    assert store.get_module("abc") == b"\0asm-one" and store.get_module("nope") is None
    assert store.load_agents() == [({"name": "first", "limits": {"fuel": 9}}, "running"),
                                   ({"name": "second"}, "stopped")]
    assert [(e["kind"], e["from"], e["to"], e["reason"]) for e in store.events("first")] == [
        ("transition", "loaded", "running", None), ("crash", "running", "restarting", "trap")]
    store.delete_agent("first")
    store.commit()
    assert [spec["name"] for spec, _ in store.load_agents()] == ["second"]


def test_deployments_and_their_kept_states(backend: Backend) -> None:
    store = backend.open()
    assert store.last_deployment_id() == 0 and store.load_deployments() == []
    store.save_deployment(1, "a", "warming", {"id": 1, "state": "warming"})
    store.save_deployment(2, "b", "warming", {"id": 2})
    store.save_deployment(1, "a", "switched", {"id": 1, "state": "switched"})
    store.save_deploy_snapshot(1, "a", b"old-state", 41)
    store.save_deploy_snapshot(1, "a", b"newer", 42)
    store.save_deploy_snapshot(2, "b", None, 7)
    store.commit()
    store.close()
    store = backend.open()
    assert store.last_deployment_id() == 2
    assert store.load_deployments() == [{"id": 1, "state": "switched"}, {"id": 2}]
    assert store.deploy_snapshot(1, "a") == (b"newer", 42)
    assert store.deploy_snapshot(2, "b") == (None, 7)
    store.drop_deploy_snapshots(1)
    store.commit()
    assert store.deploy_snapshot(1, "a") is None


def test_ids_are_never_reused_across_a_reopen(backend: Backend) -> None:
    store = backend.open()
    ids = [store.append_message("a", "s", b"m") for _ in range(3)]
    store.mark_handled(ids)
    store.save_snapshot("a", b"s", ids[-1])  # the journal is now empty
    dead = store.append_message("b", "s", b"d")
    store.commit()
    store.dead_letter("b", store.pending_messages("b")[0], ["x"])
    gone = store.append_message("c", "s", b"c")
    store.commit()
    store.delete_agent("c")  # its ids are on record nowhere but the floor
    store.commit()
    store.close()
    store = backend.open()
    assert store.durable_through == gone
    assert store.append_message("d", "s", b"new") == gone + 1 > dead


def test_an_outage_refuses_reads_keeps_writes_and_a_retry_lands_each_once(
        backend: Backend) -> None:
    """PostgreSQL: the server stopped mid-transaction and started again. SQLite: a full disk
    emptied again. Either way the retry replays the log: nothing lost, nothing doubled."""
    store = backend.open()
    before = [store.append_message("a", "s", b"before") for _ in range(3)]
    store.mark_handled(before[:1])
    assert store.commit()
    backend.outage()
    during: list[int] = []
    for _ in range(200):  # a full disk fails once SQLite's spare pages run out
        during.append(store.append_message("a", "s", b"x" * 65536))
        store.mark_handled([during[0]])
        if not store.commit():
            break
    assert store.fault is not None and store.fault_since is not None
    with pytest.raises(StorageUnavailable):
        store.pending_messages("a")
    faulted_through = store.durable_through
    after = store.append_message("a", "s", b"after")
    store.mark_handled(before[1:2])
    store.save_snapshot("a", b"state", before[0], cut=False)
    assert not store.commit() and store.durable_through == faulted_through
    backend.recover()
    assert store.commit(), store.fault
    assert store.fault is None and store.durable_through == after
    store.close()
    reopened = backend.open()
    handled = [m.id for m in reopened.handled_messages("a")]
    pending = [m.id for m in reopened.pending_messages("a")]
    assert handled == [before[0], before[1], during[0]]
    assert pending == [before[2], *during[1:], after]
    snap = reopened.latest_snapshot("a")
    assert snap is not None and snap.last_message_id == before[0]


def test_a_commit_survives_the_process_being_killed(backend: Backend) -> None:
    """A child process commits, writes more without committing, and SIGKILLs itself:
    the reopened store has exactly the committed prefix."""
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from caxton.store import open_store\n"
        f"where = {str(backend.where)!r}\n"
        "store = open_store(where if where.startswith('postgres') else Path(where))\n"
        "ids = [store.append_message('a', 's', b'kept') for _ in range(50)]\n"
        "store.mark_handled(ids[:10])\n"
        "store.save_agent('a', {'name': 'a'}, 'running')\n"
        "store.commit()\n"
        "store.append_message('a', 's', b'lost')\n"
        "store.set_agent_state('a', 'stopped')\n"
        "print(ids[0], ids[-1], flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=60)
    assert done.returncode == -9, done.stderr
    first, last = map(int, done.stdout.split())
    store = backend.open()
    assert [m.id for m in store.handled_messages("a")] == list(range(first, first + 10))
    assert [m.id for m in store.pending_messages("a")] == list(range(first + 10, last + 1))
    assert store.load_agents() == [({"name": "a"}, "running")]
    assert store.append_message("a", "s", b"next") == last + 1
