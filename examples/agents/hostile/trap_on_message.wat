;; hostile/trap_on_message: echoes every message except "poison", on which it
;; executes `unreachable` (reason trap). Used to test that a trap poisons the
;; instance and that the supervisor replaces it.
(module
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (func (export "caxton_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $len)))
    (local.get $p))
  (func (export "caxton_handle") (param $ptr i32) (param $len i32) (result i64)
    (global.set $bump (i32.const 1024))
    ;; "poison" = 70 6f 69 73 6f 6e
    (if (i32.and
          (i32.eq (local.get $len) (i32.const 6))
          (i32.and
            (i32.eq (i32.load (local.get $ptr)) (i32.const 0x73696f70))        ;; "pois"
            (i32.eq (i32.load16_u (i32.add (local.get $ptr) (i32.const 4)))
                    (i32.const 0x6e6f))))                                      ;; "on"
      (then unreachable))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len)))))
