/* Unit tests for reflect_index.c: the embedded descriptor set (every file,
 * every kind of symbol, import closure), hand-encoded sets for what llmgw's
 * protos lack (nested messages and enums), and corrupt sets (truncated at
 * every length, bytes flipped, a missing import): an error, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reflect_index.h"

extern const unsigned char gs_reflection_descriptor_set[];
extern const size_t gs_reflection_descriptor_set_len;

/* --- a tiny protobuf encoder for hand-made sets ------------------------------- */

typedef struct {
    uint8_t b[4096];
    size_t n;
} enc_t;

static void enc_bytes(enc_t *e, uint32_t field, const void *data, size_t len)
{
    assert_true(len < 128 && e->n + len + 2 <= sizeof(e->b));
    e->b[e->n++] = (uint8_t)(field << 3 | 2);
    e->b[e->n++] = (uint8_t)len;
    memcpy(e->b + e->n, data, len);
    e->n += len;
}

static void enc_str(enc_t *e, uint32_t field, const char *s)
{
    enc_bytes(e, field, s, strlen(s));
}

static void enc_msg(enc_t *e, uint32_t field, const enc_t *m)
{
    enc_bytes(e, field, m->b, m->n);
}

static const char *sym_file(const ri_index_t *ix, const char *sym, ri_sym_kind_t *kind)
{
    long f = ri_find_symbol(ix, sym, strlen(sym), kind);
    return f < 0 ? NULL : ri_file_name(ix, (size_t)f);
}

static ri_index_t *embedded(void)
{
    char err[256] = "";
    ri_index_t *ix = ri_index_new(gs_reflection_descriptor_set, gs_reflection_descriptor_set_len,
                                  err, sizeof(err));
    if (ix == NULL)
        fail_msg("embedded set: %s", err);
    return ix;
}

static void test_embedded_set_has_every_proto(void **state)
{
    ri_index_t *ix = embedded();
    const char *want[] = {"llmgw/v1/chat.proto",
                          "llmgw/v1/routing.proto",
                          "llmgw/v1/control.proto",
                          "llmgw/v1/audit.proto",
                          "grpc/health/v1/health.proto",
                          "grpc/reflection/v1/reflection.proto",
                          "grpc/reflection/v1alpha/reflection.proto"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_true(ri_find_file(ix, want[i], strlen(want[i])) >= 0);
    assert_int_equal(ri_find_file(ix, "llmgw/v1/chat", 13), -1);
    assert_int_equal(ri_find_file(ix, "", 0), -1);
    ri_index_free(ix);
}

static void test_embedded_symbols_of_every_kind(void **state)
{
    ri_index_t *ix = embedded();
    ri_sym_kind_t k;
    assert_string_equal(sym_file(ix, "llmgw.v1.ChatService", &k), "llmgw/v1/chat.proto");
    assert_int_equal(k, RI_SYM_SERVICE);
    assert_string_equal(sym_file(ix, "llmgw.v1.ChatService.Complete", &k), "llmgw/v1/chat.proto");
    assert_int_equal(k, RI_SYM_METHOD);
    assert_string_equal(sym_file(ix, "llmgw.v1.ChatRequest", &k), "llmgw/v1/chat.proto");
    assert_int_equal(k, RI_SYM_MESSAGE);
    assert_string_equal(sym_file(ix, "llmgw.v1.ChatRequest.model", &k), "llmgw/v1/chat.proto");
    assert_int_equal(k, RI_SYM_FIELD);
    assert_string_equal(sym_file(ix, "llmgw.v1.EnsembleMethod", &k), "llmgw/v1/chat.proto");
    assert_int_equal(k, RI_SYM_ENUM);
    assert_string_equal(sym_file(ix, "llmgw.v1.RoutingService.Explain", &k),
                        "llmgw/v1/routing.proto");
    assert_string_equal(sym_file(ix, "grpc.health.v1.HealthCheckResponse.ServingStatus", &k),
                        "grpc/health/v1/health.proto");
    assert_int_equal(k, RI_SYM_ENUM);
    assert_string_equal(sym_file(ix, "grpc.health.v1.HealthCheckResponse.SERVING", &k),
                        "grpc/health/v1/health.proto");
    assert_int_equal(k, RI_SYM_ENUM_VALUE);
    assert_string_equal(sym_file(ix, "grpc.reflection.v1alpha.ServerReflection", &k),
                        "grpc/reflection/v1alpha/reflection.proto");
    /* Prefixes, suffixes and a leading dot are not symbols. */
    assert_null(sym_file(ix, "llmgw.v1.ChatServic", NULL));
    assert_null(sym_file(ix, "llmgw.v1.ChatServicee", NULL));
    assert_null(sym_file(ix, ".llmgw.v1.ChatService", NULL));
    assert_null(sym_file(ix, "llmgw.v1", NULL));
    assert_null(sym_file(ix, "", NULL));
    ri_index_free(ix);
}

static void test_closure_lists_the_file_then_its_imports_once(void **state)
{
    ri_index_t *ix = embedded();
    size_t *out = calloc(ri_file_count(ix), sizeof(*out));
    long routing = ri_find_file(ix, "llmgw/v1/routing.proto", 22);
    assert_true(routing >= 0);
    size_t n = ri_closure(ix, (size_t)routing, out);
    assert_int_equal(n, 2);
    assert_string_equal(ri_file_name(ix, out[0]), "llmgw/v1/routing.proto");
    assert_string_equal(ri_file_name(ix, out[1]), "llmgw/v1/chat.proto");
    long chat = ri_find_file(ix, "llmgw/v1/chat.proto", 19);
    assert_int_equal(ri_closure(ix, (size_t)chat, out), 1);
    free(out);
    ri_index_free(ix);
}

/* a.proto (package p) imports b.proto; a has message Outer { message Inner
 * { enum Color { RED = 0; } } int32 f = 1; oneof o {} }. */
static size_t hand_set(enc_t *set, const char *import)
{
    enc_t b = {{0}, 0}, a = {{0}, 0}, outer = {{0}, 0}, inner = {{0}, 0}, color = {{0}, 0},
          red = {{0}, 0}, field = {{0}, 0}, oneof = {{0}, 0}, svc = {{0}, 0}, m = {{0}, 0};
    enc_str(&b, 1, "b.proto");
    enc_str(&b, 2, "q");
    enc_str(&red, 1, "RED");
    enc_str(&color, 1, "Color");
    enc_msg(&color, 2, &red);
    enc_str(&inner, 1, "Inner");
    enc_msg(&inner, 4, &color);
    enc_str(&field, 1, "f");
    enc_str(&oneof, 1, "o");
    enc_str(&outer, 1, "Outer");
    enc_msg(&outer, 2, &field);
    enc_msg(&outer, 3, &inner);
    enc_msg(&outer, 8, &oneof);
    enc_str(&m, 1, "Do");
    enc_str(&svc, 1, "Svc");
    enc_msg(&svc, 2, &m);
    enc_str(&a, 1, "a.proto");
    enc_str(&a, 2, "p");
    enc_str(&a, 3, import);
    enc_msg(&a, 4, &outer);
    enc_msg(&a, 6, &svc);
    set->n = 0;
    enc_msg(set, 1, &b);
    enc_msg(set, 1, &a);
    return set->n;
}

static void test_nested_messages_enums_and_values_are_scoped(void **state)
{
    enc_t set;
    hand_set(&set, "b.proto");
    char err[256];
    ri_index_t *ix = ri_index_new(set.b, set.n, err, sizeof(err));
    assert_non_null(ix);
    ri_sym_kind_t k;
    assert_string_equal(sym_file(ix, "p.Outer.Inner", &k), "a.proto");
    assert_int_equal(k, RI_SYM_MESSAGE);
    assert_string_equal(sym_file(ix, "p.Outer.Inner.Color", &k), "a.proto");
    assert_int_equal(k, RI_SYM_ENUM);
    /* protoc scopes an enum value beside its enum. */
    assert_string_equal(sym_file(ix, "p.Outer.Inner.RED", &k), "a.proto");
    assert_int_equal(k, RI_SYM_ENUM_VALUE);
    assert_null(sym_file(ix, "p.Outer.Inner.Color.RED", NULL));
    assert_string_equal(sym_file(ix, "p.Outer.f", &k), "a.proto");
    assert_int_equal(k, RI_SYM_FIELD);
    assert_string_equal(sym_file(ix, "p.Outer.o", &k), "a.proto");
    assert_int_equal(k, RI_SYM_ONEOF);
    assert_string_equal(sym_file(ix, "p.Svc.Do", &k), "a.proto");
    assert_int_equal(k, RI_SYM_METHOD);
    size_t out[2];
    assert_int_equal(ri_closure(ix, 1, out), 2);
    assert_int_equal(out[1], 0);
    ri_index_free(ix);
}

static void test_missing_import_is_refused_by_name(void **state)
{
    enc_t set;
    hand_set(&set, "c.proto");
    char err[256] = "";
    assert_null(ri_index_new(set.b, set.n, err, sizeof(err)));
    assert_non_null(strstr(err, "a.proto imports c.proto, which is not in the set"));
}

static void test_empty_and_garbage_sets_are_refused(void **state)
{
    char err[256];
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    static const uint8_t group[] = {0x0b, 0x0c}; /* field 1, start group */
    assert_null(ri_index_new(garbage, 0, err, sizeof(err)));
    assert_null(ri_index_new(garbage, sizeof(garbage), err, sizeof(err)));
    assert_null(ri_index_new(group, sizeof(group), err, sizeof(err)));
    assert_non_null(strstr(err, "descriptor set:"));
}

static void test_every_truncation_of_the_embedded_set_is_safe(void **state)
{
    const uint8_t *set = gs_reflection_descriptor_set;
    size_t len = gs_reflection_descriptor_set_len;
    char err[256];
    /* A copy of exactly the prefix, so ASan sees any read past it. */
    for (size_t n = 0; n < len; n += 1 + n / 64) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, set, n);
        ri_index_t *ix = ri_index_new(copy, n, err, sizeof(err));
        ri_index_free(ix);
        free(copy);
    }
}

static void test_flipped_bytes_never_crash(void **state)
{
    size_t len = gs_reflection_descriptor_set_len;
    uint8_t *copy = malloc(len);
    char err[256];
    unsigned seed = 12345;
    for (int round = 0; round < 300; round++) {
        memcpy(copy, gs_reflection_descriptor_set, len);
        for (int k = 0; k < 4; k++) {
            seed = seed * 1103515245u + 12345u;
            copy[(seed >> 8) % len] ^= (uint8_t)(1u << ((seed >> 4) & 7));
        }
        ri_index_t *ix = ri_index_new(copy, len, err, sizeof(err));
        if (ix != NULL) {
            ri_sym_kind_t kk;
            ri_find_symbol(ix, "llmgw.v1.ChatService", 20, &kk);
            size_t *out = calloc(ri_file_count(ix), sizeof(*out));
            for (size_t f = 0; f < ri_file_count(ix); f++)
                assert_true(ri_closure(ix, f, out) <= ri_file_count(ix));
            free(out);
        }
        ri_index_free(ix);
    }
    free(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_set_has_every_proto),
        cmocka_unit_test(test_embedded_symbols_of_every_kind),
        cmocka_unit_test(test_closure_lists_the_file_then_its_imports_once),
        cmocka_unit_test(test_nested_messages_enums_and_values_are_scoped),
        cmocka_unit_test(test_missing_import_is_refused_by_name),
        cmocka_unit_test(test_empty_and_garbage_sets_are_refused),
        cmocka_unit_test(test_every_truncation_of_the_embedded_set_is_safe),
        cmocka_unit_test(test_flipped_bytes_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
