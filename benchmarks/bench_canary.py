"""False rollbacks of the canary analysis: canaries of identical versions, under load.

Each round deploys a version of the chaos ledger that differs from the one
serving only by a tag in a data segment (the same code, a different module
hash) as a canary with short stages, while a thread sends ledger sequence
numbers (half of the batches under a key, half without). Every rollback is a
false one. The run ends by checking the ledger: every acknowledged number
applied exactly once through all the canaries.

    python benchmarks/bench_canary.py [--rounds 20] [--json]

Stages 5 % → 25 % → 50 % → 100 %, one second each, a verdict every 0.5 s, 50
samples a side at least: each canary is judged on about six windows, so the
rate per canary is about six times the rate per verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import caxton
from caxton.testing import start_test_node
from chaos.ledger import LedgerState, encode_seq

ROOT = Path(__file__).resolve().parents[1]
LEDGER = (ROOT / "chaos" / "agents" / "ledger.wat").read_text()
_MEMORY = '(memory (export "memory") 10)'
STAGES = [(5, 1), (25, 1), (50, 1), (100, 0)]


def ledger(tag: str) -> bytes:
    """The ledger, tagged: identical code, a module hash of its own."""
    return LEDGER.replace(_MEMORY, f'{_MEMORY}\n  (data (i32.const 400) "{tag}")').encode()


class Load:
    def __init__(self, address: str) -> None:
        self.address = address
        self.acked: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        seq, turn = 0, 0
        with caxton.connect(self.address, timeout=30) as client:
            while not self.stop.is_set():
                batch = list(range(seq, seq + 20))
                seq, turn = seq + 20, turn + 1
                key = f"user-{turn % 64}" if turn % 2 else None
                try:
                    client.send_many("led", [encode_seq(n) for n in batch], key=key)
                except caxton.MailboxFull:
                    continue
                self.acked.extend(batch)


def run(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        node = start_test_node(folder)
        try:
            with node.connect(timeout=30) as client:
                # snapshots keep each warm-up's replay short, as a real agent's would
                client.spawn("led", ledger("v0"), mailbox=100_000,
                             snapshot_every={"messages": 1000})
                load = Load(node.address)
                load.thread.start()
                outcomes: list[dict[str, Any]] = []
                for i in range(1, rounds + 1):
                    started = time.monotonic()
                    dep = client.deploy("led", ledger(f"v{i}"), strategy="canary",
                                        stages=STAGES, analysis_interval=0.5, min_samples=50,
                                        keep_previous=0, timeout=120)
                    verdicts = (dep.canary or {}).get("verdicts", [])
                    outcomes.append({
                        "round": i, "state": dep.state, "reason": dep.reason,
                        "seconds": round(time.monotonic() - started, 2),
                        "verdicts": len(verdicts),
                        "rollback_verdicts": sum(v["decision"] == "rollback" for v in verdicts),
                        "median_ratios": [v["figures"]["median_ratio"] for v in verdicts],
                        "why": [p["text"] for p in dep.progress if not p["ok"]]})
                    print(f"round {i}: {dep.state} {dep.reason if dep.state != 'running' else ''}"
                          f" ({len(verdicts)} verdicts)", file=sys.stderr)
                load.stop.set()
                load.thread.join(60)
                state = LedgerState.parse(client.call("led", b"ledger:dump", timeout=30))
                bits = bin(state.seen)[:1:-1]  # bit n is bits[n] (a shift per number is
                # quadratic over millions of them); numbers past the ledger's capacity
                # (2^22) are counted as rejected, not set
                lost = sum(1 for n in load.acked if n < state.bits
                           and (n >= len(bits) or bits[n] != "1"))
                over = sum(1 for n in load.acked if n >= state.bits)
        finally:
            node.stop()
    rolled = [o for o in outcomes if o["state"] != "running"]
    verdicts = sum(o["verdicts"] for o in outcomes)
    return {"rounds": rounds, "false_rollbacks": len(rolled),
            "false_rollback_rate": len(rolled) / rounds,
            "verdicts": verdicts,
            "rollback_verdicts": sum(o["rollback_verdicts"] for o in outcomes),
            "reasons": [o["reason"] for o in rolled],
            "acked": len(load.acked), "lost": lost + abs(over - state.rejected),
            "past_capacity": over, "duplicates": state.duplicates,
            "applied": state.applied, "outcomes": outcomes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['false_rollbacks']} false rollbacks in {result['rounds']} canaries of "
              f"identical versions ({100 * result['false_rollback_rate']:.1f}%); "
              f"{result['rollback_verdicts']} rollback verdicts of {result['verdicts']}; "
              f"{result['acked']} sends acknowledged, {result['lost']} lost, "
              f"{result['duplicates']} duplicated")
    return 0 if result["false_rollback_rate"] <= 0.05 and not result["lost"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
