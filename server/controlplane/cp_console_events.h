/* cp_console_events: what the console's live stream (GET /api/events,
 * cp_http.c) waits on — a counter of published routing-table versions.
 *
 * The listener thread (cp_dist) publishes each new version it loads (from
 * NOTIFY, whichever replica made the change); SSE streams wait for a newer
 * one with a timeout (their tick). Invariant: seq only grows; a waiter that
 * remembers the seq it saw misses no change between two waits.
 */
#ifndef LLMGW_CP_CONSOLE_EVENTS_H
#define LLMGW_CP_CONSOLE_EVENTS_H

#include <stdint.h>

typedef struct cp_console_events cp_console_events_t;

/* NULL when out of memory. */
cp_console_events_t *cp_console_events_new(void);
void cp_console_events_free(cp_console_events_t *e);
/* Any thread: a new routing-table version is live. NULL e: nothing. */
void cp_console_events_publish(cp_console_events_t *e, int64_t table_version);
/* The current seq and version (for a stream's first event). */
void cp_console_events_now(cp_console_events_t *e, uint64_t *seq, int64_t *table_version);
/* Waits up to timeout_ms for a seq beyond *seq: 1 with *seq and
 * *table_version updated, 0 on timeout, -1 once stopped. */
int cp_console_events_wait(cp_console_events_t *e, uint64_t *seq, int64_t *table_version,
                           int timeout_ms);
/* Wakes every waiter for good (shutdown). */
void cp_console_events_stop(cp_console_events_t *e);

#endif
