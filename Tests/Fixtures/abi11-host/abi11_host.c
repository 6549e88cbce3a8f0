/*
 * A minimal host frozen at ABI 1.1, in C: its ds_host table ends after account_update
 * (struct_size = offsetof(ds_host, instance_info), abi_minor 1), and the structs it hands
 * to the plugin stop at their 1.1 fields. It loads a plugin built against 1.2 (argv[1]),
 * creates its channel and agent transport, sends one request to the route the channel
 * registered and one call to an agent, and prints what came back, one "key=value" a line.
 * Used by ABI12Tests to prove that a 1.2 plugin that tests DS_HAS_FIELD works on a 1.1 host.
 *
 *   abi11_host LIB
 */
#include "darkspere_plugin.h"
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static ds_route_handler g_handler;
static void *g_user;

static void h_log(ds_host_handle *h, int32_t level, ds_str m) { (void)h; fprintf(stderr, "log %d: %.*s\n", level, (int)m.len, m.ptr); }
static ds_metric *h_metric(ds_host_handle *h, int32_t k, ds_str n, ds_str help, const ds_kv *l, size_t c) {
    (void)h; (void)k; (void)n; (void)help; (void)l; (void)c; return NULL;
}
static void h_metric_record(ds_metric *m, double v) { (void)m; (void)v; }
static ds_status h_http(ds_host_handle *h, const ds_http_request *r, ds_http_callback cb, void *u) {
    (void)h; (void)r; (void)cb; (void)u; return DS_ERR_UNAVAILABLE;
}
static ds_timer *h_timer_start(ds_host_handle *h, uint64_t d, uint64_t i, ds_timer_callback cb, void *u) {
    (void)h; (void)d; (void)i; (void)cb; (void)u; return NULL;
}
static void h_timer_cancel(ds_timer *t) { (void)t; }
static ds_status h_route_register(ds_host_handle *h, ds_str method, ds_str path, ds_route_handler handler, void *user, ds_error *err) {
    (void)h; (void)method; (void)err;
    printf("route=%.*s\n", (int)path.len, path.ptr);
    g_handler = handler; g_user = user;
    return DS_OK;
}
static void h_respond(ds_op *op, const ds_http_response *r) { (void)op; printf("respond=%d %.*s\n", r->status, (int)r->body.len, r->body.ptr); }
static ds_status h_submit(ds_host_handle *h, const ds_inbound_message *m, ds_submit_callback cb, void *u) {
    (void)h; (void)m; (void)cb; (void)u; return DS_ERR_UNSUPPORTED;
}
static void h_complete(ds_op *op, ds_status s, const ds_outcome *o) {
    (void)op;
    printf("complete=%d %.*s\n", s, o != NULL ? (int)o->text.len : 0, o != NULL ? o->text.ptr : "");
}
static ds_status h_get_env(ds_host_handle *h, ds_str n, char *b, size_t c, size_t *l) { (void)h; (void)n; (void)b; (void)c; (void)l; return DS_ERR_NOT_FOUND; }
static ds_status h_report_status(ds_host_handle *h, ds_str id, ds_str s, int32_t c) { (void)h; (void)id; (void)s; (void)c; return DS_ERR_UNSUPPORTED; }
static ds_status h_account_update(ds_host_handle *h, ds_str c, ds_str t, ds_str s) { (void)h; (void)c; (void)t; (void)s; return DS_ERR_UNSUPPORTED; }

#define SIZE_11(type, last_member) ((uint32_t)(offsetof(type, last_member) + sizeof(((type *)0)->last_member)))

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: abi11_host LIB\n"); return 2; }
    ds_host host;
    memset(&host, 0xAB, sizeof host);   /* poison past the 1.1 end: a plugin that reads it crashes */
    host.struct_size = (uint32_t)offsetof(ds_host, instance_info);
    host.abi_major = 1;
    host.abi_minor = 1;
    host.host_version = "abi11-host";
    host.log = h_log; host.metric = h_metric; host.metric_record = h_metric_record; host.http_request = h_http;
    host.timer_start = h_timer_start; host.timer_cancel = h_timer_cancel; host.route_register = h_route_register;
    host.respond = h_respond; host.submit_inbound = h_submit; host.complete = h_complete; host.get_env = h_get_env;
    host.report_status = h_report_status; host.account_update = h_account_update;

    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    ds_plugin_entry_fn entry = (ds_plugin_entry_fn)dlsym(lib, DS_ENTRY_SYMBOL);
    const ds_plugin_descriptor *d = entry(&host, 1, 1);
    if (d == NULL) { printf("entry=NULL\n"); return 1; }
    printf("plugin_abi=%u.%u\n", d->abi_major, d->abi_minor);

    ds_error err;
    err.struct_size = sizeof err;
    err.message[0] = 0;
    const ds_channel_v1 *ch = d->get_interface(d, DS_CHANNEL_V1);
    void *channel = NULL;
    printf("channel_create=%d\n", ch->create(d, (ds_host_handle *)&host, ds_str_from_cstr("{}"), &channel, &err));
    if (g_handler != NULL) {
        ds_route_request req;
        memset(&req, 0, sizeof req);
        req.struct_size = SIZE_11(ds_route_request, remote_address);
        req.method = ds_str_from_cstr("POST");
        req.path = ds_str_from_cstr("/abi12/sms");
        g_handler(g_user, &req, (ds_op *)&req);
    }

    const ds_agent_transport_v1 *tr = d->get_interface(d, DS_AGENT_TRANSPORT_V1);
    void *transport = NULL, *agent = NULL;
    printf("transport_create=%d\n", tr->create(d, (ds_host_handle *)&host, ds_str_from_cstr("{}"), &transport, &err));
    printf("open=%d\n", tr->open(transport, ds_str_from_cstr("bot"), ds_str_from_cstr("{\"greeting\":\"hi\"}"), &agent, &err));
    ds_agent_request r;
    memset(&r, 0xCD, sizeof r);   /* poison the 1.2 media fields */
    r.struct_size = SIZE_11(ds_agent_request, time_ms);
    r.message_id = ds_str_from_cstr("m1"); r.correlation_id = ds_str_from_cstr("c:m1"); r.session_id = ds_str_from_cstr("s1");
    r.channel = ds_str_from_cstr("c"); r.from = ds_str_from_cstr("+15550001111"); r.to = ds_str_from_cstr("+15550002222");
    r.text = ds_str_from_cstr("hello"); r.history = NULL; r.history_count = 0; r.session_state = ds_str_from_cstr("");
    r.timeout_ms = 1000; r.time_ms = 0;
    printf("call=%d\n", tr->call(transport, agent, &r, (ds_op *)&r));
    printf("probe=%d\n", tr->probe(transport, agent, (ds_op *)&r));
    return 0;
}
