/*
 * bench-fixed-twiml: the ceiling of the Twilio benchmark. A channel plugin whose one
 * route (POST /bench/fixed) answers every request with the same small TwiML document,
 * synchronously, without reading it: the cost of the host's HTTP server plus one
 * route dispatch over the ABI, and nothing else. Not a product feature; bench only.
 *
 * Thread rules: the route handler runs on host I/O threads, concurrently; it touches
 * only constant data.
 */
#include "darkspere_plugin.h"
#include <string.h>

static const ds_host *g_host;
static const char k_twiml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>echo: fixed (history: 0)</Message></Response>";

static ds_status fixed_route(void *user, const ds_route_request *request, ds_op *op) {
    ds_kv header;
    ds_http_response response;
    (void)user; (void)request;
    header.key = ds_str_from_cstr("Content-Type");
    header.value = ds_str_from_cstr("text/xml; charset=utf-8");
    memset(&response, 0, sizeof response);
    response.struct_size = sizeof response;
    response.status = 200;
    response.headers = &header;
    response.header_count = 1;
    response.body.ptr = k_twiml;
    response.body.len = sizeof k_twiml - 1;
    g_host->respond(op, &response);
    return DS_OK;
}

static ds_status fixed_create(const ds_plugin_descriptor *plugin, ds_host_handle *host, ds_str config,
                              void **out_instance, ds_error *err) {
    (void)plugin; (void)config;
    *out_instance = NULL;
    return g_host->route_register(host, ds_str_from_cstr("POST"), ds_str_from_cstr("/bench/fixed"), fixed_route, NULL, err);
}

static void fixed_destroy(void *instance) { (void)instance; }

static ds_status fixed_send(void *instance, const ds_outbound_message *message, ds_op *op) {
    (void)instance; (void)message; (void)op;
    return DS_ERR_UNSUPPORTED;   /* refused synchronously: complete() is not called */
}

static const ds_channel_v1 fixed_channel = { sizeof(ds_channel_v1), fixed_create, fixed_destroy, fixed_send, NULL };
static const char *const fixed_interfaces[] = { DS_CHANNEL_V1, NULL };

static const void *fixed_get_interface(const ds_plugin_descriptor *plugin, const char *id) {
    (void)plugin;
    return strcmp(id, DS_CHANNEL_V1) == 0 ? (const void *)&fixed_channel : NULL;
}

static const ds_plugin_descriptor fixed_descriptor = {
    sizeof(ds_plugin_descriptor), DS_ABI_MAJOR, DS_ABI_MINOR,
    "bench-fixed-twiml", "Benchmark: fixed TwiML route", "1.0.0",
    "POST /bench/fixed answers a constant TwiML document (benchmark ceiling)",
    "{\"type\":\"object\",\"additionalProperties\":false}",
    fixed_interfaces, fixed_get_interface, NULL
};

DS_EXPORT const ds_plugin_descriptor *darkspere_plugin_entry(const ds_host *host, uint32_t major, uint32_t minor) {
    (void)minor;
    if (major != DS_ABI_MAJOR) return NULL;
    g_host = host;
    return &fixed_descriptor;
}
