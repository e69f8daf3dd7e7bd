"""The validation pipeline: every stage, every preset, every hostile example."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from caxton.wasm import (
    STAGES,
    ContractVector,
    Limits,
    ModuleLoadError,
    SecurityPolicy,
    ValidationReport,
    example_path,
    validate,
)
from tests.wasm.wat import agent

SIMD = agent("(drop (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4))) (i64.const 0)")
SHARED_MEMORY = """(module
  (memory (export "memory") 1 1 shared)
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_handle") (param i32 i32) (result i64) (i64.const 0)))"""
BULK = agent("(memory.fill (i32.const 0) (i32.const 0) (i32.const 8)) (i64.const 0)")
MULTI_MEMORY = agent("(i64.const 0)", extra="(memory $second 1)")
REF_TYPES = agent("(i64.const 0)", extra="(table $a 1 funcref) (table $b 1 externref)")


def _statuses(report: ValidationReport) -> dict[str, str]:
    return {stage.name: stage.status for stage in report.stages}


def _failed_at(report: ValidationReport, stage: str) -> str:
    assert not report.passed
    statuses = _statuses(report)
    assert statuses[stage] == "failed", statuses
    later = list(STAGES)[list(STAGES).index(stage) + 1 :]
    assert all(statuses[name] == "skipped" for name in later), statuses
    return " | ".join(report.stage(stage).errors)


@pytest.mark.parametrize("name", ["echo", "counter"])
@pytest.mark.parametrize("policy", ["strict", "default", "relaxed"])
def test_import_free_examples_pass_every_preset(name: str, policy: str) -> None:
    report = validate(example_path(name), policy=policy)
    assert report.passed, report.errors
    assert [stage.name for stage in report.stages] == list(STAGES)
    assert all(stage.duration_s >= 0 for stage in report.stages)
    assert report.policy == policy
    assert len(report.module_sha256) == 64


def test_stages_report_what_they_saw() -> None:
    report = validate(example_path("counter"))
    structure = [f.message for f in report.stage("structure").findings]
    assert any(m.startswith("size: ") for m in structure)
    assert "imports: none" in structure
    assert any(m == "memory 0: min 1 page, no maximum" for m in structure)
    assert "start function: none" in structure
    exports = [f.message for f in report.stage("exports").findings]
    assert any("caxton_snapshot" in m for m in exports)
    sandbox = [f.message for f in report.stage("sandbox").findings]
    assert any("snapshot/restore round trip: ok" in m for m in sandbox)
    profile = report.profile
    assert profile["peak_memory_pages"] == 1
    assert profile["instantiate_s"] > 0


def test_policy_stage_depends_on_the_preset() -> None:
    assert "caxton.error is not allowed by security policy 'strict'" in _failed_at(
        validate(example_path("kv"), policy="strict"), "policy"
    )
    assert validate(example_path("kv"), policy="default").passed
    pingpong = _failed_at(validate(example_path("pingpong"), policy="strict"), "policy")
    assert "caxton.send" in pingpong and "caxton.sender" in pingpong
    assert validate(example_path("wasi_hello"), policy="relaxed").passed
    assert "(WASI) is not allowed" in _failed_at(
        validate(example_path("wasi_hello"), policy="default"), "policy"
    )


def test_feature_detection() -> None:
    for policy in ("strict", "default"):
        assert "uses SIMD" in _failed_at(validate(SIMD, policy=policy), "policy")
    assert validate(SIMD, policy="relaxed").passed
    for policy in ("strict", "default", "relaxed"):
        message = _failed_at(validate(SHARED_MEMORY, policy=policy), "policy")
        assert "threads" in message
    threads = SecurityPolicy.from_dict({"preset": "default", "features": ["threads"]})
    # threads allowed: the policy stage passes, but the ABI wants a plain memory
    assert "non-shared memory" in _failed_at(validate(SHARED_MEMORY, policy=threads), "exports")
    assert "multiple memories" in _failed_at(validate(MULTI_MEMORY, policy="default"), "policy")
    assert validate(MULTI_MEMORY, policy="relaxed").passed
    assert "reference types" in _failed_at(validate(REF_TYPES, policy="strict"), "policy")
    assert validate(REF_TYPES, policy="default").passed
    no_bulk = SecurityPolicy.from_dict({"preset": "default", "features": ["reference_types"]})
    assert "bulk memory" in _failed_at(validate(BULK, policy=no_bulk), "policy")
    assert validate(BULK, policy="strict").passed


def test_custom_policy_limits() -> None:
    tiny = SecurityPolicy.from_dict({"max_module_bytes": 100})
    assert "allows at most 100" in _failed_at(
        validate(example_path("counter"), policy=tiny), "policy"
    )
    one_import = SecurityPolicy.from_dict({"max_imports": 1})
    assert "4 imports" in _failed_at(
        validate(example_path("pingpong"), policy=one_import), "policy"
    )
    few_pages = SecurityPolicy.from_dict({"max_memory_pages": 2})
    assert "declares 3 pages" in _failed_at(
        validate(agent("(i64.const 0)", pages=3), policy=few_pages), "policy"
    )
    small_tables = SecurityPolicy.from_dict({"max_table_elements": 10})
    tabled = agent("(i64.const 0)", extra="(table 11 funcref)")
    assert "11 elements" in _failed_at(validate(tabled, policy=small_tables), "policy")


def test_exports_stage() -> None:
    missing = """(module (memory (export "memory") 1)
      (func (export "caxton_handle") (param i32 i32) (result i64) (i64.const 0)))"""
    assert "missing required export caxton_alloc (i32) -> i32" in _failed_at(
        validate(missing), "exports"
    )
    wrong = agent(
        "(i64.const 0)", extra='(func (export "caxton_health") (result i64) (i64.const 0))'
    )
    assert "caxton_health has signature () -> i64, expected () -> i32" in _failed_at(
        validate(wrong), "exports"
    )
    bad_import = agent("(i64.const 0)", imports='(import "caxton" "now_ms" (func (result i32)))')
    assert "import caxton.now_ms has signature () -> i32" in _failed_at(
        validate(bad_import), "exports"
    )
    extra = agent(
        "(i64.const 0)", extra='(func (export "caxton_future") (result i32) (i32.const 0))'
    )
    report = validate(extra)
    assert report.passed
    assert any(
        f.severity == "warning" and "caxton_future" in f.message
        for f in report.stage("exports").findings
    )


def test_sandbox_contract_vectors() -> None:
    vectors = [
        ContractVector(b"inc", expect_reply=b"1", name="first"),
        ContractVector(b"inc", expect_reply=b"2"),
        ContractVector(b"get", expect_reply=b"2", expect_outcome="ok"),
    ]
    report = validate(example_path("counter"), vectors=vectors)
    assert report.passed, report.errors
    assert [row["name"] for row in report.profile["vectors"]] == ["first", "2", "3"]
    assert all(row["fuel"] > 0 for row in report.profile["vectors"])
    wrong = validate(example_path("counter"), vectors=[ContractVector(b"inc", expect_reply=b"7")])
    assert "expected reply b'7', got b'1'" in _failed_at(wrong, "sandbox")


def test_vectors_can_expect_failures_and_errors() -> None:
    poison = [
        ContractVector(b"fine", expect_reply=b"fine"),
        ContractVector(b"poison", expect_outcome="trap", name="poison"),
        ContractVector(b"after", expect_reply=b"after"),  # runs on a fresh instance
    ]
    assert validate(example_path("hostile/trap_on_message"), vectors=poison).passed
    errors = [ContractVector(b"\x91\xa3get", expect_outcome="error")]
    assert validate(example_path("kv"), vectors=errors).passed
    wrong = [ContractVector(b"poison", expect_outcome="ok")]
    assert "expected outcome 'ok', got failed (trap)" in _failed_at(
        validate(example_path("hostile/trap_on_message"), vectors=wrong), "sandbox"
    )


def test_contract_vector_from_dict() -> None:
    vector = ContractVector.from_dict({"input": "inc", "expect_reply": b"1", "name": "n"})
    assert vector == ContractVector(b"inc", b"1", None, "n")
    with pytest.raises(ValueError, match="input"):
        ContractVector.from_dict({"expect_reply": "x"})
    with pytest.raises(ValueError, match="expect_reply"):
        ContractVector.from_dict({"input": "x", "expect_reply": 5})


def test_init_and_health_failures_fail_the_sandbox() -> None:
    sick = agent(
        "(i64.const 0)", extra='(func (export "caxton_health") (result i32) (i32.const 2))'
    )
    assert "caxton_health reports unhealthy" in _failed_at(validate(sick), "sandbox")
    init_trap = agent(
        "(i64.const 0)",
        extra='(func (export "caxton_init") (param i32 i32) (result i32) unreachable)',
    )
    assert "caxton_init failed: failed (trap)" in _failed_at(validate(init_trap), "sandbox")
    init_refuses = agent(
        "(i64.const 0)",
        extra='(func (export "caxton_init") (param i32 i32) (result i32) (i32.const 1))',
    )
    assert "caxton_init returned 1" in _failed_at(validate(init_refuses), "sandbox")
    snapshot_refused = agent(
        "(i64.const 0)",
        extra="""(func (export "caxton_snapshot") (result i64) (i64.const 0))
                 (func (export "caxton_restore") (param i32 i32) (result i32) (i32.const 1))""",
    )
    assert "refused the module's own snapshot" in _failed_at(validate(snapshot_refused), "sandbox")


@pytest.mark.parametrize(
    ("name", "stage", "expected"),
    [
        ("hostile/invalid", "structure", "not a valid WebAssembly module"),
        ("hostile/forbidden_import", "policy", "env.open_socket"),
        ("hostile/too_many_pages", "policy", "declares 5000 pages"),
        ("hostile/start_loop", "sandbox", "instantiation failed (out_of_fuel)"),
        ("hostile/infinite_loop", "sandbox", "failed (out_of_fuel)"),
        ("hostile/fuel_bomb", "sandbox", "failed (out_of_fuel)"),
        ("hostile/memory_bomb", "sandbox", "failed (memory_limit)"),
        ("hostile/deep_recursion", "sandbox", "failed (stack_overflow)"),
        ("hostile/trap_on_message", "sandbox", "failed (trap)"),
        ("hostile/bad_reply", "sandbox", "failed (bad_reply)"),
    ],
)
def test_hostile_examples_are_rejected_with_the_reason(
    name: str, stage: str, expected: str
) -> None:
    vectors = [ContractVector(b"poison"), ContractVector(b"oob")]
    started = time.monotonic()
    report = validate(example_path(name), vectors=vectors, limits=Limits(fuel=5_000_000))
    assert expected in _failed_at(report, stage)
    assert time.monotonic() - started < 10


@pytest.mark.timeout(30)
def test_start_loop_with_plenty_of_fuel_still_ends_at_the_deadline() -> None:
    started = time.monotonic()
    report = validate(
        example_path("hostile/start_loop"), limits=Limits(fuel=10**15, deadline_ms=200)
    )
    assert "instantiation failed (timeout)" in _failed_at(report, "sandbox")
    assert time.monotonic() - started < 10


def test_declared_memory_over_the_runtime_limit_fails_in_the_sandbox() -> None:
    # within the policy's page cap, but over this deployment's memory limit
    report = validate(agent("(i64.const 0)", pages=100), limits=Limits(memory_bytes=2**20))
    assert "instantiation failed (memory_limit)" in _failed_at(report, "sandbox")


def test_resource_warnings() -> None:
    spin = agent(
        """(local.set $n (i32.const 0))
           (loop $l (local.set $n (i32.add (local.get $n) (i32.const 1)))
                    (br_if $l (i32.lt_u (local.get $n) (i32.const 100000))))
           (i64.const 0)"""
    ).replace("(param $len i32) (result i64)", "(param $len i32) (result i64) (local $n i32)")
    report = validate(spin, vectors=[ContractVector(b"go")], limits=Limits(fuel=900_000))
    assert report.passed, report.errors
    warnings = [f.message for f in report.stage("resources").findings if f.severity == "warning"]
    assert any("of the fuel budget" in w for w in warnings)


def test_bad_content_is_reported_not_raised(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("just notes")
    report = validate(text)
    assert "neither a WebAssembly binary" in _failed_at(report, "structure")
    assert "invalid WAT" in _failed_at(validate("(module (func i32.bogus))"), "structure")
    assert "not a valid WebAssembly module" in _failed_at(
        validate(b"\0asm\x01\0\0\0\xff"), "structure"
    )


def test_unreadable_input_raises(tmp_path: Path) -> None:
    with pytest.raises(ModuleLoadError, match="no such file"):
        validate(tmp_path / "missing.wasm")
    with pytest.raises(ModuleLoadError, match="is a directory"):
        validate(tmp_path)


def test_unknown_policy_name_raises() -> None:
    with pytest.raises(ValueError, match="unknown security policy"):
        validate(example_path("echo"), policy="permissive")


def test_report_round_trips_through_json() -> None:
    report = validate(example_path("kv"), vectors=[ContractVector(b"\x92\xa3get\xa1k", b"\xc0")])
    assert report.passed, report.errors
    data = report.to_dict()
    assert data["passed"] is True
    assert [s["name"] for s in data["stages"]] == list(STAGES)
    again = ValidationReport.from_json(report.to_json())
    assert again.to_dict() == data
    failed = validate(example_path("hostile/forbidden_import"))
    assert ValidationReport.from_json(failed.to_json()).passed is False
