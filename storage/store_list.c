/* store_list: JSON in and out of text[] columns. See store_list.h. */
#include "store_list.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

char *store_list_to_json(const store_list_t *l)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    for (size_t i = 0; l && i < l->n; i++) {
        if (json_array_append_new(a, json_string(l->items[i] ? l->items[i] : "")) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

int store_list_from_json(store_list_t *l, const char *text)
{
    l->items = NULL;
    l->n = 0;
    if (!text || !text[0])
        return 0;
    json_t *a = json_loads(text, 0, NULL);
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    if (!json_is_array(a))
        goto fail;
    if (n && !(l->items = calloc(n, sizeof(*l->items))))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s || !(l->items[i] = strdup(s)))
            goto fail;
        l->n = i + 1;
    }
    json_decref(a);
    return 0;
fail:
    json_decref(a);
    store_list_free(l);
    return -1;
}

void store_list_free(store_list_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}
