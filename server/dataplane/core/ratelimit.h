/* ratelimit: token buckets per API key and per team, on this node.
 *
 * Each limited subject (a key, a team) has up to two buckets: requests per
 * minute (rpm) and tokens per minute (tpm). A bucket holds at most one
 * minute's allowance and refills continuously (limit / 60 000 per ms), so a
 * full bucket admits a burst of `limit`, then `limit` per minute. Admission
 * charges every bucket of the key and of its team at once, or none:
 *   - rpm: 1 per request, admitted while the bucket holds a whole request;
 *   - tpm: the prompt estimate up front, admitted while the bucket holds the
 *     estimate (an estimate above the whole limit is admitted from a full
 *     bucket, leaving it in debt); ratelimit_settle then charges the
 *     difference to the real usage (a refund, or an extra charge that may
 *     put the bucket in debt so later requests wait).
 * A refusal reports how long until every refusing bucket could admit.
 *
 * Invariants: state is keyed by subject name (copied), not by table
 * pointers, so it survives table reloads; a changed limit applies from the
 * next admission (the level is kept, clamped to the new capacity). Levels
 * are integers in 1/60 000 of a token, so refill is exact. A bucket that has
 * refilled to its capacity carries no state: when RATELIMIT_MAX_SUBJECTS is
 * reached such entries are dropped; if none is full, new subjects are not
 * tracked and are admitted (memory stays bounded; logged once).
 *
 * Thread model: any thread. One mutex guards the map and every bucket; it
 * is held for a lookup and a few integer operations per request.
 */
#ifndef LLMGW_RATELIMIT_H
#define LLMGW_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_MAX_SUBJECTS 65536
#define RATELIMIT_MAX_LIMIT 1000000000000LL /* per minute; larger limits are clamped */

typedef struct ratelimit ratelimit_t;

/* now_ms: a millisecond clock (NULL: clock_now_ms), for tests. NULL when out of memory. */
ratelimit_t *ratelimit_new(int64_t (*now_ms)(void *ud), void *ud);
void ratelimit_free(ratelimit_t *rl);

/* Who is charged. Names are borrowed for the call; "" / NULL or limits 0
 * mean none. */
typedef struct {
    const char *key;
    int64_t key_rpm, key_tpm;
    const char *team;
    int64_t team_rpm, team_tpm;
} ratelimit_subject_t;

/* What an admission charged, for ratelimit_settle. Borrows the subject's
 * names: they must outlive the settle (the request's table does). */
typedef struct {
    ratelimit_subject_t subject;
    int64_t charged_tokens; /* the estimate charged to the tpm buckets; 0 none */
    bool active;            /* false: nothing to settle */
} ratelimit_ticket_t;

/* Admits `requests` (1, or 0 for a part of a call admitted before: only
 * its tokens count) with an estimate of `tokens` (>= 0). 0: admitted,
 * *ticket filled. 1: refused, nothing charged, *retry_after_ms (>= 1) is
 * when it could be admitted and `why` says which limit, with the retry time
 * ("rate limit: key 'k' over 60 requests per minute; retry in 1.000 s"). */
int ratelimit_admit(ratelimit_t *rl, const ratelimit_subject_t *s, int requests, int64_t tokens,
                    ratelimit_ticket_t *ticket, int64_t *retry_after_ms, char *why, size_t whylen);
/* The request ended having used `actual_tokens` (prompt + completion; < 0:
 * unknown, the estimate stands). Idempotent per ticket (it is cleared). */
void ratelimit_settle(ratelimit_t *rl, ratelimit_ticket_t *ticket, int64_t actual_tokens);

/* Subjects tracked (for tests). */
size_t ratelimit_n_subjects(ratelimit_t *rl);

#endif
