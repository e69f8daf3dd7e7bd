;; hostile/forbidden_import: asks the host for a function outside the Caxton
;; ABI. Refused by validation (security policy stage) and at instantiation
;; (reason link_error).
(module
  (import "env" "open_socket" (func $open_socket (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_handle") (param $ptr i32) (param $len i32) (result i64)
    (drop (call $open_socket (local.get $ptr) (local.get $len)))
    (i64.const 0)))
