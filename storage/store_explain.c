/* store_explain: constraint names to field messages. See store_explain.h. */
#include "store_explain.h"

#include <stdio.h>
#include <string.h>

int store_explain(store_err_t *e, const store_explain_t *map, const char *value)
{
    if (!e || e->code == STORE_OK)
        return -1;
    for (const store_explain_t *m = map; m->constraint; m++) {
        char quoted[96];
        snprintf(quoted, sizeof(quoted), "\"%s\"", m->constraint);
        if (!strstr(e->msg, quoted))
            continue;
        char what[256];
        /* `what` is one of the module's fixed strings, never input. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(what, sizeof(what), m->what, value ? value : "");
#pragma GCC diagnostic pop
        return store_fail(e, m->code, "%s: %s", m->field, what);
    }
    return -1;
}
