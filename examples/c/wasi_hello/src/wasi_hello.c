/*
 * wasi_hello: an ordinary C program for wasm32-wasi (main, printf,
 * clock_gettime) that is also an agent.
 *
 * main runs once, right after instantiation (the host runs a command's
 * _start), and prints "wasi_hello: started". Each message is printed to
 * stdout as "wasi_hello: <message>" (a log line at level info) and a line
 * goes to stderr (level error); the reply is the wall clock in milliseconds
 * since the Unix epoch, read through libc (WASI clock_time_get).
 */
#include <stdio.h>
#include <time.h>

#include "caxton_agent.h"

static void handle(const uint8_t *message, size_t len) {
    struct timespec now;
    printf("wasi_hello: %.*s\n", (int)len, (const char *)message);
    fprintf(stderr, "wasi_hello: handled\n");
    clock_gettime(CLOCK_REALTIME, &now);
    caxton_reply_u64((uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u);
}

CAXTON_HANDLE(handle)

int main(void) {
    printf("wasi_hello: started\n");
    return 0;
}
