;; hostile/too_many_pages: declares 5000 pages (about 312 MiB) of initial
;; memory. Refused by validation (every preset caps declared pages) and at
;; instantiation by the memory limit (reason memory_limit).
(module
  (memory (export "memory") 5000)
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_handle") (param i32 i32) (result i64) (i64.const 0)))
