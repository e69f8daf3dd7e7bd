;; spin_init: a hostile module whose caxton_init spins until the deadline cuts it
;; short. Validation runs init under the spawn's limits, so validating it
;; takes its whole deadline (benchmark figure 9, and the node's tests).
(module
  (memory (export "memory") 1)
  (func (export "caxton_abi_version") (result i32) (i32.const 1))
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_init") (param i32 i32) (result i32) (loop $spin (br $spin)) (i32.const 0))
  (func (export "caxton_handle") (param i32 i32) (result i64) (i64.const 0)))
