/* Unit tests for grpc_reflection.c: a real grpc_server with health,
 * reflection and a stand-in ChatService method, asked over both
 * grpc.reflection.v1 and v1alpha through the core-API bidi client: every
 * kind of request, NOT_FOUND for unknown names with the stream staying open,
 * malformed and oversized requests, and many requests on one stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bidi_client.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc_health.h"
#include "grpc_reflection.h"
#include "grpc_server.h"

#define WAIT_MS 5000

typedef Grpc__Reflection__V1__ServerReflectionRequest req_t;
typedef Grpc__Reflection__V1__ServerReflectionResponse resp_t;

static gs_server_t *srv;
static int port;

static void h_unary(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    gs_call_finish(call, GRPC_STATUS_OK, NULL, NULL, 0);
}

static int group_setup(void **state)
{
    srv = gs_server_new();
    assert_non_null(srv);
    assert_int_equal(
        gs_server_add_method(srv, "/llmgw.v1.ChatService/Complete", GS_UNARY, h_unary, NULL), 0);
    assert_int_equal(
        gs_server_add_method(srv, "/llmgw.v1.ChatService/ListModels", GS_UNARY, h_unary, NULL), 0);
    assert_int_equal(gs_health_register(srv), 0);
    assert_int_equal(gs_reflection_register(srv), 0);
    char err[128];
    port = gs_server_start(srv, "127.0.0.1:0", 2, err, sizeof(err));
    assert_true(port > 0);
    return 0;
}

static int group_teardown(void **state)
{
    gs_server_shutdown(srv, 1000);
    gs_server_free(srv);
    return 0;
}

static const char *const paths[] = {GS_REFLECTION_V1_PATH, GS_REFLECTION_V1ALPHA_PATH};

static void send_req(bidi_client_t *b, const req_t *req)
{
    size_t n = grpc__reflection__v1__server_reflection_request__get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    grpc__reflection__v1__server_reflection_request__pack(req, buf);
    assert_int_equal(bidi_send(b, buf, n), 0);
    free(buf);
}

static resp_t *recv_resp(bidi_client_t *b)
{
    uint8_t *msg = NULL;
    size_t len = 0;
    assert_int_equal(bidi_recv(b, &msg, &len), 1);
    resp_t *r = grpc__reflection__v1__server_reflection_response__unpack(NULL, len, msg);
    free(msg);
    assert_non_null(r);
    return r;
}

/* One request, one response, on stream b. */
static resp_t *ask(bidi_client_t *b, req_t *req)
{
    send_req(b, req);
    return recv_resp(b);
}

static void end_ok(bidi_client_t *b)
{
    assert_int_equal(bidi_half_close(b), 0);
    char details[128];
    assert_int_equal(bidi_finish(b, details, sizeof(details)), GRPC_STATUS_OK);
}

/* The name of a serialized FileDescriptorProto: protoc writes field 1 first. */
static void expect_file(const ProtobufCBinaryData *d, const char *name)
{
    size_t n = strlen(name);
    assert_true(d->len > n + 2);
    assert_int_equal(d->data[0], 0x0a);
    assert_int_equal(d->data[1], n);
    assert_memory_equal(d->data + 2, name, n);
}

static void test_list_services_names_the_registered_services(void **state)
{
    for (size_t p = 0; p < 2; p++) {
        bidi_client_t *b = bidi_start(port, paths[p], WAIT_MS);
        assert_non_null(b);
        req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
        req.host = "localhost";
        req.message_request_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
        req.list_services = "";
        resp_t *r = ask(b, &req);
        assert_string_equal(r->valid_host, "localhost");
        assert_non_null(r->original_request);
        assert_int_equal(r->original_request->message_request_case, req.message_request_case);
        assert_int_equal(
            r->message_response_case,
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
        const char *want[] = {"llmgw.v1.ChatService", "grpc.health.v1.Health",
                              "grpc.reflection.v1.ServerReflection",
                              "grpc.reflection.v1alpha.ServerReflection"};
        assert_int_equal(r->list_services_response->n_service, 4);
        for (size_t i = 0; i < 4; i++)
            assert_string_equal(r->list_services_response->service[i]->name, want[i]);
        grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
        end_ok(b);
    }
}

static void test_file_containing_symbol_brings_transitive_imports(void **state)
{
    for (size_t p = 0; p < 2; p++) {
        bidi_client_t *b = bidi_start(port, paths[p], WAIT_MS);
        assert_non_null(b);
        req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
        req.message_request_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
        req.file_containing_symbol = "llmgw.v1.RoutingService.Explain";
        resp_t *r = ask(b, &req);
        assert_int_equal(
            r->message_response_case,
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
        assert_int_equal(r->file_descriptor_response->n_file_descriptor_proto, 2);
        expect_file(&r->file_descriptor_response->file_descriptor_proto[0],
                    "llmgw/v1/routing.proto");
        expect_file(&r->file_descriptor_response->file_descriptor_proto[1], "llmgw/v1/chat.proto");
        grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);

        req.message_request_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
        req.file_by_filename = "grpc/health/v1/health.proto";
        r = ask(b, &req);
        assert_int_equal(r->file_descriptor_response->n_file_descriptor_proto, 1);
        expect_file(&r->file_descriptor_response->file_descriptor_proto[0],
                    "grpc/health/v1/health.proto");
        grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
        end_ok(b);
    }
}

static void expect_error(resp_t *r, int code, const char *text)
{
    assert_int_equal(
        r->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
    assert_int_equal(r->error_response->error_code, code);
    if (strstr(r->error_response->error_message, text) == NULL)
        fail_msg("error_message '%s' lacks '%s'", r->error_response->error_message, text);
    grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
}

static void test_unknown_names_are_not_found_and_the_stream_stays_open(void **state)
{
    bidi_client_t *b = bidi_start(port, GS_REFLECTION_V1_PATH, WAIT_MS);
    assert_non_null(b);
    req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    req.file_containing_symbol = "llmgw.v1.NoSuchService";
    expect_error(ask(b, &req), GRPC_STATUS_NOT_FOUND, "symbol not found: llmgw.v1.NoSuchService");
    req.file_containing_symbol = "";
    expect_error(ask(b, &req), GRPC_STATUS_NOT_FOUND, "symbol not found: ");
    req.file_containing_symbol = "bad\x01\x7f"
                                 "name";
    expect_error(ask(b, &req), GRPC_STATUS_NOT_FOUND, "symbol not found: bad??name");
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    req.file_by_filename = "no/such.proto";
    expect_error(ask(b, &req), GRPC_STATUS_NOT_FOUND, "file not found: no/such.proto");

    Grpc__Reflection__V1__ExtensionRequest x = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
    x.containing_type = "llmgw.v1.ChatRequest";
    x.extension_number = 100;
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION;
    req.file_containing_extension = &x;
    expect_error(ask(b, &req), GRPC_STATUS_NOT_FOUND,
                 "extension 100 of not found: llmgw.v1.ChatRequest");

    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
    req.all_extension_numbers_of_type = "llmgw.v1.ChatService"; /* a service, not a message */
    expect_error(ask(b, &req), GRPC_STATUS_NOT_FOUND, "message type not found");
    req.all_extension_numbers_of_type = "llmgw.v1.ChatRequest";
    resp_t *r = ask(b, &req);
    assert_int_equal(
        r->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE);
    assert_string_equal(r->all_extension_numbers_response->base_type_name, "llmgw.v1.ChatRequest");
    assert_int_equal(r->all_extension_numbers_response->n_extension_number, 0);
    grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);

    /* Nothing set: a clear error, and the stream still answers. */
    req_t empty = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    expect_error(ask(b, &empty), GRPC_STATUS_INVALID_ARGUMENT, "request: expected one of");
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    req.file_containing_symbol = "llmgw.v1.ChatService";
    r = ask(b, &req);
    assert_int_equal(r->file_descriptor_response->n_file_descriptor_proto, 1);
    grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
    end_ok(b);
}

static void test_long_names_are_cut_in_the_error(void **state)
{
    bidi_client_t *b = bidi_start(port, GS_REFLECTION_V1_PATH, WAIT_MS);
    assert_non_null(b);
    char *name = malloc(10001);
    memset(name, 'x', 10000);
    name[10000] = '\0';
    req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    req.file_by_filename = name;
    resp_t *r = ask(b, &req);
    assert_int_equal(r->error_response->error_code, GRPC_STATUS_NOT_FOUND);
    assert_true(strlen(r->error_response->error_message) < 200);
    assert_non_null(strstr(r->error_response->error_message, "xxx..."));
    grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
    free(name);
    end_ok(b);
}

static void test_malformed_request_ends_the_call_invalid_argument(void **state)
{
    for (size_t p = 0; p < 2; p++) {
        bidi_client_t *b = bidi_start(port, paths[p], WAIT_MS);
        assert_non_null(b);
        static const uint8_t junk[] = {0x1a, 0xff, 0xff, 0xff, 0x0f, 'a'}; /* length past the end */
        assert_int_equal(bidi_send(b, junk, sizeof(junk)), 0);
        char details[128];
        assert_int_equal(bidi_finish(b, details, sizeof(details)), GRPC_STATUS_INVALID_ARGUMENT);
        assert_string_equal(details, "reflection request: not a ServerReflectionRequest");
    }
}

static void test_oversized_request_is_refused(void **state)
{
    bidi_client_t *b = bidi_start(port, GS_REFLECTION_V1_PATH, WAIT_MS);
    assert_non_null(b);
    char *host = malloc(70001);
    memset(host, 'h', 70000);
    host[70000] = '\0';
    req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.host = host;
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
    req.list_services = "";
    send_req(b, &req);
    free(host);
    char details[128];
    assert_int_equal(bidi_finish(b, details, sizeof(details)), GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(details, "reflection request: larger than 65536 bytes");
}

static void test_1000_requests_on_one_stream(void **state)
{
    bidi_client_t *b = bidi_start(port, GS_REFLECTION_V1ALPHA_PATH, 4 * WAIT_MS);
    assert_non_null(b);
    const char *syms[] = {"llmgw.v1.ChatService", "llmgw.v1.ChatService.Stream",
                          "grpc.health.v1.Health", "llmgw.v1.Nope"};
    req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    /* Ten requests in flight at a time, answered in order. */
    for (int batch = 0; batch < 100; batch++) {
        for (int i = 0; i < 10; i++) {
            req.file_containing_symbol = (char *)syms[(batch * 10 + i) % 4];
            send_req(b, &req);
        }
        for (int i = 0; i < 10; i++) {
            resp_t *r = recv_resp(b);
            const char *sym = syms[(batch * 10 + i) % 4];
            assert_string_equal(r->original_request->file_containing_symbol, sym);
            assert_int_equal(
                r->message_response_case,
                (batch * 10 + i) % 4 == 3
                    ? GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE
                    : GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
            grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
        }
    }
    end_ok(b);
}

static void test_client_that_never_reads_is_cut_off(void **state)
{
    /* Each answer (control.proto) is several KiB; the client sends without
     * reading until the server's send queue cap (4 MiB) ends the call. */
    bidi_client_t *b = bidi_start(port, GS_REFLECTION_V1_PATH, 4 * WAIT_MS);
    assert_non_null(b);
    req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    req.file_by_filename = "llmgw/v1/control.proto";
    size_t n = grpc__reflection__v1__server_reflection_request__get_packed_size(&req);
    uint8_t buf[128];
    grpc__reflection__v1__server_reflection_request__pack(&req, buf);
    int sent = 0;
    while (sent < 20000 && bidi_send(b, buf, n) == 0)
        sent++;
    char details[128];
    assert_int_equal(bidi_finish(b, details, sizeof(details)), GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_string_equal(details, "reflection: answers are not being read");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_services_names_the_registered_services),
        cmocka_unit_test(test_file_containing_symbol_brings_transitive_imports),
        cmocka_unit_test(test_unknown_names_are_not_found_and_the_stream_stays_open),
        cmocka_unit_test(test_long_names_are_cut_in_the_error),
        cmocka_unit_test(test_malformed_request_ends_the_call_invalid_argument),
        cmocka_unit_test(test_oversized_request_is_refused),
        cmocka_unit_test(test_1000_requests_on_one_stream),
        cmocka_unit_test(test_client_that_never_reads_is_cut_off),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
