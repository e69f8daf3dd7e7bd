"""Small WAT agents built inline for tests that need one specific behaviour."""

from __future__ import annotations

ALLOC = """
  (global $bump (mut i32) (i32.const 1024))
  (func (export "caxton_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $len)))
    (local.get $p))
"""

PACK = """
  (func $pack (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len))))
"""


def agent(handle_body: str, *, imports: str = "", extra: str = "", pages: int = 1) -> str:
    """A module with memory, a bump allocator and ``caxton_handle`` = ``handle_body``.

    Inside the body, ``$ptr`` and ``$len`` are the payload and ``$pack``
    builds the i64 return value; the bump allocator is reset first.
    """
    return f"""(module
  {imports}
  (memory (export "memory") {pages})
  {ALLOC}
  {PACK}
  {extra}
  (func (export "caxton_handle") (param $ptr i32) (param $len i32) (result i64)
    (global.set $bump (i32.const 1024))
    {handle_body}))"""
