/* sim_config: layered per-model settings from flags, a JSON file and headers.
 * See sim_config.h for the layering order and the invariants.
 *
 * Every field is described once in `sim_fields` (its key, its header, how it
 * is parsed and range-checked), so flags, the config file and headers accept
 * exactly the same values and report errors the same way.
 */
#include "sim_config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define SIM_NAME_MAX 128
#define SIM_MODEL_NAME_MAX 256
#define SIM_DEFAULT_MODEL "sim-model"

typedef enum {
    SIM_FIELD_LATENCY = 0,
    SIM_FIELD_TTFT,
    SIM_FIELD_TPS,
    SIM_FIELD_ERROR_RATE,
    SIM_FIELD_STATUS,
    SIM_FIELD_FAULT,
    SIM_FIELD_ANSWER,
    SIM_FIELD_COUNT
} sim_field_t;

typedef struct {
    const char *key;    /* config key */
    const char *header; /* its x-sim-* request header */
    const char *expect; /* the error text when a value is rejected */
} sim_field_desc_t;

static const sim_field_desc_t sim_fields[SIM_FIELD_COUNT] = {
    [SIM_FIELD_LATENCY] = {"latency_ms", "x-sim-latency-ms", "expected an integer 0..600000"},
    [SIM_FIELD_TTFT] = {"ttft_ms", "x-sim-ttft-ms", "expected an integer 0..600000"},
    [SIM_FIELD_TPS] = {"tokens_per_s", "x-sim-tokens-per-s", "expected a number 0..1000000"},
    [SIM_FIELD_ERROR_RATE] = {"error_rate", "x-sim-error-rate", "expected a number 0..1"},
    [SIM_FIELD_STATUS] = {"status", "x-sim-status", "expected 0 or an HTTP error status 400..599"},
    [SIM_FIELD_FAULT] = {"fault", "x-sim-fault",
                         "expected one of none, malformed_json, drop_mid_stream, hang, "
                         "slow_headers, empty_choices"},
    [SIM_FIELD_ANSWER] = {"answer", "x-sim-answer", "expected UTF-8 text of at most 65536 bytes"},
};

static const char *const sim_fault_names[] = {
    [SIM_FAULT_NONE] = "none",
    [SIM_FAULT_MALFORMED_JSON] = "malformed_json",
    [SIM_FAULT_DROP_MID_STREAM] = "drop_mid_stream",
    [SIM_FAULT_HANG] = "hang",
    [SIM_FAULT_SLOW_HEADERS] = "slow_headers",
    [SIM_FAULT_EMPTY_CHOICES] = "empty_choices",
};

/* One source of settings: only the fields whose bit is in `set` apply. */
typedef struct {
    unsigned set;
    sim_settings_t v;
    char *answer_owned; /* v.answer points here when the layer owns it */
} sim_layer_t;

typedef struct {
    char *name;
    sim_layer_t layer;
} sim_model_t;

struct sim_config {
    char *name;
    sim_layer_t file_default; /* config "default" */
    sim_layer_t flags;        /* command line */
    sim_model_t *models;      /* config "models", in file order */
    size_t nmodels;
    char **listed; /* /v1/models, deduplicated, in first-named order */
    size_t nlisted;
};

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int sim_fault_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(sim_fault_names) / sizeof(sim_fault_names[0]); i++)
        if (strcmp(s, sim_fault_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *sim_fault_name(sim_fault_t f)
{
    if ((size_t)f < sizeof(sim_fault_names) / sizeof(sim_fault_names[0]))
        return sim_fault_names[f];
    return "unknown";
}

int sim_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    /* strtoll alone accepts leading blanks, "+", and an empty string. */
    if (!s || !*s || !((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int sim_parse_double(const char *s, double min, double max, double *out)
{
    if (!s || !*s || !((*s >= '0' && *s <= '9') || *s == '.' || *s == '-'))
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Answers and names end up in JSON strings, which must be valid UTF-8; a
 * header can carry any bytes. jansson refuses to build a string otherwise. */
static bool is_utf8(const char *s)
{
    json_t *probe = json_string(s);
    json_decref(probe);
    return probe != NULL;
}

static bool status_ok(int64_t v)
{
    return v == 0 || (v >= 400 && v <= 599);
}

/* Stores a checked value into `layer`. Takes a copy of an answer string. */
static int layer_set_answer(sim_layer_t *layer, const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    free(layer->answer_owned);
    layer->answer_owned = copy;
    layer->v.answer = copy;
    layer->set |= 1u << SIM_FIELD_ANSWER;
    return 0;
}

/* Parses `value` (text from a flag or a header) into field `f` of `s`.
 * 0, or -1 when the value is out of range; answers are borrowed. */
static int settings_set_text(sim_settings_t *s, sim_field_t f, const char *value)
{
    int64_t i = 0;
    double d = 0;
    switch (f) {
    case SIM_FIELD_LATENCY:
        if (sim_parse_int64(value, 0, SIM_MAX_DELAY_MS, &i) < 0)
            return -1;
        s->latency_ms = i;
        return 0;
    case SIM_FIELD_TTFT:
        if (sim_parse_int64(value, 0, SIM_MAX_DELAY_MS, &i) < 0)
            return -1;
        s->ttft_ms = i;
        return 0;
    case SIM_FIELD_TPS:
        if (sim_parse_double(value, 0, SIM_MAX_TOKENS_PER_S, &d) < 0)
            return -1;
        s->tokens_per_s = d;
        return 0;
    case SIM_FIELD_ERROR_RATE:
        if (sim_parse_double(value, 0, 1, &d) < 0)
            return -1;
        s->error_rate = d;
        return 0;
    case SIM_FIELD_STATUS:
        if (sim_parse_int64(value, 0, 599, &i) < 0 || !status_ok(i))
            return -1;
        s->status = (int)i;
        return 0;
    case SIM_FIELD_FAULT: {
        int fault = sim_fault_parse(value);
        if (fault < 0)
            return -1;
        s->fault = (sim_fault_t)fault;
        return 0;
    }
    case SIM_FIELD_ANSWER:
        if (strlen(value) > SIM_MAX_ANSWER_BYTES || !is_utf8(value))
            return -1;
        s->answer = value;
        return 0;
    case SIM_FIELD_COUNT:
        break;
    }
    return -1;
}

/* Sets field `f` of `layer` from a JSON value. 0, or -1 with `err` naming
 * `path` (the key's place in the file). */
static int layer_set_json(sim_layer_t *layer, sim_field_t f, json_t *v, const char *path, char *err,
                          size_t errlen)
{
    sim_settings_t *s = &layer->v;
    bool ok = false;
    switch (f) {
    case SIM_FIELD_LATENCY:
    case SIM_FIELD_TTFT:
        if (json_is_integer(v) && json_integer_value(v) >= 0 &&
            json_integer_value(v) <= SIM_MAX_DELAY_MS) {
            if (f == SIM_FIELD_LATENCY)
                s->latency_ms = json_integer_value(v);
            else
                s->ttft_ms = json_integer_value(v);
            ok = true;
        }
        break;
    case SIM_FIELD_TPS:
        if (json_is_number(v) && json_number_value(v) >= 0 &&
            json_number_value(v) <= SIM_MAX_TOKENS_PER_S) {
            s->tokens_per_s = json_number_value(v);
            ok = true;
        }
        break;
    case SIM_FIELD_ERROR_RATE:
        if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 1) {
            s->error_rate = json_number_value(v);
            ok = true;
        }
        break;
    case SIM_FIELD_STATUS:
        if (json_is_integer(v) && status_ok(json_integer_value(v))) {
            s->status = (int)json_integer_value(v);
            ok = true;
        }
        break;
    case SIM_FIELD_FAULT:
        if (json_is_string(v) && sim_fault_parse(json_string_value(v)) >= 0) {
            s->fault = (sim_fault_t)sim_fault_parse(json_string_value(v));
            ok = true;
        }
        break;
    case SIM_FIELD_ANSWER:
        if (json_is_string(v) && json_string_length(v) <= SIM_MAX_ANSWER_BYTES) {
            if (layer_set_answer(layer, json_string_value(v), json_string_length(v)) < 0) {
                set_err(err, errlen, "%s: out of memory", path);
                return -1;
            }
            return 0;
        }
        break;
    case SIM_FIELD_COUNT:
        break;
    }
    if (!ok) {
        set_err(err, errlen, "%s: %s", path, sim_fields[f].expect);
        return -1;
    }
    layer->set |= 1u << f;
    return 0;
}

static void layer_apply(const sim_layer_t *layer, sim_settings_t *s)
{
    unsigned set = layer->set;
    if (set & (1u << SIM_FIELD_LATENCY))
        s->latency_ms = layer->v.latency_ms;
    if (set & (1u << SIM_FIELD_TTFT))
        s->ttft_ms = layer->v.ttft_ms;
    if (set & (1u << SIM_FIELD_TPS))
        s->tokens_per_s = layer->v.tokens_per_s;
    if (set & (1u << SIM_FIELD_ERROR_RATE))
        s->error_rate = layer->v.error_rate;
    if (set & (1u << SIM_FIELD_STATUS))
        s->status = layer->v.status;
    if (set & (1u << SIM_FIELD_FAULT))
        s->fault = layer->v.fault;
    if (set & (1u << SIM_FIELD_ANSWER))
        s->answer = layer->v.answer;
}

static void layer_free(sim_layer_t *layer)
{
    free(layer->answer_owned);
    layer->answer_owned = NULL;
}

sim_config_t *sim_config_new(void)
{
    sim_config_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    cfg->name = strdup("sim");
    if (!cfg->name) {
        free(cfg);
        return NULL;
    }
    return cfg;
}

void sim_config_free(sim_config_t *cfg)
{
    if (!cfg)
        return;
    free(cfg->name);
    layer_free(&cfg->file_default);
    layer_free(&cfg->flags);
    for (size_t i = 0; i < cfg->nmodels; i++) {
        free(cfg->models[i].name);
        layer_free(&cfg->models[i].layer);
    }
    free(cfg->models);
    for (size_t i = 0; i < cfg->nlisted; i++)
        free(cfg->listed[i]);
    free(cfg->listed);
    free(cfg);
}

int sim_config_set_name(sim_config_t *cfg, const char *name, char *err, size_t errlen)
{
    size_t len = strlen(name);
    if (len == 0 || len > SIM_NAME_MAX || !is_utf8(name)) {
        set_err(err, errlen, "--name: expected 1..%d bytes of UTF-8 text", SIM_NAME_MAX);
        return -1;
    }
    char *copy = strdup(name);
    if (!copy) {
        set_err(err, errlen, "--name: out of memory");
        return -1;
    }
    free(cfg->name);
    cfg->name = copy;
    return 0;
}

const char *sim_config_name(const sim_config_t *cfg)
{
    return cfg->name;
}

static int field_by_key(const char *key)
{
    for (int f = 0; f < SIM_FIELD_COUNT; f++)
        if (strcmp(sim_fields[f].key, key) == 0)
            return f;
    return -1;
}

int sim_config_set_flag(sim_config_t *cfg, const char *field, const char *what, const char *value,
                        char *err, size_t errlen)
{
    int f = field_by_key(field);
    if (f < 0 || f == SIM_FIELD_ANSWER) {
        set_err(err, errlen, "%s: not a settable field", what);
        return -1;
    }
    if (settings_set_text(&cfg->flags.v, (sim_field_t)f, value) < 0) {
        set_err(err, errlen, "%s: %s", what, sim_fields[f].expect);
        return -1;
    }
    cfg->flags.set |= 1u << f;
    return 0;
}

/* Appends `name` (len bytes) to the /v1/models list unless already there. */
static int listed_add(sim_config_t *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->nlisted; i++)
        if (strlen(cfg->listed[i]) == len && memcmp(cfg->listed[i], name, len) == 0)
            return 0;
    char **grown = realloc(cfg->listed, (cfg->nlisted + 1) * sizeof(*grown));
    if (!grown)
        return -1;
    cfg->listed = grown;
    char *copy = strndup(name, len);
    if (!copy)
        return -1;
    cfg->listed[cfg->nlisted++] = copy;
    return 0;
}

int sim_config_add_models(sim_config_t *cfg, const char *list, char *err, size_t errlen)
{
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len > SIM_MODEL_NAME_MAX) {
            set_err(err, errlen, "--models: expected comma-separated names of 1..%d characters",
                    SIM_MODEL_NAME_MAX);
            return -1;
        }
        if (listed_add(cfg, p, len) < 0) {
            set_err(err, errlen, "--models: out of memory");
            return -1;
        }
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* Fills `layer` from one settings object of the file; `path` names it. */
static int load_layer(sim_layer_t *layer, json_t *obj, const char *path, char *err, size_t errlen)
{
    if (!json_is_object(obj)) {
        set_err(err, errlen, "%s: expected an object", path);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        int f = field_by_key(key);
        if (f < 0) {
            set_err(err, errlen,
                    "%s.%s: unknown field (expected latency_ms, ttft_ms, tokens_per_s, "
                    "error_rate, status, fault, answer)",
                    path, key);
            return -1;
        }
        char field_path[SIM_MODEL_NAME_MAX + 64];
        snprintf(field_path, sizeof(field_path), "%s.%s", path, key);
        if (layer_set_json(layer, (sim_field_t)f, v, field_path, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int load_models(sim_config_t *cfg, json_t *models, char *err, size_t errlen)
{
    if (!json_is_object(models)) {
        set_err(err, errlen, "models: expected an object of model name to settings");
        return -1;
    }
    size_t n = json_object_size(models);
    if (n == 0)
        return 0;
    sim_model_t *grown = realloc(cfg->models, (cfg->nmodels + n) * sizeof(*grown));
    if (!grown) {
        set_err(err, errlen, "models: out of memory");
        return -1;
    }
    cfg->models = grown;
    const char *name;
    json_t *v;
    json_object_foreach(models, name, v)
    {
        size_t len = strlen(name);
        if (len == 0 || len > SIM_MODEL_NAME_MAX) {
            set_err(err, errlen, "models: a model name must have 1..%d characters",
                    SIM_MODEL_NAME_MAX);
            return -1;
        }
        sim_model_t *m = &cfg->models[cfg->nmodels];
        memset(m, 0, sizeof(*m));
        m->name = strdup(name);
        if (!m->name) {
            set_err(err, errlen, "models.%s: out of memory", name);
            return -1;
        }
        /* Counted before loading so sim_config_free releases a half-loaded entry. */
        cfg->nmodels++;
        char path[SIM_MODEL_NAME_MAX + 16];
        snprintf(path, sizeof(path), "models.%s", name);
        if (load_layer(&m->layer, v, path, err, errlen) < 0)
            return -1;
        if (listed_add(cfg, name, len) < 0) {
            set_err(err, errlen, "models.%s: out of memory", name);
            return -1;
        }
    }
    return 0;
}

int sim_config_load_file(sim_config_t *cfg, const char *path, char *err, size_t errlen)
{
    int rc = -1;
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line > 0)
            set_err(err, errlen, "invalid json at line %d column %d: %s", jerr.line, jerr.column,
                    jerr.text);
        else
            set_err(err, errlen, "%s", jerr.text);
        goto fail;
    }
    if (!json_is_object(root)) {
        set_err(err, errlen, "expected a json object");
        goto fail;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "default") == 0) {
            if (load_layer(&cfg->file_default, v, "default", err, errlen) < 0)
                goto fail;
        } else if (strcmp(key, "models") == 0) {
            if (load_models(cfg, v, err, errlen) < 0)
                goto fail;
        } else {
            set_err(err, errlen, "%s: unknown field (expected default, models)", key);
            goto fail;
        }
    }
    rc = 0;
fail:
    json_decref(root);
    return rc;
}

void sim_config_resolve(const sim_config_t *cfg, const char *model, sim_settings_t *out)
{
    memset(out, 0, sizeof(*out));
    out->fault = SIM_FAULT_NONE;
    layer_apply(&cfg->file_default, out);
    layer_apply(&cfg->flags, out);
    if (!model)
        return;
    for (size_t i = 0; i < cfg->nmodels; i++) {
        if (strcmp(cfg->models[i].name, model) == 0) {
            layer_apply(&cfg->models[i].layer, out);
            return;
        }
    }
}

size_t sim_config_model_count(const sim_config_t *cfg)
{
    return cfg->nlisted ? cfg->nlisted : 1;
}

const char *sim_config_model_at(const sim_config_t *cfg, size_t i)
{
    if (cfg->nlisted == 0)
        return i == 0 ? SIM_DEFAULT_MODEL : NULL;
    return i < cfg->nlisted ? cfg->listed[i] : NULL;
}

int sim_settings_apply_header(sim_settings_t *s, const char *header, const char *value, char *err,
                              size_t errlen)
{
    for (int f = 0; f < SIM_FIELD_COUNT; f++) {
        if (!sim_fields[f].header || strcasecmp(sim_fields[f].header, header) != 0)
            continue;
        if (settings_set_text(s, (sim_field_t)f, value) < 0) {
            set_err(err, errlen, "%s: %s", sim_fields[f].header, sim_fields[f].expect);
            return -1;
        }
        return 0;
    }
    set_err(err, errlen, "%s: unknown simulator header", header);
    return -1;
}
