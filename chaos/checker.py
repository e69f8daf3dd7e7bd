"""The verdict: what was acknowledged against what the agents ended with.

Definitions (per workload agent, over sequence numbers):

- acknowledged: ``send`` returned an id or ``call`` returned a reply;
- unacknowledged: attempted but not acknowledged (error, timeout, node down);
  may or may not have taken effect, and counts as neither lost nor duplicated;
- lost: acknowledged, but its bit is clear in the ledger's final bitmap;
- duplicated: effects applied a second time (the ledger's duplicate counter);
- phantom: a bit set for a number the harness never sent.

A counter only shows a count ``c``; with ``a`` acknowledged and ``u``
unacknowledged it proves at least ``a - c`` lost and ``c - a - u`` duplicated.

The run passes only if nothing was lost or duplicated, every fault was
contained and recovered from, the node answered throughout (outside the crashes
the harness caused), and every agent was running again at the end.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from caxton.status import AgentStatus, DeadLetter
from chaos.book import AckBook
from chaos.faults import FaultRecord
from chaos.ledger import LedgerState
from chaos.scenarios import FLOOD, MESSAGE_FAULTS, NODE_CRASH, OVERSIZED
from chaos.stats import summary
from chaos.workload import MAX_ATTEMPTS, AgentSet

SAMPLE = 10  # sequence numbers listed per agent in the report


@dataclass
class RunFacts:
    """Everything observed in a run, gathered by the runner for the checker."""

    agents: AgentSet
    books: AckBook
    ledgers: dict[str, LedgerState | str]       # str: why the dump could not be read
    counters: dict[str, int | str]
    dead_letters: dict[str, list[DeadLetter] | str]
    final_status: dict[str, AgentStatus]
    faults: list[FaultRecord]
    liveness: dict[str, Any]
    settle_problem: str | None = None


@dataclass
class Verdict:
    passed: bool
    reasons: list[str]
    warnings: list[str]
    messages: dict[str, int]
    agents: dict[str, dict[str, Any]]
    recovery: dict[str, Any]
    faults: dict[str, Any]
    dead_letters: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return "PASS" if self.passed else "FAIL"


def _bits(value: int, limit: int = SAMPLE) -> list[int]:
    """The first ``limit`` set bit positions of ``value``."""
    out: list[int] = []
    while value and len(out) < limit:
        low = value & -value
        out.append(low.bit_length() - 1)
        value ^= low
    return out


def check_ledger(book_acked: int, attempted: int, state: LedgerState) -> dict[str, Any]:
    """Lost, duplicated, phantom and unacknowledged-but-applied counts for one ledger."""
    seen = state.seen
    sent_mask = (1 << attempted) - 1
    lost = book_acked & ~seen
    phantom = seen & ~sent_mask
    unacked_applied = seen & ~book_acked & sent_mask
    return {
        "lost": lost.bit_count(),
        "lost_sample": _bits(lost),
        "duplicated": state.duplicates,
        "phantom": phantom.bit_count(),
        "phantom_sample": _bits(phantom),
        "unacknowledged_applied": unacked_applied.bit_count(),
        "applied": state.applied,
        "rejected": state.rejected,
        "other": state.other,
    }


def check_counter(acked: int, unacked: int, value: int) -> dict[str, Any]:
    return {
        "lost": max(0, acked - value),
        "duplicated": max(0, value - acked - unacked),
        "value": value,
    }


def check(facts: RunFacts) -> Verdict:
    reasons: list[str] = []
    warnings: list[str] = []
    totals: defaultdict[str, int] = defaultdict(int)
    per_agent: dict[str, dict[str, Any]] = {}

    for name in facts.agents.workload:
        book = facts.books[name]
        row: dict[str, Any] = {
            "kind": facts.agents.kind_of(name),
            "attempted": book.attempted,
            "acknowledged": book.acked_count,
            "unacknowledged": book.unacknowledged,
            "via_send": book.via_send,
            "via_call": book.via_call,
            "errors": dict(book.errors),
            "error_samples": dict(book.error_samples),
        }
        if name in facts.agents.ledgers:
            state = facts.ledgers.get(name, "no dump taken")
            if isinstance(state, str):
                reasons.append(f"{name}: final state unreadable ({state})")
            else:
                row.update(check_ledger(book.acked_bits, book.attempted, state))
                if row["phantom"]:
                    reasons.append(f"{name}: {row['phantom']} effects of messages never sent, "
                                   f"e.g. {row['phantom_sample']}")
                if row["rejected"] or row["other"]:
                    warnings.append(f"{name}: {row['rejected']} out-of-range and "
                                    f"{row['other']} unrecognised payloads")
        else:
            value = facts.counters.get(name, "no count taken")
            if isinstance(value, str):
                reasons.append(f"{name}: final count unreadable ({value})")
            else:
                row.update(check_counter(book.acked_count, book.unacknowledged, value))
        per_agent[name] = row
        refused = book.errors.get("NoSuchAgent", 0)
        if refused:  # no workload agent is ever removed: the node answered wrongly
            warnings.append(f"{name}: {refused} messages refused with NoSuchAgent, though the "
                            "agent was never removed (first: "
                            f"{book.error_samples.get('NoSuchAgent', '?')})")
        for key in ("attempted", "acknowledged", "unacknowledged", "via_send", "via_call",
                    "lost", "duplicated", "unacknowledged_applied", "phantom"):
            totals[key] += int(row.get(key, 0))
        if row.get("lost"):
            sample = f", e.g. seq {row['lost_sample']}" if row.get("lost_sample") else ""
            reasons.append(f"{name}: {row['lost']} acknowledged messages lost{sample}")
        if row.get("duplicated"):
            reasons.append(f"{name}: {row['duplicated']} duplicated effects")

    if totals["acknowledged"] == 0:
        reasons.append("no message was acknowledged: the run tested nothing")

    dead = _check_dead_letters(facts, reasons)
    fault_summary = _check_faults(facts, reasons, warnings)
    recovery = _recovery(facts.faults)

    for problem in facts.liveness.get("unexpected", []):
        reasons.append(f"node liveness at {problem['at']}s: {problem['what']}")

    if facts.settle_problem:  # the root cause of what follows: first
        reasons.insert(0, facts.settle_problem)
    for name in facts.agents.all:
        status = facts.final_status.get(name)
        if status is None:
            reasons.append(f"{name}: no final status")
        elif status.state != "running":
            reasons.append(f"{name} is {status.state} at the end, not running "
                           f"(last failure: {status.last_failure})")
        if status is not None and name in per_agent:
            per_agent[name]["final_state"] = status.state
            per_agent[name]["restarts"] = status.restarts

    return Verdict(passed=not reasons, reasons=reasons, warnings=warnings,
                   messages=dict(totals), agents=per_agent, recovery=recovery,
                   faults=fault_summary, dead_letters=dead)


def _check_dead_letters(facts: RunFacts, reasons: list[str]) -> dict[str, Any]:
    """Every dead letter must be a message fault's own message, and nothing else."""
    expected = {r.info["message_id"] for r in facts.faults
                if r.planned.kind in MESSAGE_FAULTS and "message_id" in r.info}
    out: dict[str, Any] = {}
    for name, letters in facts.dead_letters.items():
        if isinstance(letters, str):
            reasons.append(f"{name}: dead letters unreadable ({letters})")
            continue
        unexpected = [d for d in letters if d.message_id not in expected]
        out[name] = {
            "count": len(letters),
            "reasons": sorted({r.split(":")[0] for d in letters for r in d.reasons}),
            "unexpected": [{"message_id": d.message_id, "payload": d.payload[:32].hex(),
                            "reasons": d.reasons} for d in unexpected[:SAMPLE]],
        }
        if unexpected:
            reasons.append(f"{name}: {len(unexpected)} unexpected dead letters, first: "
                           f"{unexpected[0].reasons[-1] if unexpected[0].reasons else '?'}")
    return out


def _check_faults(facts: RunFacts, reasons: list[str], warnings: list[str]) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for record in facts.faults:
        _check_isolation(record, facts.faults)
        counts = by_kind[record.planned.kind]
        counts["planned"] += 1
        counts[record.status] += 1
        if record.status == "skipped":
            continue
        if record.problems:
            counts["not_contained"] += 1
            at = "?" if record.injected_at is None else f"{record.injected_at:.2f}"
            reasons.append(f"{record.planned.kind} on {record.target or 'node'} at {at}s: "
                           + "; ".join(record.problems))
    planned = len(facts.faults)
    skipped = sum(1 for r in facts.faults if r.status == "skipped")
    if skipped:
        warnings.append(f"{skipped} faults could not be injected (see the fault log)")
        if skipped == planned:
            reasons.append("no planned fault could be injected")
    return {kind: dict(counts) for kind, counts in sorted(by_kind.items())}


def _check_isolation(record: FaultRecord, faults: list[FaultRecord]) -> None:
    """A message fault or flood must not restart any agent other faults left alone.

    Only agents no other fault touched while this one ran can be judged: a kill
    elsewhere at the same time explains their restarts. A node crash in the
    window restarts everything, so such a window is not judged at all.
    """
    kind = record.planned.kind
    if kind not in (*MESSAGE_FAULTS, FLOOD) or record.status != "injected":
        return
    before, after = record.restarts_before, record.restarts_after
    if before is None or after is None or record.injected_at is None:
        record.info["isolation"] = "not judged (no restart counts)"
        return
    start = record.injected_at
    end = record.finished_at if record.finished_at is not None else float("inf")
    touched: set[str] = set()
    for other in faults:
        if other is record or other.injected_at is None:
            continue
        other_end = other.finished_at if other.finished_at is not None else float("inf")
        if other.injected_at <= end and other_end >= start:
            if other.planned.kind == NODE_CRASH:
                record.info["isolation"] = "not judged (a node crash overlapped)"
                return
            if other.target is not None:
                touched.add(other.target)
    judged = []
    for name, count in after.items():
        if name in touched or name not in before:
            continue
        expected = before[name]
        if name == record.target and kind not in (OVERSIZED, FLOOD):
            expected += MAX_ATTEMPTS
        if count != expected:
            what = "its target" if name == record.target else "an agent it did not touch"
            record.problems.append(f"{what} {name} restarted {count - before[name]} times "
                                   f"(expected {expected - before[name]})")
        judged.append(name)
    record.info["isolation"] = {"judged": sorted(judged), "skipped": sorted(touched)}


def _recovery(faults: list[FaultRecord]) -> dict[str, Any]:
    times: dict[str, list[float]] = defaultdict(list)
    for record in faults:
        if record.recovery_s is not None:
            times[record.planned.kind].append(record.recovery_s)
    everything = [t for values in times.values() for t in values]
    return {"all": summary(everything),
            "by_kind": {kind: summary(values) for kind, values in sorted(times.items())}}
