"""One chaos run, start to verdict.

The phases, in order: start (or reach) the node and spawn the agents; run the
load, the fault schedule and the liveness sampler together for the duration;
wait for every fault's follow-up (its recovery); let the system settle (every
agent running, every mailbox empty); read the agents' final state; judge.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import caxton
from chaos import probes
from chaos.book import AckBook
from chaos.checker import RunFacts, Verdict, check
from chaos.config import RunConfig
from chaos.faults import INJECTORS, FaultContext, FaultRecord, Skipped, target_name
from chaos.ledger import DUMP, LedgerState
from chaos.liveness import LivenessSampler, summarize
from chaos.node import ExternalNode, ManagedNode, NodeHandle
from chaos.report import build_report
from chaos.scenarios import FLOOD, NODE_CRASH, SCENARIOS
from chaos.schedule import PlannedFault, build_schedule
from chaos.workload import AgentSet, LoadGenerator, agent_set, spawn_agents

SETTLE_TIMEOUT_S = 60.0
FOLLOW_UP_GRACE_S = probes.RECOVERY_DEADLINE_S + 30.0
PROGRESS_EVERY_S = 10.0

Progress = Callable[[str], None]


@dataclass
class RunResult:
    verdict: Verdict
    report: dict[str, Any]

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict.passed else 1


def plan(config: RunConfig) -> tuple[PlannedFault, ...]:
    """The schedule a run with this configuration injects."""
    exclude = frozenset({NODE_CRASH}) if config.node is not None else frozenset()
    return build_schedule(config.scenario, config.seed, config.duration,
                          ledgers=config.agents, counters=config.counters, exclude=exclude)


def run(config: RunConfig, progress: Progress | None = None) -> RunResult:
    """Carry out one run and judge it. Raises ``UsageError`` / ``HarnessError``."""
    return Runner(config.validate(), progress or (lambda _line: None)).run()


class Runner:
    def __init__(self, config: RunConfig, progress: Progress) -> None:
        self.config = config
        self.progress = progress
        self.schedule = plan(config)
        kinds = {f.kind for f in self.schedule}
        self.agents: AgentSet = agent_set(config.agent_prefix, config.agents, config.counters,
                                          FLOOD in kinds)
        self.node: NodeHandle = (
            ExternalNode(config.node) if config.node is not None
            else ManagedNode(extra_args=config.node_args, keep_data=config.keep_data,
                          module=config.node_module))
        self.books = AckBook()
        for name in self.agents.workload:
            self.books.add(name)
        self.abort = threading.Event()
        self.records: list[FaultRecord] = []
        self._follow_ups: list[threading.Thread] = []
        self._t0 = time.monotonic()
        self.interrupted = False
        self.spawned: list[str] = []

    def clock(self) -> float:
        return time.monotonic() - self._t0

    # -- the run -------------------------------------------------------------------

    def run(self) -> RunResult:
        started_wall = time.time()
        try:
            self.node.start()
            with caxton.connect(self.node.address, timeout=10.0) as client:
                spawn_agents(client, self.agents, self.spawned)
            self.progress(f"node {self.node.address}; agents: {', '.join(self.agents.all)}; "
                          f"{len(self.schedule)} faults planned")
            facts, timing = self._main_phase()
        finally:
            self.abort.set()
            self._join_follow_ups(5.0)
            self._cleanup()
        verdict = check(facts)
        if self.interrupted:
            verdict.passed = False
            verdict.reasons.insert(0, "interrupted before the end of the run")
        timing["started_at"] = started_wall
        report = build_report(self.config, self.schedule, self.agents, verdict,
                              self.records, facts.liveness, timing,
                              node_log=getattr(self.node, "log_path", None))
        return RunResult(verdict, report)

    def _main_phase(self) -> tuple[RunFacts, dict[str, Any]]:
        load = LoadGenerator(self.node.address, self.books, self.config.rate,
                             self.config.call_share)
        self._t0 = time.monotonic()
        liveness = LivenessSampler(self.node.address, self.clock)
        liveness.start()
        load.start()
        injector = threading.Thread(target=self._inject_all, name="chaos-injector", daemon=True)
        injector.start()
        try:
            self._wait_out_the_duration()
        except KeyboardInterrupt:
            self.interrupted = True
            self.abort.set()
        load.stop()
        load_end = self.clock()
        injector.join()
        self._join_follow_ups(FOLLOW_UP_GRACE_S)
        faults_end = self.clock()
        if not self.node.alive():  # nothing left to settle or read
            problem = (f"the node exited on its own (exit code {self.node.exit_code()}); "
                       f"tail of its log: {getattr(self.node, 'log_tail', lambda: '')()}")
            facts = RunFacts(agents=self.agents, books=self.books, ledgers={}, counters={},
                             dead_letters={}, final_status={}, faults=self.records,
                             liveness={}, settle_problem=problem)
        else:
            facts = self._gather(None if self.interrupted else self._settle())
        settled = self.clock()
        liveness.stop()
        outages = [(r.injected_at, r.recovered_at if r.recovered_at is not None else self.clock())
                   for r in self.records
                   if r.planned.kind == NODE_CRASH and r.injected_at is not None]
        facts.liveness = summarize(liveness.samples, outages)
        attempted = sum(b.attempted for b in self.books.agents.values())
        timing = {"target_rate": self.config.rate,
                  "achieved_rate": round(attempted / load_end, 1) if load_end else 0.0,
                  "skipped_behind": load.skipped,
                  "load_s": round(load_end, 3), "faults_done_s": round(faults_end, 3),
                  "state_read_s": round(settled, 3), "total_s": round(self.clock(), 3)}
        return facts, timing

    def _wait_out_the_duration(self) -> None:
        end = self.config.duration
        next_report = PROGRESS_EVERY_S
        while (left := end - self.clock()) > 0:
            self.abort.wait(min(left, max(0.0, next_report - self.clock())))
            if self.clock() >= next_report:
                next_report += PROGRESS_EVERY_S
                self.progress(self._progress_line())
            if not self.node.alive():
                self.progress(f"the node exited on its own (code {self.node.exit_code()})")
                return

    def _progress_line(self) -> str:
        books = self.books.agents.values()
        attempted = sum(b.attempted for b in books)
        acked = sum(b.acked_count for b in books)
        injected = sum(1 for r in self.records if r.status == "injected")
        return (f"{self.clock():6.1f}s  sent {attempted}  acknowledged {acked}  "
                f"faults {injected}/{len(self.schedule)}")

    # -- faults ----------------------------------------------------------------------

    def _inject_all(self) -> None:
        ctx = FaultContext(self.node.address, self.node, self.agents, self.clock, self.abort)
        for planned in self.schedule:
            wait = planned.offset - self.clock()
            if wait > 0 and self.abort.wait(wait):
                return
            if self.abort.is_set() or not self.node.alive():
                return
            record = FaultRecord(planned, target_name(planned, self.agents))
            self.records.append(record)
            try:
                follow_up = INJECTORS[planned.kind].inject(ctx, record)
            except Skipped as exc:
                record.status = "skipped"
                record.info["skipped"] = str(exc)
                record.finished_at = self.clock()
                continue
            except Exception as exc:  # an injector bug must show in the verdict
                record.status = "injected"
                record.problems.append(f"injector failed: {type(exc).__name__}: {exc}")
                record.finished_at = self.clock()
                continue
            record.status = "injected"
            thread = threading.Thread(target=self._follow, args=(record, follow_up),
                                      name=f"chaos-{planned.kind}", daemon=True)
            self._follow_ups.append(thread)
            thread.start()

    def _follow(self, record: FaultRecord, follow_up: Callable[[], None] | None) -> None:
        try:
            if follow_up is not None:
                follow_up()
        except Exception as exc:
            record.problems.append(f"follow-up failed: {type(exc).__name__}: {exc}")
        finally:
            record.finished_at = self.clock()

    def _join_follow_ups(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self._follow_ups):
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- the end ---------------------------------------------------------------------

    def _settle(self) -> str | None:
        """Wait for every agent to run with an empty mailbox; a problem if it never does."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        last = "the node did not answer"
        with caxton.connect(self.node.address, timeout=2.0) as client:
            while time.monotonic() < deadline:
                try:
                    statuses = {s.name: s for s in client.list_agents()}
                except caxton.CaxtonError:
                    time.sleep(0.05)
                    continue
                pending = []
                for name in self.agents.all:
                    s = statuses.get(name)
                    if s is None or s.state != "running" or s.pid is None or s.mailbox_depth:
                        pending.append(f"{name} ({'missing' if s is None else s.state}, "
                                       f"{'-' if s is None else s.mailbox_depth} queued)")
                if not pending:
                    return None
                last = ", ".join(pending)
                time.sleep(0.05)
        return f"the agents did not settle within {SETTLE_TIMEOUT_S:g}s: {last}"

    def _gather(self, settle_problem: str | None) -> RunFacts:
        """Read every agent's final state, counts, dead letters and status."""
        facts = RunFacts(agents=self.agents, books=self.books, ledgers={}, counters={},
                         dead_letters={}, final_status={}, faults=self.records, liveness={},
                         settle_problem=settle_problem)
        with caxton.connect(self.node.address, timeout=10.0) as client:
            for name in self.agents.ledgers:
                try:
                    facts.ledgers[name] = LedgerState.parse(client.call(name, DUMP, timeout=10))
                except (caxton.CaxtonError, ValueError) as exc:
                    facts.ledgers[name] = f"{type(exc).__name__}: {exc}"
            for name in self.agents.counters:
                try:
                    facts.counters[name] = int(client.call(name, b"get", timeout=10))
                except (caxton.CaxtonError, ValueError) as exc:
                    facts.counters[name] = f"{type(exc).__name__}: {exc}"
            for name in self.agents.all:
                try:
                    facts.dead_letters[name] = client.dead_letters(name)
                except caxton.CaxtonError as exc:
                    facts.dead_letters[name] = f"{type(exc).__name__}: {exc}"
            try:
                facts.final_status = {s.name: s for s in client.list_agents()
                                      if s.name in self.agents.all}
            except caxton.CaxtonError:
                facts.final_status = {}
        return facts

    def _cleanup(self) -> None:
        if isinstance(self.node, ManagedNode):
            self.node.stop()
            return
        try:
            with caxton.connect(self.node.address, timeout=5.0) as client:
                for name in self.spawned:
                    with contextlib.suppress(caxton.CaxtonError):
                        client.remove(name)
        except caxton.CaxtonError:
            pass


__all__ = ["SCENARIOS", "RunResult", "Runner", "plan", "run"]
