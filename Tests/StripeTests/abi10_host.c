/*
 * A minimal host frozen at ABI 1.0, in C: its ds_host table ends before
 * account_update (struct_size = offsetof(ds_host, account_update), abi_minor 0).
 * It loads a billing plugin built against 1.1 (argv[1]), creates an instance,
 * sends one signed webhook to the route it registered and one usage to record,
 * and prints what came back, one "key=value" a line. Used by StripeTests to prove
 * that the stripe plugin checks the host's minor before calling account_update.
 *
 *   abi10_host LIB WEBHOOK_SECRET
 */
#include "darkspere_plugin.h"
#include <dlfcn.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static ds_route_handler g_handler;
static void *g_user;
/* Set by the plugin's threads, read by main: through atomics (release/acquire). */
static int g_http_status;
static int g_completed = 0;
static ds_status g_complete_status = 99;
#define SET(v, x) __atomic_store_n(&(v), (x), __ATOMIC_RELEASE)
#define GET(v) __atomic_load_n(&(v), __ATOMIC_ACQUIRE)

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
static void h_respond(ds_op *op, const ds_http_response *r) { (void)op; SET(g_http_status, r->status); }
static ds_status h_submit(ds_host_handle *h, const ds_inbound_message *m, ds_submit_callback cb, void *u) {
    (void)h; (void)m; (void)cb; (void)u; return DS_ERR_UNSUPPORTED;
}
static void h_complete(ds_op *op, ds_status s, const ds_outcome *o) { (void)op; (void)o; SET(g_complete_status, s); SET(g_completed, 1); }
static ds_status h_get_env(ds_host_handle *h, ds_str n, char *b, size_t c, size_t *l) { (void)h; (void)n; (void)b; (void)c; (void)l; return DS_ERR_NOT_FOUND; }
static ds_status h_report_status(ds_host_handle *h, ds_str id, ds_str s, int32_t c) { (void)h; (void)id; (void)s; (void)c; return DS_ERR_UNSUPPORTED; }

static ds_str S(const char *s) { return ds_str_from_cstr(s); }

static int post(const char *body, const char *secret) {
    char signed_payload[4096], header[256], hex[65];
    unsigned char mac[32];
    unsigned int mac_len = 0;
    long t = (long)time(NULL);
    int i;
    ds_kv headers[1];
    ds_route_request req;
    int op_token = 0;
    snprintf(signed_payload, sizeof signed_payload, "%ld.%s", t, body);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signed_payload, strlen(signed_payload), mac, &mac_len);
    for (i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", mac[i]);
    snprintf(header, sizeof header, "t=%ld,v1=%s", t, hex);
    headers[0].key = S("stripe-signature"); headers[0].value = S(header);
    memset(&req, 0, sizeof req);
    req.struct_size = sizeof req;
    req.method = S("POST"); req.path = S("/stripe/webhook"); req.query = S("");
    req.headers = headers; req.header_count = 1; req.body = S(body);
    req.public_url = S("http://127.0.0.1/stripe/webhook"); req.remote_address = S("127.0.0.1:1");
    SET(g_http_status, 0);
    if (g_handler(g_user, &req, (ds_op *)&op_token) != DS_OK) return -1;
    for (i = 0; i < 500 && GET(g_http_status) == 0; i++) usleep(10000);
    return GET(g_http_status);
}

int main(int argc, char **argv) {
    static ds_host host;
    void *lib;
    ds_plugin_entry_fn entry;
    const ds_plugin_descriptor *d;
    const ds_billing_v1 *billing;
    void *instance = NULL;
    ds_error err;
    char config[512], body[512];
    int handle_token = 0, op_token = 0, i;
    ds_usage usage;
    ds_status s;
    if (argc != 3) { fprintf(stderr, "usage: abi10_host LIB SECRET\n"); return 2; }

    memset(&host, 0, sizeof host);
    host.struct_size = (uint32_t)offsetof(ds_host, account_update);   /* a 1.0 host's table */
    host.abi_major = 1; host.abi_minor = 0; host.host_version = "0.0.1-abi10";
    host.log = h_log; host.metric = h_metric; host.metric_record = h_metric_record; host.http_request = h_http;
    host.timer_start = h_timer_start; host.timer_cancel = h_timer_cancel; host.route_register = h_route_register;
    host.respond = h_respond; host.submit_inbound = h_submit; host.complete = h_complete; host.get_env = h_get_env;
    host.report_status = h_report_status;

    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { printf("dlopen=%s\n", dlerror()); return 1; }
    entry = (ds_plugin_entry_fn)dlsym(lib, DS_ENTRY_SYMBOL);
    d = entry(&host, 1, 0);
    if (!d) { printf("entry=NULL\n"); return 1; }
    printf("plugin_abi=%u.%u\n", d->abi_major, d->abi_minor);
    billing = (const ds_billing_v1 *)d->get_interface(d, DS_BILLING_V1);
    snprintf(config, sizeof config,
             "{\"api_key\":\"sk_test_x\",\"api_base\":\"http://127.0.0.1:9\",\"webhook_secret\":\"%s\","
             "\"meter_events\":{\"sms_inbound\":\"ev\"},\"price_tiers\":{\"p\":\"pro\"}}", argv[2]);
    err.struct_size = sizeof err; err.message[0] = '\0';
    s = billing->create(d, (ds_host_handle *)&handle_token, S(config), &instance, &err);
    printf("create=%d\n", s);
    if (s != DS_OK) { printf("error=%s\n", err.message); return 1; }

    snprintf(body, sizeof body, "{\"id\":\"evt_1\",\"type\":\"invoice.paid\",\"created\":%ld,\"data\":{\"object\":{\"customer\":\"cus_acme\"}}}", (long)time(NULL));
    printf("webhook=%d\n", post(body, argv[2]));
    printf("webhook_bad_secret=%d\n", post(body, "whsec_wrong"));
    snprintf(body, sizeof body, "{\"id\":\"evt_2\",\"type\":\"charge.succeeded\",\"created\":%ld,\"data\":{\"object\":{\"customer\":\"cus_acme\"}}}", (long)time(NULL));
    printf("webhook_unknown_type=%d\n", post(body, argv[2]));

    memset(&usage, 0, sizeof usage);
    usage.struct_size = sizeof usage;
    usage.account_id = S("acme"); usage.customer_id = S("cus_acme"); usage.kind = S("agent_messages");  /* no meter: completes without HTTP */
    usage.quantity = 1; usage.idempotency_key = S("k1"); usage.time_ms = 0;
    s = billing->record(instance, &usage, (ds_op *)&op_token);
    for (i = 0; i < 500 && !GET(g_completed); i++) usleep(10000);
    printf("record=%d completed=%d\n", s, GET(g_complete_status));
    fflush(stdout);
    _exit(0);   /* skip destroy: this host runs no event loop to drain */
}
