/*
 * counter: a counter agent with snapshot and restore (guest ABI v1).
 *
 * Messages: "get" replies with the count, unchanged; anything else adds one
 * and replies with the new count (decimal ASCII). Init bytes: empty starts
 * at 0, decimal digits start at that value, anything else is refused.
 * Snapshot: the count as 8 bytes, unsigned little-endian.
 */
#include <string.h>

#include "caxton_agent.h"

static uint64_t count;

static void handle(const uint8_t *message, size_t len) {
    if (!(len == 3 && memcmp(message, "get", 3) == 0)) count++;
    caxton_reply_u64(count);
}

static int init(const uint8_t *config, size_t len) {
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (config[i] < '0' || config[i] > '9') return 1;
        value = value * 10 + (uint64_t)(config[i] - '0');
    }
    count = value;
    return 0;
}

static void snapshot(void) {
    uint8_t state[8];
    for (int i = 0; i < 8; i++) state[i] = (uint8_t)(count >> (8 * i));
    caxton_reply(state, sizeof state);
}

static int restore(const uint8_t *state, size_t len) {
    if (len != 8) return 1; /* refused: the count stays as it is */
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--) value = value << 8 | state[i];
    count = value;
    return 0;
}

CAXTON_HANDLE(handle)
CAXTON_INIT(init)
CAXTON_SNAPSHOT(snapshot, restore)

