/*
 * Fixture: a plugin built against ABI 1.1 exactly, with the 1.1 struct sizes frozen here
 * by hand (it compiles against the current header, but every struct_size it writes, and
 * every field it reads, stops where 1.1 stopped), so it keeps proving that the host
 * serves 1.1 plugins after 1.2 grew the structs.
 *
 * To prove the host honours struct_size, the members past the 1.1 sizes hold poison: the
 * channel table's validate_config (a 1.2 member) is a function that aborts the process,
 * and the descriptor's agent_config_schema (1.2) is not JSON. A host that read past
 * struct_size would crash or refuse the plugin.
 *
 *  - ds.channel/1: registers POST /abi11/sms in create() (exact path; 1.1 allows routes
 *    only there) and answers "abi11 ok".
 *  - ds.agent-transport/1: call() answers "abi11: <text>", reading ds_agent_request only
 *    up to its 1.1 fields.
 */
#include "darkspere_plugin.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE_11(type, last_member) ((uint32_t)(offsetof(type, last_member) + sizeof(((type *)0)->last_member)))

static const ds_host *g_host;

static ds_status route(void *user, const ds_route_request *req, ds_op *op) {
    ds_http_response r;
    (void)user; (void)req;
    memset(&r, 0, sizeof r);
    r.struct_size = SIZE_11(ds_http_response, body);
    r.status = 200;
    r.body = ds_str_from_cstr("abi11 ok");
    g_host->respond(op, &r);
    return DS_OK;
}

static ds_status c_create(const ds_plugin_descriptor *p, ds_host_handle *h, ds_str cfg, void **out, ds_error *err) {
    (void)p; (void)cfg;
    *out = NULL;
    return g_host->route_register(h, ds_str_from_cstr("POST"), ds_str_from_cstr("/abi11/sms"), route, NULL, err);
}
static void c_destroy(void *inst) { (void)inst; }
static ds_status c_send(void *inst, const ds_outbound_message *m, ds_op *op) {
    (void)inst; (void)m;
    g_host->complete(op, DS_OK, NULL);
    return DS_PENDING;
}
static ds_status poison_validate(const ds_plugin_descriptor *p, ds_str cfg, ds_error *err) {
    (void)p; (void)cfg; (void)err;
    fprintf(stderr, "abi11 fixture: the host called a 1.2 member past struct_size\n");
    abort();
}

static const ds_channel_v1 channel_table = {
    SIZE_11(ds_channel_v1, cancel), c_create, c_destroy, c_send, NULL, poison_validate,
};

static ds_status t_create(const ds_plugin_descriptor *p, ds_host_handle *h, ds_str cfg, void **out, ds_error *err) {
    (void)p; (void)h; (void)cfg; (void)err;
    *out = NULL;
    return DS_OK;
}
static void t_destroy(void *inst) { (void)inst; }
static ds_status t_open(void *inst, ds_str name, ds_str cfg, void **out, ds_error *err) {
    (void)inst; (void)name; (void)cfg; (void)err;
    *out = NULL;
    return DS_OK;
}
static ds_status t_call(void *inst, void *ag, const ds_agent_request *req, ds_op *op) {
    char text[256];
    ds_outcome o;
    (void)inst; (void)ag;
    snprintf(text, sizeof text, "abi11: %.*s", (int)req->text.len, req->text.ptr);
    memset(&o, 0, sizeof o);
    o.struct_size = SIZE_11(ds_outcome, detail_code);
    o.text = ds_str_from_cstr(text);
    g_host->complete(op, DS_OK, &o);
    return DS_PENDING;
}
static ds_status t_probe(void *inst, void *ag, ds_op *op) { (void)inst; (void)ag; g_host->complete(op, DS_OK, NULL); return DS_PENDING; }
static void t_close(void *inst, void *ag) { (void)inst; (void)ag; }

static const ds_agent_transport_v1 transport_table = {
    SIZE_11(ds_agent_transport_v1, cancel), t_create, t_destroy, t_open, t_call, t_probe, t_close, NULL, poison_validate, NULL,
};

static const char *const interfaces[] = { DS_CHANNEL_V1, DS_AGENT_TRANSPORT_V1, NULL };

static const void *get_interface(const ds_plugin_descriptor *p, const char *id) {
    (void)p;
    if (strcmp(id, DS_CHANNEL_V1) == 0) return &channel_table;
    if (strcmp(id, DS_AGENT_TRANSPORT_V1) == 0) return &transport_table;
    return NULL;
}

static const ds_plugin_descriptor descriptor = {
    SIZE_11(ds_plugin_descriptor, plugin_data), 1, 1, "abi11", "ABI 1.1 fixture", "1.1.0",
    "a plugin frozen at ABI 1.1", NULL, interfaces, get_interface, NULL,
    "{ not json: a 1.2 member past struct_size",
};

DS_EXPORT const ds_plugin_descriptor *darkspere_plugin_entry(const ds_host *host, uint32_t major, uint32_t minor) {
    (void)minor;
    if (major != 1) return NULL;
    g_host = host;
    return &descriptor;
}
