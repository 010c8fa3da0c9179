/* cp_validate: input checks for registry and distribution requests, before
 * any SQL runs. Messages name the field and say what was expected
 * ("provider.base_url: expected an http:// or https:// URL"). Zero numeric
 * fields that have documented defaults are set to them in place.
 */
#ifndef LLMGW_CP_VALIDATE_H
#define LLMGW_CP_VALIDATE_H

#include <stddef.h>

#include "llmgw/v1/control.pb-c.h"

/* 0 or -1 with err filled. */
int cp_validate_name(const char *field, const char *s, size_t max, const char *extra, char *err,
                     size_t errlen);
int cp_validate_provider(Llmgw__V1__Provider *p, char *err, size_t errlen);
int cp_validate_model(Llmgw__V1__Model *m, char *err, size_t errlen);
int cp_validate_route(Llmgw__V1__Route *r, char *err, size_t errlen);

#endif
