/* sim_embed: deterministic embedding vectors. See sim_embed.h. */
#include "sim_embed.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "sim_answer.h"

void sim_embed_vector(const char *text, size_t len, float out[SIM_EMBED_DIMS])
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)text[i];
        h *= 0x100000001b3ull;
    }
    double v[SIM_EMBED_DIMS];
    double norm = 0;
    for (int d = 0; d < SIM_EMBED_DIMS; d++) {
        /* 53 random bits → [-1, 1). */
        v[d] = (double)(sim_mix64(h + (uint64_t)d) >> 11) * 0x1.0p-52 - 1.0;
        norm += v[d] * v[d];
    }
    norm = sqrt(norm);
    for (int d = 0; d < SIM_EMBED_DIMS; d++)
        out[d] = norm > 0 ? (float)(v[d] / norm) : 0.0f;
}

/* base64 of the vector as little-endian float32 (what OpenAI sends). */
static json_t *vector_base64(const float vec[SIM_EMBED_DIMS])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[SIM_EMBED_DIMS * 4];
    for (int d = 0; d < SIM_EMBED_DIMS; d++) {
        uint32_t bits;
        memcpy(&bits, &vec[d], 4);
        for (int b = 0; b < 4; b++)
            raw[d * 4 + b] = (unsigned char)(bits >> (8 * b));
    }
    char text[((sizeof(raw) + 2) / 3) * 4 + 1];
    size_t o = 0;
    for (size_t i = 0; i < sizeof(raw); i += 3) {
        uint32_t n = (uint32_t)raw[i] << 16;
        if (i + 1 < sizeof(raw))
            n |= (uint32_t)raw[i + 1] << 8;
        if (i + 2 < sizeof(raw))
            n |= raw[i + 2];
        text[o++] = alphabet[(n >> 18) & 63];
        text[o++] = alphabet[(n >> 12) & 63];
        text[o++] = i + 1 < sizeof(raw) ? alphabet[(n >> 6) & 63] : '=';
        text[o++] = i + 2 < sizeof(raw) ? alphabet[n & 63] : '=';
    }
    text[o] = '\0';
    return json_string(text);
}

static json_t *embedding_item(const char *text, size_t len, size_t index, int base64)
{
    float vec[SIM_EMBED_DIMS];
    sim_embed_vector(text, len, vec);
    json_t *emb = NULL;
    if (base64) {
        emb = vector_base64(vec);
    } else {
        emb = json_array();
        for (int d = 0; emb && d < SIM_EMBED_DIMS; d++) {
            if (json_array_append_new(emb, json_real(vec[d])) < 0) {
                json_decref(emb);
                emb = NULL;
            }
        }
    }
    return json_pack("{s:s,s:I,s:o}", "object", "embedding", "index", (json_int_t)index,
                     "embedding", emb);
}

char *sim_embed_body(const sim_embed_req_t *req, size_t *len)
{
    char *out = NULL;
    json_int_t tokens = 0;
    json_t *data = json_array();
    if (!data)
        goto fail;
    size_t n = json_is_array(req->input) ? json_array_size(req->input) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(req->input) ? json_array_get(req->input, i) : req->input;
        const char *text = json_string_value(s);
        size_t tlen = json_string_length(s);
        tokens += (json_int_t)sim_count_words(text, tlen);
        if (json_array_append_new(data, embedding_item(text, tlen, i, req->base64)) < 0)
            goto fail;
    }
    json_t *body = json_pack("{s:s,s:O,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model",
                             req->model, "usage", "prompt_tokens", tokens, "total_tokens", tokens);
    if (!body)
        goto fail;
    out = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (out)
        *len = strlen(out);
fail:
    json_decref(data);
    return out;
}
