/*
 * pingpong: two agents talking through caxton_send (the C twin of pingpong.wat).
 *
 * Messages:
 *   "ping"   send "pong" back to the sender
 *   "pong"   count it and log "pong from <sender>" (level info)
 *   "count"  reply with the number of pongs received, in decimal ASCII
 *   other    the payload names an agent: send it "ping"
 * The reply to every message except "count" is the sender's name (empty
 * when the message came from outside any agent). A send the host refuses is
 * reported with caxton_fail ("pingpong: send failed"); the reply still goes back.
 */
#include <string.h>

#include "caxton_agent.h"

#define NAME_CAP 256

static uint64_t pongs;

static int is(const uint8_t *message, size_t len, const char *word) {
    return len == strlen(word) && memcmp(message, word, len) == 0;
}

static void send_checked(const char *to, size_t to_len, const char *message) {
    static const char failed[] = "pingpong: send failed";
    if (caxton_send(to, to_len, message, strlen(message)) < 0) caxton_fail(failed, sizeof failed - 1);
}

static void handle(const uint8_t *message, size_t len) {
    if (is(message, len, "count")) {
        caxton_reply_u64(pongs);
        return;
    }
    char line[10 + NAME_CAP] = "pong from ";
    char *name = line + 10;
    size_t name_len = caxton_sender(name, NAME_CAP);
    if (name_len > NAME_CAP) name_len = NAME_CAP;
    if (is(message, len, "ping")) {
        send_checked(name, name_len, "pong");
    } else if (is(message, len, "pong")) {
        pongs++;
        caxton_log(CAXTON_INFO, line, 10 + name_len);
    } else {
        send_checked((const char *)message, len, "ping");
    }
    caxton_reply(name, name_len);
}

CAXTON_HANDLE(handle)
