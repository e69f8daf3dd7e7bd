;; hostile/deep_recursion: unbounded recursion in caxton_handle.
;; Contained by the wasm stack limit (reason stack_overflow).
(module
  (memory (export "memory") 1)
  (func $recurse (param $n i64) (result i64)
    (i64.add (call $recurse (i64.add (local.get $n) (i64.const 1))) (i64.const 1)))
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_handle") (param i32 i32) (result i64)
    (call $recurse (i64.const 0))))
