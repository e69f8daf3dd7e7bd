/* echo: replies with the message it was given (the benchmark's C agent). */
#include "caxton_agent.h"

static void echo(const uint8_t *message, size_t len) { caxton_reply(message, len); }

CAXTON_HANDLE(echo)
