/* cache_replay: see cache_replay.h. */
#include "cache_replay.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* One stored chunk is at most this big (a chunk is a few hundred bytes; a
 * length beyond it means the value is corrupt). */
#define CACHE_REPLAY_CHUNK_MAX (64u << 20)

int64_t cache_replay_ttl_ms(const table_route_t *route, const Llmgw__V1__ChatRequest *req,
                            bool no_cache)
{
    if (!route || route->cache_ttl_ms <= 0 || no_cache || !req)
        return 0;
    double t = req->temperature_opt_case == LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE
                   ? req->temperature
                   : 1.0;
    if (!(t <= route->cache_max_temperature))
        return 0; /* NaN too */
    return route->cache_ttl_ms;
}

bool cache_replay_no_cache(const char *v)
{
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        const char *start = v;
        while (*v && *v != ',' && *v != '=' && *v != ' ' && *v != '\t')
            v++;
        size_t n = (size_t)(v - start);
        if ((n == 8 && !strncasecmp(start, "no-cache", 8)) ||
            (n == 8 && !strncasecmp(start, "no-store", 8)))
            return true;
        /* Skip the directive's argument, a quoted one may hold commas. */
        bool quoted = false;
        while (*v && (quoted || *v != ',')) {
            if (*v == '"')
                quoted = !quoted;
            v++;
        }
    }
    return false;
}

static int cache_replay_pack(const ProtobufCMessage *m, buf_t *out, bool framed)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (framed) {
        if (n > CACHE_REPLAY_CHUNK_MAX)
            return -1;
        unsigned char len[4] = {(unsigned char)(n & 0xff), (unsigned char)((n >> 8) & 0xff),
                                (unsigned char)((n >> 16) & 0xff),
                                (unsigned char)((n >> 24) & 0xff)};
        if (buf_append(out, len, sizeof(len)) < 0)
            return -1;
    }
    char *dst = buf_space(out, n ? n : 1);
    if (!dst)
        return -1;
    protobuf_c_message_pack(m, (uint8_t *)dst);
    buf_commit(out, n);
    return 0;
}

int cache_replay_pack_response(const Llmgw__V1__ChatResponse *resp, buf_t *out)
{
    return cache_replay_pack(&resp->base, out, false);
}

int cache_replay_add_chunk(buf_t *out, const Llmgw__V1__ChatChunk *chunk)
{
    return cache_replay_pack(&chunk->base, out, true);
}

Llmgw__V1__ChatResponse *cache_replay_response(const char *data, size_t len, arena_t *a)
{
    return llmgw__v1__chat_response__unpack(arena_pb_allocator(a), len, (const uint8_t *)data);
}

int cache_replay_next_chunk(const char *data, size_t len, size_t *off, arena_t *a,
                            Llmgw__V1__ChatChunk **out)
{
    if (*off == len)
        return 0;
    if (*off > len || len - *off < 4)
        return -1;
    const unsigned char *p = (const unsigned char *)data + *off;
    size_t n = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
    if (n > CACHE_REPLAY_CHUNK_MAX || n > len - *off - 4)
        return -1;
    *out = llmgw__v1__chat_chunk__unpack(arena_pb_allocator(a), n, p + 4);
    if (!*out)
        return -1;
    *off += 4 + n;
    return 1;
}

Llmgw__V1__RouteDecision *cache_replay_decision(arena_t *a, const char *route, const char *provider,
                                                const char *model, int64_t age_ms)
{
    Llmgw__V1__RouteDecision *d = arena_alloc(a, sizeof(*d));
    if (!d)
        return NULL;
    llmgw__v1__route_decision__init(d);
    char reason[256];
    snprintf(reason, sizeof(reason), "cache hit: answer stored %lld ms ago by %s/%s",
             (long long)age_ms, provider ? provider : "", model ? model : "");
    d->route = arena_strdup(a, route ? route : "");
    d->provider = arena_strdup(a, provider ? provider : "");
    d->model = arena_strdup(a, model ? model : "");
    d->strategy = "cache";
    d->reason = arena_strdup(a, reason);
    d->cache_hit = true;
    if (!d->route || !d->provider || !d->model || !d->reason)
        return NULL;
    return d;
}
