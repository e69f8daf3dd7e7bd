"""WASI preview1, only where the policy allows: stdout/stderr to the log, nothing else."""

from __future__ import annotations

import struct

import pytest

from caxton.wasm import InstantiationFailed, Limits, RecordingImports, SecurityPolicy
from caxton.wasm.host import MAX_WASI_OUTPUT_BYTES
from tests.wasm.conftest import MakeInstance
from tests.wasm.fresh import run_fresh
from tests.wasm.wat import agent

RELAXED = SecurityPolicy.preset("relaxed")
WASI = "wasi_snapshot_preview1"


def test_wasi_output_goes_to_the_log(make: MakeInstance, recording: RecordingImports) -> None:
    instance = make("wasi_hello", imports=recording, policy=RELAXED)
    # _start ran once at instantiation and exited with code 0
    assert recording.logs == [(1, "wasi_hello: started")]
    outcome = instance.handle(b"hi there")
    assert outcome.ok and outcome.reply == b"hi there"
    assert recording.logs[1:] == [(1, "wasi_hello: hi there"), (3, "wasi_hello: handled")]


def test_wasi_is_refused_where_the_policy_does_not_allow_it(make: MakeInstance) -> None:
    for name in ("default", "strict"):
        with pytest.raises(InstantiationFailed) as info:
            make("wasi_hello", policy=SecurityPolicy.preset(name))
        assert info.value.outcome.reason == "link_error"
        assert "(WASI) is not allowed" in info.value.outcome.message


def test_nonzero_exit_from_start_fails_instantiation(make: MakeInstance) -> None:
    module = agent(
        "(i64.const 0)",
        imports=f'(import "{WASI}" "proc_exit" (func $exit (param i32)))',
        extra='(func (export "_start") (call $exit (i32.const 3)))',
    )
    with pytest.raises(InstantiationFailed) as info:
        make(module, policy=RELAXED)
    assert info.value.outcome.reason == "trap"
    assert "exited with code 3" in info.value.outcome.message


def test_reactor_initialize_runs_once(make: MakeInstance, recording: RecordingImports) -> None:
    module = agent(
        "(call $pack (i32.const 64) (i32.const 4))",
        imports=f'(import "{WASI}" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))',
        extra="""(func (export "_initialize")
                   (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1))))""",
    )
    instance = make(module, imports=recording, policy=RELAXED)
    assert struct.unpack("<i", instance.handle(b"x").reply) == (1,)


def _probe(body: str, imports: str) -> str:
    return agent(f"{body} (call $pack (i32.const 64) (i32.const 8))", imports=imports)


def test_no_environment_no_arguments(make: MakeInstance) -> None:
    module = _probe(
        """(drop (call $env (i32.const 64) (i32.const 68)))
           (drop (call $args (i32.const 72) (i32.const 76)))
           (i32.store (i32.const 68) (i32.load (i32.const 72)))""",
        f"""(import "{WASI}" "environ_sizes_get" (func $env (param i32 i32) (result i32)))
            (import "{WASI}" "args_sizes_get" (func $args (param i32 i32) (result i32)))""",
    )
    reply = make(module, policy=RELAXED).handle(b"x").reply
    environ_count, args_count = struct.unpack("<ii", reply)
    assert (environ_count, args_count) == (0, 0)


def test_no_preopened_directories(make: MakeInstance) -> None:
    module = _probe(
        "(i32.store (i32.const 64) (call $prestat (i32.const 3) (i32.const 128)))",
        f'(import "{WASI}" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))',
    )
    (errno, _) = struct.unpack("<ii", make(module, policy=RELAXED).handle(b"x").reply)
    assert errno == 8  # EBADF: fd 3 is not a preopened directory


def test_fd_write_to_another_descriptor_is_ebadf(make: MakeInstance) -> None:
    module = _probe(
        """(i32.store (i32.const 0) (local.get $ptr))
           (i32.store (i32.const 4) (local.get $len))
           (i32.store (i32.const 64)
             (call $w (i32.const 5) (i32.const 0) (i32.const 1) (i32.const 68)))""",
        f'(import "{WASI}" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))',
    )
    (errno, _) = struct.unpack("<ii", make(module, policy=RELAXED).handle(b"x").reply)
    assert errno == 8


SPAM = agent(
    """(i32.store (i32.const 0) (local.get $ptr))
       (i32.store (i32.const 4) (local.get $len))
       (local.set $n (i32.const 0))
       (loop $again
         (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
         (local.set $n (i32.add (local.get $n) (i32.const 1)))
         (br_if $again (i32.lt_u (local.get $n) (i32.const 20))))
       (i64.const 0)""",
    imports=f'(import "{WASI}" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))',
    pages=4,
).replace("(param $len i32) (result i64)", "(param $len i32) (result i64) (local $n i32)")


def test_wasi_output_is_capped_per_call(make: MakeInstance, recording: RecordingImports) -> None:
    instance = make(SPAM, imports=recording, policy=RELAXED, limits=Limits())
    line = b"y" * 1023 + b"\n"
    chunk = line * (MAX_WASI_OUTPUT_BYTES // 8 // len(line))  # 20 writes: 2.5x the cap
    assert instance.handle(chunk).ok
    kept = [message for level, message in recording.logs if level == 1]
    assert len(kept) == MAX_WASI_OUTPUT_BYTES // len(line)
    assert set(kept) == {"y" * 1023}
    assert recording.logs[-1][0] == 2 and "dropped" in recording.logs[-1][1]
    recording.logs.clear()
    assert instance.handle(b"small\n").ok  # the cap is per call
    assert recording.logs == [(1, "small")] * 20


@pytest.mark.timeout(60)
def test_interpreter_exits_cleanly_with_live_wasi_instances() -> None:
    code = (
        "from caxton.wasm import *\n"
        "p = SecurityPolicy.preset('relaxed')\n"
        "c = load_module(example_path('wasi_hello'), policy=p)\n"
        "keep = [AgentInstance(c, Limits(), RecordingImports(), policy=p) for _ in range(3)]\n"
        "for i in keep: i.handle(b'bye')\n"
        "print('done')\n"
    )
    for _ in range(3):
        done = run_fresh(code)
        assert done.stdout.strip() == "done"
        assert "panicked" not in done.stderr, done.stderr[-2000:]
