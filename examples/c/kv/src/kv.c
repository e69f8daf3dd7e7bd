/*
 * kv: a key-value store over msgpack payloads (the C twin of kv.wat).
 *
 * Requests (msgpack arrays; the command is a 3-letter str):
 *   ["put", key, value]  store value under key     reply: true
 *   ["get", key]         look key up               reply: the value, or nil
 *   ["del", key]         remove key                reply: true if it existed, else false
 * Keys are msgpack str or bin; values any scalar msgpack element (nil, bool,
 * int, float, str, bin), stored exactly as encoded. Anything else is an
 * error (no reply) and leaves the store unchanged.
 *
 * Snapshot: the records, oldest first, as [klen u32le][vlen u32le][live
 * u32le][key][value], the same format as kv.wat's. Restore checks every
 * record lies inside the state before replacing anything.
 */
#include <stdlib.h>
#include <string.h>

#include "caxton_agent.h"

typedef struct {
    uint8_t *bytes; /* key then value, one allocation */
    size_t key_len;
    size_t value_len;
} record;

/* in the order they were last put */
static record *records;
static size_t count, capacity;

static const uint8_t TRUE_ = 0xc3, FALSE_ = 0xc2, NIL = 0xc0;

#define FAIL(text)                                   \
    do {                                             \
        static const char reason_[] = text;          \
        caxton_fail(reason_, sizeof reason_ - 1);    \
        return;                                      \
    } while (0)

static size_t be(const uint8_t *p, size_t n) {
    size_t value = 0;
    for (size_t i = 0; i < n; i++) value = value << 8 | p[i];
    return value;
}

/* Size of the scalar msgpack element at p (of `avail` bytes); 0 when it is
 * truncated or not a supported scalar. */
static size_t element_size(const uint8_t *p, size_t avail) {
    if (avail == 0) return 0;
    uint8_t b = p[0];
    size_t size, n = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) size = 1;
    else if ((b & 0xe0) == 0xa0) size = 1 + (size_t)(b & 0x1f);
    else if (b == 0xc4 || b == 0xd9) n = 1;
    else if (b == 0xc5 || b == 0xda) n = 2;
    else if (b == 0xc6 || b == 0xdb) n = 4;
    else if (b == 0xcc || b == 0xd0) size = 2;
    else if (b == 0xcd || b == 0xd1) size = 3;
    else if (b == 0xce || b == 0xd2 || b == 0xca) size = 5;
    else if (b == 0xcf || b == 0xd3 || b == 0xcb) size = 9;
    else return 0;
    if (n) {
        if (avail < 1 + n) return 0;
        size_t len = be(p + 1, n);
        if (len > SIZE_MAX - 1 - n) return 0;
        size = 1 + n + len;
    }
    return size <= avail ? size : 0;
}

static int is_str_or_bin(uint8_t b) {
    return (b & 0xe0) == 0xa0 || (b >= 0xc4 && b <= 0xc6) || (b >= 0xd9 && b <= 0xdb);
}

static long find(const uint8_t *key, size_t len) {
    for (size_t i = 0; i < count; i++)
        if (records[i].key_len == len && memcmp(records[i].bytes, key, len) == 0) return (long)i;
    return -1;
}

static void drop(size_t index) {
    free(records[index].bytes);
    memmove(records + index, records + index + 1, (count - index - 1) * sizeof *records);
    count--;
}

static int append(const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len) {
    if (count == capacity) {
        size_t grown_cap = capacity ? capacity * 2 : 16;
        record *grown = realloc(records, grown_cap * sizeof *records);
        if (!grown) return -1;
        records = grown;
        capacity = grown_cap;
    }
    uint8_t *bytes = malloc(key_len + value_len ? key_len + value_len : 1);
    if (!bytes) return -1;
    memcpy(bytes, key, key_len);
    memcpy(bytes + key_len, value, value_len);
    records[count++] = (record){bytes, key_len, value_len};
    return 0;
}

static void handle(const uint8_t *m, size_t len) {
    if (len < 6 || m[1] != 0xa3) FAIL("kv: malformed request");
    const uint8_t *command = m + 2, *key = m + 5, *end = m + len;
    size_t key_len = element_size(key, (size_t)(end - key));
    if (!key_len) FAIL("kv: malformed request");
    if (!is_str_or_bin(key[0])) FAIL("kv: key must be a str or bin");
    const uint8_t *value = key + key_len;
    size_t rest = (size_t)(end - value);
    if (memcmp(command, "put", 3) == 0) {
        if (m[0] != 0x93) FAIL("kv: malformed request");
        size_t value_len = element_size(value, rest);
        if (!value_len) FAIL("kv: unsupported value type");
        if (value_len != rest) FAIL("kv: malformed request");
        long old = find(key, key_len);
        /* the new record first: out of memory leaves the store unchanged */
        if (append(key, key_len, value, value_len) != 0) FAIL("kv: out of memory");
        if (old >= 0) drop((size_t)old);
        caxton_reply(&TRUE_, 1);
        return;
    }
    if (m[0] != 0x92 || rest != 0) FAIL("kv: malformed request");
    long found = find(key, key_len);
    if (memcmp(command, "get", 3) == 0) {
        if (found < 0) caxton_reply(&NIL, 1);
        else caxton_reply(records[found].bytes + records[found].key_len, records[found].value_len);
    } else if (memcmp(command, "del", 3) == 0) {
        if (found >= 0) drop((size_t)found);
        caxton_reply(found >= 0 ? &TRUE_ : &FALSE_, 1);
    } else {
        FAIL("kv: unknown command");
    }
}

static void put_u32(uint32_t value) {
    uint8_t le[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
                     (uint8_t)(value >> 24)};
    caxton_reply(le, 4);
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void snapshot(void) {
    for (size_t i = 0; i < count; i++) {
        put_u32((uint32_t)records[i].key_len);
        put_u32((uint32_t)records[i].value_len);
        put_u32(1);
        caxton_reply(records[i].bytes, records[i].key_len + records[i].value_len);
    }
}

static int restore(const uint8_t *state, size_t len) {
    /* check every record first */
    for (size_t at = 0; at < len;) {
        if (len - at < 12) return 1;
        uint64_t size = (uint64_t)get_u32(state + at) + get_u32(state + at + 4);
        if (size > len - at - 12) return 1;
        at += 12 + (size_t)size;
    }
    record *saved = records;
    size_t saved_count = count, saved_capacity = capacity;
    records = NULL;
    count = capacity = 0;
    for (size_t at = 0; at < len;) {
        size_t key_len = get_u32(state + at), value_len = get_u32(state + at + 4);
        int live = get_u32(state + at + 8) != 0;
        const uint8_t *key = state + at + 12;
        if (live && append(key, key_len, key + key_len, value_len) != 0) {
            while (count) drop(count - 1); /* out of memory: put the old store back */
            free(records);
            records = saved;
            count = saved_count;
            capacity = saved_capacity;
            return 1;
        }
        at += 12 + key_len + value_len;
    }
    for (size_t i = 0; i < saved_count; i++) free(saved[i].bytes);
    free(saved);
    return 0;
}

CAXTON_HANDLE(handle)
CAXTON_SNAPSHOT(snapshot, restore)
