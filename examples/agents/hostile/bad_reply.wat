;; hostile/bad_reply: returns replies the host must refuse (reason bad_reply).
;; Message "oob": a reply pointer outside linear memory.
;; Message "huge": a 2 MiB reply inside memory, over the default 1 MiB cap.
;; Anything else: echoed.
(module
  (memory (export "memory") 40)
  (global $bump (mut i32) (i32.const 1024))
  (func (export "caxton_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $len)))
    (local.get $p))
  (func (export "caxton_handle") (param $ptr i32) (param $len i32) (result i64)
    (global.set $bump (i32.const 1024))
    ;; "oob" = 6f 6f 62
    (if (i32.and (i32.eq (local.get $len) (i32.const 3))
                 (i32.eq (i32.and (i32.load (local.get $ptr)) (i32.const 0xffffff))
                         (i32.const 0x626f6f)))
      (then (return (i64.const 0x7fff000000000010))))
    ;; "huge" = 68 75 67 65
    (if (i32.and (i32.eq (local.get $len) (i32.const 4))
                 (i32.eq (i32.load (local.get $ptr)) (i32.const 0x65677568)))
      (then (return (i64.or (i64.shl (i64.const 65536) (i64.const 32))
                            (i64.const 2097152)))))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len)))))
