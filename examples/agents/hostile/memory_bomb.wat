;; hostile/memory_bomb: grows linear memory one page at a time until the host
;; refuses (memory.grow returns -1), then traps. Contained by the memory limit
;; (reason memory_limit); memory never exceeds Limits.memory_bytes.
(module
  (memory (export "memory") 1)
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_handle") (param i32 i32) (result i64)
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))
