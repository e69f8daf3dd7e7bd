"""One chaos run, start to verdict.

The phases, in order: start (or reach) the node and spawn the agents; run the
load, the fault schedule and the liveness sampler together for the duration;
wait for every fault's follow-up (its recovery); let the system settle (every
agent running, every mailbox empty); read the agents' final state; judge.

A cluster scenario goes through the same phases against ``chaos.cluster``'s
three nodes: the agents are dealt out over them, the load enters through all
of them, each node's liveness is sampled, and the final state is read through
any node (each request reaches the agent's owner).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import caxton
from caxton.status import AgentStatus
from chaos import probes
from chaos.book import AckBook
from chaos.checker import RunFacts, Verdict, check
from chaos.cluster import (
    CLUSTER_INJECTORS,
    ClusterLiveness,
    ClusterTarget,
    Eyes,
    cluster_report,
    entries,
    statuses,
)
from chaos.cluster import spawn_agents as spawn_on_cluster
from chaos.config import RunConfig
from chaos.faults import INJECTORS, FaultContext, FaultRecord, Injector, Skipped, target_name
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
T = TypeVar("T")
#: what a run drives: one node, or the cluster the harness starts
Target = NodeHandle | ClusterTarget
ALL_INJECTORS: dict[str, Injector] = INJECTORS | CLUSTER_INJECTORS


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
        self.cluster: ClusterTarget | None = None
        self.node: Target
        if SCENARIOS[config.scenario].cluster:
            self.cluster = ClusterTarget(extra_args=config.node_args,
                                         keep_data=config.keep_data)
            self.node = self.cluster
        elif config.node is not None:
            self.node = ExternalNode(config.node)
        else:
            self.node = ManagedNode(extra_args=config.node_args, keep_data=config.keep_data,
                                    module=config.node_module)
        self.cluster_facts: dict[str, Any] | None = None
        self.cluster_warnings: list[str] = []
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
            if self.cluster is not None:
                spawn_on_cluster(self.cluster, self.agents, self.spawned, self.cluster_warnings)
            else:
                with caxton.connect(self.node.address, timeout=10.0) as client:
                    spawn_agents(client, self.agents, self.spawned)
            where = (f"node {self.node.address}" if self.cluster is None else
                     "cluster " + ", ".join(f"{n} {a}" for n, a in
                                            zip(self.cluster.names, self.cluster.addresses,
                                                strict=True)))
            self.progress(f"{where}; agents: {', '.join(self.agents.all)}; "
                          f"{len(self.schedule)} faults planned")
            facts, timing = self._main_phase()
        finally:
            self.abort.set()
            self._join_follow_ups(5.0)
            self._cleanup()
        verdict = check(facts)
        verdict.warnings.extend(self.cluster_warnings)
        if self.interrupted:
            verdict.passed = False
            verdict.reasons.insert(0, "interrupted before the end of the run")
        timing["started_at"] = started_wall
        report = build_report(self.config, self.schedule, self.agents, verdict,
                              self.records, facts.liveness, timing,
                              node_log=getattr(self.node, "log_path", None),
                              cluster=self.cluster_facts)
        return RunResult(verdict, report)

    def _main_phase(self) -> tuple[RunFacts, dict[str, Any]]:
        load = LoadGenerator(self.node.address, self.books, self.config.rate,
                             self.config.call_share, clock=self.clock)
        if self.cluster is not None:
            load.entries = entries(self.cluster, self.agents)
            load.call_entries = tuple(self.cluster.addresses)
        self._t0 = time.monotonic()
        liveness: LivenessSampler | ClusterLiveness = (
            LivenessSampler(self.node.address, self.clock) if self.cluster is None
            else ClusterLiveness(self.cluster, self.clock))
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
            if self.cluster is not None:
                problem = (f"node {self.cluster.exited()} exited on its own; tail of the "
                           f"nodes' log: {self.cluster.log_tail()}")
            facts = RunFacts(agents=self.agents, books=self.books, ledgers={}, counters={},
                             dead_letters={}, final_status={}, faults=self.records,
                             liveness={}, settle_problem=problem)
        else:
            facts = self._gather(None if self.interrupted else self._settle())
            if self.cluster is not None:
                self.cluster_facts, warnings = cluster_report(self.cluster, load.through)
                self.cluster_warnings += warnings
        settled = self.clock()
        liveness.stop()
        if isinstance(liveness, ClusterLiveness):
            facts.liveness = liveness.summarize(self.records, self.clock())
        else:
            outages = [(r.injected_at,
                        r.recovered_at if r.recovered_at is not None else self.clock())
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
                which = ("the node" if self.cluster is None
                         else f"node {self.cluster.exited()}")
                self.progress(f"{which} exited on its own (code {self.node.exit_code()})")
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
                follow_up = ALL_INJECTORS[planned.kind].inject(ctx, record)
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
        if self.cluster is not None:
            return self._settle_cluster(self.cluster)
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        last = "the node did not answer"
        with caxton.connect(self.node.address, timeout=2.0) as client:
            while time.monotonic() < deadline:
                try:
                    statuses = {s.name: s for s in client.list_agents()}
                except caxton.CaxtonError:
                    time.sleep(0.05)
                    continue
                last = self._pending(statuses)
                if not last:
                    return None
                time.sleep(0.05)
        return f"the agents did not settle within {SETTLE_TIMEOUT_S:g}s: {last}"

    def _settle_cluster(self, cluster: ClusterTarget) -> str | None:
        """As ``_settle``, through any node, and every node alive in the cluster with a
        healthy store (a killed one restarted, a paused one rejoined)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        last = "no node answered"
        with Eyes(cluster) as eyes:
            while time.monotonic() < deadline:
                try:
                    members = eyes.members()
                    stores = {n: eyes.client(cluster.address_of(n)).ping()["storage"]["ok"]
                              for n in cluster.names}
                    found = statuses(eyes, self.agents.all)
                except caxton.CaxtonError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                    time.sleep(0.05)
                    continue
                nodes = [f"{n} ({members.get(n, {}).get('state', 'missing')}"
                         f"{'' if stores[n] else ', store down'})" for n in cluster.names
                         if members.get(n, {}).get("state") != "alive" or not stores[n]]
                last = ", ".join(nodes + ([self._pending(found)] if self._pending(found)
                                          else []))
                if not last:
                    return None
                time.sleep(0.05)
        return f"the cluster did not settle within {SETTLE_TIMEOUT_S:g}s: {last}"

    def _pending(self, statuses: dict[str, AgentStatus]) -> str:
        """The agents not yet running with an empty mailbox, or "" when none."""
        pending = []
        for name in self.agents.all:
            s = statuses.get(name)
            if s is None or s.state != "running" or s.pid is None or s.mailbox_depth:
                pending.append(f"{name} ({'missing' if s is None else s.state}, "
                               f"{'-' if s is None else s.mailbox_depth} queued)")
        return ", ".join(pending)

    def _gather(self, settle_problem: str | None) -> RunFacts:
        """Read every agent's final state, counts, dead letters and status."""
        facts = RunFacts(agents=self.agents, books=self.books, ledgers={}, counters={},
                         dead_letters={}, final_status={}, faults=self.records, liveness={},
                         settle_problem=settle_problem)
        if self.cluster is not None:
            with Eyes(self.cluster) as eyes:
                self._read(facts, eyes.ask)
                try:
                    facts.final_status = statuses(eyes, self.agents.all)
                except caxton.CaxtonError:
                    facts.final_status = {}
            return facts
        with caxton.connect(self.node.address, timeout=10.0) as client:

            def ask(question: Callable[[caxton.Client], T]) -> T:
                return question(client)

            self._read(facts, ask)
            try:
                facts.final_status = {s.name: s for s in client.list_agents()
                                      if s.name in self.agents.all}
            except caxton.CaxtonError:
                facts.final_status = {}
        return facts

    def _read(self, facts: RunFacts, ask: Callable[[Callable[[caxton.Client], Any]], Any]) -> None:
        """Every ledger's dump, every counter's count and every agent's dead letters,
        each asked with ``ask`` (of the one node, or of any node of the cluster)."""
        for name in self.agents.ledgers:
            try:
                dump = ask(functools.partial(caxton.Client.call, name=name, payload=DUMP,
                                             timeout=10))
                facts.ledgers[name] = LedgerState.parse(dump)
            except (caxton.CaxtonError, ValueError) as exc:
                facts.ledgers[name] = f"{type(exc).__name__}: {exc}"
        for name in self.agents.counters:
            try:
                facts.counters[name] = int(ask(functools.partial(
                    caxton.Client.call, name=name, payload=b"get", timeout=10)))
            except (caxton.CaxtonError, ValueError) as exc:
                facts.counters[name] = f"{type(exc).__name__}: {exc}"
        for name in self.agents.all:
            try:
                facts.dead_letters[name] = ask(functools.partial(caxton.Client.dead_letters,
                                                                 name=name))
            except caxton.CaxtonError as exc:
                facts.dead_letters[name] = f"{type(exc).__name__}: {exc}"

    def _cleanup(self) -> None:
        if isinstance(self.node, ManagedNode | ClusterTarget):
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
