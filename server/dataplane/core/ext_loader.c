/* ext_loader: dlopen'ed extensions and their lifecycle. See ext_loader.h.
 *
 * Thread model: everything but the listing runs on the main thread at
 * startup (load) or exit (unload). The list is append-only until unload,
 * with n_exts an atomic, so the front doors may list it from any thread.
 *
 * A plugin's registrations are checked as it makes them (during init) and
 * take effect only once init returned 0, so a plugin whose init fails leaves
 * nothing behind.
 */
#define _GNU_SOURCE /* strsignal */
#include "ext_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "ext_adapter.h"
#include "ext_hooks.h"
#include "llmgw/extension.h"
#include "log.h"

#define EXT_PENDING_MAX 8 /* registrations of one kind per extension */

struct llmgw_ext_host {
    ext_loader_info_t info;
    char *path;
    char name[72];
    char version[72];
    void *dl;
    const llmgw_ext_info_t *x;
    void *state;
    bool in_init; /* registrations are accepted only during init */
    bool failed;  /* a registration was refused */
    char reg_err[256];
    const llmgw_ext_adapter_t *adapters[EXT_PENDING_MAX];
    const llmgw_ext_request_hook_t *req[EXT_PENDING_MAX];
    const llmgw_ext_response_hook_t *resp[EXT_PENDING_MAX];
    const llmgw_ext_usage_hook_t *usage[EXT_PENDING_MAX];
    size_t n_adapters, n_req, n_resp, n_usage;
    llmgw_ext_api_t api;
};

static llmgw_ext_host_t *exts[EXT_LOADER_MAX];
static atomic_size_t n_exts;

/* --- the api a plugin gets ------------------------------------------------ */

static bool host_accepting(llmgw_ext_host_t *h, const char *what)
{
    if (!h || h->failed)
        return false;
    if (!h->in_init) {
        snprintf(h->reg_err, sizeof(h->reg_err), "%s: registrations are accepted during init only",
                 what);
        h->failed = true;
        return false;
    }
    return true;
}

static int host_refuse(llmgw_ext_host_t *h, const char *msg)
{
    snprintf(h->reg_err, sizeof(h->reg_err), "%s", msg);
    h->failed = true;
    log_warn("extension registration refused", "ext=%s error=\"%s\"", h->name, msg);
    return -1;
}

static int api_register_adapter(llmgw_ext_host_t *h, const llmgw_ext_adapter_t *a)
{
    char err[200];
    if (!host_accepting(h, "register_adapter"))
        return -1;
    if (ext_adapter_check(a, err, sizeof(err)) < 0)
        return host_refuse(h, err);
    for (size_t i = 0; i < h->n_adapters; i++)
        if (strcmp(h->adapters[i]->wire_format, a->wire_format) == 0)
            return host_refuse(h, "adapter.wire_format: registered twice");
    if (h->n_adapters >= EXT_PENDING_MAX)
        return host_refuse(h, "adapter: too many from one extension");
    h->adapters[h->n_adapters++] = a;
    return 0;
}

/* Hooks: struct size and function now, the table's room at commit. */
/* The size floor is the frozen first-version size, not sizeof: a hook built
 * before a field was appended must still load (llmgw/extension.h). */
#define API_REGISTER_HOOK(fn, type, v1_size, arr, n, field, kind)                                  \
    static int fn(llmgw_ext_host_t *h, const type *hk)                                             \
    {                                                                                              \
        if (!host_accepting(h, "register_" kind "_hook"))                                          \
            return -1;                                                                             \
        if (!hk || hk->struct_size < (v1_size))                                                    \
            return host_refuse(h, kind "_hook.struct_size: smaller than this ABI's");              \
        if (!hk->field)                                                                            \
            return host_refuse(h, kind "_hook." #field ": required");                              \
        if (h->n >= EXT_PENDING_MAX)                                                               \
            return host_refuse(h, kind "_hook: too many from one extension");                      \
        h->arr[h->n++] = hk;                                                                       \
        return 0;                                                                                  \
    }
API_REGISTER_HOOK(api_register_request_hook, llmgw_ext_request_hook_t,
                  LLMGW_EXT_REQUEST_HOOK_V1_SIZE, req, n_req, on_request, "request")
API_REGISTER_HOOK(api_register_response_hook, llmgw_ext_response_hook_t,
                  LLMGW_EXT_RESPONSE_HOOK_V1_SIZE, resp, n_resp, on_response, "response")
API_REGISTER_HOOK(api_register_usage_hook, llmgw_ext_usage_hook_t, LLMGW_EXT_USAGE_HOOK_V1_SIZE,
                  usage, n_usage, on_usage, "usage")

static void api_log(llmgw_ext_host_t *h, int level, const char *message)
{
    const char *name = h ? h->name : "";
    if (level > 0)
        log_warn("extension", "ext=%s message=\"%.400s\"", name, message ? message : "");
    else
        log_info("extension", "ext=%s message=\"%.400s\"", name, message ? message : "");
}

/* --- loading ------------------------------------------------------------------ */

static bool ext_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

static void host_free(llmgw_ext_host_t *h)
{
    if (!h)
        return;
    if (h->dl)
        dlclose(h->dl);
    free(h->path);
    free(h);
}

/* The checks on the plugin's description, before any of its code but the
 * entry point has run. */
static int ext_check_info(llmgw_ext_host_t *h, const ext_load_spec_t *spec, char *err,
                          size_t errlen)
{
    const llmgw_ext_info_t *x = h->x;
    const char *path = spec->path;
    if (!x) {
        snprintf(err, errlen, "extension at %s: %s() returned NULL", path, LLMGW_EXT_ENTRY_SYMBOL);
        return -1;
    }
    if (x->struct_size < LLMGW_EXT_INFO_V1_SIZE) {
        snprintf(err, errlen, "extension at %s: info.struct_size %u, ABI %u needs at least %zu",
                 path, x->struct_size, LLMGW_EXT_ABI_VERSION, (size_t)LLMGW_EXT_INFO_V1_SIZE);
        return -1;
    }
    if (x->abi_version != LLMGW_EXT_ABI_VERSION) {
        snprintf(err, errlen,
                 "extension at %s: info.abi_version %u, this data plane speaks ABI %u "
                 "(rebuild it against this llmgw/extension.h)",
                 path, x->abi_version, LLMGW_EXT_ABI_VERSION);
        return -1;
    }
    if (!ext_name_ok(x->name)) {
        snprintf(err, errlen,
                 "extension at %s: info.name: expected 1 to 64 characters from "
                 "[a-z0-9_-]",
                 path);
        return -1;
    }
    if (!x->version || !x->version[0] || strlen(x->version) > 64) {
        snprintf(err, errlen, "extension %s (%s): info.version: expected 1 to 64 characters",
                 x->name, path);
        return -1;
    }
    if (!x->init) {
        snprintf(err, errlen, "extension %s (%s): info.init: required", x->name, path);
        return -1;
    }
    if (spec->expect_name && strcmp(spec->expect_name, x->name) != 0) {
        snprintf(err, errlen, "extension at %s: the table names it '%s' but the plugin is '%s'",
                 path, spec->expect_name, x->name);
        return -1;
    }
    size_t n = atomic_load(&n_exts);
    for (size_t i = 0; i < n; i++)
        if (strcmp(exts[i]->name, x->name) == 0) {
            snprintf(err, errlen, "extension %s (%s): already loaded from %s", x->name, path,
                     exts[i]->path);
            return -1;
        }
    if (n >= EXT_LOADER_MAX) {
        snprintf(err, errlen, "extension %s (%s): at most %d extensions", x->name, path,
                 EXT_LOADER_MAX);
        return -1;
    }
    snprintf(h->name, sizeof(h->name), "%s", x->name);
    snprintf(h->version, sizeof(h->version), "%s", x->version);
    return 0;
}

/* The registrations of a plugin whose init succeeded. */
static int ext_commit(llmgw_ext_host_t *h, char *err, size_t errlen)
{
    char why[256];
    ext_loader_info_t *in = &h->info;
    for (size_t i = 0; i < h->n_adapters; i++) {
        if (ext_adapter_register(h->adapters[i], h->state, h->name, why, sizeof(why)) < 0)
            goto fail;
        in->adapters[in->n_adapters++] = h->adapters[i]->wire_format;
    }
    for (size_t i = 0; i < h->n_req; i++)
        if (ext_hooks_add_request(h->req[i], h->state, h->name, why, sizeof(why)) < 0)
            goto fail;
    for (size_t i = 0; i < h->n_resp; i++)
        if (ext_hooks_add_response(h->resp[i], h->state, h->name, why, sizeof(why)) < 0)
            goto fail;
    for (size_t i = 0; i < h->n_usage; i++)
        if (ext_hooks_add_usage(h->usage[i], h->state, h->name, why, sizeof(why)) < 0)
            goto fail;
    in->request_hooks = h->n_req;
    in->response_hooks = h->n_resp;
    in->usage_hooks = h->n_usage;
    return 0;
fail:
    snprintf(err, errlen, "extension %s (%s): %s", h->name, h->path, why);
    return -1;
}

/* dlopen, the checks, init, the registrations: the load itself (in the
 * probe child too). *out is the loaded host. */
static int ext_load_here(const ext_load_spec_t *spec, llmgw_ext_host_t **out, char *err,
                         size_t errlen)
{
    llmgw_ext_host_t *h = calloc(1, sizeof(*h));
    if (!h || !(h->path = strdup(spec->path))) {
        snprintf(err, errlen, "extension at %s: out of memory", spec->path);
        goto fail;
    }
    dlerror();
    if (!(h->dl = dlopen(spec->path, RTLD_NOW | RTLD_LOCAL))) {
        const char *why = dlerror();
        snprintf(err, errlen, "extension at %s: cannot load: %s", spec->path, why ? why : "?");
        goto fail;
    }
    llmgw_ext_entry_fn entry;
    *(void **)&entry = dlsym(h->dl, LLMGW_EXT_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(err, errlen, "extension at %s: no entry point %s() (is it an llmgw extension?)",
                 spec->path, LLMGW_EXT_ENTRY_SYMBOL);
        goto fail;
    }
    h->x = entry();
    if (ext_check_info(h, spec, err, errlen) < 0)
        goto fail;
    h->api = (llmgw_ext_api_t){
        .struct_size = sizeof(h->api),
        .abi_version = LLMGW_EXT_ABI_VERSION,
        .host = h,
        .register_adapter = api_register_adapter,
        .register_request_hook = api_register_request_hook,
        .register_response_hook = api_register_response_hook,
        .register_usage_hook = api_register_usage_hook,
        .buf_append = ext_buf_append,
        .request_complete = ext_call_complete,
        .log = api_log,
    };
    char why[256] = "";
    h->in_init = true;
    int rc = h->x->init(&h->api, spec->config_json ? spec->config_json : "{}", &h->state, why,
                        sizeof(why));
    h->in_init = false;
    why[sizeof(why) - 1] = '\0';
    if (rc != 0 || h->failed) {
        if (rc == 0 && h->x->shutdown)
            h->x->shutdown(h->state); /* init succeeded but a registration was refused */
        snprintf(err, errlen, "extension %s (%s): init failed: %s", h->name, spec->path,
                 rc != 0 ? (why[0] ? why : "(no message)") : h->reg_err);
        goto fail;
    }
    if (ext_commit(h, err, errlen) < 0) {
        /* Part of it may be registered: keep it mapped, never shut down. */
        h = NULL;
        goto fail;
    }
    h->info.name = h->name;
    h->info.version = h->version;
    h->info.path = h->path;
    h->info.abi_version = h->x->abi_version;
    *out = h;
    return 0;
fail:
    host_free(h);
    return -1;
}

/* The probe: the load and the plugin's shutdown in a child, which reports
 * "ok" or the error on a pipe. No report means the child died in the
 * plugin's code (a signal, or a sanitizer's exit). */
static int ext_probe(const ext_load_spec_t *spec, char *err, size_t errlen)
{
    int fds[2];
    if (pipe(fds) < 0) {
        snprintf(err, errlen, "extension at %s: probe: pipe: %s", spec->path, strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "extension at %s: probe: fork: %s", spec->path, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        char msg[600];
        llmgw_ext_host_t *h = NULL;
        int rc = ext_load_here(spec, &h, msg + 1, sizeof(msg) - 1);
        if (rc == 0 && h->x->shutdown)
            h->x->shutdown(h->state);
        msg[0] = rc == 0 ? '0' : '1';
        size_t len = rc == 0 ? 1 : strlen(msg);
        (void)!write(fds[1], msg, len);
        _exit(0); /* no atexit handlers: the parent's state is not ours to flush */
    }
    close(fds[1]);
    int timeout_ms = spec->probe_timeout_ms > 0 ? spec->probe_timeout_ms : EXT_PROBE_TIMEOUT_MS;
    int64_t deadline = clock_now_ms() + timeout_ms;
    char msg[600];
    size_t len = 0;
    bool timed_out = false;
    for (;;) {
        int64_t left = deadline - clock_now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            timed_out = n == 0;
            break;
        }
        ssize_t got = read(fds[0], msg + len, sizeof(msg) - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
        if (len >= sizeof(msg) - 1)
            break;
    }
    close(fds[0]);
    msg[len] = '\0';
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        snprintf(err, errlen, "extension at %s: init did not return within %d ms in the probe",
                 spec->path, timeout_ms);
        return -1;
    }
    if (len > 0 && msg[0] == '0')
        return 0;
    if (len > 1 && msg[0] == '1') {
        snprintf(err, errlen, "%s", msg + 1);
        return -1;
    }
    if (WIFSIGNALED(status))
        snprintf(err, errlen,
                 "extension at %s: crashed in the probe (signal %d, %s) while loading "
                 "or in init; not loaded",
                 spec->path, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(err, errlen,
                 "extension at %s: the probe exited with status %d before init "
                 "returned (a crash caught by a sanitizer, or exit() in the plugin); not loaded",
                 spec->path, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return -1;
}

int ext_loader_load(const ext_load_spec_t *spec, char *err, size_t errlen)
{
    if (!spec || !spec->path || !spec->path[0]) {
        snprintf(err, errlen, "extension: path: required");
        return -1;
    }
    if (spec->config_json) {
        json_error_t jerr;
        json_t *c = json_loads(spec->config_json, 0, &jerr);
        bool ok = json_is_object(c);
        json_decref(c);
        if (!ok) {
            snprintf(err, errlen, "extension at %s: config: expected a JSON object (%s)",
                     spec->path, c ? "got another JSON value" : jerr.text);
            return -1;
        }
    }
    if (spec->probe_timeout_ms >= 0 && ext_probe(spec, err, errlen) < 0)
        return -1;
    llmgw_ext_host_t *h = NULL;
    if (ext_load_here(spec, &h, err, errlen) < 0)
        return -1;
    size_t n = atomic_load(&n_exts);
    exts[n] = h;
    atomic_store(&n_exts, n + 1);
    log_info("extension loaded",
             "ext=%s version=%s path=%s adapters=%zu request_hooks=%zu response_hooks=%zu "
             "usage_hooks=%zu",
             h->name, h->version, h->path, h->info.n_adapters, h->info.request_hooks,
             h->info.response_hooks, h->info.usage_hooks);
    return 0;
}

void ext_loader_unload_all(void)
{
    size_t n = atomic_load(&n_exts);
    ext_hooks_clear();
    atomic_store(&n_exts, 0);
    for (size_t i = n; i-- > 0;) {
        llmgw_ext_host_t *h = exts[i];
        if (h->x->shutdown)
            h->x->shutdown(h->state);
        /* The adapters stay in the registry (it has no removal): the
         * mapping is kept so their names stay valid until exit. */
        h->dl = NULL;
        free(h->path);
        free(h);
        exts[i] = NULL;
    }
}

size_t ext_loader_count(void)
{
    return atomic_load(&n_exts);
}

const ext_loader_info_t *ext_loader_at(size_t i)
{
    return i < atomic_load(&n_exts) ? &exts[i]->info : NULL;
}

bool ext_loader_health(size_t i, char *msg, size_t msglen)
{
    msg[0] = '\0';
    if (i >= atomic_load(&n_exts))
        return false;
    llmgw_ext_host_t *h = exts[i];
    if (!h->x->health)
        return true;
    int rc = h->x->health(h->state, msg, msglen);
    msg[msglen - 1] = '\0';
    if (rc != 0 && !msg[0])
        snprintf(msg, msglen, "unhealthy");
    return rc == 0;
}

json_t *ext_loader_list(void)
{
    json_t *data = json_array();
    size_t n = ext_loader_count();
    for (size_t i = 0; data && i < n; i++) {
        const ext_loader_info_t *in = ext_loader_at(i);
        char msg[256];
        bool ok = ext_loader_health(i, msg, sizeof(msg));
        json_t *ads = json_array();
        for (size_t k = 0; ads && k < in->n_adapters; k++)
            if (json_array_append_new(ads, json_string(in->adapters[k])) < 0) {
                json_decref(ads);
                ads = NULL;
            }
        json_t *e =
            ads ? json_pack("{s:s,s:s,s:s,s:I,s:o,s:I,s:I,s:I,s:b,s:s}", "name", in->name,
                            "version", in->version, "path", in->path, "abi_version",
                            (json_int_t)in->abi_version, "adapters", ads, "request_hooks",
                            (json_int_t)in->request_hooks, "response_hooks",
                            (json_int_t)in->response_hooks, "usage_hooks",
                            (json_int_t)in->usage_hooks, "healthy", ok, "health_message", msg)
                : NULL;
        if (!e || json_array_append_new(data, e) < 0) {
            json_decref(data);
            data = NULL;
        }
    }
    return data ? json_pack("{s:I,s:o}", "abi_version", (json_int_t)LLMGW_EXT_ABI_VERSION, "loaded",
                            data)
                : NULL;
}
