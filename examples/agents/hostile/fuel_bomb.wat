;; hostile/fuel_bomb: a finite but enormous computation (about 2^40 loop
;; iterations). Unlike infinite_loop it would end one day; fuel ends it first
;; (reason out_of_fuel).
(module
  (memory (export "memory") 1)
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_handle") (param i32 i32) (result i64)
    (local $i i64)
    (local $acc i64)
    (loop $spin
      (local.set $acc (i64.add (local.get $acc) (i64.mul (local.get $i) (local.get $i))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $spin (i64.lt_u (local.get $i) (i64.const 1099511627776))))
    ;; reply nothing, but keep $acc alive
    (i64.and (local.get $acc) (i64.const 0))))
