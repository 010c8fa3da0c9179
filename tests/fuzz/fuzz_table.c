/* fuzz_table: the routing-table loader (server/table/) on arbitrary text, as
 * a node loads what the control plane pushes or a file holds. An accepted
 * table is then used the way requests use it: every name looked up again,
 * every deployment's provider and model followed, every provider's URL,
 * headers and request body built (its quirks applied), and a key matched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "arena.h"
#include "buf.h"
#include "fuzz_json_out.h"
#include "table.h"

static void fuzz_table_provider(const table_provider_t *p, arena_t *a)
{
    const adapter_t *ad = adapter_for(p);
    const char *model = p->n_models ? p->models[0].name : "m";
    if (!adapter_chat_url(ad, p, NULL, model, a))
        return;
    const char *headers[16];
    size_t n = 0;
    (void)ad->auth_headers(p, a, headers, &n, 16);
    if (n > 16)
        abort();
    Llmgw__V1__Message msg = LLMGW__V1__MESSAGE__INIT;
    msg.role = "user";
    msg.content = "hi";
    Llmgw__V1__Message *msgs[] = {&msg};
    Llmgw__V1__ChatRequest req = LLMGW__V1__CHAT_REQUEST__INIT;
    req.model = (char *)model;
    req.n_messages = 1;
    req.messages = msgs;
    buf_t body;
    buf_init(&body, 1u << 20);
    char err[256];
    if (ad->build_chat_request(p, &req, model, true, &body, err, sizeof(err)) == 0)
        fuzz_json_out_check("provider request", body.data, body.len);
    buf_free(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    table_t *t = table_load_json((const char *)data, size, err, sizeof(err));
    if (!t) {
        if (!err[0])
            abort(); /* a refusal must say why */
        return 0;
    }
    arena_t *a = arena_new(16u << 20);
    for (size_t i = 0; i < table_n_providers(t); i++) {
        const table_provider_t *p = table_provider_at(t, i);
        if (table_find_provider(t, p->name) != p)
            abort();
        for (size_t m = 0; m < p->n_models; m++)
            if (table_provider_find_model(p, p->models[m].name) != &p->models[m])
                abort();
        if (a)
            fuzz_table_provider(p, a);
    }
    for (size_t i = 0; i < table_n_routes(t); i++) {
        const table_route_t *r = table_route_at(t, i);
        if (table_find_route(t, r->name) != r)
            abort();
        for (size_t d = 0; d < r->n_deployments; d++)
            if (!r->deployments[d].provider || !r->deployments[d].model)
                abort();
    }
    for (size_t i = 0; i < table_n_teams(t); i++)
        if (table_find_team(t, table_team_at(t, i)->name) != table_team_at(t, i))
            abort();
    for (size_t i = 0; i < table_n_policies(t); i++)
        (void)table_policy_at(t, i)->name;
    for (size_t i = 0; i < table_n_budgets(t); i++)
        (void)table_budget_at(t, i)->name;
    bool expired = false;
    (void)table_match_key(t, "sk-fuzz", 0, &expired);
    (void)table_org_policy(t);
    arena_free(a);
    table_unref(t);
    return 0;
}
