"""Loading modules: sources, errors, engines per feature set."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from caxton.wasm import (
    ModuleLoadError,
    SecurityPolicy,
    example_path,
    load_module,
    module_bytes,
)
from caxton.wasm.engine import engine_for
from caxton.wasm.examples import example_names
from tests.wasm.fresh import run_fresh

ECHO_WAT = example_path("echo").read_text()
SIMD_WAT = """(module
  (memory (export "memory") 1)
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_handle") (param i32 i32) (result i64)
    (drop (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4)))
    (i64.const 0)))"""


def test_module_bytes_accepts_every_source_kind(tmp_path: Path) -> None:
    wasm = module_bytes(ECHO_WAT)
    assert wasm[:4] == b"\0asm"
    binary = tmp_path / "echo.bin"
    binary.write_bytes(wasm)
    assert module_bytes(wasm) == wasm
    assert module_bytes(ECHO_WAT.encode()) == wasm
    assert module_bytes(example_path("echo")) == wasm
    assert module_bytes(str(example_path("echo"))) == wasm
    assert module_bytes(binary) == wasm
    assert module_bytes(bytearray(wasm)) == wasm


@pytest.mark.parametrize(
    ("make_source", "message"),
    [
        (lambda tmp: tmp / "missing.wasm", "no such file"),
        (lambda tmp: str(tmp / "missing.wat"), "no such file"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: b"just some text", "neither a WebAssembly binary"),
        (lambda tmp: b"\xff\xfe\x00binary junk", "neither a WebAssembly binary"),
        (lambda tmp: "(module (func (result i32) i32.bogus))", "invalid WAT"),
        (lambda tmp: '(module (func (export "f") i32.add)) trailing', "invalid WAT"),
    ],
)
def test_module_bytes_errors_are_one_clear_line(
    make_source: Callable[[Path], Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ModuleLoadError, match=message) as info:
        module_bytes(make_source(tmp_path))
    assert "\n" not in str(info.value)


def test_text_file_that_is_not_wat(tmp_path: Path) -> None:
    path = tmp_path / "notes.wat"
    path.write_text("hello, I am not a module\n")
    with pytest.raises(
        ModuleLoadError, match=r"neither a WebAssembly binary \(no .*\) nor WAT text"
    ):
        load_module(path)


def test_invalid_binary_is_refused_at_load() -> None:
    with pytest.raises(ModuleLoadError, match="invalid or unsupported module") as info:
        load_module(example_path("hostile/invalid"))
    assert "\n" not in str(info.value)


def test_wat_syntax_error_says_where() -> None:
    with pytest.raises(ModuleLoadError, match=r"line 2, column"):
        module_bytes("(module\n  (func (result i32) i32.bogus))")


def test_load_module_records_hash_exports_and_imports() -> None:
    compiled = load_module(example_path("pingpong"))
    assert compiled.sha256 == hashlib.sha256(compiled.wasm).hexdigest()
    assert str(compiled.exports["caxton_handle"]) == "(i32, i32) -> i64"
    assert compiled.export_kinds["memory"] == "memory"
    assert ("caxton", "send", "func") in compiled.imports
    assert not compiled.from_cache


def test_features_follow_the_policy() -> None:
    with pytest.raises(ModuleLoadError, match="SIMD"):
        load_module(SIMD_WAT)  # default policy: no SIMD
    compiled = load_module(SIMD_WAT, policy=SecurityPolicy.preset("relaxed"))
    assert "simd" in compiled.features


def test_engines_are_shared_per_feature_set() -> None:
    a = load_module(ECHO_WAT)
    b = load_module(example_path("counter"))
    assert a.engine is b.engine
    assert engine_for(("simd",)) is not a.engine
    assert engine_for(("bulk_memory", "reference_types")) is engine_for(
        ("reference_types", "bulk_memory")
    )


@pytest.mark.timeout(60)
def test_every_feature_combination_builds_an_engine() -> None:
    # An inconsistent engine configuration aborts the process inside wasmtime,
    # so the whole space is exercised in a child process.
    code = (
        "import itertools\n"
        "from caxton.wasm.engine import engine_for\n"
        "from caxton.wasm.policy import FEATURES\n"
        "n = 0\n"
        "for k in range(len(FEATURES) + 1):\n"
        "    for combo in itertools.combinations(FEATURES, k):\n"
        "        engine_for(combo); n += 1\n"
        "print(n)\n"
    )
    assert run_fresh(code).stdout.strip() == "32"


def test_example_path_finds_every_example() -> None:
    names = example_names()
    for expected in (
        "echo",
        "counter",
        "kv",
        "pingpong",
        "hostile/infinite_loop",
        "hostile/invalid",
    ):
        assert expected in names
        assert example_path(expected).is_file()
    with pytest.raises(FileNotFoundError, match="available: "):
        example_path("no_such_agent")
