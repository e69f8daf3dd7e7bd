/*
 * limits: misbehaves on request, to check that a compiled guest's failures
 * are classified like a hand-written one's.
 *
 *   "spin"   loops forever (out_of_fuel, or timeout with plenty of fuel)
 *   "grow"   mallocs 1 KiB blocks until malloc fails, then traps (memory_limit)
 *   "panic"  traps (__builtin_trap)
 *   other    replies "ok"
 */
#include <stdlib.h>
#include <string.h>

#include "caxton_agent.h"

typedef struct block {
    struct block *next;
    char bytes[1000];
} block;

static block *hoard;
static volatile unsigned long spins;

static int is(const uint8_t *message, size_t len, const char *word) {
    return len == strlen(word) && memcmp(message, word, len) == 0;
}

static void handle(const uint8_t *message, size_t len) {
    if (is(message, len, "spin")) {
        for (;;) spins++;
    }
    if (is(message, len, "grow")) {
        for (;;) {
            block *b = malloc(sizeof *b);
            if (!b) __builtin_trap();
            memset(b->bytes, 7, sizeof b->bytes);
            b->next = hoard;
            hoard = b;
        }
    }
    if (is(message, len, "panic")) __builtin_trap();
    caxton_reply_str("ok");
}

CAXTON_HANDLE(handle)
