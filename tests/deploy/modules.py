"""Versions of the example counter for deployment tests: same state format, new bytes.

A version is the counter with a data segment naming it (so its hash differs and
nothing else does); ``refusing`` builds one whose ``caxton_restore`` refuses every
state, the version a deployment must roll back on its own.
"""

from __future__ import annotations

from tests.helpers import ROOT

COUNTER = (ROOT / "examples" / "agents" / "counter.wat").read_text()
_MEMORY = '(memory (export "memory") 1)'


def counter(version: str) -> bytes:
    """The counter, tagged with ``version`` (its module hash differs per tag)."""
    return COUNTER.replace(_MEMORY, f'{_MEMORY}\n  (data (i32.const 200) "{version}")').encode()


def refusing(version: str = "broken") -> bytes:
    """A counter whose restore refuses every state it is given (returns 1)."""
    source = counter(version).decode()
    head, _, tail = source.partition('(func (export "caxton_restore")')
    _, _, rest = tail.partition('(i32.const 0))')
    restore = ('(func (export "caxton_restore") (param $ptr i32) (param $len i32) (result i32)\n'
               '    (i32.const 1))')
    return (head + restore + rest).encode()

_SNAPSHOT_V1 = '''  (func (export "caxton_snapshot") (result i64)
    (i64.store (i32.const 128) (global.get $count))
    (i64.or (i64.shl (i64.const 128) (i64.const 32)) (i64.const 8)))'''
_RESTORE_V1 = '''  (func (export "caxton_restore") (param $ptr i32) (param $len i32) (result i32)
    (global.set $bump (i32.const 1024))
    (if (i32.ne (local.get $len) (i32.const 8)) (then (return (i32.const 1))))
    (global.set $count (i64.load (local.get $ptr)))
    (i32.const 0))'''
# version 2's state: a version byte (2), then the count; it reads version 1's too
_SNAPSHOT_V2 = '''  (func (export "caxton_snapshot") (result i64)
    (i32.store8 (i32.const 127) (i32.const 2))
    (i64.store (i32.const 128) (global.get $count))
    (i64.or (i64.shl (i64.const 127) (i64.const 32)) (i64.const 9)))'''
_RESTORE_V2 = '''  (func (export "caxton_restore") (param $ptr i32) (param $len i32) (result i32)
    (global.set $bump (i32.const 1024))
    (if (i32.and (i32.eq (local.get $len) (i32.const 9))
                 (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 2)))
      (then (global.set $count (i64.load offset=1 (local.get $ptr))) (return (i32.const 0))))
    (if (i32.eq (local.get $len) (i32.const %d))
      (then (global.set $count (i64.load (local.get $ptr))) (return (i32.const 0))))
    (i32.const 1))'''


def counter_v2(version: str = "v2", *, reads_v1: bool = True) -> bytes:
    """A counter whose state starts with a version byte; with ``reads_v1`` it also
    restores version 1's state (8 bytes), without it refuses it (a warm-up failure)."""
    source = counter(version).decode()
    assert _SNAPSHOT_V1 in source and _RESTORE_V1 in source
    restore = _RESTORE_V2 % (8 if reads_v1 else 0xFFFF)
    return source.replace(_SNAPSHOT_V1, _SNAPSHOT_V2).replace(_RESTORE_V1, restore).encode()


LEDGER = (ROOT / "chaos" / "agents" / "ledger.wat").read_text()
_LEDGER_MEMORY = '(memory (export "memory") 10)'


def ledger(version: str) -> bytes:
    """The chaos ledger (one bit per sequence number) tagged with ``version``."""
    assert _LEDGER_MEMORY in LEDGER
    return LEDGER.replace(_LEDGER_MEMORY,
                          f'{_LEDGER_MEMORY}\n  (data (i32.const 400) "{version}")').encode()
