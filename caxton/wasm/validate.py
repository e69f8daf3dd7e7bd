"""The validation pipeline: is this module fit to be deployed as an agent?

Stages, in order (a module fails at the first failed stage; later ones are
reported as skipped):

1. ``structure``  valid WebAssembly; what it imports, exports, declares.
2. ``policy``     imports, sizes, declared memory and tables, and
                  WebAssembly features against the security policy.
3. ``exports``    the ABI's required exports, with exact signatures.
4. ``sandbox``    instantiate under the limits, ``caxton_init``,
                  ``caxton_health``, the contract vectors, and a
                  snapshot/restore round trip when the module has both.
5. ``resources``  a fresh instance measured: instantiate time, fuel and
                  wall time per vector, peak memory.

Nothing here can hang: every guest call, the start function included, runs
under the fuel budget and the wall-clock deadline of ``limits``; compilation
only happens after the size check. Bad modules never raise: the report says
why. Only an unreadable path raises ``ModuleLoadError``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence

import wasmtime

from caxton.wasm.abi import EXPORTS, WASI_MODULE
from caxton.wasm.binary import PAGE_SIZE, ModuleLayout, read_layout
from caxton.wasm.checks import export_problems, import_problems, import_signature_problems
from caxton.wasm.engine import engine_for
from caxton.wasm.errors import InstantiationFailed, MessageTooLarge, ModuleLoadError, WasmError
from caxton.wasm.host import RecordingImports
from caxton.wasm.instance import AgentInstance
from caxton.wasm.limits import Limits
from caxton.wasm.module import CompiledModule, compile_bytes
from caxton.wasm.outcome import Outcome
from caxton.wasm.policy import FEATURES, SecurityPolicy
from caxton.wasm.report import ContractVector, StageReport, ValidationReport
from caxton.wasm.source import ModuleSource, read_source, to_wasm
from caxton.wasm.traps import WASM_ERRORS, summarize

__all__ = ["STAGES", "validate"]

STAGES = ("structure", "policy", "exports", "sandbox", "resources")

_STAGE_ERRORS: tuple[type[BaseException], ...] = (WasmError, *WASM_ERRORS)

_FEATURE_NAMES = {
    "threads": "threads (shared memory and atomics)",
    "simd": "SIMD",
    "reference_types": "reference types",
    "bulk_memory": "bulk memory operations",
    "multi_memory": "multiple memories",
}


def validate(
    source: ModuleSource,
    *,
    policy: SecurityPolicy | str = "default",
    limits: Limits | None = None,
    vectors: Sequence[ContractVector] = (),
) -> ValidationReport:
    """Run every stage on ``source`` and return the report (never raises for bad modules)."""
    chosen = SecurityPolicy.preset(policy) if isinstance(policy, str) else policy
    run = _Run(chosen, limits or Limits(), tuple(vectors))
    data, what = read_source(source)
    return run.execute(data, what)


class _Run:
    """State shared by the stages of one validation."""

    def __init__(self, policy: SecurityPolicy, limits: Limits, vectors: tuple[ContractVector, ...]):
        self.policy = policy
        self.limits = limits
        self.vectors = vectors
        self.wasm = b""
        self.layout: ModuleLayout | None = None
        self.compiled: CompiledModule | None = None
        self.report = ValidationReport(module_sha256="", policy=policy.name)

    def execute(self, data: bytes, what: str) -> ValidationReport:
        started = time.perf_counter()
        stages: list[tuple[str, Callable[[StageReport], None]]] = [
            ("structure", lambda stage: self.structure(stage, data, what)),
            ("policy", self.security_policy),
            ("exports", self.exports),
            ("sandbox", self.sandbox),
            ("resources", self.resources),
        ]
        failed = False
        for name, body in stages:
            stage = StageReport(name)
            self.report.stages.append(stage)
            if failed:
                stage.status = "skipped"
                continue
            stage_started = time.perf_counter()
            try:
                body(stage)
            except _STAGE_ERRORS as exc:
                stage.error(f"{type(exc).__name__}: {summarize(str(exc))}")
            stage.duration_s = time.perf_counter() - stage_started
            failed = not stage.passed
        self.report.duration_s = time.perf_counter() - started
        return self.report

    # -- 1. structure ------------------------------------------------------------
    def structure(self, stage: StageReport, data: bytes, what: str) -> None:
        try:
            self.wasm = to_wasm(data, what)
        except ModuleLoadError as exc:
            self.report.module_sha256 = hashlib.sha256(data).hexdigest()
            self.report.size_bytes = len(data)
            stage.error(str(exc))
            return
        wasm = self.wasm
        self.report.module_sha256 = hashlib.sha256(wasm).hexdigest()
        self.report.size_bytes = len(wasm)
        stage.info(f"size: {len(wasm)} bytes")
        try:
            wasmtime.Module.validate(engine_for(FEATURES), wasm)
        except WASM_ERRORS as exc:
            stage.error(f"not a valid WebAssembly module: {summarize(str(exc))}")
            return
        try:
            layout = read_layout(wasm)
        except ValueError as exc:
            stage.error(f"cannot read the module's sections: {exc}")
            return
        self.layout = layout
        imports = ", ".join(f"{m}.{n} ({k})" for m, n, k in layout.imports) or "none"
        stage.info(f"imports: {imports}")
        exports = ", ".join(f"{n} ({k})" for n, k in layout.exports) or "none"
        stage.info(f"exports: {exports}")
        for index, memory in enumerate(layout.memories):
            maximum = (
                "no maximum" if memory.max_pages is None else f"max {_pages(memory.max_pages)}"
            )
            flags = "".join(
                [", shared" if memory.shared else "", ", imported" if memory.imported else ""]
            )
            stage.info(f"memory {index}: min {_pages(memory.min_pages)}, {maximum}{flags}")
        for index, table in enumerate(layout.tables):
            maximum = "no maximum" if table.max_elements is None else f"max {table.max_elements}"
            stage.info(f"table {index}: min {table.min_elements} elements, {maximum}")
        if layout.start_function is None:
            stage.info("start function: none")
        else:
            stage.info(
                f"start function: function {layout.start_function} (runs at instantiation, "
                "under the instantiation budget)"
            )

    # -- 2. security policy ------------------------------------------------------
    def security_policy(self, stage: StageReport) -> None:
        policy, layout, wasm = self.policy, self.layout, self.wasm
        assert layout is not None
        stage.info(f"policy: {policy.name}")
        if len(wasm) > policy.max_module_bytes:
            stage.error(
                f"module is {len(wasm)} bytes; policy {policy.name!r} allows at most "
                f"{policy.max_module_bytes}"
            )
        for problem in import_problems(layout.imports, policy):
            stage.error(problem)
        if len(layout.imports) > policy.max_imports:
            stage.error(
                f"module has {len(layout.imports)} imports; policy {policy.name!r} allows at most "
                f"{policy.max_imports}"
            )
        self._check_memories(stage, layout)
        for index, table in enumerate(layout.tables):
            if table.min_elements > policy.max_table_elements:
                stage.error(
                    f"table {index} declares {table.min_elements} elements; policy "
                    f"{policy.name!r} allows at most {policy.max_table_elements}"
                )
        self._check_features(stage, wasm)

    def _check_memories(self, stage: StageReport, layout: ModuleLayout) -> None:
        policy, limit = self.policy, self.limits.memory_bytes
        for index, memory in enumerate(layout.memories):
            if memory.memory64:
                stage.error(f"memory {index} is a 64-bit memory, which Caxton does not support")
            if memory.min_pages > policy.max_memory_pages:
                stage.error(
                    f"memory {index} declares {memory.min_pages} pages "
                    f"({memory.min_pages * PAGE_SIZE} bytes); policy {policy.name!r} allows at "
                    f"most {policy.max_memory_pages} pages"
                )
            if memory.max_pages is None or memory.max_pages * PAGE_SIZE > limit:
                stage.info(
                    f"memory {index} may grow up to the instance limit of {limit} bytes "
                    f"({limit // PAGE_SIZE} pages); memory.grow fails beyond it"
                )

    def _check_features(self, stage: StageReport, wasm: bytes) -> None:
        policy = self.policy
        for feature in FEATURES:
            if feature in policy.features:
                continue
            without = tuple(f for f in FEATURES if f != feature)
            try:
                wasmtime.Module.validate(engine_for(without), wasm)
            except WASM_ERRORS as exc:
                stage.error(
                    f"module uses {_FEATURE_NAMES[feature]}, which policy {policy.name!r} does "
                    f"not allow ({summarize(str(exc))})"
                )
        if stage.passed:
            try:
                wasmtime.Module.validate(engine_for(policy.engine_features()), wasm)
            except WASM_ERRORS as exc:
                stage.error(
                    f"module needs a combination of WebAssembly features policy {policy.name!r} "
                    f"does not allow: {summarize(str(exc))}"
                )
        allowed = ", ".join(_FEATURE_NAMES[f] for f in policy.engine_features()) or "none"
        stage.info(f"WebAssembly features allowed beyond the MVP: {allowed}")

    # -- 3. exports --------------------------------------------------------------
    def exports(self, stage: StageReport) -> None:
        try:
            compiled = compile_bytes(self.wasm, self.policy.engine_features())
        except ModuleLoadError as exc:
            stage.error(str(exc))
            return
        self.compiled = compiled
        self.report.profile["compile_s"] = round(compiled.compile_s, 6)
        for problem in export_problems(compiled) + import_signature_problems(compiled):
            stage.error(problem)
        for name, signature in EXPORTS.items():
            if name in compiled.exports and not signature.required:
                stage.info(f"optional export {name} {signature}: present")
        for name in compiled.export_kinds:
            if name.startswith("caxton_") and name not in EXPORTS:
                stage.warning(f"export {name} is not part of the Caxton ABI v1 and is ignored")
        uses_wasi = any(module == WASI_MODULE for module, _, _ in compiled.imports)
        if uses_wasi and ("_initialize" in compiled.exports or "_start" in compiled.exports):
            entry = "_initialize" if "_initialize" in compiled.exports else "_start"
            stage.info(f"WASI entry point {entry} runs once after instantiation")

    # -- 4. sandbox --------------------------------------------------------------
    def _instance(self, imports: RecordingImports) -> AgentInstance:
        assert self.compiled is not None
        return AgentInstance(self.compiled, self.limits, imports, policy=self.policy)

    def sandbox(self, stage: StageReport) -> None:
        imports = RecordingImports()
        try:
            instance = self._instance(imports)
        except InstantiationFailed as exc:
            stage.error(f"instantiation failed ({exc.outcome.reason}): {exc.outcome.message}")
            return
        stage.info(
            f"instantiated in {instance.instantiate_s * 1000:.2f} ms under limits "
            f"(memory {self.limits.memory_bytes} bytes, fuel {self.limits.fuel} per call, "
            f"deadline {self.limits.deadline_ms} ms)"
        )
        if not self._init_and_health(stage, instance):
            return
        for index, vector in enumerate(self.vectors):
            if instance.poisoned:
                instance.close()
                instance = self._instance(imports)
                if not self._init_and_health(stage, instance, quiet=True):
                    return
            self._run_vector(stage, index, vector, instance)
        if instance.has_snapshot and not instance.poisoned:
            self._round_trip(stage, instance, imports)
        instance.close()
        if imports.sent:
            targets = ", ".join(sorted({to for to, _ in imports.sent}))
            stage.info(f"guest sent {len(imports.sent)} message(s) (to: {targets})")
        if imports.logs:
            stage.info(f"guest logged {len(imports.logs)} line(s); first: {imports.logs[0][1]!r}")

    def _init_and_health(
        self, stage: StageReport, instance: AgentInstance, *, quiet: bool = False
    ) -> bool:
        init = instance.init(b"")
        if not init.ok:
            stage.error(f"caxton_init failed: {_describe(init)}")
            return False
        health = instance.health()
        if not health.ok:
            stage.error(f"caxton_health reports unhealthy: {_describe(health)}")
            return False
        if not quiet:
            stage.info("caxton_init and caxton_health: ok (or not exported)")
        return True

    def _run_vector(
        self, stage: StageReport, index: int, vector: ContractVector, instance: AgentInstance
    ) -> None:
        label = f"vector {vector.name or index + 1}"
        try:
            outcome = instance.handle(vector.input)
        except MessageTooLarge as exc:
            stage.error(f"{label}: {exc}")
            return
        problems = _vector_problems(vector, outcome)
        if problems:
            stage.error(f"{label}: {'; '.join(problems)}")
        else:
            stage.info(f"{label}: {_describe(outcome)} as expected")

    def _round_trip(
        self, stage: StageReport, instance: AgentInstance, imports: RecordingImports
    ) -> None:
        snapshot = instance.snapshot()
        if snapshot is None:
            return
        if not snapshot.ok:
            stage.error(f"caxton_snapshot failed: {_describe(snapshot)}")
            return
        fresh = self._instance(imports)
        try:
            restored = fresh.restore(snapshot.reply)
        finally:
            fresh.close()
        if restored.ok:
            stage.info(f"snapshot/restore round trip: ok ({len(snapshot.reply)} bytes of state)")
        else:
            stage.error(f"caxton_restore refused the module's own snapshot: {_describe(restored)}")

    # -- 5. resources ------------------------------------------------------------
    def resources(self, stage: StageReport) -> None:
        limits = self.limits
        instance = self._instance(RecordingImports())
        profile = self.report.profile
        profile["instantiate_s"] = round(instance.instantiate_s, 6)
        stage.info(f"instantiate: {instance.instantiate_s * 1000:.2f} ms")
        init = instance.init(b"")
        profile["init"] = {"fuel": init.fuel_consumed, "elapsed_s": round(init.elapsed_s, 6)}
        peak = instance.memory_bytes
        rows = []
        for index, vector in enumerate(self.vectors):
            if instance.poisoned:
                peak = max(peak, instance.memory_bytes)
                instance.close()
                instance = self._instance(RecordingImports())
                instance.init(b"")
            outcome = instance.handle(vector.input)
            peak = max(peak, instance.memory_bytes)
            label = vector.name or str(index + 1)
            rows.append(
                {
                    "name": label,
                    "status": outcome.status,
                    "reason": outcome.reason,
                    "fuel": outcome.fuel_consumed,
                    "elapsed_s": round(outcome.elapsed_s, 6),
                }
            )
            stage.info(
                f"vector {label}: {outcome.fuel_consumed} fuel, {outcome.elapsed_s * 1000:.3f} ms"
            )
            expected_failure = vector.expect_outcome not in (None, "ok", "error")
            if not expected_failure:
                self._budget_warnings(stage, label, outcome)
        peak = max(peak, instance.memory_bytes)
        instance.close()
        profile["vectors"] = rows
        profile["peak_memory_bytes"] = peak
        profile["peak_memory_pages"] = peak // PAGE_SIZE
        stage.info(
            f"peak memory: {peak // PAGE_SIZE} pages ({peak} bytes) of a "
            f"{limits.memory_bytes}-byte limit"
        )
        if peak > 0.75 * limits.memory_bytes:
            stage.warning(f"peak memory is {peak * 100 // limits.memory_bytes}% of the limit")

    def _budget_warnings(self, stage: StageReport, label: str, outcome: Outcome) -> None:
        limits = self.limits
        if outcome.fuel_consumed > limits.fuel // 2:
            stage.warning(
                f"vector {label} used {outcome.fuel_consumed * 100 // limits.fuel}% of the fuel "
                "budget per message"
            )
        if outcome.elapsed_s * 1000 > limits.deadline_ms / 2:
            stage.warning(
                f"vector {label} took {outcome.elapsed_s * 1000:.0f} ms, over half the "
                f"{limits.deadline_ms} ms deadline"
            )


def _pages(count: int) -> str:
    return f"{count} page" if count == 1 else f"{count} pages"


def _describe(outcome: Outcome) -> str:
    if outcome.status == "failed":
        return f"failed ({outcome.reason}): {outcome.message}"
    if outcome.status == "error":
        return f"error: {outcome.message}"
    return "ok"


def _vector_problems(vector: ContractVector, outcome: Outcome) -> list[str]:
    problems = []
    got = outcome.reason if outcome.status == "failed" else outcome.status
    if vector.expect_outcome is not None:
        if got != vector.expect_outcome:
            problems.append(f"expected outcome {vector.expect_outcome!r}, got {_describe(outcome)}")
    elif outcome.status == "failed":
        problems.append(_describe(outcome))
    if vector.expect_reply is not None and outcome.reply != vector.expect_reply:
        problems.append(
            f"expected reply {_preview(vector.expect_reply)}, got {_preview(outcome.reply)}"
        )
    return problems


def _preview(data: bytes, limit: int = 64) -> str:
    shown = repr(data[:limit])
    return shown + (f"… ({len(data)} bytes)" if len(data) > limit else "")
