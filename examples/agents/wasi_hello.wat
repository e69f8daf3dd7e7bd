;; wasi_hello: an agent that talks to the world through WASI preview1 stdout,
;; as a module built for wasm32-wasip1 does (needs a policy that allows WASI,
;; e.g. "relaxed").
;;
;; _start (run once by the host after instantiation, like a command's main)
;;   prints "wasi_hello: started" and exits with proc_exit(0).
;; caxton_handle prints "wasi_hello: <payload>" to stdout and
;;   "wasi_hello: handled" to stderr, and echoes the payload.
;; The host turns stdout lines into log lines of level 1 (info) and stderr
;; lines into level 3 (error).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "wasi_hello: started\n")   ;; 20 bytes
  (data (i32.const 96) "wasi_hello: ")            ;; 12 bytes
  (data (i32.const 112) "\n")
  (data (i32.const 128) "wasi_hello: handled\n")  ;; 20 bytes
  ;; iovec array at 0 (up to 3 entries), bytes-written result at 32
  (global $bump (mut i32) (i32.const 1024))

  (func $write1 (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 32))))

  (func (export "_start")
    (call $write1 (i32.const 1) (i32.const 64) (i32.const 20))
    (call $proc_exit (i32.const 0)))

  (func (export "caxton_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $len)))
    (local.get $p))

  (func (export "caxton_handle") (param $ptr i32) (param $len i32) (result i64)
    (global.set $bump (i32.const 1024))
    ;; one fd_write with three iovecs: prefix, payload, newline
    (i32.store (i32.const 0) (i32.const 96))
    (i32.store (i32.const 4) (i32.const 12))
    (i32.store (i32.const 8) (local.get $ptr))
    (i32.store (i32.const 12) (local.get $len))
    (i32.store (i32.const 16) (i32.const 112))
    (i32.store (i32.const 20) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 3) (i32.const 32)))
    (call $write1 (i32.const 2) (i32.const 128) (i32.const 20))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len)))))
