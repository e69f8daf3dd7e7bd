/*
 * caxton_agent.c: the runtime behind caxton_agent.h (guest ABI v1).
 *
 * Exports caxton_alloc and caxton_abi_version; keeps the input buffer the
 * host writes payloads into and the output buffer replies are built in.
 * Both come from the guest's own malloc, are reused from call to call, and
 * are released after a call when they grew past KEEP_BYTES.
 */
#include "caxton_agent.h"

#include <stdlib.h>
#include <string.h>

#define KEEP_BYTES (64 * 1024)

static uint8_t *input;
static size_t input_cap;
static uint8_t *output;
static size_t output_len;
static size_t output_cap;

__attribute__((export_name("caxton_abi_version"))) int32_t caxton_export_abi_version(void) {
    return CAXTON_ABI_VERSION;
}

/* A buffer for `len` bytes the host is about to write; 0 = out of memory. */
__attribute__((export_name("caxton_alloc"))) int32_t caxton_export_alloc(int32_t len) {
    size_t want = (size_t)(uint32_t)len;
    if (input_cap > KEEP_BYTES && want <= KEEP_BYTES) {
        free(input);
        input = NULL;
        input_cap = 0;
    }
    if (want > input_cap) {
        uint8_t *grown = realloc(input, want);
        if (grown == NULL) return 0;
        input = grown;
        input_cap = want;
    }
    return (int32_t)(uintptr_t)input;
}

static void reset_output(void) {
    if (output_cap > KEEP_BYTES) {
        free(output);
        output = NULL;
        output_cap = 0;
    }
    output_len = 0;
}

int caxton_reply(const void *data, size_t len) {
    if (len > SIZE_MAX - output_len) return -1;
    if (output_len + len > output_cap) {
        size_t cap = output_cap ? output_cap : 64;
        while (cap < output_len + len) cap = cap > SIZE_MAX / 2 ? output_len + len : cap * 2;
        uint8_t *grown = realloc(output, cap);
        if (grown == NULL) return -1;
        output = grown;
        output_cap = cap;
    }
    if (len) memcpy(output + output_len, data, len);
    output_len += len;
    return 0;
}

int caxton_reply_str(const char *text) { return caxton_reply(text, strlen(text)); }

int caxton_reply_u64(uint64_t value) {
    char digits[20];
    size_t pos = sizeof digits;
    do {
        digits[--pos] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    return caxton_reply(digits + pos, sizeof digits - pos);
}

static const uint8_t *bytes_at(int32_t ptr, int32_t len) {
    static const uint8_t empty[1];
    return len ? (const uint8_t *)(uintptr_t)(uint32_t)ptr : empty;
}

static int64_t packed_output(void) {
    if (output_len == 0) return 0;
    return (int64_t)(((uint64_t)(uintptr_t)output << 32) | (uint64_t)output_len);
}

int64_t caxton__handle(caxton_handle_fn fn, int32_t ptr, int32_t len) {
    reset_output();
    fn(bytes_at(ptr, len), (size_t)(uint32_t)len);
    return packed_output();
}

int32_t caxton__bytes(caxton_bytes_fn fn, int32_t ptr, int32_t len) {
    return fn(bytes_at(ptr, len), (size_t)(uint32_t)len) == 0 ? 0 : 1;
}

int64_t caxton__snapshot(caxton_snapshot_fn fn) {
    reset_output();
    fn();
    return packed_output();
}
