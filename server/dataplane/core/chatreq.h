/* chatreq: validation of a decoded ChatRequest, whatever front door it came
 * through. Limits are the gateway's, not a provider's: they keep one request
 * from costing unbounded memory and give the caller a message naming the
 * field instead of an upstream 400. */
#ifndef LLMGW_CHATREQ_H
#define LLMGW_CHATREQ_H

#include <stddef.h>

#include "llmgw/v1/chat.pb-c.h"

#define CHATREQ_MAX_MESSAGES 4096
#define CHATREQ_MAX_CONTENT_BYTES (4u << 20) /* one message's content */
#define CHATREQ_MAX_TOTAL_BYTES (8u << 20)   /* all contents together */
#define CHATREQ_MAX_STOP 4

/* 0, or -1 with err naming the field ("messages[2].role: expected one of
 * system, developer, user, assistant, tool"). The fields carried as JSON
 * text are checked against OpenAI's schema too (chat_schema.h), so both
 * front doors refuse the same requests with the same JSON paths. */
int chatreq_validate(const Llmgw__V1__ChatRequest *r, char *err, size_t errlen);

#endif
