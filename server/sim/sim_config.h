/* sim_config: the simulator's behaviour settings and where they come from.
 *
 * A request's settings (latency, time to first token, pacing, error rate,
 * status override, fault, fixed answer) are layered, most specific last:
 *   built-in defaults → config "default" → command-line flags →
 *   config "models"[model] → x-sim-* request headers.
 * Each layer only overrides the fields it actually sets, so a config entry
 * that names one field leaves the others to the layers below it.
 *
 * Invariants: a sim_config_t is filled on the main thread before the HTTP
 * daemon starts and is read-only afterwards (any thread may call
 * sim_config_resolve concurrently). Every value that enters a layer has been
 * range-checked, so a resolved sim_settings_t is always valid.
 */
#ifndef LLMGW_SIM_CONFIG_H
#define LLMGW_SIM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SIM_FAULT_NONE = 0,
    SIM_FAULT_MALFORMED_JSON,
    SIM_FAULT_DROP_MID_STREAM,
    SIM_FAULT_HANG,
    SIM_FAULT_SLOW_HEADERS,
    SIM_FAULT_EMPTY_CHOICES,
} sim_fault_t;

/* Upper bounds, shared by flags, the config file and headers. */
#define SIM_MAX_DELAY_MS 600000      /* latency_ms, ttft_ms: 10 minutes */
#define SIM_MAX_TOKENS_PER_S 1000000 /* tokens_per_s */
#define SIM_MAX_ANSWER_BYTES 65536   /* a fixed "answer" text */

typedef struct {
    int64_t latency_ms;  /* delays the whole answer / the stream's headers */
    int64_t ttft_ms;     /* delays the first chunk of a stream's body */
    double tokens_per_s; /* stream pacing; 0 = unlimited */
    double error_rate;   /* fraction of requests answered 500, 0..1 */
    int status;          /* 0 = normal, else an HTTP error status 400..599 */
    sim_fault_t fault;
    const char *answer; /* fixed answer text, NULL = echo the last user message;
                           borrowed from the config or the request's headers */
} sim_settings_t;

typedef struct sim_config sim_config_t;

/* NULL on allocation failure. Free with sim_config_free. */
sim_config_t *sim_config_new(void);
void sim_config_free(sim_config_t *cfg);

/* The provider name used in answers ("[NAME] ...") and /v1/models owned_by.
 * 0, or -1 with `err` set when the name is empty or too long. */
int sim_config_set_name(sim_config_t *cfg, const char *name, char *err, size_t errlen);
const char *sim_config_name(const sim_config_t *cfg);

/* Sets one field of the command-line layer from its flag text. `field` is the
 * config key ("latency_ms", "ttft_ms", "tokens_per_s", "error_rate",
 * "status", "fault"). 0, or -1 with `err` naming `what` (the flag). */
int sim_config_set_flag(sim_config_t *cfg, const char *field, const char *what, const char *value,
                        char *err, size_t errlen);

/* Adds the comma-separated model names to the /v1/models list ("a,b,c").
 * 0, or -1 with `err` set on an empty name or allocation failure. */
int sim_config_add_models(sim_config_t *cfg, const char *list, char *err, size_t errlen);

/* Loads a JSON config file: {"default": {...}, "models": {"name": {...}}}.
 * Unknown keys and out-of-range values are errors naming the key path.
 * Models named here are listed in /v1/models. 0, or -1 with `err` set
 * (the caller names the file). */
int sim_config_load_file(sim_config_t *cfg, const char *path, char *err, size_t errlen);

/* The settings for a request to `model` (NULL or unknown: the defaults).
 * Borrowed strings in `out` live as long as `cfg`. */
void sim_config_resolve(const sim_config_t *cfg, const char *model, sim_settings_t *out);

/* Models listed by /v1/models, in the order first named (config, then
 * --models); "sim-model" when none were named. */
size_t sim_config_model_count(const sim_config_t *cfg);
const char *sim_config_model_at(const sim_config_t *cfg, size_t i);

/* Applies one per-request override header to `s`. `header` is one of
 * x-sim-status, x-sim-latency-ms, x-sim-ttft-ms, x-sim-tokens-per-s,
 * x-sim-error-rate, x-sim-fault, x-sim-answer (any case); `value` is borrowed into `s` for
 * x-sim-answer. 0, or -1 with `err` naming the header. */
int sim_settings_apply_header(sim_settings_t *s, const char *header, const char *value, char *err,
                              size_t errlen);

/* "none", "malformed_json", ... ; -1 when unknown. */
int sim_fault_parse(const char *s);
const char *sim_fault_name(sim_fault_t f);

/* Strict whole-string numeric parsing used for flags and headers: no sign
 * surprises, no trailing garbage, value within [min, max]. 0 or -1. */
int sim_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
int sim_parse_double(const char *s, double min, double max, double *out);

#endif
