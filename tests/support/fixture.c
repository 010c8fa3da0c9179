/* fixture: see fixture.h. */
#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

char *fixture_read(const char *rel, size_t *len)
{
    char path[4096];
    const char *src = getenv("LLMGW_SRC_DIR");
    if (src && src[0]) {
        snprintf(path, sizeof(path), "%s/tests/fixtures/%s", src, rel);
    } else {
        /* __FILE__ is <root>/tests/support/fixture.c */
        const char *file = __FILE__;
        const char *end = strstr(file, "tests/support/");
        int root_len = end ? (int)(end - file) : 0;
        snprintf(path, sizeof(path), "%.*stests/fixtures/%s", root_len, file, rel);
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path);
    char *data = NULL;
    size_t n = 0, alloc = 0;
    for (;;) {
        if (n + 4096 + 1 > alloc) {
            alloc = alloc ? alloc * 2 : 8192;
            char *p = realloc(data, alloc);
            assert_non_null(p);
            data = p;
        }
        size_t got = fread(data + n, 1, alloc - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    data[n] = '\0';
    *len = n;
    return data;
}
