/* cp_publish: publishing the next routing-table version, checked first by
 * the loader every data plane runs (server/table/), inside the change's
 * transaction. A change whose table the nodes would reject (a route named
 * like a provider, a setting one layer allows and the other does not) is
 * refused and rolled back, instead of committed and then NACKed by every
 * node while they keep serving the previous table.
 */
#ifndef LLMGW_CP_PUBLISH_H
#define LLMGW_CP_PUBLISH_H

#include <stdint.h>

#include <libpq-fe.h>

#include "store.h"

/* table_versions_publish, then the published document through
 * table_load_json (keys redacted: the loader checks their presence, never
 * their value). STORE_INVALID naming the field when the loader refuses it;
 * *version 0 when nothing could be published. */
int cp_publish(PGconn *c, int64_t *version, store_err_t *e);

#endif
