;; A counter whose state is 1 MiB of linear memory (guest ABI v1).
;;
;; Used by the "restart with state" benchmark: its snapshot is the whole
;; 1 MiB region, so a replacement instance has to receive, copy in and own a
;; real state before it serves, and every replayed message changes it.
;;
;; Memory layout (40 pages = 2.5 MiB):
;;   0x000000 - 0x00FFFF  unused
;;   0x010000 - 0x10FFFF  the state: bytes 0..8 hold the message count,
;;                        the rest is a pattern each message writes into
;;   0x110000 - 0x27FFFF  bump heap for inbound payloads and restored snapshots
;;
;; Every message increments the count, writes it into one word of the state
;; chosen by the count, and replies with the count (8 bytes, little endian).
(module
  (memory (export "memory") 40)
  (global $state i32 (i32.const 0x10000))
  (global $state_len i32 (i32.const 0x100000))
  (global $heap i32 (i32.const 0x110000))
  (global $heap_end i32 (i32.const 0x280000))
  (global $bump (mut i32) (i32.const 0x110000))

  (func (export "caxton_abi_version") (result i32) (i32.const 1))

  (func (export "caxton_alloc") (param $len i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (local.get $len) (i32.sub (global.get $heap_end) (global.get $bump)))
      (then (return (i32.const 0))))
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $len)))
    (local.get $p))

  ;; Fill the state with a pattern so a snapshot carries 1 MiB of real data.
  (func (export "caxton_init") (param $ptr i32) (param $len i32) (result i32)
    (local $off i32)
    (local.set $off (i32.const 8))
    (block $done
      (loop $fill
        (br_if $done (i32.ge_u (local.get $off) (global.get $state_len)))
        (i64.store
          (i32.add (global.get $state) (local.get $off))
          (i64.mul (i64.extend_i32_u (local.get $off)) (i64.const 0x9E3779B97F4A7C15)))
        (local.set $off (i32.add (local.get $off) (i32.const 8)))
        (br $fill)))
    (i64.store (global.get $state) (i64.const 0))
    (global.set $bump (global.get $heap))
    (i32.const 0))

  (func (export "caxton_handle") (param $ptr i32) (param $len i32) (result i64)
    (local $count i64)
    (global.set $bump (global.get $heap))
    (local.set $count (i64.add (i64.load (global.get $state)) (i64.const 1)))
    (i64.store (global.get $state) (local.get $count))
    ;; touch word (count * 4099) mod (state words - 1), past the counter
    (i64.store
      (i32.add
        (i32.add (global.get $state) (i32.const 8))
        (i32.shl
          (i32.wrap_i64
            (i64.rem_u (i64.mul (local.get $count) (i64.const 4099)) (i64.const 131071)))
          (i32.const 3)))
      (local.get $count))
    (i64.or
      (i64.shl (i64.extend_i32_u (global.get $state)) (i64.const 32))
      (i64.const 8)))

  (func (export "caxton_snapshot") (result i64)
    (i64.or
      (i64.shl (i64.extend_i32_u (global.get $state)) (i64.const 32))
      (i64.extend_i32_u (global.get $state_len))))

  (func (export "caxton_restore") (param $ptr i32) (param $len i32) (result i32)
    (if (i32.ne (local.get $len) (global.get $state_len))
      (then (return (i32.const 1))))
    (memory.copy (global.get $state) (local.get $ptr) (local.get $len))
    (global.set $bump (global.get $heap))
    (i32.const 0)))
