;; hostile/infinite_loop: never returns from caxton_handle.
;; Contained by fuel (reason out_of_fuel) or, with a large fuel budget, by the
;; wall-clock deadline (reason timeout).
(module
  (memory (export "memory") 1)
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_handle") (param i32 i32) (result i64)
    (loop $forever (br $forever))
    (i64.const 0)))
