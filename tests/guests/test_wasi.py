"""Real WASI binaries from rustc and clang: run under `relaxed`, refused by `strict` and `default`.

``examples/{rust,c}/wasi_hello`` are ordinary programs for wasm32-wasi (a
``main`` that prints, std/libc stdout and stderr, the wall clock through
std/libc) built as WASI *commands*, unmodified by any post-processing of
ours; what makes them agents is the SDK's exports. The host runs ``main``
once (``_start``) after instantiation.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import caxton
from caxton.guests import find_c, find_rust
from caxton.wasm import validate
from tests.guests.conftest import BuildExample, require_toolchain

INFO, ERROR = 1, 3


def test_a_wasi_program_runs_under_relaxed(language: str, build_example: BuildExample,
                                           caxton_agent: Any) -> None:
    module = build_example(language, "wasi_hello")
    agent = caxton_agent(module, policy="relaxed")
    assert agent.logs == [(INFO, "wasi_hello: started")]  # main ran once, at instantiation
    before = time.time() * 1000
    reply = agent.call("hi there")
    after = time.time() * 1000
    assert before - 1000 <= int(reply) <= after + 1000  # clock_time_get works
    # stdout and stderr are separate streams (C's stdout is buffered until the
    # call ends), so only the lines, not their interleaving, are compared
    assert sorted(agent.logs[1:]) == [(INFO, "wasi_hello: hi there"),
                                      (ERROR, "wasi_hello: handled")]
    agent.call("again")
    assert sorted(agent.logs[3:]) == [(INFO, "wasi_hello: again"), (ERROR, "wasi_hello: handled")]
    assert [line for line in agent.logs if "started" in line[1]] == [(INFO, "wasi_hello: started")]


@pytest.mark.parametrize("policy", ["strict", "default"])
def test_strict_and_default_refuse_a_wasi_program(language: str, build_example: BuildExample,
                                                  policy: str) -> None:
    report = validate(build_example(language, "wasi_hello"), policy=policy)
    assert not report.passed
    policy_stage = next(s for s in report.stages if s.name == "policy")
    errors = [f.message for f in policy_stage.findings if f.severity == "error"]
    assert errors
    assert all(f"(WASI) is not allowed by security policy '{policy}'" in e for e in errors)
    assert any("wasi_snapshot_preview1.fd_write" in e for e in errors)


@pytest.mark.timeout(120)
def test_on_a_node_relaxed_runs_it_and_strict_refuses(language: str,
                                                      build_example: BuildExample,
                                                      caxton_client: caxton.Client) -> None:
    module = build_example(language, "wasi_hello")
    with pytest.raises(caxton.CaxtonError) as refused:
        caxton_client.spawn("strict-hello", module, security="strict")
    assert "WASI" in str(refused.value)
    caxton_client.spawn("hello", module, security="relaxed")
    now = time.time() * 1000
    assert abs(int(caxton_client.call("hello", b"hi")) - now) < 10_000


def _plain_program(language: str, directory: Path) -> Path:
    """A program with no Caxton code at all: what a WASI toolchain makes of hello world."""
    out = directory / f"plain-{language}.wasm"
    if language == "rust":
        require_toolchain("rust", wasi=True)
        source = directory / "hello.rs"
        source.write_text('fn main() { println!("hello"); }\n')
        rust = find_rust(True)
        command = [rust.rustc, "--target", rust.target, "-O", str(source), "-o", str(out)]
    else:
        require_toolchain("c")
        source = directory / "hello.c"
        source.write_text('#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n')
        c = find_c()
        command = [c.clang, "--target=wasm32-wasi", f"--sysroot={c.sysroot}", "-O2",
                   str(source), "-o", str(out)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return out


def test_a_program_without_the_abi_is_not_an_agent(language: str, tmp_path: Path) -> None:
    """The ABI requires caxton_alloc and caxton_handle: a bare `main` is refused, clearly."""
    module = _plain_program(language, tmp_path)
    report = validate(module, policy="relaxed")
    assert not report.passed
    exports = next(s for s in report.stages if s.name == "exports")
    messages = [f.message for f in exports.findings if f.severity == "error"]
    assert any("missing required export caxton_handle" in m for m in messages), messages
    strict = validate(module, policy="strict")
    assert next(s for s in strict.stages if s.name == "policy").status == "failed"
