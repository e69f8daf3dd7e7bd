"""Canary deployments: stages, the analysis every interval, promotion and rollback.

A canary warms the new version up beside every instance (as blue-green does),
then attaches a ``Lane`` to each (``caxton.deploy.canary``: the split and the
two-sided replay that keeps both versions' state whole) and walks the stages,
ADR-0008's 5 → 25 → 50 → 100 % by default. Every ``analysis_interval`` the
window of each side (summed over the instances) goes to ``analysis.judge``;
the verdict is stored with its figures and said as progress lines:

* ``rollback`` in ``confirm`` windows in a row (2 by default) for the same
  reason: the lanes detach at once (the canary's unacknowledged messages
  go back to the baseline's mailbox; the baseline already applied every
  message the canary acknowledged) and the deployment is ``rolled_back`` with
  the verdict's reason (``error_rate``, ``latency``, ``restarts``); a canary
  process that dies is ``restarts`` too, and ``abort`` is ``manual``;
* ``promote`` once the stage's time is up: the next stage;
* ``inconclusive`` once the stage's time is up: the stage is extended until a
  window is conclusive.

Every change of percentage (and the final switch) happens at a *barrier*: the
instances are held and both windows in flight acknowledged first, so a key's
earlier messages are in both processes before its next goes to the other
side. At 100 % the canary process of each instance is adopted as the instance
(the baseline is kept warm ``keep_previous`` seconds, as blue-green keeps it),
and the deployment is ``running``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from caxton.deploy.analysis import Thresholds, judge
from caxton.deploy.beside import Beside
from caxton.deploy.canary import Lane, ShadowLane, Split, Tally
from caxton.deploy.model import DeploymentState
from caxton.node.records import AgentRecord, Message

if TYPE_CHECKING:
    from caxton.deploy.controller import Deployments, Run

S = DeploymentState
#: verdicts kept on a deployment's record (the latest)
KEEP_VERDICTS = 200


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"


class Canaries:
    """The canary path of ``Deployments`` (which owns the runs and the records)."""

    def __init__(self, deployments: Deployments) -> None:
        self.d = deployments

    # -- warm-up, then the lanes ------------------------------------------------------------

    def warm(self, run: Run) -> None:
        """A canary process is warm; once all are, the instances are attached."""
        if run.phase != "warming" or not all(run.greens[s.name].warm for s in run.slots):
            return
        n = len(run.slots)
        run.dep.stage("warm_up", time.monotonic() - run.phase_started,
                      f"New version warmed up ({n} instance{'s' if n > 1 else ''})")
        run.phase = "switching"  # a failing warm process still aborts the usual way
        self._barrier(run, lambda: self._attach(run))

    def _barrier(self, run: Run, then: Any) -> None:
        """Hold every instance until both sides acknowledged their window, then ``then``."""
        run.phase_started = time.monotonic()

        def settle(_rec: AgentRecord | None = None) -> None:
            if run.phase not in ("switching", "barrier"):
                return
            for slot in run.slots:
                lane = slot.canary
                if slot.in_flight or (lane is not None and not lane.idle):
                    return
            run.watch = lambda _rec: None
            then()

        run.watch = settle
        for slot in run.slots:
            self.d.router.hold(slot)
            slot.deploy = run
        settle()

    def _release(self, run: Run) -> None:
        for slot in run.slots:
            if slot.deploy is run:
                slot.deploy = None
            self.d.router.release(slot)

    def _attach(self, run: Run) -> None:
        plan = run.dep.canary or {}
        if plan.get("shadow"):
            self._attach_shadow(run)
            return
        split = Split(0.0)
        for slot in run.slots:
            green = run.greens[slot.name]
            green.catch_up()  # it has now applied every message the instance handled
            green.on_failed = lambda _b, why: self.roll_back(run, "restarts", why)
            slot.canary = Lane(slot, green, split, self._complete,
                               lambda rec: self._canary_changed(run, rec))
        run.canary_split = split
        self._stage(run, int(plan.get("stage", 0)))

    def _complete(self, rec: AgentRecord, acks: list[Any],
                  in_flight: dict[int, Message]) -> list[Message]:
        return self.d.router.complete(rec, acks, in_flight)

    def _canary_changed(self, run: Run, rec: AgentRecord) -> None:
        self.d.router.dirty.add(rec)
        run.watch(rec)

    # -- stages ------------------------------------------------------------------------------

    def _stage(self, run: Run, index: int) -> None:
        """Stage ``index`` begins (the instances are held with nothing in flight)."""
        plan = run.dep.canary or {}
        stages = plan["stages"]
        percent = float(stages[index][0]) if index < len(stages) else 100.0
        if percent >= 100.0:
            self._full(run)
            return
        plan["stage"], plan["percent"] = index, percent
        run.canary_split.percent = percent
        run.stage_started = time.monotonic()
        run.phase = "canary"
        run.dep.say("canary", f"Canary {percent:g}% started", percent=percent,
                    seconds=round(time.monotonic() - run.phase_started, 6))
        run.dep.say("monitor", f"Monitoring for {_duration(float(stages[index][1]))}...",
                    mark="→")
        self._release(run)
        self.d._save(run.dep)
        self._schedule(run)

    def _schedule(self, run: Run) -> None:
        interval = float((run.dep.canary or {}).get("analysis_interval", 60.0))
        run.timer = self.d.runtime.call_later(interval, lambda: self._analyse(run))

    def _analyse(self, run: Run) -> None:
        run.timer = None
        if run.phase != "canary":
            return
        dep, plan = run.dep, run.dep.canary or {}
        canary, baseline, restarts = Tally(), Tally(), 0
        for slot in run.slots:
            lane = slot.canary
            if lane is not None:
                c, b, r = lane.take()
                canary.merge(c)
                baseline.merge(b)
                restarts += r
        limits = plan.get("rollback_on", {})
        thresholds = Thresholds(error_rate=float(limits.get("error_rate", 0.01)),
                                p99_latency_ms=float(limits.get("p99_latency_ms", 100.0)),
                                restarts=int(limits.get("restarts", 0)),
                                min_samples=int(plan.get("min_samples", 50)),
                                latency_ratio=float(plan.get("latency_ratio", 1.5)))
        verdict = judge(canary.window(0), baseline.window(restarts), thresholds)
        figures = {k: (round(v, 6) if isinstance(v, float) else v)
                   for k, v in verdict.figures.items()}
        stage_seconds = float(plan["stages"][plan["stage"]][1])
        elapsed = time.monotonic() - run.stage_started
        verdicts = plan.setdefault("verdicts", [])
        verdicts.append({"time": time.time(), "stage": plan["stage"], "percent": plan["percent"],
                         "decision": verdict.decision, "reason": verdict.reason,
                         "figures": figures})
        del verdicts[:-KEEP_VERDICTS]
        # a rollback takes ``confirm`` verdicts in a row that say so, for the same reason:
        # one window of a busy machine can be an outlier, a worse version stays worse
        strikes = plan.get("strikes", 0) + 1 if verdict.decision == "rollback" \
            and verdict.reason == plan.get("strike_reason") else int(
                verdict.decision == "rollback")
        plan["strikes"], plan["strike_reason"] = strikes, verdict.reason
        confirmed = strikes >= int(plan.get("confirm", 2))
        if confirmed or (elapsed >= stage_seconds and verdict.decision != "rollback"):
            self._say_figures(run, figures, thresholds, verdict.decision)
        if confirmed:
            self.roll_back(run, verdict.reason or "analysis")
            return
        if elapsed >= stage_seconds and verdict.decision != "rollback":
            if verdict.decision == "promote":
                self.promote(run, to_full=False, why="analysis")
                return
            dep.say("inconclusive", f"Too few samples at {plan['percent']:g}% "
                    f"({figures['canary_samples']} canary, {figures['baseline_samples']} "
                    "baseline): stage extended", ok=True)
        self.d._save(dep)
        self._schedule(run)

    def _say_figures(self, run: Run, figures: dict[str, Any], t: Thresholds,
                     decision: str) -> None:
        rate, p99 = figures["canary_error_rate"], figures["canary_p99_ms"]
        run.dep.say("error_rate", f"Error rate: {100 * rate:.2f}% (threshold: "
                    f"{100 * t.error_rate:g}%)", ok=rate <= t.error_rate, value=rate,
                    decision=decision)
        run.dep.say("latency", f"P99 latency: {p99:.3g}ms (threshold: {t.p99_latency_ms:g}ms)",
                    ok=p99 <= t.p99_latency_ms, value=p99, decision=decision)

    # -- promotion --------------------------------------------------------------------------

    def promote(self, run: Run, *, to_full: bool, why: str = "manual") -> None:
        """The next stage now (or 100 %), after a barrier."""
        if run.phase != "canary":
            return
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        plan = run.dep.canary or {}
        index = len(plan["stages"]) if to_full else int(plan["stage"]) + 1
        percent = float(plan["stages"][index][0]) if index < len(plan["stages"]) else 100.0
        run.dep.say("promote", f"Promoting to {percent:g}%..." if why == "analysis"
                    else f"Promoting to {percent:g}% by request...", percent=percent)
        run.phase = "barrier"
        self._barrier(run, lambda: self._stage(run, index))

    def _full(self, run: Run) -> None:
        """Every instance's canary process becomes the instance (the old one kept warm)."""
        d, dep = self.d, run.dep
        for slot in run.slots:
            lane = slot.canary
            assert lane is not None
            lane.detach()
            green: Beside = lane.beside
            green.on_failed = lambda _b, why: None
            run.greens.pop(slot.name, None)
            snapshot = d.store.latest_snapshot(slot.name)
            d.store.save_deploy_snapshot(
                dep.id, slot.name, None if snapshot is None else snapshot.state,
                0 if snapshot is None else snapshot.last_message_id)
            d._swap(run, slot, green, green.spec, keep=True)
            dep.instances[slot.name] = True
        dep.say("switch", f"Traffic switched to {dep.version} (100%)")
        d._deployed(run)

    # -- rollback ---------------------------------------------------------------------------

    def roll_back(self, run: Run, reason: str, detail: str = "") -> None:
        """Back to the baseline alone, now; ``reason`` is the rollback's code."""
        if run.phase not in ("canary", "barrier", "switching"):
            return
        dep = run.dep
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        self._drop_new_version(run)
        self._release(run)
        text = f"Rolled back: {reason}" + (f" ({detail})" if detail else "")
        dep.stage("rollback", time.monotonic() - run.started, text, ok=False)
        dep.to(S.ROLLED_BACK, reason)
        if run.observed is not None:
            run.observed.rollback(reason)
            run.observed.end("rolled_back")
            run.observed = None
        self._close(run)

    def _drop_new_version(self, run: Run) -> None:
        """Stop splitting (canary) or copying (shadow) messages, and stop the new
        version's processes: the baseline serves alone."""
        for slot in run.slots:
            if slot.canary is not None:
                slot.canary.detach()
        for green in run.greens.values():
            self.d._besides.pop(green.supervisor_id, None)
            green.on_failed = lambda _b, why: None
            green.stop()
        run.greens.clear()

    def _close(self, run: Run) -> None:
        """The run has ended (rolled back, or a shadow done): answer who waits, forget it."""
        d, dep = self.d, run.dep
        d._unpin(run)
        run.phase = "done"
        for waiter in run.waiters + run.rollback_waiters:
            d.outbox.ok(waiter, dep.to_dict())
        run.waiters.clear()
        run.rollback_waiters.clear()
        if d._runs.get(dep.agent) is run:
            del d._runs[dep.agent]
        d._save(dep)
        d._changed()

    # -- shadow -----------------------------------------------------------------------------

    def _attach_shadow(self, run: Run) -> None:
        plan = run.dep.canary or {}
        for slot in run.slots:
            green = run.greens[slot.name]
            green.catch_up()
            green.on_failed = lambda _b, why: self._shadow_end(run, f"shadow crashed: {why}")
            slot.canary = ShadowLane(slot, green, lambda rec: self._canary_changed(run, rec))
        run.phase = "canary"
        run.stage_started = time.monotonic()
        duration = float(plan.get("duration", 3600.0))
        run.dep.say("shadow", f"Shadow started: every message copied to {run.dep.version}",
                    seconds=round(time.monotonic() - run.phase_started, 6))
        run.dep.say("monitor", f"Comparing for {_duration(duration)}...", mark="→")
        self._release(run)
        self.d._save(run.dep)
        run.timer = self.d.runtime.call_later(duration, lambda: self._shadow_end(run, ""))

    def shadow_report(self, run: Run) -> dict[str, Any]:
        """Equivalence and the two versions side by side, over the whole shadow."""
        lanes = [s.canary for s in run.slots if isinstance(s.canary, ShadowLane)]
        live, shadow = Tally(), Tally()
        compared = equal = skipped = 0
        examples: list[dict[str, Any]] = []
        for lane in lanes:
            live.merge(lane.baseline_all)
            shadow.merge(lane.canary_all)
            compared, equal = compared + lane.compared, equal + lane.equal
            skipped += lane.skipped
            examples += lane.examples
        plan = run.dep.canary or {}
        verdict = judge(shadow.window(0), live.window(0),
                        Thresholds(min_samples=int(plan.get("min_samples", 50)),
                                   latency_ratio=float(plan.get("latency_ratio", 1.5))))
        f = verdict.figures

        def side(who: str, tally: Tally) -> dict[str, Any]:
            return {"messages": tally.total, "errors": tally.errors,
                    "p50_ms": round(f[f"{who}_p50_ms"], 6), "p99_ms": round(f[f"{who}_p99_ms"], 6),
                    "fuel_per_message": round(f[f"{who}_fuel"], 3),
                    "memory_bytes": f[f"{who}_memory_bytes"]}

        return {"equivalence": equal / compared if compared else 0.0, "compared": compared,
                "equal": equal, "skipped": skipped, "differences": examples[:5],
                "live": side("baseline", live), "shadow": side("canary", shadow),
                "verdict": verdict.decision, "verdict_reason": verdict.reason}

    def _shadow_end(self, run: Run, failure: str) -> None:
        """The shadow's time is up (or its process died): report, then switch or stop."""
        if run.phase != "canary":
            return
        dep = run.dep
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        report = self.shadow_report(run)
        dep.report = {**(dep.report or {}), **report}
        dep.say("equivalence", f"Output equivalence: {100 * report['equivalence']:.2f}% "
                f"({report['equal']} of {report['compared']} messages)",
                ok=report["equivalence"] == 1.0, value=report["equivalence"])
        dep.say("latency", f"P99 latency: {report['shadow']['p99_ms']:.3g}ms (live: "
                f"{report['live']['p99_ms']:.3g}ms)",
                ok=report["verdict"] != "rollback", value=report["shadow"]["p99_ms"])
        switch = bool((dep.canary or {}).get("switch")) and not failure \
            and report["equivalence"] == 1.0 and report["skipped"] == 0 \
            and report["verdict"] != "rollback" and report["compared"] > 0
        if switch:
            dep.say("promote", f"Switching to {dep.version}...")
            run.phase = "barrier"
            self._barrier(run, lambda: self._full(run))
            return
        self._drop_new_version(run)
        if failure:
            dep.stage("shadow", time.monotonic() - run.started, failure, ok=False)
        if (dep.canary or {}).get("switch"):
            why = failure or ("the shadow's outputs differ" if report["equivalence"] < 1.0
                              else f"the shadow is worse: {report['verdict_reason']}"
                              if report["verdict"] == "rollback" else "nothing to compare")
            dep.to(S.ROLLED_BACK, why)
        elif failure:
            dep.to(S.FAILED, failure)
        else:
            dep.stage("shadow", time.monotonic() - run.started, "Shadow ended: live version "
                      "unchanged")
            dep.to(S.RETIRED, "shadow ended")
        if run.observed is not None:
            run.observed.end("failed" if failure else "success")
            run.observed = None
        self._close(run)
