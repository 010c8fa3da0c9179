/* eval_run: the worker pool and the scoring pass (see the header for the
 * thread model). Latency is measured here, around the call, so it includes
 * what a client of the gateway sees.
 */
#include "eval_run.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cmd.h"
#include "eval_score.h"
#include "llmgw/v1/chat.pb-c.h"

#define ER_JUDGE_PROMPT_MAX (4u << 20)

typedef struct {
    eval_run_t *r;
    pthread_mutex_t mu;
    size_t next;
    size_t done;
    size_t total;
    bool *reported; /* per candidate: its first error was printed */
} er_pool_t;

static double er_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* One Complete call. 0 with *answer (malloc'd), or -1 (conn keeps the
 * status for cmd_conn_report). */
static int er_complete(cmd_conn_t *conn, const char *model, const char *prompt, char **answer,
                       long long *tokens, double *cost_usd)
{
    Llmgw__V1__Message user = LLMGW__V1__MESSAGE__INIT;
    Llmgw__V1__Message *msgs[1] = {&user};
    Llmgw__V1__ChatRequest req = LLMGW__V1__CHAT_REQUEST__INIT;
    ProtobufCMessage *m = NULL;

    /* protobuf-c never writes through these when packing */
    user.role = "user";
    user.content = (char *)prompt;
    req.model = (char *)model;
    req.n_messages = 1;
    req.messages = msgs;
    if (cmd_conn_unary(conn, "/llmgw.v1.ChatService/Complete", &req.base,
                       &llmgw__v1__chat_response__descriptor, &m) < 0)
        return -1;
    const Llmgw__V1__ChatResponse *resp = (const Llmgw__V1__ChatResponse *)m;
    const char *text = "";
    if (resp->n_choices > 0 && resp->choices[0]->message && resp->choices[0]->message->content)
        text = resp->choices[0]->message->content;
    size_t n = strlen(text);
    if (n > EVAL_ANSWER_MAX)
        n = EVAL_ANSWER_MAX;
    *answer = strndup(text, n);
    *tokens = resp->usage ? resp->usage->total_tokens : 0;
    *cost_usd = resp->cost_usd;
    protobuf_c_message_free_unpacked(m, NULL);
    return *answer ? 0 : -1;
}

/* Asks the judge to grade one answer; 0 with *score, -1 when the call failed
 * or the reply held no number in 0..1. */
static int er_judge(cmd_conn_t *conn, const eval_run_t *r, const eval_prompt_t *p,
                    const char *answer, double *score)
{
    buf_t q = BUF_INIT(ER_JUDGE_PROMPT_MAX);
    char *reply = NULL;
    long long tokens;
    double cost;
    int rc = -1;

    if (buf_printf(&q,
                   "You are grading an answer. Reply with one number between 0 and 1 "
                   "(1 = fully meets the rubric, 0 = not at all) and nothing else.\n\n"
                   "Rubric:\n%s\n\nQuestion:\n%s\n\nAnswer:\n%s\n",
                   p->rubric, p->prompt, answer) < 0)
        goto out;
    if (er_complete(conn, r->judge, buf_cstr(&q), &reply, &tokens, &cost) < 0)
        goto out;
    rc = eval_judge_parse(reply, score);
out:
    free(reply);
    buf_free(&q);
    return rc;
}

static void er_progress(er_pool_t *pl)
{
    if (!pl->r->progress)
        return;
    size_t width = 30, filled = pl->total ? pl->done * width / pl->total : width;
    fprintf(stderr, "\reval [");
    for (size_t i = 0; i < width; i++)
        fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %zu/%zu", pl->done, pl->total);
    if (pl->done == pl->total)
        fputc('\n', stderr);
    fflush(stderr);
}

static void *er_worker(void *arg)
{
    er_pool_t *pl = arg;
    eval_run_t *r = pl->r;
    cmd_conn_t *conn = cmd_conn_open(r->target, r->key, r->timeout_ms);

    for (;;) {
        pthread_mutex_lock(&pl->mu);
        size_t j = pl->next < pl->total ? pl->next++ : pl->total;
        pthread_mutex_unlock(&pl->mu);
        if (j == pl->total)
            break;
        size_t pi = j / r->n_candidates, ci = j % r->n_candidates;
        const eval_prompt_t *p = &r->prompts->items[pi];
        eval_result_t *res = &r->results[j];
        double t0 = er_now_ms();
        int rc = conn ? er_complete(conn, r->candidates[ci], p->prompt, &res->answer, &res->tokens,
                                    &res->cost_usd)
                      : -1;
        res->latency_ms = er_now_ms() - t0;
        if (rc < 0) {
            res->error = true;
            pthread_mutex_lock(&pl->mu);
            if (!pl->reported[ci] && conn) {
                pl->reported[ci] = true;
                if (r->progress)
                    fputc('\n', stderr);
                fprintf(stderr, "llmgw eval: %s: prompt %s: first failed call: ", r->candidates[ci],
                        p->id);
                cmd_conn_report(conn);
            }
            pthread_mutex_unlock(&pl->mu);
        } else if (p->scorer == EVAL_SCORER_JUDGE) {
            if (er_judge(conn, r, p, res->answer, &res->score) < 0) {
                res->judge_failed = true;
                res->score = 0.0;
            }
        }
        pthread_mutex_lock(&pl->mu);
        pl->done++;
        er_progress(pl);
        pthread_mutex_unlock(&pl->mu);
    }
    cmd_conn_close(conn);
    return NULL;
}

/* Scores every non-judge answer; agreement needs all answers in. */
static void er_score(eval_run_t *r)
{
    for (size_t pi = 0; pi < r->prompts->n; pi++) {
        const eval_prompt_t *p = &r->prompts->items[pi];
        for (size_t ci = 0; ci < r->n_candidates; ci++) {
            eval_result_t *res = &r->results[pi * r->n_candidates + ci];
            if (res->error) {
                res->score = 0.0;
                continue;
            }
            switch (p->scorer) {
            case EVAL_SCORER_EXACT:
                res->score = eval_score_exact(res->answer, p->expected);
                break;
            case EVAL_SCORER_REGEX:
                res->score = eval_score_regex(&p->regex, res->answer);
                break;
            case EVAL_SCORER_SCHEMA:
                res->score = eval_score_schema(p->schema, res->answer);
                break;
            case EVAL_SCORER_JUDGE:
                break; /* scored by the worker */
            case EVAL_SCORER_AGREEMENT: {
                /* mean over the other candidates; a failed one counts 0 */
                double sum = 0.0;
                for (size_t o = 0; o < r->n_candidates; o++) {
                    const eval_result_t *other = &r->results[pi * r->n_candidates + o];
                    if (o != ci && !other->error)
                        sum += eval_jaccard(res->answer, other->answer);
                }
                res->score = sum / (double)(r->n_candidates - 1);
                break;
            }
            }
        }
    }
}

int eval_run(eval_run_t *r)
{
    er_pool_t pl = {.r = r, .total = r->prompts->n * r->n_candidates};
    pthread_t th[EVAL_CONCURRENCY_MAX];
    int started = 0;
    int rc = -1;

    pthread_mutex_init(&pl.mu, NULL);
    r->results = calloc(pl.total, sizeof(*r->results));
    pl.reported = calloc(r->n_candidates, sizeof(*pl.reported));
    if (!r->results || !pl.reported) {
        fprintf(stderr, "llmgw eval: out of memory\n");
        goto out;
    }
    int n = r->concurrency;
    if ((size_t)n > pl.total)
        n = (int)pl.total;
    for (; started < n; started++) {
        if (pthread_create(&th[started], NULL, er_worker, &pl) != 0) {
            fprintf(stderr, "llmgw eval: cannot start worker thread %d\n", started + 1);
            break;
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (started == 0)
        goto out;
    er_score(r);
    rc = 0;
out:
    free(pl.reported);
    pthread_mutex_destroy(&pl.mu);
    return rc;
}

void eval_run_free(eval_run_t *r)
{
    size_t total = r->prompts ? r->prompts->n * r->n_candidates : 0;
    if (r->results)
        for (size_t i = 0; i < total; i++)
            free(r->results[i].answer);
    free(r->results);
    r->results = NULL;
}
