/*
 * Fixture: a plugin built against ABI 1.2 that uses the 1.2 additions when the host has
 * them and falls back when it does not (tested on the Swift host, a 1.2 host, and on
 * abi11_host.c, a C host frozen at 1.1).
 *
 *  - exports darkspere_plugin_abi (DS_DECLARE_PLUGIN_ABI);
 *  - ds.channel/1: create() reads host->instance_info when present and registers the
 *    pattern POST /abi12/{tenant}/sms (1.2) or the exact POST /abi12/sms (older hosts);
 *    the handler answers "tenant=<param> id=<instance id> url=<public url> mode=<mode>"
 *    (`mode` comes from config, whose schema defaults it to "a"). send() registers
 *    POST /abi12/late (a route added after create) and answers it with "late".
 *    validate_config refuses a `url` that does not start with https:// and a `mode` "b"
 *    together with `strict` (two lines).
 *  - ds.agent-transport/1: call() answers "<greeting> media=<n> first=<url>" (greeting from
 *    the agent config, default "hello" through agent_config_schema; media read only when
 *    the request's struct_size has them). probe() starts an HTTP request to the agent's
 *    `hang_url` with http_start and cancels it at once, completing with the status the
 *    request's callback got (DS_ERR_CANCELLED expected). validate_agent_config refuses
 *    `"bad":true`.
 */
#include "darkspere_plugin.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

DS_DECLARE_PLUGIN_ABI;

static const ds_host *g_host;

static void json_string(ds_str json, const char *key, char *out, size_t cap, const char *dflt) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    snprintf(out, cap, "%s", dflt);
    if (json.ptr == NULL) return;
    char *copy = strndup(json.ptr, json.len);
    char *p = strstr(copy, pat);
    if (p) {
        p += strlen(pat);
        char *e = strchr(p, '"');
        if (e) { size_t n = (size_t)(e - p); if (n >= cap) n = cap - 1; memcpy(out, p, n); out[n] = 0; }
    }
    free(copy);
}

static int json_has(ds_str json, const char *needle) {
    if (json.ptr == NULL) return 0;
    char *copy = strndup(json.ptr, json.len);
    int r = strstr(copy, needle) != NULL;
    free(copy);
    return r;
}

static void respond_text(ds_op *op, int32_t status, const char *text) {
    ds_http_response r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.status = status;
    r.body = ds_str_from_cstr(text);
    g_host->respond(op, &r);
}

static int host_has_12(void) { return DS_HAS_FIELD(ds_host, g_host, http_cancel); }

/* ---- channel ---------------------------------------------------------------------------- */

typedef struct {
    ds_host_handle *host;
    char id[64];
    char url[256];
    char mode[16];
    int late_registered;
} channel;

static ds_status route_sms(void *user, const ds_route_request *req, ds_op *op) {
    channel *c = user;
    char tenant[64] = "-";
    if (DS_HAS_FIELD(ds_route_request, req, param_count)) {
        for (size_t i = 0; i < req->param_count; i++) {
            if (req->params[i].key.len == 6 && memcmp(req->params[i].key.ptr, "tenant", 6) == 0) {
                snprintf(tenant, sizeof tenant, "%.*s", (int)req->params[i].value.len, req->params[i].value.ptr);
            }
        }
    }
    char body[512];
    snprintf(body, sizeof body, "tenant=%s id=%s url=%s mode=%s", tenant, c->id, c->url, c->mode);
    respond_text(op, 200, body);
    return DS_OK;
}

static ds_status route_late(void *user, const ds_route_request *req, ds_op *op) {
    (void)user; (void)req;
    respond_text(op, 200, "late");
    return DS_OK;
}

static ds_status c_create(const ds_plugin_descriptor *p, ds_host_handle *h, ds_str cfg, void **out, ds_error *err) {
    (void)p;
    channel *c = calloc(1, sizeof *c);
    c->host = h;
    strcpy(c->id, "?");
    strcpy(c->url, "?");
    json_string(cfg, "mode", c->mode, sizeof c->mode, "unset");
    if (host_has_12()) {
        const ds_instance_info *info = g_host->instance_info(h);
        snprintf(c->id, sizeof c->id, "%.*s", (int)info->instance_id.len, info->instance_id.ptr);
        snprintf(c->url, sizeof c->url, "%.*s", (int)info->public_url.len, info->public_url.ptr);
    }
    const char *path = host_has_12() ? "/abi12/{tenant}/sms" : "/abi12/sms";
    ds_status s = g_host->route_register(h, ds_str_from_cstr("POST"), ds_str_from_cstr(path), route_sms, c, err);
    if (s != DS_OK) { free(c); return s; }
    *out = c;
    return DS_OK;
}

static void c_destroy(void *inst) { free(inst); }

static ds_status c_send(void *inst, const ds_outbound_message *m, ds_op *op) {
    channel *c = inst;
    ds_error err;
    ds_outcome o;
    (void)m;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.text = ds_str_from_cstr("sent");
    if (!c->late_registered) {
        err.struct_size = sizeof err;
        err.message[0] = 0;
        ds_status s = g_host->route_register(c->host, ds_str_from_cstr("POST"), ds_str_from_cstr("/abi12/late"), route_late, c, &err);
        if (s != DS_OK) { o.error = ds_str_from_cstr(err.message); g_host->complete(op, s, &o); return DS_PENDING; }
        c->late_registered = 1;
    }
    g_host->complete(op, DS_OK, &o);
    return DS_PENDING;
}

static ds_status c_validate(const ds_plugin_descriptor *p, ds_str cfg, ds_error *err) {
    (void)p;
    char url[256], msg[512] = "";
    json_string(cfg, "url", url, sizeof url, "https://");
    if (strncmp(url, "https://", 8) != 0) strcat(msg, "config.url: must start with https://\n");
    if (json_has(cfg, "\"mode\":\"b\"") && json_has(cfg, "\"strict\":true")) strcat(msg, "config.mode: \"b\" cannot be strict");
    if (msg[0] == 0) return DS_OK;
    ds_error_set(err, msg);
    return DS_ERR_CONFIG;
}

static const ds_channel_v1 channel_table = {
    sizeof(ds_channel_v1), c_create, c_destroy, c_send, NULL, c_validate,
};

/* ---- agent transport ----------------------------------------------------------------- */

typedef struct { char greeting[64]; char hang_url[256]; } agent;
typedef struct { ds_op *op; ds_status got; } probe_state;

static ds_status t_create(const ds_plugin_descriptor *p, ds_host_handle *h, ds_str cfg, void **out, ds_error *err) {
    (void)p; (void)cfg; (void)err;
    *out = h;
    return DS_OK;
}
static void t_destroy(void *inst) { (void)inst; }

static ds_status t_open(void *inst, ds_str name, ds_str cfg, void **out, ds_error *err) {
    (void)inst; (void)name; (void)err;
    agent *a = calloc(1, sizeof *a);
    json_string(cfg, "greeting", a->greeting, sizeof a->greeting, "no-default-applied");
    json_string(cfg, "hang_url", a->hang_url, sizeof a->hang_url, "");
    *out = a;
    return DS_OK;
}

static ds_status t_call(void *inst, void *ag, const ds_agent_request *req, ds_op *op) {
    agent *a = ag;
    char text[512];
    size_t n = 0;
    char first[256] = "-";
    (void)inst;
    if (DS_HAS_FIELD(ds_agent_request, req, media_count)) {
        n = req->media_count;
        if (n > 0) snprintf(first, sizeof first, "%.*s", (int)req->media[0].url.len, req->media[0].url.ptr);
    }
    snprintf(text, sizeof text, "%s media=%zu first=%s", a->greeting, n, first);
    ds_outcome o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.text = ds_str_from_cstr(text);
    g_host->complete(op, DS_OK, &o);
    return DS_PENDING;
}

static void probe_done(void *user, ds_status status, const ds_http_response *r, ds_str error) {
    probe_state *st = user;
    ds_outcome o;
    (void)r;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.error = error;
    g_host->complete(st->op, status, &o);
    free(st);
}

static ds_status t_probe(void *inst, void *ag, ds_op *op) {
    agent *a = ag;
    if (!host_has_12() || a->hang_url[0] == 0) { g_host->complete(op, DS_OK, NULL); return DS_PENDING; }
    probe_state *st = calloc(1, sizeof *st);
    st->op = op;
    ds_http_request req;
    memset(&req, 0, sizeof req);
    req.struct_size = sizeof req;
    req.method = ds_str_from_cstr("GET");
    req.url = ds_str_from_cstr(a->hang_url);
    req.timeout_ms = 20000;
    ds_http_call *call = NULL;
    ds_status s = g_host->http_start(inst, &req, probe_done, st, &call);
    if (s != DS_OK) { free(st); return s; }
    g_host->http_cancel(call);
    g_host->http_cancel(call);   /* twice: harmless */
    return DS_PENDING;
}

static void t_close(void *inst, void *ag) { (void)inst; free(ag); }

static ds_status t_validate(const ds_plugin_descriptor *p, ds_str cfg, ds_error *err) { (void)p; (void)cfg; (void)err; return DS_OK; }

static ds_status t_validate_agent(const ds_plugin_descriptor *p, ds_str name, ds_str cfg, ds_error *err) {
    (void)p; (void)name;
    if (json_has(cfg, "\"bad\":true")) { ds_error_set(err, "config.bad: must not be true"); return DS_ERR_CONFIG; }
    return DS_OK;
}

static const ds_agent_transport_v1 transport_table = {
    sizeof(ds_agent_transport_v1), t_create, t_destroy, t_open, t_call, t_probe, t_close, NULL, t_validate, t_validate_agent,
};

/* ---- descriptor --------------------------------------------------------------------------- */

static const char *const interfaces[] = { DS_CHANNEL_V1, DS_AGENT_TRANSPORT_V1, NULL };

static const void *get_interface(const ds_plugin_descriptor *p, const char *id) {
    (void)p;
    if (strcmp(id, DS_CHANNEL_V1) == 0) return &channel_table;
    if (strcmp(id, DS_AGENT_TRANSPORT_V1) == 0) return &transport_table;
    return NULL;
}

static const ds_plugin_descriptor descriptor = {
    sizeof(ds_plugin_descriptor), DS_ABI_MAJOR, DS_ABI_MINOR, "abi12", "ABI 1.2 fixture", "1.2.0",
    "uses every 1.2 addition when the host has it",
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"url\":{\"type\":\"string\"},\"strict\":{\"type\":\"boolean\"},"
    "\"mode\":{\"enum\":[\"a\",\"b\"],\"default\":\"a\"}}}",
    interfaces, get_interface, NULL,
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"greeting\":{\"type\":\"string\",\"default\":\"hello\",\"maxLength\":20},"
    "\"hang_url\":{\"type\":\"string\"},\"bad\":{\"type\":\"boolean\"}}}",
};

DS_EXPORT const ds_plugin_descriptor *darkspere_plugin_entry(const ds_host *host, uint32_t major, uint32_t minor) {
    (void)minor;
    if (major != DS_ABI_MAJOR) return NULL;
    g_host = host;
    return &descriptor;
}
