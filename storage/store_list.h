/* store_list: a list of strings as a storage module reads and writes it
 * (a text[] column: allowed models, regions, ...).
 *
 * Lists travel to SQL as one JSON array parameter (unpacked there with
 * jsonb_array_elements_text) and come back as array_to_json text, so no
 * array literal is ever built by hand. A list a caller passes in is borrowed;
 * one filled by store_list_from_json is owned (free with store_list_free).
 */
#ifndef LLMGW_STORE_LIST_H
#define LLMGW_STORE_LIST_H

#include <stddef.h>

typedef struct {
    char **items;
    size_t n;
} store_list_t;

#define STORE_LIST_INIT                                                                            \
    {                                                                                              \
        NULL, 0                                                                                    \
    }

/* The JSON array text of l (malloc'd), or NULL when out of memory. */
char *store_list_to_json(const store_list_t *l);
/* Fills l (owned copies) from a JSON array of strings; an empty or NULL
 * text is an empty list. 0, or -1 (not an array of strings, out of memory)
 * with l left empty. */
int store_list_from_json(store_list_t *l, const char *text);
void store_list_free(store_list_t *l);

#endif
