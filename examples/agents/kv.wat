;; kv: a small key-value store over msgpack payloads (guest ABI v1).
;;
;; Requests (msgpack arrays; the command is a str):
;;   ["put", key, value]  store value under key     reply: true
;;   ["get", key]         look key up               reply: the value, or nil
;;   ["del", key]         remove key                reply: true if it existed, else false
;; Keys are msgpack str or bin; values are any scalar msgpack element (nil,
;; bool, int, float, str, bin). A value is stored exactly as encoded, so "get"
;; returns the bytes "put" was given. Anything else is reported through
;; caxton.error (status "error", no reply) and leaves the store unchanged.
;;
;; caxton_snapshot: the records region, compacted first (dead records are
;;   dropped): a sequence of [klen u32le][vlen u32le][live u32le][key][value].
;; caxton_restore: accepts such a sequence (returns 0) after checking every
;;   record lies inside it; refuses anything else (returns 1), state unchanged.
;; Imports: caxton.error only (security policy "default" or wider).
;;
;; Memory: records grow upwards from 1024; the message buffer handed out by
;; caxton_alloc starts 16 bytes above the last record. A "put" appends its
;; record at the end of the records, which may overlap the request it is
;; reading: copies move bytes downwards (memory.copy, memmove semantics) and
;; the 16-byte gap keeps the record header clear of the key it is about to
;; copy, so that is safe.
(module
  (import "caxton" "error" (func $error (param i32 i32)))
  (memory (export "memory") 1)
  ;; replies: 0 = true, 1 = false, 2 = nil
  (data (i32.const 0) "\c3\c2\c0")
  (data (i32.const 16) "kv: malformed request")          ;; 21 bytes at 16
  (data (i32.const 48) "kv: unknown command")            ;; 19 bytes at 48
  (data (i32.const 80) "kv: key must be a str or bin")   ;; 28 bytes at 80
  (data (i32.const 112) "kv: unsupported value type")    ;; 26 bytes at 112

  (global $heap_base i32 (i32.const 1024))
  (global $heap_end (mut i32) (i32.const 1024))
  (global $bump (mut i32) (i32.const 1040))

  (func (export "caxton_abi_version") (result i32) (i32.const 1))
  (func (export "caxton_health") (result i32) (i32.const 0))

  (func $reset_bump
    (global.set $bump (i32.add (global.get $heap_end) (i32.const 16))))

  (func (export "caxton_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local $end i32)
    (local.set $p (global.get $bump))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.lt_u (local.get $end) (local.get $p)) (then (return (i32.const 0))))
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

  ;; -- helpers --------------------------------------------------------------
  (func $copy (param $dst i32) (param $src i32) (param $n i32)
    ;; memory.copy (bulk memory, allowed by every preset) has memmove semantics
    (memory.copy (local.get $dst) (local.get $src) (local.get $n)))

  (func $equal (param $a i32) (param $b i32) (param $n i32) (result i32)
    (block $differ
      (loop $next
        (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
        (br_if $differ (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  (func $be16 (param $p i32) (result i32)
    (i32.or (i32.shl (i32.load8_u (local.get $p)) (i32.const 8))
            (i32.load8_u offset=1 (local.get $p))))

  (func $be32 (param $p i32) (result i32)
    (i32.or (i32.shl (call $be16 (local.get $p)) (i32.const 16))
            (call $be16 (i32.add (local.get $p) (i32.const 2)))))

  ;; Size in bytes of the scalar msgpack element at $p, or -1 when it is
  ;; truncated (would end past $end) or not a supported scalar.
  (func $elem_size (param $p i32) (param $end i32) (result i32)
    (local $b i32)
    (local $size i32)
    (if (i32.ge_u (local.get $p) (local.get $end)) (then (return (i32.const -1))))
    (local.set $b (i32.load8_u (local.get $p)))
    (local.set $size (i32.const -1))
    (block $known
      (if (i32.le_u (local.get $b) (i32.const 0x7f))
        (then (local.set $size (i32.const 1)) (br $known)))
      (if (i32.ge_u (local.get $b) (i32.const 0xe0))
        (then (local.set $size (i32.const 1)) (br $known)))
      (if (i32.eq (i32.and (local.get $b) (i32.const 0xe0)) (i32.const 0xa0))
        (then (local.set $size (i32.add (i32.const 1) (i32.and (local.get $b) (i32.const 0x1f))))
              (br $known)))
      (if (i32.or (i32.eq (local.get $b) (i32.const 0xc0))
                  (i32.eq (i32.and (local.get $b) (i32.const 0xfe)) (i32.const 0xc2)))
        (then (local.set $size (i32.const 1)) (br $known)))
      ;; need the length bytes of str/bin 8/16/32 before reading them
      (if (i32.or (i32.eq (local.get $b) (i32.const 0xc4)) (i32.eq (local.get $b) (i32.const 0xd9)))
        (then
          (if (i32.ge_u (i32.add (local.get $p) (i32.const 1)) (local.get $end))
            (then (return (i32.const -1))))
          (local.set $size (i32.add (i32.const 2) (i32.load8_u offset=1 (local.get $p))))
          (br $known)))
      (if (i32.or (i32.eq (local.get $b) (i32.const 0xc5)) (i32.eq (local.get $b) (i32.const 0xda)))
        (then
          (if (i32.gt_u (i32.add (local.get $p) (i32.const 3)) (local.get $end))
            (then (return (i32.const -1))))
          (local.set $size (i32.add (i32.const 3) (call $be16 (i32.add (local.get $p) (i32.const 1)))))
          (br $known)))
      (if (i32.or (i32.eq (local.get $b) (i32.const 0xc6)) (i32.eq (local.get $b) (i32.const 0xdb)))
        (then
          (if (i32.gt_u (i32.add (local.get $p) (i32.const 5)) (local.get $end))
            (then (return (i32.const -1))))
          (local.set $size (i32.add (i32.const 5) (call $be32 (i32.add (local.get $p) (i32.const 1)))))
          ;; a 32-bit length can wrap the sum: treat it as truncated
          (if (i32.lt_u (local.get $size) (i32.const 5)) (then (return (i32.const -1))))
          (br $known)))
      ;; fixed-size numbers: uint8..64, int8..64, float32/64
      (if (i32.or (i32.eq (local.get $b) (i32.const 0xcc)) (i32.eq (local.get $b) (i32.const 0xd0)))
        (then (local.set $size (i32.const 2)) (br $known)))
      (if (i32.or (i32.eq (local.get $b) (i32.const 0xcd)) (i32.eq (local.get $b) (i32.const 0xd1)))
        (then (local.set $size (i32.const 3)) (br $known)))
      (if (i32.or (i32.or (i32.eq (local.get $b) (i32.const 0xce)) (i32.eq (local.get $b) (i32.const 0xd2)))
                  (i32.eq (local.get $b) (i32.const 0xca)))
        (then (local.set $size (i32.const 5)) (br $known)))
      (if (i32.or (i32.or (i32.eq (local.get $b) (i32.const 0xcf)) (i32.eq (local.get $b) (i32.const 0xd3)))
                  (i32.eq (local.get $b) (i32.const 0xcb)))
        (then (local.set $size (i32.const 9)) (br $known)))
      (return (i32.const -1)))
    (if (i32.gt_u (local.get $size) (i32.sub (local.get $end) (local.get $p)))
      (then (return (i32.const -1))))
    (local.get $size))

  (func $is_str_or_bin (param $p i32) (result i32)
    (local $b i32)
    (local.set $b (i32.load8_u (local.get $p)))
    (i32.or
      (i32.eq (i32.and (local.get $b) (i32.const 0xe0)) (i32.const 0xa0))
      (i32.or (i32.and (i32.ge_u (local.get $b) (i32.const 0xc4)) (i32.le_u (local.get $b) (i32.const 0xc6)))
              (i32.and (i32.ge_u (local.get $b) (i32.const 0xd9)) (i32.le_u (local.get $b) (i32.const 0xdb))))))

  ;; The live record whose key equals the $kl bytes at $kp, or 0.
  (func $find (param $kp i32) (param $kl i32) (result i32)
    (local $r i32)
    (local.set $r (global.get $heap_base))
    (block $none
      (loop $next
        (br_if $none (i32.ge_u (local.get $r) (global.get $heap_end)))
        (if (i32.and (i32.load offset=8 (local.get $r))
                     (i32.eq (i32.load (local.get $r)) (local.get $kl)))
          (then
            (if (call $equal (i32.add (local.get $r) (i32.const 12)) (local.get $kp) (local.get $kl))
              (then (return (local.get $r))))))
        (local.set $r (i32.add (local.get $r)
                               (i32.add (i32.const 12)
                                        (i32.add (i32.load (local.get $r))
                                                 (i32.load offset=4 (local.get $r))))))
        (br $next)))
    (i32.const 0))

  (func $fail (param $msg i32) (param $len i32) (result i64)
    (call $error (local.get $msg) (local.get $len))
    (i64.const 0))

  (func $reply (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len))))

  ;; -- the ABI ---------------------------------------------------------------
  (func (export "caxton_handle") (param $ptr i32) (param $len i32) (result i64)
    (local $end i32)
    (local $cmd i32)
    (local $kp i32)
    (local $kl i32)
    (local $vp i32)
    (local $vl i32)
    (local $r i32)
    (call $reset_bump)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    ;; array header + fixstr of 3 bytes
    (if (i32.or (i32.lt_u (local.get $len) (i32.const 6))
                (i32.ne (i32.load8_u offset=1 (local.get $ptr)) (i32.const 0xa3)))
      (then (return (call $fail (i32.const 16) (i32.const 21)))))
    (local.set $cmd (i32.and (i32.load offset=1 (local.get $ptr)) (i32.const 0xffffff00)))
    (local.set $kp (i32.add (local.get $ptr) (i32.const 5)))
    (local.set $kl (call $elem_size (local.get $kp) (local.get $end)))
    (if (i32.lt_s (local.get $kl) (i32.const 0))
      (then (return (call $fail (i32.const 16) (i32.const 21)))))
    (if (i32.eqz (call $is_str_or_bin (local.get $kp)))
      (then (return (call $fail (i32.const 80) (i32.const 28)))))
    (local.set $vp (i32.add (local.get $kp) (local.get $kl)))

    ;; "put" = 70 75 74 (bytes 1..3 of the little-endian load)
    (if (i32.eq (local.get $cmd) (i32.const 0x74757000))
      (then
        (if (i32.ne (i32.load8_u (local.get $ptr)) (i32.const 0x93))
          (then (return (call $fail (i32.const 16) (i32.const 21)))))
        (local.set $vl (call $elem_size (local.get $vp) (local.get $end)))
        (if (i32.lt_s (local.get $vl) (i32.const 0))
          (then (return (call $fail (i32.const 112) (i32.const 26)))))
        (if (i32.ne (i32.add (local.get $vp) (local.get $vl)) (local.get $end))
          (then (return (call $fail (i32.const 16) (i32.const 21)))))
        (local.set $r (call $find (local.get $kp) (local.get $kl)))
        (if (local.get $r) (then (i32.store offset=8 (local.get $r) (i32.const 0))))
        ;; append the record at heap_end (see the memory note at the top)
        (local.set $r (global.get $heap_end))
        (i32.store (local.get $r) (local.get $kl))
        (i32.store offset=4 (local.get $r) (local.get $vl))
        (i32.store offset=8 (local.get $r) (i32.const 1))
        (call $copy (i32.add (local.get $r) (i32.const 12)) (local.get $kp) (local.get $kl))
        (call $copy (i32.add (local.get $r) (i32.add (i32.const 12) (local.get $kl)))
                    (local.get $vp) (local.get $vl))
        (global.set $heap_end
          (i32.add (local.get $r) (i32.add (i32.const 12) (i32.add (local.get $kl) (local.get $vl)))))
        (call $reset_bump)
        (return (call $reply (i32.const 0) (i32.const 1)))))

    (if (i32.ne (i32.load8_u (local.get $ptr)) (i32.const 0x92))
      (then (return (call $fail (i32.const 16) (i32.const 21)))))
    (if (i32.ne (local.get $vp) (local.get $end))
      (then (return (call $fail (i32.const 16) (i32.const 21)))))
    (local.set $r (call $find (local.get $kp) (local.get $kl)))

    ;; "get" = 67 65 74
    (if (i32.eq (local.get $cmd) (i32.const 0x74656700))
      (then
        (if (i32.eqz (local.get $r)) (then (return (call $reply (i32.const 2) (i32.const 1)))))
        (return (call $reply
                  (i32.add (local.get $r) (i32.add (i32.const 12) (i32.load (local.get $r))))
                  (i32.load offset=4 (local.get $r))))))

    ;; "del" = 64 65 6c
    (if (i32.eq (local.get $cmd) (i32.const 0x6c656400))
      (then
        (if (i32.eqz (local.get $r)) (then (return (call $reply (i32.const 1) (i32.const 1)))))
        (i32.store offset=8 (local.get $r) (i32.const 0))
        (return (call $reply (i32.const 0) (i32.const 1)))))

    (call $fail (i32.const 48) (i32.const 19)))

  (func (export "caxton_snapshot") (result i64)
    (local $r i32)
    (local $w i32)
    (local $size i32)
    ;; compact: slide live records down over dead ones (always downwards)
    (local.set $r (global.get $heap_base))
    (local.set $w (global.get $heap_base))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $r) (global.get $heap_end)))
        (local.set $size (i32.add (i32.const 12)
                                  (i32.add (i32.load (local.get $r)) (i32.load offset=4 (local.get $r)))))
        (if (i32.load offset=8 (local.get $r))
          (then
            (call $copy (local.get $w) (local.get $r) (local.get $size))
            (local.set $w (i32.add (local.get $w) (local.get $size)))))
        (local.set $r (i32.add (local.get $r) (local.get $size)))
        (br $next)))
    (global.set $heap_end (local.get $w))
    (call $reset_bump)
    (call $reply (global.get $heap_base) (i32.sub (global.get $heap_end) (global.get $heap_base))))

  (func (export "caxton_restore") (param $ptr i32) (param $len i32) (result i32)
    (local $r i32)
    (local $end i32)
    (local $size i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    ;; check every record before touching the current state
    (local.set $r (local.get $ptr))
    (block $valid
      (loop $next
        (br_if $valid (i32.eq (local.get $r) (local.get $end)))
        (if (i32.gt_u (i32.add (local.get $r) (i32.const 12)) (local.get $end))
          (then (return (i32.const 1))))
        (local.set $size (i32.add (i32.load (local.get $r)) (i32.load offset=4 (local.get $r))))
        (if (i32.lt_u (local.get $size) (i32.load (local.get $r))) (then (return (i32.const 1))))
        (if (i32.gt_u (local.get $size) (i32.sub (local.get $end) (i32.add (local.get $r) (i32.const 12))))
          (then (return (i32.const 1))))
        (local.set $r (i32.add (local.get $r) (i32.add (i32.const 12) (local.get $size))))
        (br $next)))
    (call $copy (global.get $heap_base) (local.get $ptr) (local.get $len))
    (global.set $heap_end (i32.add (global.get $heap_base) (local.get $len)))
    (call $reset_bump)
    (i32.const 0)))
