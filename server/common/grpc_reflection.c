/* grpc_reflection: ServerReflectionInfo for grpc_server. See
 * grpc_reflection.h.
 *
 * Thread model: the handler runs on CQ threads, once per request message
 * (grpc_server serializes them per call); it answers synchronously with
 * gs_call_send, so it keeps no per-call state. The shared state (the index
 * over the embedded descriptor set and the server, asked for its services)
 * is immutable once the server starts and read without a lock.
 *
 * v1alpha and v1 define the same messages with the same field numbers, so
 * both services decode and encode with the v1 types.
 *
 * A client that sends requests without reading the answers fills the call's
 * send queue (capped by grpc_server); the call then ends RESOURCE_EXHAUSTED
 * instead of growing.
 */
#include "grpc_reflection.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/reflection/v1/reflection.pb-c.h"
#include "log.h"
#include "reflect_index.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest rf_request_t;
typedef Grpc__Reflection__V1__ServerReflectionResponse rf_response_t;

/* Built by cmake/embed_bytes.cmake from protoc --descriptor_set_out. */
extern const unsigned char gs_reflection_descriptor_set[];
extern const size_t gs_reflection_descriptor_set_len;

/* Names echoed in error messages are cut here and shown as printable ASCII. */
#define RF_ECHO_MAX 128
/* A request is a name or two; anything larger is refused before it is
 * decoded (and echoed back in original_request). */
#define RF_MAX_REQUEST (64 * 1024)

typedef struct {
    const gs_server_t *server;
    ri_index_t *index;
} rf_state_t;

static void rf_free(void *ctx)
{
    rf_state_t *st = ctx;
    ri_index_free(st->index);
    free(st);
}

/* A client-supplied name, safe to put in a message: at most RF_ECHO_MAX
 * bytes, anything but printable ASCII shown as '?'. */
static void rf_echo(const char *name, char out[RF_ECHO_MAX + 4])
{
    size_t n = 0;
    for (; name[n] != '\0' && n < RF_ECHO_MAX; n++)
        out[n] = name[n] >= 0x20 && name[n] < 0x7f ? name[n] : '?';
    if (name[n] != '\0') {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* --- the answers --------------------------------------------------------------- */

/* Everything a response points to, freed after it is packed. */
typedef struct {
    Grpc__Reflection__V1__FileDescriptorResponse files;
    ProtobufCBinaryData *blobs;
    Grpc__Reflection__V1__ListServiceResponse list;
    Grpc__Reflection__V1__ServiceResponse *svc;
    Grpc__Reflection__V1__ServiceResponse **svcp;
    char *names; /* the service names, NUL-separated */
    Grpc__Reflection__V1__ExtensionNumberResponse ext;
    Grpc__Reflection__V1__ErrorResponse error;
    char message[256];
} rf_parts_t;

static void rf_parts_free(rf_parts_t *p)
{
    free(p->blobs);
    free(p->svc);
    free(p->svcp);
    free(p->names);
}

static void rf_set_error(rf_response_t *resp, rf_parts_t *p, int code, const char *what,
                         const char *name)
{
    char echo[RF_ECHO_MAX + 4];
    rf_echo(name, echo);
    grpc__reflection__v1__error_response__init(&p->error);
    snprintf(p->message, sizeof(p->message), "%s not found: %s", what, echo);
    p->error.error_code = code;
    p->error.error_message = p->message;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    resp->error_response = &p->error;
}

/* The distinct services of the server's methods, in registration order. */
static int rf_list_services(const rf_state_t *st, rf_response_t *resp, rf_parts_t *p)
{
    size_t n_methods = gs_server_method_count(st->server), total = 0;
    for (size_t i = 0; i < n_methods; i++)
        total += strlen(gs_server_method_path(st->server, i)) + 1;
    p->svc = calloc(n_methods ? n_methods : 1, sizeof(*p->svc));
    p->svcp = calloc(n_methods ? n_methods : 1, sizeof(*p->svcp));
    p->names = malloc(total ? total : 1);
    if (p->svc == NULL || p->svcp == NULL || p->names == NULL)
        return -1;
    size_t n = 0;
    char *at = p->names;
    for (size_t i = 0; i < n_methods; i++) {
        const char *path = gs_server_method_path(st->server, i); /* "/pkg.Service/Method" */
        const char *slash = strrchr(path, '/');
        size_t len = slash > path ? (size_t)(slash - path - 1) : 0;
        bool dup = len == 0;
        for (size_t k = 0; k < n && !dup; k++)
            dup = strlen(p->svc[k].name) == len && memcmp(p->svc[k].name, path + 1, len) == 0;
        if (dup)
            continue;
        memcpy(at, path + 1, len);
        at[len] = '\0';
        grpc__reflection__v1__service_response__init(&p->svc[n]);
        p->svc[n].name = at;
        p->svcp[n] = &p->svc[n];
        at += len + 1;
        n++;
    }
    grpc__reflection__v1__list_service_response__init(&p->list);
    p->list.n_service = n;
    p->list.service = p->svcp;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
    resp->list_services_response = &p->list;
    return 0;
}

/* File `file` and its transitive imports. */
static int rf_files(const rf_state_t *st, long file, rf_response_t *resp, rf_parts_t *p)
{
    size_t n_files = ri_file_count(st->index);
    size_t *order = calloc(n_files, sizeof(*order));
    p->blobs = calloc(n_files, sizeof(*p->blobs));
    if (order == NULL || p->blobs == NULL) {
        free(order);
        return -1;
    }
    size_t n = ri_closure(st->index, (size_t)file, order);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *data;
        size_t len;
        ri_file_bytes(st->index, order[i], &data, &len);
        p->blobs[i].data = (uint8_t *)data; /* only read by pack */
        p->blobs[i].len = len;
    }
    free(order);
    grpc__reflection__v1__file_descriptor_response__init(&p->files);
    p->files.n_file_descriptor_proto = n;
    p->files.file_descriptor_proto = p->blobs;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    resp->file_descriptor_response = &p->files;
    return 0;
}

/* Fills resp for req; 0, or -1 when out of memory. */
static int rf_answer(const rf_state_t *st, const rf_request_t *req, rf_response_t *resp,
                     rf_parts_t *p)
{
    const char *name;
    long file;
    ri_sym_kind_t kind;
    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        return rf_list_services(st, resp, p);
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        name = req->file_by_filename;
        if ((file = ri_find_file(st->index, name, strlen(name))) < 0)
            break;
        return rf_files(st, file, resp, p);
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        name = req->file_containing_symbol;
        if ((file = ri_find_symbol(st->index, name, strlen(name), NULL)) < 0) {
            rf_set_error(resp, p, GRPC_STATUS_NOT_FOUND, "symbol", name);
            return 0;
        }
        return rf_files(st, file, resp, p);
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION: {
        /* No llmgw message has extensions: the type may exist, the
         * extension never does. */
        const Grpc__Reflection__V1__ExtensionRequest *x = req->file_containing_extension;
        char what[64];
        snprintf(what, sizeof(what), "extension %d of", x != NULL ? x->extension_number : 0);
        rf_set_error(resp, p, GRPC_STATUS_NOT_FOUND, what,
                     x != NULL && x->containing_type != NULL ? x->containing_type : "");
        return 0;
    }
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        name = req->all_extension_numbers_of_type;
        if (ri_find_symbol(st->index, name, strlen(name), &kind) < 0 || kind != RI_SYM_MESSAGE) {
            rf_set_error(resp, p, GRPC_STATUS_NOT_FOUND, "message type", name);
            return 0;
        }
        grpc__reflection__v1__extension_number_response__init(&p->ext);
        p->ext.base_type_name = (char *)name;
        resp->message_response_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
        resp->all_extension_numbers_response = &p->ext;
        return 0;
    default:
        grpc__reflection__v1__error_response__init(&p->error);
        p->error.error_code = GRPC_STATUS_INVALID_ARGUMENT;
        p->error.error_message =
            "request: expected one of file_by_filename, file_containing_symbol, "
            "file_containing_extension, all_extension_numbers_of_type, list_services";
        resp->message_response_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
        resp->error_response = &p->error;
        return 0;
    }
    rf_set_error(resp, p, GRPC_STATUS_NOT_FOUND, "file", name);
    return 0;
}

/* One request: decode, answer, queue the answer. Finishes the call on a
 * malformed request or when the answer cannot be queued. */
static void rf_handle(gs_call_t *call, const uint8_t *msg, size_t len, const rf_state_t *st)
{
    rf_parts_t parts;
    memset(&parts, 0, sizeof(parts));
    uint8_t *out = NULL;
    if (len > RF_MAX_REQUEST) {
        gs_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "reflection request: larger than 65536 bytes", NULL, 0);
        return;
    }
    rf_request_t *req = grpc__reflection__v1__server_reflection_request__unpack(NULL, len, msg);
    if (req == NULL) {
        gs_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "reflection request: not a ServerReflectionRequest", NULL, 0);
        return;
    }
    rf_response_t resp = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    resp.valid_host = req->host;
    resp.original_request = req;
    if (rf_answer(st, req, &resp, &parts) != 0)
        goto oom;
    size_t n = grpc__reflection__v1__server_reflection_response__get_packed_size(&resp);
    if ((out = malloc(n ? n : 1)) == NULL)
        goto oom;
    grpc__reflection__v1__server_reflection_response__pack(&resp, out);
    if (gs_call_send(call, out, n) != 0)
        gs_call_finish(
            call, gs_call_cancelled(call) ? GRPC_STATUS_CANCELLED : GRPC_STATUS_RESOURCE_EXHAUSTED,
            "reflection: answers are not being read", NULL, 0);
    goto out;
oom:
    log_error("reflection answer failed", "reason=\"out of memory\"%s", "");
    gs_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "reflection: out of memory", NULL, 0);
out:
    free(out);
    rf_parts_free(&parts);
    grpc__reflection__v1__server_reflection_request__free_unpacked(req, NULL);
}

static void rf_info(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    if (msg == NULL) {
        /* The client half-closed (or went away): every request was answered. */
        gs_call_finish(call, gs_call_cancelled(call) ? GRPC_STATUS_CANCELLED : GRPC_STATUS_OK, NULL,
                       NULL, 0);
        return;
    }
    rf_handle(call, msg, len, ctx);
}

int gs_reflection_register(gs_server_t *s)
{
    char err[256];
    rf_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        goto fail;
    st->server = s;
    st->index = ri_index_new(gs_reflection_descriptor_set, gs_reflection_descriptor_set_len, err,
                             sizeof(err));
    if (st->index == NULL) {
        log_error("reflection not registered", "reason=\"%s\"", err);
        free(st);
        return -1;
    }
    /* The observer only frees the state, after every call was released. */
    gs_observer_t o = {NULL, NULL, rf_free, st};
    if (gs_server_add_method(s, GS_REFLECTION_V1_PATH, GS_BIDI_STREAMING, rf_info, st) != 0 ||
        gs_server_add_method(s, GS_REFLECTION_V1ALPHA_PATH, GS_BIDI_STREAMING, rf_info, st) != 0 ||
        gs_server_observe(s, &o) != 0) {
        /* A method added above keeps st as its ctx, but a server whose
         * registration failed is never started, so no handler reads it. */
        rf_free(st);
        goto fail;
    }
    return 0;
fail:
    log_error("reflection not registered", "reason=\"out of memory\"%s", "");
    return -1;
}
