/* Unit tests for pbjson.c: JSON → protobuf for the control plane's JSON admin
 * API — every type, the round trip through pbjson_from_message, and bad input
 * refused with the field's path, freeing what was built (the sanitizer build
 * checks the frees). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmgw/v1/chat.pb-c.h"
#include "llmgw/v1/control.pb-c.h"
#include "pbjson.h"

static ProtobufCMessage *parse_ok(const ProtobufCMessageDescriptor *d, const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad test JSON '%s': %s", text, je.text);
    char err[256] = "";
    ProtobufCMessage *m = pbjson_to_message(d, j, err, sizeof(err));
    json_decref(j);
    if (!m)
        fail_msg("'%s' refused: %s", text, err);
    return m;
}

static void parse_bad(const ProtobufCMessageDescriptor *d, const char *text, const char *want)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j)
        fail_msg("bad test JSON '%s': %s", text, je.text);
    char err[256] = "";
    ProtobufCMessage *m = pbjson_to_message(d, j, err, sizeof(err));
    json_decref(j);
    if (m)
        fail_msg("'%s' accepted", text);
    assert_string_equal(err, want);
}

static void test_pbjson_provider_fields(void **state)
{
    (void)state;
    Llmgw__V1__CreateProviderRequest *r = (Llmgw__V1__CreateProviderRequest *)parse_ok(
        &llmgw__v1__create_provider_request__descriptor,
        "{\"provider\":{\"name\":\"p1\",\"base_url\":\"http://h/v1\",\"timeout_ms\":1500,"
        "\"enabled\":true,\"headers\":[{\"name\":\"a\",\"value\":\"b\"},{\"name\":\"c\"}],"
        "\"region\":null}}");
    assert_non_null(r->provider);
    assert_string_equal(r->provider->name, "p1");
    assert_string_equal(r->provider->base_url, "http://h/v1");
    assert_string_equal(r->provider->region, "");
    assert_int_equal(r->provider->timeout_ms, 1500);
    assert_true(r->provider->enabled);
    assert_int_equal(r->provider->n_headers, 2);
    assert_string_equal(r->provider->headers[1]->name, "c");
    assert_string_equal(r->provider->headers[1]->value, "");
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_pbjson_empty_body_is_empty_message(void **state)
{
    (void)state;
    char err[64];
    ProtobufCMessage *m =
        pbjson_to_message(&llmgw__v1__list_providers_request__descriptor, NULL, err, sizeof(err));
    assert_non_null(m);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_pbjson_round_trip(void **state)
{
    (void)state;
    const char *text = "{\"route\":{\"name\":\"chat\",\"strategy\":\"weighted\",\"deployments\":"
                       "[{\"provider\":\"a\",\"model\":\"m\",\"weight\":2.5,\"priority\":1},"
                       "{\"provider\":\"b\",\"model\":\"n\",\"weight\":1.5,\"priority\":-3}],"
                       "\"max_attempts\":0}}";
    ProtobufCMessage *m = parse_ok(&llmgw__v1__update_route_request__descriptor, text);
    json_t *back = pbjson_from_message(m);
    json_t *want = json_loads(text, 0, NULL);
    assert_true(json_equal(back, want));
    /* The packed bytes unpack to the same message: what the bridge hands the RPC body. */
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n + 1);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *again =
        protobuf_c_message_unpack(&llmgw__v1__update_route_request__descriptor, NULL, n, buf);
    assert_non_null(again);
    json_t *back2 = pbjson_from_message(again);
    assert_true(json_equal(back2, want));
    free(buf);
    json_decref(back);
    json_decref(back2);
    json_decref(want);
    protobuf_c_message_free_unpacked(again, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_pbjson_int64_as_string_and_enum_by_name(void **state)
{
    (void)state;
    Llmgw__V1__TableAck *a = (Llmgw__V1__TableAck *)parse_ok(
        &llmgw__v1__table_ack__descriptor,
        "{\"node_id\":\"n\",\"version\":\"9007199254740993\",\"status\":\"ACK_STATUS_NACK\"}");
    assert_int_equal(a->version, 9007199254740993LL);
    assert_int_equal(a->status, LLMGW__V1__ACK_STATUS__ACK_STATUS_NACK);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    a = (Llmgw__V1__TableAck *)parse_ok(&llmgw__v1__table_ack__descriptor,
                                        "{\"version\":7,\"status\":1}");
    assert_int_equal(a->version, 7);
    assert_int_equal(a->status, 1);
    protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void test_pbjson_oneof_sets_its_case(void **state)
{
    (void)state;
    Llmgw__V1__ChatRequest *r = (Llmgw__V1__ChatRequest *)parse_ok(
        &llmgw__v1__chat_request__descriptor, "{\"model\":\"m\",\"temperature\":0.5}");
    assert_int_equal(r->temperature_opt_case, LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE);
    assert_true(r->temperature == 0.5);
    assert_int_equal(r->top_p_opt_case, 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_pbjson_bad_types_name_the_field(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *cp = &llmgw__v1__create_provider_request__descriptor;
    parse_bad(cp, "{\"provider\":{\"base_url\":5}}", "provider.base_url: expected a string");
    parse_bad(cp, "{\"provider\":{\"name\":\"x\",\"bse_url\":\"u\"}}",
              "provider.bse_url: unknown field");
    parse_bad(cp, "{\"provider\":{\"timeout_ms\":\"soon\"}}",
              "provider.timeout_ms: expected an integer");
    parse_bad(cp, "{\"provider\":{\"timeout_ms\":4294967296}}",
              "provider.timeout_ms: expected a 32-bit integer");
    parse_bad(cp, "{\"provider\":{\"timeout_ms\":1.5}}",
              "provider.timeout_ms: expected an integer");
    parse_bad(cp, "{\"provider\":{\"enabled\":1}}", "provider.enabled: expected true or false");
    parse_bad(cp, "{\"provider\":{\"headers\":{}}}", "provider.headers: expected an array");
    parse_bad(cp, "{\"provider\":{\"name\":\"p\",\"headers\":[{\"name\":\"a\"},{\"name\":[]}]}}",
              "provider.headers[1].name: expected a string");
    parse_bad(cp, "{\"provider\":{\"headers\":[null]}}", "provider.headers[0]: expected an object");
    parse_bad(cp, "{\"provider\":[]}", "provider: expected an object");
    parse_bad(cp, "[1]", "request: expected an object");
    parse_bad(&llmgw__v1__update_route_request__descriptor,
              "{\"route\":{\"deployments\":[{\"weight\":\"heavy\"}]}}",
              "route.deployments[0].weight: expected a number");
    parse_bad(&llmgw__v1__table_ack__descriptor, "{\"status\":\"MAYBE\"}",
              "status: expected one of ACK_STATUS_UNSPECIFIED, ACK_STATUS_ACK, ACK_STATUS_NACK");
    parse_bad(&llmgw__v1__table_ack__descriptor, "{\"version\":\"12x\"}",
              "version: expected an integer");
    parse_bad(cp, "{\"provider\":{\"name\":\"a\\u0000b\"}}",
              "provider.name: expected a string without NUL characters");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pbjson_provider_fields),
        cmocka_unit_test(test_pbjson_empty_body_is_empty_message),
        cmocka_unit_test(test_pbjson_round_trip),
        cmocka_unit_test(test_pbjson_int64_as_string_and_enum_by_name),
        cmocka_unit_test(test_pbjson_oneof_sets_its_case),
        cmocka_unit_test(test_pbjson_bad_types_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
