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
