/* chatreq: see chatreq.h. */
#include "chatreq.h"

#include "chat_schema.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int chatreq_range(double v, double lo, double hi, const char *field, char *err,
                         size_t errlen)
{
    if (!isfinite(v) || v < lo || v > hi) {
        snprintf(err, errlen, "%s: expected a number from %g to %g", field, lo, hi);
        return -1;
    }
    return 0;
}

static int chatreq_role_ok(const char *role)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strcmp(role, roles[i]) == 0)
            return 1;
    return 0;
}

int chatreq_validate(const Llmgw__V1__ChatRequest *r, char *err, size_t errlen)
{
    if (!r->model || !r->model[0]) {
        snprintf(err, errlen, "model: required");
        return -1;
    }
    if (r->n_messages == 0) {
        snprintf(err, errlen, "messages: at least one message is required");
        return -1;
    }
    if (r->n_messages > CHATREQ_MAX_MESSAGES) {
        snprintf(err, errlen, "messages: %zu messages exceed the limit of %d", r->n_messages,
                 CHATREQ_MAX_MESSAGES);
        return -1;
    }
    size_t total = 0;
    for (size_t i = 0; i < r->n_messages; i++) {
        const Llmgw__V1__Message *m = r->messages[i];
        if (!chatreq_role_ok(m->role)) {
            snprintf(err, errlen,
                     "messages[%zu].role: expected one of system, developer, user, assistant, "
                     "tool",
                     i);
            return -1;
        }
        size_t n = strlen(m->content) + strlen(m->content_parts_json);
        if (n > CHATREQ_MAX_CONTENT_BYTES) {
            snprintf(err, errlen, "messages[%zu].content: %zu bytes exceed the limit of %u", i, n,
                     CHATREQ_MAX_CONTENT_BYTES);
            return -1;
        }
        total += n;
        if (strcmp(m->role, "tool") == 0 && !m->tool_call_id[0]) {
            snprintf(err, errlen, "messages[%zu].tool_call_id: required for role tool", i);
            return -1;
        }
        if (!m->content[0] && !m->content_parts_json[0] && !m->tool_calls_json[0] &&
            strcmp(m->role, "assistant") != 0) {
            snprintf(err, errlen, "messages[%zu].content: must not be empty", i);
            return -1;
        }
    }
    if (total > CHATREQ_MAX_TOTAL_BYTES) {
        snprintf(err, errlen, "messages: %zu content bytes exceed the limit of %u", total,
                 CHATREQ_MAX_TOTAL_BYTES);
        return -1;
    }
    if (r->temperature_opt_case == LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE &&
        chatreq_range(r->temperature, 0, 2, "temperature", err, errlen) < 0)
        return -1;
    if (r->top_p_opt_case == LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P &&
        chatreq_range(r->top_p, 0, 1, "top_p", err, errlen) < 0)
        return -1;
    if (r->presence_penalty_opt_case ==
            LLMGW__V1__CHAT_REQUEST__PRESENCE_PENALTY_OPT_PRESENCE_PENALTY &&
        chatreq_range(r->presence_penalty, -2, 2, "presence_penalty", err, errlen) < 0)
        return -1;
    if (r->frequency_penalty_opt_case ==
            LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY &&
        chatreq_range(r->frequency_penalty, -2, 2, "frequency_penalty", err, errlen) < 0)
        return -1;
    if (r->max_tokens_opt_case == LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS &&
        r->max_tokens <= 0) {
        snprintf(err, errlen, "max_tokens: expected a positive integer");
        return -1;
    }
    if (r->n_stop > CHATREQ_MAX_STOP) {
        snprintf(err, errlen, "stop: at most %d sequences", CHATREQ_MAX_STOP);
        return -1;
    }
    for (size_t i = 0; i < r->n_stop; i++) {
        if (!r->stop[i][0]) {
            snprintf(err, errlen, "stop[%zu]: must not be empty", i);
            return -1;
        }
    }
    if (r->api_version && r->api_version[0] && !chat_schema_api_version_ok(r->api_version)) {
        snprintf(err, errlen, "api-version: expected YYYY-MM-DD or YYYY-MM-DD-preview");
        return -1;
    }
    /* The members carried as JSON text, against OpenAI's schema. */
    return chat_schema_check(r, err, errlen);
}
