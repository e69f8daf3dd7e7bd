;; ledger: the chaos workload's agent (guest ABI v1, no imports).
;;
;; A counter only tells how many messages took effect; the ledger tells which.
;; It keeps one bit per sequence number, so the checker can name every lost
;; message (acknowledged, bit clear) and count every duplicated effect (a
;; number applied a second time).
;;
;; Messages:
;;   exactly 4 bytes   a sequence number, unsigned little-endian, below
;;                     4,194,304 (2^22): sets its bit; if the bit was already
;;                     set the duplicate counter goes up instead. Reply "+"
;;                     (new) or "=" (duplicate). A number at or over the
;;                     capacity is counted as rejected, reply "!".
;;   "ledger:dump"     reply with the state (the format below), unchanged
;;   "ledger:ping"     reply "pong", unchanged (a probe: "is it serving?")
;;   "ledger:slow"     burn about 35M fuel (a few ms), reply "slow" (makes a mailbox fill)
;;   "ledger:poison"   trap (`unreachable`): reason trap
;;   "ledger:fuel"     loop forever: reason out_of_fuel (or timeout)
;;   "ledger:memory"   grow memory a page at a time until refused, then trap:
;;                     reason memory_limit
;;   anything else     counted as "other", reply "?"
;; Every command is 11 or 13 bytes long, so none can be read as a number.
;;
;; State (dump reply = snapshot = what restore accepts), little-endian:
;;   [0, 4)    magic "LDG1"
;;   [4, 8)    bits: highest sequence number seen + 1 (0 when none)
;;   [8, 16)   applied: distinct sequence numbers seen
;;   [16, 24)  duplicates: sequence numbers seen again
;;   [24, 28)  rejected: numbers at or over the capacity
;;   [28, 32)  other: payloads that were neither a number nor a command
;;   [32, 32 + ceil(bits / 8))  the bitmap, bit (n & 7) of byte (n >> 3)
;; The state lives at offset 1024 of linear memory, so dump and snapshot
;; return it in place without copying.
;;
;; caxton_init: the init bytes are ignored (every ledger starts empty).
;; caxton_restore: refuses (returns 1) a state with the wrong magic, a length
;;   that does not match its bit count, or more bits than the capacity.
(module
  (memory (export "memory") 10)

  ;; command names, compared byte by byte
  (data (i32.const 256) "ledger:dump")
  (data (i32.const 272) "ledger:ping")
  (data (i32.const 288) "ledger:slow")
  (data (i32.const 304) "ledger:poison")
  (data (i32.const 320) "ledger:fuel")
  (data (i32.const 336) "ledger:memory")
  ;; one-byte replies: "+", "=", "!", "?"; "pong"; "slow"
  (data (i32.const 352) "+=!?pongslow")
  ;; the state header: magic, the rest zero
  (data (i32.const 1024) "LDG1")

  (global $state i32 (i32.const 1024))
  (global $bitmap i32 (i32.const 1056))
  (global $capacity i32 (i32.const 4194304))          ;; sequence numbers
  (global $scratch i32 (i32.const 589824))            ;; past the largest bitmap, 9 pages
  (global $bump (mut i32) (i32.const 589824))

  (func (export "caxton_abi_version") (result i32) (i32.const 1))

  ;; bump allocator above the bitmap, growing memory when a payload needs it
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
    (global.set $bump (global.get $scratch))
    (i32.const 0))

  ;; (ptr, len) == the command at $cmd of length $cmd_len
  (func $is (param $ptr i32) (param $len i32) (param $cmd i32) (param $cmd_len i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $len) (local.get $cmd_len)) (then (return (i32.const 0))))
    (block $differ
      (loop $next
        (br_if $differ
          (i32.ne (i32.load8_u (i32.add (local.get $ptr) (local.get $i)))
                  (i32.load8_u (i32.add (local.get $cmd) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $next (i32.lt_u (local.get $i) (local.get $len))))
      (return (i32.const 1)))
    (i32.const 0))

  (func $reply (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len))))

  (func $state_len (result i32)
    (i32.add (i32.const 32)
             (i32.shr_u (i32.add (i32.load offset=4 (global.get $state)) (i32.const 7))
                        (i32.const 3))))

  (func $bump_u64 (param $addr i32)
    (i64.store (local.get $addr) (i64.add (i64.load (local.get $addr)) (i64.const 1))))

  (func $apply (param $seq i32) (result i64)
    (local $byte i32)
    (local $bit i32)
    (if (i32.ge_u (local.get $seq) (global.get $capacity))
      (then
        (i32.store offset=24 (global.get $state)
          (i32.add (i32.load offset=24 (global.get $state)) (i32.const 1)))
        (return (call $reply (i32.const 354) (i32.const 1)))))
    (local.set $byte (i32.add (global.get $bitmap) (i32.shr_u (local.get $seq) (i32.const 3))))
    (local.set $bit (i32.shl (i32.const 1) (i32.and (local.get $seq) (i32.const 7))))
    (if (i32.and (i32.load8_u (local.get $byte)) (local.get $bit))
      (then
        (call $bump_u64 (i32.add (global.get $state) (i32.const 16)))
        (return (call $reply (i32.const 353) (i32.const 1)))))
    (i32.store8 (local.get $byte) (i32.or (i32.load8_u (local.get $byte)) (local.get $bit)))
    (call $bump_u64 (i32.add (global.get $state) (i32.const 8)))
    (if (i32.ge_u (local.get $seq) (i32.load offset=4 (global.get $state)))
      (then (i32.store offset=4 (global.get $state) (i32.add (local.get $seq) (i32.const 1)))))
    (call $reply (i32.const 352) (i32.const 1)))

  (func $slow (result i64)
    (local $i i32)
    (local $acc i32)
    (loop $spin
      (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spin (i32.lt_u (local.get $i) (i32.const 2500000))))
    ;; keep $acc alive without changing the reply
    (call $reply (i32.add (i32.const 360) (i32.and (local.get $acc) (i32.const 0))) (i32.const 4)))

  (func (export "caxton_handle") (param $ptr i32) (param $len i32) (result i64)
    (global.set $bump (global.get $scratch))
    (if (i32.eq (local.get $len) (i32.const 4))
      (then (return (call $apply (i32.load (local.get $ptr))))))
    (if (call $is (local.get $ptr) (local.get $len) (i32.const 256) (i32.const 11))
      (then (return (call $reply (global.get $state) (call $state_len)))))
    (if (call $is (local.get $ptr) (local.get $len) (i32.const 272) (i32.const 11))
      (then (return (call $reply (i32.const 356) (i32.const 4)))))
    (if (call $is (local.get $ptr) (local.get $len) (i32.const 288) (i32.const 11))
      (then (return (call $slow))))
    (if (call $is (local.get $ptr) (local.get $len) (i32.const 304) (i32.const 13))
      (then unreachable))
    (if (call $is (local.get $ptr) (local.get $len) (i32.const 320) (i32.const 11))
      (then (loop $forever (br $forever))))
    (if (call $is (local.get $ptr) (local.get $len) (i32.const 336) (i32.const 13))
      (then
        (loop $grow
          (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
        unreachable))
    (i32.store offset=28 (global.get $state)
      (i32.add (i32.load offset=28 (global.get $state)) (i32.const 1)))
    (call $reply (i32.const 355) (i32.const 1)))

  (func (export "caxton_snapshot") (result i64)
    (call $reply (global.get $state) (call $state_len)))

  (func (export "caxton_restore") (param $ptr i32) (param $len i32) (result i32)
    (local $bits i32)
    (global.set $bump (global.get $scratch))
    (if (i32.lt_u (local.get $len) (i32.const 32)) (then (return (i32.const 1))))
    (if (i32.ne (i32.load (local.get $ptr)) (i32.load (global.get $state)))
      (then (return (i32.const 1))))
    (local.set $bits (i32.load offset=4 (local.get $ptr)))
    (if (i32.gt_u (local.get $bits) (global.get $capacity)) (then (return (i32.const 1))))
    (if (i32.ne (local.get $len)
                (i32.add (i32.const 32)
                         (i32.shr_u (i32.add (local.get $bits) (i32.const 7)) (i32.const 3))))
      (then (return (i32.const 1))))
    ;; the payload sits above the bitmap area, so the copy never overlaps it
    (memory.fill (global.get $bitmap) (i32.const 0) (i32.const 524288))
    (memory.copy (global.get $state) (local.get $ptr) (local.get $len))
    (i32.const 0))

  (func (export "caxton_health") (result i32) (i32.const 0)))
