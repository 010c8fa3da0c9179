/* cp_publish: see cp_publish.h. */
#include "cp_publish.h"

#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "table_versions.h"

int cp_publish(PGconn *c, int64_t *version, store_err_t *e)
{
    if (table_versions_publish(c, version, e) < 0)
        return -1;
    if (*version == 0)
        return 0;
    int64_t v = 0;
    char *doc = NULL;
    if (table_versions_latest(c, &v, &doc, e) < 0)
        return -1;
    char err[512];
    char *json = table_versions_render(doc, NULL, true, err, sizeof(err));
    free(doc);
    if (!json)
        return store_fail(e, STORE_HARD, "routing table %lld: %s", (long long)v, err);
    table_t *t = table_load_json(json, strlen(json), err, sizeof(err));
    free(json);
    if (!t)
        return store_fail(e, STORE_INVALID,
                          "the change would publish a routing table the data planes reject: %s",
                          err);
    table_unref(t);
    return 0;
}
