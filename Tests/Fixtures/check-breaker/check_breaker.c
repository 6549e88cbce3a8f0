/*
 * Fixture (never shipped): an agent transport that breaks ONE rule of the ABI contract,
 * chosen by the environment variable DS_CHECK_BREAKER, so that `darkspere plugin-check`
 * can be shown to report each break by its name. Written from darkspere_plugin.h alone.
 *
 *   (unset) or "ok"     follows the contract: the control, which passes plugin-check;
 *   "twice"             call() completes its op twice                 -> completed_twice
 *   "never"             call() returns DS_PENDING and never completes  -> never_completed
 *   "ignore-cancel"     call() completes 3 s later whatever cancel() says -> completed_after_cancel
 *   "bad-status"        call() completes with status 42               -> status_outside_table
 *   "small-table"       the transport table's struct_size is 8        -> struct_size_too_small
 *   "small-descriptor"  the descriptor's struct_size is 16            -> struct_size_too_small
 *   "blocking-callback" call() makes an HTTP request whose callback sleeps 2.5 s -> blocking_callback
 *   "crash"             call() writes through a NULL pointer          -> crash
 *   "hang"              call() never returns (blocks forever)          -> hang
 *   "exit"              call() calls exit(3): the plugin ends the process -> exited
 *   "abi-version"       the descriptor says ABI 2.x (its entry accepted 1) -> abi_version
 *   "bad-id"            the descriptor's id is "Check_Breaker"         -> descriptor
 *   "missing-probe"     the transport table's probe is NULL            -> missing_function
 *   "any-interface"     get_interface answers every id with the table  -> get_interface
 *   "bad-schema"        config_schema has a typo (minLenght)           -> schema
 *   "refuse-config"     create() refuses every config, saying nothing  -> example_config_refused, refused_without_reason
 *   "respond"           call() answers its op with respond()           -> wrong_function
 *   "unknown-op"        call() also completes an op it was never given -> unknown_op
 *   "timer"             create() starts a 20 ms timer destroy() leaves running -> timer_after_destroy
 *   "after-destroy"     destroy() leaves a thread that calls http_request 50 ms later -> service_after_destroy
 *   "bad-handle"        call() makes an HTTP request with a made-up ds_host_handle -> invalid_handle
 *   "bad-url"           call() makes an HTTP request to "not a url"    -> invalid_argument
 *
 * probe() always completes once, at once. Ops are completed from a thread after 5 ms (so
 * cancel() can find them in flight), except in "twice" and "bad-status".
 */
#include "darkspere_plugin.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const ds_host *g_host;
static char g_mode[32] = "ok";

static int mode_is(const char *m) { return strcmp(g_mode, m) == 0; }

static void sleep_ms(long ms) {
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

static void finish(ds_op *op, ds_status status, const char *text) {
    ds_outcome o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.text = ds_str_from_cstr(text);
    g_host->complete(op, status, &o);
}

/* ---- ops in flight: a small table guarded by a lock, so cancel() can find its op ---- */

#define MAX_OPS 256
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static ds_op *g_ops[MAX_OPS];

static int take(ds_op *op) {   /* 1 if op was in flight (and is no longer) */
    int found = 0;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < MAX_OPS; i++) if (g_ops[i] == op) { g_ops[i] = NULL; found = 1; break; }
    pthread_mutex_unlock(&g_lock);
    return found;
}

static int keep(ds_op *op) {
    int kept = 0;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < MAX_OPS; i++) if (g_ops[i] == NULL) { g_ops[i] = op; kept = 1; break; }
    pthread_mutex_unlock(&g_lock);
    return kept;
}

static void *complete_later(void *arg) {
    ds_op *op = arg;
    sleep_ms(mode_is("ignore-cancel") ? 3000 : 5);
    if (mode_is("ignore-cancel")) { finish(op, DS_OK, "late"); take(op); return NULL; }
    if (take(op)) finish(op, DS_OK, "echo");
    return NULL;
}

static void http_done(void *user, ds_status status, const ds_http_response *response, ds_str error) {
    (void)status; (void)response; (void)error;
    sleep_ms(2500);                          /* the break: blocking a host callback thread */
    ds_op *op = user;
    if (take(op)) finish(op, DS_ERR_UNAVAILABLE, "");
}

static void http_ignored(void *user, ds_status status, const ds_http_response *response, ds_str error) {
    (void)user; (void)status; (void)response; (void)error;
}

/* An HTTP request the checker must refuse ("bad-handle", "bad-url") or see after destroy. */
static void bad_request(ds_host_handle *h, const char *url) {
    ds_http_request r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.method = ds_str_from_cstr("GET");
    r.url = ds_str_from_cstr(url);
    g_host->http_request(h, &r, http_ignored, NULL);
}

static void *request_after_destroy(void *h) {
    sleep_ms(50);
    bad_request(h, "http://127.0.0.1:9/after-destroy");   /* the break: the instance is gone */
    return NULL;
}

static void tick(void *user) { (void)user; }

/* ---- ds.agent-transport/1 ---- */

typedef struct { ds_host_handle *host; } transport;

static ds_status t_create(const ds_plugin_descriptor *p, ds_host_handle *h, ds_str cfg, void **out, ds_error *err) {
    (void)p; (void)cfg; (void)err;
    if (mode_is("refuse-config")) return DS_ERR_CONFIG;   /* the break: no reason in err */
    transport *t = calloc(1, sizeof *t);
    t->host = h;
    if (mode_is("timer")) g_host->timer_start(h, 20, 20, tick, NULL);   /* never cancelled */
    *out = t;
    return DS_OK;
}

static void t_destroy(void *inst) {
    transport *t = inst;
    if (mode_is("after-destroy")) {
        pthread_t th;
        if (pthread_create(&th, NULL, request_after_destroy, t->host) == 0) pthread_detach(th);
    }
    free(t);
}

static ds_status t_open(void *inst, ds_str name, ds_str cfg, void **out, ds_error *err) {
    (void)inst; (void)name; (void)cfg; (void)err;
    *out = NULL;
    return DS_OK;
}

static ds_status t_call(void *inst, void *agent, const ds_agent_request *req, ds_op *op) {
    transport *t = inst;
    (void)agent; (void)req;
    if (mode_is("twice")) { finish(op, DS_OK, "one"); finish(op, DS_OK, "two"); return DS_OK; }
    if (mode_is("bad-status")) { finish(op, 42, "forty-two"); return DS_OK; }
    if (mode_is("crash")) { *(volatile int *)(uintptr_t)0 = 1; return DS_OK; }
    if (mode_is("hang")) for (;;) sleep_ms(60000);   /* the break: the host's thread never comes back */
    if (mode_is("exit")) { fprintf(stderr, "check-breaker: giving up, exit(3)\n"); exit(3); }
    if (mode_is("respond")) {
        ds_http_response resp;
        memset(&resp, 0, sizeof resp);
        resp.struct_size = sizeof resp;
        resp.status = 200;
        g_host->respond(op, &resp);
        return DS_OK;
    }
    if (mode_is("unknown-op")) finish((ds_op *)(uintptr_t)0x10, DS_OK, "stray");
    if (mode_is("bad-handle")) bad_request((ds_host_handle *)(void *)g_mode, "http://127.0.0.1:9/agent");
    if (mode_is("bad-url")) bad_request(t->host, "not a url");
    if (mode_is("never")) return DS_PENDING;
    if (!keep(op)) return DS_ERR_UNAVAILABLE;
    if (mode_is("blocking-callback")) {
        ds_http_request r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        r.method = ds_str_from_cstr("GET");
        r.url = ds_str_from_cstr("http://127.0.0.1:9/agent");
        if (g_host->http_request(t->host, &r, http_done, op) != DS_OK && take(op)) finish(op, DS_ERR_UNAVAILABLE, "");
        return DS_PENDING;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, complete_later, op) != 0) { take(op); return DS_ERR_UNAVAILABLE; }
    pthread_detach(th);
    return DS_PENDING;
}

static ds_status t_probe(void *inst, void *agent, ds_op *op) {
    (void)inst; (void)agent;
    finish(op, DS_OK, "");
    return DS_OK;
}

static void t_close(void *inst, void *agent) { (void)inst; (void)agent; }

static void t_cancel(void *inst, ds_op *op) {
    (void)inst;
    if (mode_is("ignore-cancel") || mode_is("never")) return;   /* the break (for those modes) */
    if (take(op)) finish(op, DS_ERR_CANCELLED, "");
}

static ds_agent_transport_v1 transport_table = {
    .struct_size = sizeof(ds_agent_transport_v1),
    .create = t_create, .destroy = t_destroy, .open = t_open, .call = t_call,
    .probe = t_probe, .close = t_close, .cancel = t_cancel,
};

/* ---- descriptor ---- */

static const char *const interfaces[] = { DS_AGENT_TRANSPORT_V1, NULL };

static const void *get_interface(const ds_plugin_descriptor *p, const char *id) {
    (void)p;
    if (mode_is("any-interface")) return &transport_table;   /* the break: a table for any id */
    return strcmp(id, DS_AGENT_TRANSPORT_V1) == 0 ? &transport_table : NULL;
}

static ds_plugin_descriptor descriptor = {
    .struct_size = sizeof(ds_plugin_descriptor),
    .abi_major = DS_ABI_MAJOR, .abi_minor = DS_ABI_MINOR,
    .id = "check-breaker", .name = "Check breaker", .version = "0.1.0",
    .description = "breaks one rule of the contract, chosen by DS_CHECK_BREAKER (a test fixture)",
    .interfaces = interfaces, .get_interface = get_interface,
};

DS_EXPORT const ds_plugin_descriptor *darkspere_plugin_entry(const ds_host *host, uint32_t major, uint32_t minor) {
    (void)minor;
    if (major != DS_ABI_MAJOR) return NULL;
    g_host = host;
    const char *m = getenv("DS_CHECK_BREAKER");
    if (m != NULL && m[0] != '\0') { strncpy(g_mode, m, sizeof g_mode - 1); g_mode[sizeof g_mode - 1] = '\0'; }
    if (mode_is("small-table")) transport_table.struct_size = 8;
    if (mode_is("small-descriptor")) descriptor.struct_size = 16;
    if (mode_is("abi-version")) descriptor.abi_major = DS_ABI_MAJOR + 1;
    if (mode_is("bad-id")) descriptor.id = "Check_Breaker";
    if (mode_is("missing-probe")) transport_table.probe = NULL;
    if (mode_is("bad-schema"))
        descriptor.config_schema = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLenght\":1}}}";
    return &descriptor;
}
