/*
 * caxton_agent.h: write Caxton agents in C (guest ABI v1).
 *
 * The agent defines callbacks and names them with one macro each:
 *
 *     #include "caxton_agent.h"
 *
 *     static void echo(const uint8_t *message, size_t len) {
 *         caxton_reply(message, len);
 *     }
 *     CAXTON_HANDLE(echo)
 *
 * Callbacks:
 *   handle    void f(const uint8_t *message, size_t len)      required
 *             the reply is whatever f writes with caxton_reply*() (nothing
 *             written = no reply); caxton_fail(reason) marks the message
 *             failed without trapping (the reply, if any, still goes back)
 *   snapshot  void f(void)                                     with restore
 *             writes the whole state with caxton_reply*()
 *   restore   int f(const uint8_t *state, size_t len)          with snapshot
 *             0 = loaded; non-zero = refused (keep the current state: check
 *             everything before changing anything)
 *   init      int f(const uint8_t *config, size_t len)         optional
 *             0 = ok; non-zero refuses to start
 *   health    int f(void)                                      optional
 *             0 = healthy
 *
 * Build (what `caxton build` runs): clang --target=wasm32-wasi --sysroot=/usr
 * -mexec-model=reactor -O2 agent.c caxton_agent.c. The module imports
 * nothing from WASI unless the agent itself calls stdio or the clock through
 * libc (then it needs the `relaxed` policy); malloc and the string functions
 * of wasi-libc need no import.
 *
 * Memory: the payload the host writes lives in a buffer from malloc that is
 * reused across messages; replies are written into a second growing buffer,
 * kept until the next call (the host copies it out first). Both belong to
 * caxton_agent.c. A message's bytes are valid during the callback only.
 */
#ifndef CAXTON_AGENT_H
#define CAXTON_AGENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAXTON_ABI_VERSION 1

/* Error codes of caxton_send (the ABI's). */
#define CAXTON_SEND_OK 0
#define CAXTON_SEND_UNKNOWN_AGENT (-1)
#define CAXTON_SEND_TOO_LARGE (-2)
#define CAXTON_SEND_OVER_QUOTA (-3)
#define CAXTON_SEND_NOT_ALLOWED (-4)

/* Log levels. */
#define CAXTON_DEBUG 0
#define CAXTON_INFO 1
#define CAXTON_WARNING 2
#define CAXTON_ERROR 3

/* ---- imports (module "caxton"); only those an agent calls end up imported ---- */

__attribute__((import_module("caxton"), import_name("send")))
int32_t caxton__import_send(const uint8_t *to, int32_t to_len, const uint8_t *msg, int32_t msg_len);
__attribute__((import_module("caxton"), import_name("log")))
void caxton__import_log(int32_t level, const uint8_t *ptr, int32_t len);
__attribute__((import_module("caxton"), import_name("now_ms")))
int64_t caxton__import_now_ms(void);
__attribute__((import_module("caxton"), import_name("error")))
void caxton__import_error(const uint8_t *ptr, int32_t len);
__attribute__((import_module("caxton"), import_name("sender")))
int32_t caxton__import_sender(uint8_t *ptr, int32_t cap);

/* Send `len` bytes to the agent named by `to` (`to_len` bytes of UTF-8);
 * fire and forget. 0 = accepted; a negative CAXTON_SEND_* code otherwise. */
static inline int caxton_send(const char *to, size_t to_len, const void *msg, size_t len) {
    return caxton__import_send((const uint8_t *)to, (int32_t)to_len, (const uint8_t *)msg,
                               (int32_t)len);
}

/* Write a log line at `level` (CAXTON_DEBUG .. CAXTON_ERROR). */
static inline void caxton_log(int level, const char *text, size_t len) {
    caxton__import_log(level, (const uint8_t *)text, (int32_t)len);
}

/* Wall-clock milliseconds since the Unix epoch. */
static inline int64_t caxton_now_ms(void) { return caxton__import_now_ms(); }

/* Mark the current message failed with `reason`, without trapping. */
static inline void caxton_fail(const char *reason, size_t len) {
    caxton__import_error((const uint8_t *)reason, (int32_t)len);
}

/* Copy up to `cap` bytes of the current sender's name to `buf`; return its
 * full length (0: the message came from outside any agent). */
static inline size_t caxton_sender(char *buf, size_t cap) {
    return (size_t)(uint32_t)caxton__import_sender((uint8_t *)buf, (int32_t)cap);
}

/* ---- replies (and snapshot states) ---- */

/* Append bytes to the reply of the current call; 0 = ok, -1 = out of memory. */
int caxton_reply(const void *data, size_t len);
/* Append a NUL-terminated string. */
int caxton_reply_str(const char *text);
/* Append an unsigned number in decimal ASCII. */
int caxton_reply_u64(uint64_t value);

/* ---- runtime used by the export macros ---- */

typedef void (*caxton_handle_fn)(const uint8_t *message, size_t len);
typedef int (*caxton_bytes_fn)(const uint8_t *data, size_t len);
typedef void (*caxton_snapshot_fn)(void);

int64_t caxton__handle(caxton_handle_fn fn, int32_t ptr, int32_t len);
int32_t caxton__bytes(caxton_bytes_fn fn, int32_t ptr, int32_t len);
int64_t caxton__snapshot(caxton_snapshot_fn fn);

#define CAXTON_HANDLE(fn)                                                          \
    __attribute__((export_name("caxton_handle"))) int64_t caxton_export_handle(    \
        int32_t ptr, int32_t len) {                                                \
        return caxton__handle(fn, ptr, len);                                       \
    }

#define CAXTON_SNAPSHOT(snapshot_fn, restore_fn)                                   \
    __attribute__((export_name("caxton_snapshot"))) int64_t caxton_export_snapshot( \
        void) {                                                                    \
        return caxton__snapshot(snapshot_fn);                                      \
    }                                                                              \
    __attribute__((export_name("caxton_restore"))) int32_t caxton_export_restore(  \
        int32_t ptr, int32_t len) {                                                \
        return caxton__bytes(restore_fn, ptr, len);                                \
    }

#define CAXTON_INIT(fn)                                                            \
    __attribute__((export_name("caxton_init"))) int32_t caxton_export_init(        \
        int32_t ptr, int32_t len) {                                                \
        return caxton__bytes(fn, ptr, len);                                        \
    }

#define CAXTON_HEALTH(fn)                                                          \
    __attribute__((export_name("caxton_health"))) int32_t caxton_export_health(    \
        void) {                                                                    \
        return (int32_t)(fn)();                                                    \
    }

#ifdef __cplusplus
}
#endif

#endif /* CAXTON_AGENT_H */
