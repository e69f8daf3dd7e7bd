;; pingpong: two agents talking through caxton.send (guest ABI v1).
;;
;; Messages:
;;   "ping"   send "pong" back to the sender
;;   "pong"   count it and log "pong from <sender>" (level info)
;;   "count"  reply with the number of pongs received, in decimal ASCII
;;   other    the payload names an agent: send it "ping"
;; The reply to every message except "count" is what caxton.sender gives:
;; the name of the agent that sent the message (empty when it came from
;; outside any agent).
;; So a client sending "B" to agent A makes A ping B, B pong A, and A's
;; "count" go up by one. A send the host refuses is reported through
;; caxton.error ("pingpong: send failed"); the reply still goes back.
;; Imports: caxton.send, caxton.sender, caxton.log, caxton.error.
(module
  (import "caxton" "send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "caxton" "sender" (func $sender (param i32 i32) (result i32)))
  (import "caxton" "log" (func $log (param i32 i32 i32)))
  (import "caxton" "error" (func $error (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "ping")
  (data (i32.const 8) "pong")
  (data (i32.const 16) "pingpong: send failed")   ;; 21 bytes
  (data (i32.const 48) "pong from ")              ;; 10 bytes; the name follows at 58
  ;; sender name buffer: [512, 768)
  (global $name i32 (i32.const 512))
  (global $name_cap i32 (i32.const 256))
  (global $pongs (mut i64) (i64.const 0))
  (global $bump (mut i32) (i32.const 1024))

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

  (func $is (param $ptr i32) (param $len i32) (param $word i32) (result i32)
    ;; payload equals the 4 bytes at $word
    (i32.and (i32.eq (local.get $len) (i32.const 4))
             (i32.eq (i32.load (local.get $ptr)) (i32.load (local.get $word)))))

  (func $send_checked (param $to i32) (param $to_len i32) (param $msg i32)
    (if (i32.lt_s (call $send (local.get $to) (local.get $to_len) (local.get $msg) (i32.const 4))
                  (i32.const 0))
      (then (call $error (i32.const 16) (i32.const 21)))))

  (func $decimal (param $value i64) (result i64)
    (local $pos i32)
    (local.set $pos (i32.const 1000))
    (loop $digit
      (local.set $pos (i32.sub (local.get $pos) (i32.const 1)))
      (i32.store8 (local.get $pos)
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $value) (i64.const 10)))))
      (local.set $value (i64.div_u (local.get $value) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $value) (i64.const 0))))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $pos)) (i64.const 32))
            (i64.extend_i32_u (i32.sub (i32.const 1000) (local.get $pos)))))

  (func (export "caxton_handle") (param $ptr i32) (param $len i32) (result i64)
    (local $name_len i32)
    (global.set $bump (i32.const 1024))
    ;; "count" = 63 6f 75 6e 74
    (if (i32.and (i32.eq (local.get $len) (i32.const 5))
                 (i32.and (i32.eq (i32.load (local.get $ptr)) (i32.const 0x6e756f63))
                          (i32.eq (i32.load8_u offset=4 (local.get $ptr)) (i32.const 0x74))))
      (then (return (call $decimal (global.get $pongs)))))
    (local.set $name_len (call $sender (global.get $name) (global.get $name_cap)))
    (if (i32.gt_u (local.get $name_len) (global.get $name_cap))
      (then (local.set $name_len (global.get $name_cap))))
    (if (call $is (local.get $ptr) (local.get $len) (i32.const 0))
      (then (call $send_checked (global.get $name) (local.get $name_len) (i32.const 8)))
      (else
        (if (call $is (local.get $ptr) (local.get $len) (i32.const 8))
          (then
            (global.set $pongs (i64.add (global.get $pongs) (i64.const 1)))
            (memory.copy (i32.const 58) (global.get $name) (local.get $name_len))
            (call $log (i32.const 1) (i32.const 48) (i32.add (i32.const 10) (local.get $name_len))))
          (else
            (call $send_checked (local.get $ptr) (local.get $len) (i32.const 0))))))
    (i64.or (i64.shl (i64.extend_i32_u (global.get $name)) (i64.const 32))
            (i64.extend_i32_u (local.get $name_len))))

  (func (export "caxton_health") (result i32) (i32.const 0)))
