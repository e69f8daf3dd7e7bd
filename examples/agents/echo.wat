;; echo: replies with the message it was given.
;;
;; The smallest useful Caxton agent (guest ABI v1). Memory layout: a bump
;; allocator starting at 1024; caxton_handle resets it, after the host has
;; already written the payload, so the payload stays valid during the call
;; and is returned in place as the reply.
(module
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))

  (func (export "caxton_abi_version") (result i32) (i32.const 1))

  ;; Return a pointer to $len writable bytes, growing memory when needed;
  ;; 0 means out of memory.
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

  (func (export "caxton_handle") (param $ptr i32) (param $len i32) (result i64)
    (global.set $bump (i32.const 1024))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len)))))
