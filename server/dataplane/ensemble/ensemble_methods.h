/* ensemble_methods: the pure functions behind ensembles — how answers are
 * normalized into votes, how similar two answers are, and how a method picks
 * one answer out of several. No I/O, no threads, no table: everything here is
 * a function of its arguments, so the unit tests pin each rule down.
 *
 * Similarity (docs/ensembles.md): token-set Jaccard. A token is a maximal run
 * of ASCII letters and digits (bytes >= 0x80 count as letters, so UTF-8 words
 * stay whole), case-folded; sim(a, b) = |A ∩ B| / |A ∪ B| over the token
 * sets, and 1 when both sets are empty.
 *
 * Invariants: results are deterministic — every tie ends at the lowest member
 * index; weights are >= 0; arrays passed in have `n` entries.
 */
#ifndef LLMGW_ENSEMBLE_METHODS_H
#define LLMGW_ENSEMBLE_METHODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define ENSM_PATTERN_MAX_LEN 256           /* extract_pattern bytes */
#define ENSM_PATTERN_MAX_REPEATS 16        /* repetition operators in the pattern */
#define ENSM_SUBJECT_MAX_BYTES (16u << 10) /* the tail of an answer a pattern scans */
#define ENSM_MAX_ANSWERS 64

typedef enum { ENSM_NORM_DEFAULT = 0, ENSM_NORM_NONE = 1 } ensm_norm_t;

/* --- votes --------------------------------------------------------------- */

typedef struct ensm_pattern ensm_pattern_t;

/* Compiles a POSIX extended regex for answer extraction. The guard keeps a
 * request from buying unbounded matching time: at most ENSM_PATTERN_MAX_LEN
 * bytes, ENSM_PATTERN_MAX_REPEATS repetition operators, no back-references,
 * no match of the empty string (every match then consumes a byte); the
 * subject is the answer's last ENSM_SUBJECT_MAX_BYTES (about 5 ms of
 * matching at worst). NULL with err
 * ("config.extract_pattern: ...") on a bad pattern or no memory. */
ensm_pattern_t *ensm_pattern_compile(const char *pattern, char *err, size_t errlen);
void ensm_pattern_free(ensm_pattern_t *p);

/* Default normalization into `out` (reset first): trim, ASCII case-fold,
 * punctuation removed except '.' and ',' between two digits, whitespace runs
 * collapsed to one space. 0 or -1 (buffer cap). */
int ensm_normalize(const char *text, buf_t *out);

/* The vote key of an answer: with a pattern, the last match (its first
 * capture group when the pattern has one), then normalized by `norm`.
 * Returns 0 with *key malloc'ed (caller frees), 1 when the pattern does not
 * match (*key NULL: the answer casts no vote), -1 when out of memory. */
int ensm_vote_key(const char *answer, ensm_norm_t norm, const ensm_pattern_t *pat, char **key);

/* --- similarity ---------------------------------------------------------- */

/* Token-set Jaccard of a and b, 0..1. */
double ensm_similarity(const char *a, const char *b);
/* The n x n matrix (row-major into `out`, n*n doubles) of pairwise
 * similarities, tokenizing each text once. 0 or -1 (no memory). */
int ensm_similarity_matrix(const char *const *texts, size_t n, double *out);

/* --- deciding ------------------------------------------------------------ */

typedef struct {
    size_t n;                 /* answers (successful members), <= ENSM_MAX_ANSWERS */
    const char *const *texts; /* answer texts */
    const char *const *keys;  /* vote keys; NULL entries cast no vote (voting only) */
    const double *weights;    /* >= 0 */
    const double *quality;    /* 0..1, tie breaks */
} ensm_input_t;

typedef struct {
    size_t chosen;                       /* index into the input */
    double agreement;                    /* see the method functions */
    double diversity;                    /* 1 - mean pairwise similarity */
    double confidence;                   /* winning share, or the medoid's mean similarity */
    double similarity[ENSM_MAX_ANSWERS]; /* each answer's mean similarity to the others */
    bool agrees[ENSM_MAX_ANSWERS];       /* agrees with the chosen answer */
    bool outlier[ENSM_MAX_ANSWERS];      /* far from all the others */
} ensm_result_t;

/* Voting. Groups the answers by key; the group with the most votes wins
 * (weighted: the largest weight sum). Ties: weight sum, then (weighted) the
 * group's weighted similarity to all answers, then the best quality in the
 * group, then the lowest member index. Within the group the member with the
 * highest weight, then quality, then the lowest index is chosen. agreement =
 * share of voting pairs with the same key; confidence = the winner's share of
 * the votes (weighted: of the weight). 0, -1 (no memory) or -2 (no answer
 * cast a vote). */
int ensm_vote(const ensm_input_t *in, bool weighted, ensm_result_t *out);

/* Consensus: the medoid, argmax_i sum_{j != i} w_j * sim(i, j) (w_j = 1
 * unless weighted). Ties: weight, quality, lowest index. agreement = mean
 * pairwise similarity; confidence = the medoid's mean similarity to the
 * others; agrees = similarity to the medoid >= 0.5. 0 or -1. */
int ensm_consensus(const ensm_input_t *in, bool weighted, ensm_result_t *out);

/* Early stop for voting: with the votes so far (keys, NULL = no vote) and
 * `pending` members still running, can the current leader still be caught
 * even if every pending member joins the runner-up? True when it cannot
 * (the leader's count exceeds the runner-up's plus pending). */
bool ensm_vote_certain(const char *const *keys, size_t n, size_t pending);

/* Outliers (also filled by ensm_vote / ensm_consensus): with at least three
 * answers, answer i is an outlier when its mean similarity to the others is
 * below half the median of those means. */
void ensm_mark_outliers(const double *mean_similarity, size_t n, bool *outlier);

/* --- judge --------------------------------------------------------------- */

/* The default judge prompt; "{question}" and "{answers}" are replaced. */
extern const char *const ENSM_JUDGE_PROMPT;

/* Fills `out` (reset first) from the template (NULL or "": the default):
 * the question, and the answers numbered from 1 ("[1] ...\n\n[2] ..."). 0 or
 * -1 (buffer cap). */
int ensm_judge_prompt(const char *tmpl, const char *question, const char *const *answers, size_t n,
                      buf_t *out);

/* Reads a judge's reply: a JSON object {"best": k, "score": s} anywhere in
 * the text (either member may be missing), else "best: k" / "score: s" words,
 * else a lone number (an integer 1..n is a pick; a decimal 0..1 or a
 * percentage is a score). *pick is 0-based or -1, *score is 0..1 or -1. 0
 * when at least one was found, -1 when neither. */
int ensm_judge_parse(const char *text, size_t n_answers, int *pick, double *score);

/* --- cascade ------------------------------------------------------------- */

/* 0 when `text` is JSON that satisfies `schema` (a JSON schema subset: type,
 * required, properties, items, enum); -1 with err saying where it fails. */
int ensm_json_check(const char *text, const char *schema, char *err, size_t errlen);
/* 0 when `schema` is a JSON object usable by ensm_json_check; -1 with err. */
int ensm_json_schema_valid(const char *schema, char *err, size_t errlen);

/* --- savings ------------------------------------------------------------- */

/* One member as the savings estimate sees it. */
typedef struct {
    double price_in_per_mtok, price_out_per_mtok; /* its route's first candidate */
    bool completed; /* called to completion: answered, or failed on its own */
} ensm_member_cost_t;

/* The estimated cost an ensemble call did not pay because it did not run
 * every member to completion (docs/ensembles.md, "Savings"): the sum, over
 * the members not completed (a cascade stage never reached, a member a
 * decided vote stopped), of its prices times the chosen answer's prompt and
 * completion tokens. An estimate — an uncalled member's own token counts
 * are unknown, and a stopped member may have been billed for what it
 * generated before the stop. Negative or non-finite prices and negative
 * token counts count as 0; the result is finite and >= 0 (0 when the sum
 * would overflow: no estimate rather than an infinite one). */
double ensm_savings_usd(const ensm_member_cost_t *members, size_t n, int64_t prompt_tokens,
                        int64_t completion_tokens);

#endif
