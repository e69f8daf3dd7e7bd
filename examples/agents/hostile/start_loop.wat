;; hostile/start_loop: a start function that never returns, so instantiation
;; itself never ends. Contained by the instantiation budget (fuel, then the
;; deadline): reason out_of_fuel or timeout, never a hung host.
(module
  (memory (export "memory") 1)
  (func $start (loop $forever (br $forever)))
  (start $start)
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_handle") (param i32 i32) (result i64) (i64.const 0)))
