;; counter: a stateful agent with snapshot/restore (guest ABI v1).
;;
;; Messages:
;;   "get"          reply with the current count, unchanged
;;   anything else  increment the count, reply with the new count
;; Replies are the count in decimal ASCII ("1", "2", ...), so exactly-once
;; delivery is easy to check from outside: after N messages the reply to
;; "get" is N.
;;
;; caxton_init: empty init bytes start at 0; decimal ASCII digits start at
;;   that value; anything else is refused (returns 1).
;; caxton_snapshot: the count as 8 bytes, unsigned little-endian.
;; caxton_restore: accepts exactly those 8 bytes (returns 0), refuses any
;;   other length (returns 1) and keeps its state.
;; No imports: valid under every security policy.
(module
  (memory (export "memory") 1)
  (global $count (mut i64) (i64.const 0))
  (global $bump (mut i32) (i32.const 1024))

  ;; scratch: decimal reply buffer [96, 116), snapshot buffer [128, 136)
  (func $decimal (param $value i64) (result i64)
    (local $pos i32)
    (local.set $pos (i32.const 116))
    (loop $digit
      (local.set $pos (i32.sub (local.get $pos) (i32.const 1)))
      (i32.store8 (local.get $pos)
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $value) (i64.const 10)))))
      (local.set $value (i64.div_u (local.get $value) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $value) (i64.const 0))))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $pos)) (i64.const 32))
            (i64.extend_i32_u (i32.sub (i32.const 116) (local.get $pos)))))

  (func (export "caxton_abi_version") (result i32) (i32.const 1))

  (func (export "caxton_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local $end i32)
    (local.set $p (global.get $bump))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow
                (i32.add
                  (i32.shr_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
                             (i32.const 16))
                  (i32.const 1)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $bump (local.get $end))
    (local.get $p))

  (func (export "caxton_init") (param $ptr i32) (param $len i32) (result i32)
    (local $i i32)
    (local $d i32)
    (local $value i64)
    (global.set $bump (i32.const 1024))
    (if (i32.eqz (local.get $len)) (then (return (i32.const 0))))
    (loop $digits
      (local.set $d (i32.sub (i32.load8_u (i32.add (local.get $ptr) (local.get $i))) (i32.const 48)))
      (if (i32.gt_u (local.get $d) (i32.const 9)) (then (return (i32.const 1))))
      (local.set $value (i64.add (i64.mul (local.get $value) (i64.const 10))
                                 (i64.extend_i32_u (local.get $d))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $digits (i32.lt_u (local.get $i) (local.get $len))))
    (global.set $count (local.get $value))
    (i32.const 0))

  (func (export "caxton_handle") (param $ptr i32) (param $len i32) (result i64)
    (global.set $bump (i32.const 1024))
    ;; "get" = 67 65 74
    (if (i32.eqz
          (i32.and (i32.eq (local.get $len) (i32.const 3))
                   (i32.and (i32.eq (i32.load16_u (local.get $ptr)) (i32.const 0x6567))
                            (i32.eq (i32.load8_u offset=2 (local.get $ptr)) (i32.const 0x74)))))
      (then (global.set $count (i64.add (global.get $count) (i64.const 1)))))
    (call $decimal (global.get $count)))

  (func (export "caxton_snapshot") (result i64)
    (i64.store (i32.const 128) (global.get $count))
    (i64.or (i64.shl (i64.const 128) (i64.const 32)) (i64.const 8)))

  (func (export "caxton_restore") (param $ptr i32) (param $len i32) (result i32)
    (global.set $bump (i32.const 1024))
    (if (i32.ne (local.get $len) (i32.const 8)) (then (return (i32.const 1))))
    (global.set $count (i64.load (local.get $ptr)))
    (i32.const 0))

  (func (export "caxton_health") (result i32) (i32.const 0)))
