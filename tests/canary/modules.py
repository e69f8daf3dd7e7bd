"""Ledger versions for canary tests: a good one, one that fails 5 %, one ~3x slower.

All keep the ledger's state format, so every version restores every other's
state, and each message still sets its bit: a failing or slow version is
*worse*, not wrong, which is what a canary must catch by its figures.
"""

from __future__ import annotations

from tests.deploy.modules import ledger

_MODULE = "(module"
_APPLY = "      (then (return (call $apply (i32.load (local.get $ptr))))))"
_ERROR_IMPORT = '(module\n  (import "caxton" "error" (func $fail (param i32 i32)))'


def good(version: str) -> bytes:
    return ledger(version)


def failing(version: str = "failing", every: int = 20) -> bytes:
    """Reports an error (``caxton::error``) on one sequence number in ``every``."""
    source = ledger(version).decode()
    assert source.count(_APPLY) == 1
    head, _, tail = source.partition(_MODULE)
    check = ("      (then\n"
             f"        (if (i32.eqz (i32.rem_u (i32.load (local.get $ptr)) (i32.const {every})))\n"
             "          (then (call $fail (i32.const 352) (i32.const 1))))\n"
             "        (return (call $apply (i32.load (local.get $ptr))))))")
    return (head + _ERROR_IMPORT + tail).replace(_APPLY, check).encode()


def slow(version: str = "slow", spins: int = 14_000) -> bytes:
    """Burns fuel in a loop of ``spins`` rounds before each sequence number: with
    14,000 the ledger handles a number about three times slower (measured ~3.1x)."""
    source = ledger(version).decode()
    burn = ("      (then\n"
            "        (global.set $spin (i32.const 0))\n"
            "        (loop $burn\n"
            "          (global.set $spin (i32.add (global.get $spin) (i32.const 1)))\n"
            f"          (br_if $burn (i32.lt_u (global.get $spin) (i32.const {spins}))))\n"
            "        (return (call $apply (i32.load (local.get $ptr))))))")
    head, _, tail = source.partition(_MODULE)
    return (head + "(module\n  (global $spin (mut i32) (i32.const 0))" + tail) \
        .replace(_APPLY, burn).encode()


def trapping(version: str = "trapping", every: int = 100, after: int = 0) -> bytes:
    """Traps (``unreachable``) on one sequence number in ``every`` from ``after`` on: its
    process dies (``after`` past what is sent so far: not in its warm-up's replay)."""
    source = ledger(version).decode()
    check = ("      (then\n"
             "        (if (i32.and\n"
             f"          (i32.eqz (i32.rem_u (i32.load (local.get $ptr)) (i32.const {every})))\n"
             f"          (i32.ge_u (i32.load (local.get $ptr)) (i32.const {after})))\n"
             "          (then unreachable))\n"
             "        (return (call $apply (i32.load (local.get $ptr))))))")
    return source.replace(_APPLY, check).encode()
