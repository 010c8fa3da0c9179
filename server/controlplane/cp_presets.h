/* cp_presets: the data plane's built-in provider presets (presets.h, the
 * embedded server/table/providers.json) as the registry uses them.
 *
 * The registry stores a preset name and only what a provider states over it;
 * the pushed table carries both and every node resolves the preset itself.
 * So the name is checked here against the very presets the nodes embed (same
 * lookup, same messages: "provider.preset: unknown preset 'vlm' (close:
 * vllm)"), and a table the registry publishes never names a preset a node
 * built from this tree does not know.
 */
#ifndef LLMGW_CP_PRESETS_H
#define LLMGW_CP_PRESETS_H

#include <stddef.h>

#include "llmgw/v1/control.pb-c.h"
#include "providers.h"

#define CP_PRESETS_NONE "custom"

/* Checks p->preset and what the preset requires (a base URL where it has
 * none). Normalizes in place: an empty preset becomes "custom", and a custom
 * provider without an auth style gets "bearer" (malloc'd, the old string
 * freed: p is an unpacked request).
 * 0, or -1 with err naming the field. */
int cp_presets_check(Llmgw__V1__Provider *p, char *err, size_t errlen);
/* Fills ep's empty base_url and auth_style from its preset, for a probe of
 * the provider's /models. 0, or -1 with err filled. */
int cp_presets_endpoint(providers_endpoint_t *ep, char *err, size_t errlen);

#endif
