/*
 * Fixture for the router's tests and benchmark (never shipped): one library offering
 *
 *  - ds.channel/1 "test channel": registers POST <route> (default /test/sms); the body is
 *    form-encoded  from=..&to=..&id=..&text=..  and is submitted to the router; the HTTP
 *    answer is 200 + the reply text, 202 "deferred", or 503/400 + the error. send() appends
 *    one line "message_id<TAB>to<TAB>text" to `sends_file` (fsync'd) and fails with
 *    DS_ERR_UNAVAILABLE while `fail_file` exists.
 *  - ds.agent-transport/1 "flaky agent": replies "<prefix>: <text> (history: N)" and fails
 *    every call and probe with DS_ERR_UNAVAILABLE while the agent's `fail_file` exists, so a
 *    test can break an agent and heal it again.
 *
 * Config parsing is deliberately naive ("key":"string value" lookups).
 */
#include "darkspere_plugin.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const ds_host *g_host;

static void json_string(ds_str json, const char *key, char *out, size_t cap, const char *dflt) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    snprintf(out, cap, "%s", dflt);
    if (json.ptr == NULL) return;
    char *copy = strndup(json.ptr, json.len);
    char *p = strstr(copy, pat);
    if (p) {
        p = strchr(p + strlen(pat), '"');
        if (p) {
            char *e = strchr(p + 1, '"');
            if (e) { size_t n = (size_t)(e - p - 1); if (n >= cap) n = cap - 1; memcpy(out, p + 1, n); out[n] = 0; }
        }
    }
    free(copy);
}

/* ---- channel ---------------------------------------------------------------------------- */

typedef struct {
    ds_host_handle *host;
    char sends_file[512];
    char fail_file[512];
    char correlations_file[512];   /* optional: send() appends "message_id<TAB>correlation_id" */
    pthread_mutex_t lock;
} channel_instance;

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Finds form field `name` in body and url-decodes it into out. Returns its length or -1. */
static int form_field(ds_str body, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name), i = 0;
    while (i < body.len) {
        size_t end = i;
        while (end < body.len && body.ptr[end] != '&') end++;
        if (end - i > nl && memcmp(body.ptr + i, name, nl) == 0 && body.ptr[i + nl] == '=') {
            size_t o = 0;
            for (size_t j = i + nl + 1; j < end && o + 1 < cap; j++) {
                char c = body.ptr[j];
                if (c == '+') c = ' ';
                else if (c == '%' && j + 2 < end + 1 && hexval(body.ptr[j + 1]) >= 0 && hexval(body.ptr[j + 2]) >= 0) {
                    c = (char)(hexval(body.ptr[j + 1]) * 16 + hexval(body.ptr[j + 2])); j += 2;
                }
                out[o++] = c;
            }
            out[o] = 0;
            return (int)o;
        }
        i = end + 1;
    }
    out[0] = 0;
    return -1;
}

static void respond_text(ds_op *op, int status, const char *text, size_t len) {
    ds_http_response r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.status = status;
    r.body.ptr = text;
    r.body.len = len;
    g_host->respond(op, &r);
}

static void submitted(void *user, ds_status status, const ds_outcome *reply) {
    ds_op *op = (ds_op *)user;
    if (status == DS_OK) {
        respond_text(op, 200, reply ? reply->text.ptr : "", reply ? reply->text.len : 0);
    } else if (status == DS_DEFERRED) {
        respond_text(op, 202, "deferred", 8);
    } else {
        char buf[600];
        int n = snprintf(buf, sizeof buf, "error %d: %.*s", (int)status,
                         reply ? (int)reply->error.len : 0, reply && reply->error.ptr ? reply->error.ptr : "");
        respond_text(op, status == DS_ERR_INVALID ? 400 : 503, buf, (size_t)n);
    }
}

static ds_status handle_sms(void *user, const ds_route_request *req, ds_op *op) {
    channel_instance *inst = (channel_instance *)user;
    char from[64], to[64], id[128], text[2048];
    form_field(req->body, "from", from, sizeof from);
    form_field(req->body, "to", to, sizeof to);
    form_field(req->body, "id", id, sizeof id);
    int tl = form_field(req->body, "text", text, sizeof text);
    ds_inbound_message m;
    memset(&m, 0, sizeof m);
    m.struct_size = sizeof m;
    m.channel_message_id = ds_str_from_cstr(id);
    m.from = ds_str_from_cstr(from);
    m.to = ds_str_from_cstr(to);
    m.text.ptr = text; m.text.len = tl < 0 ? 0 : (size_t)tl;
    ds_status st = g_host->submit_inbound(inst->host, &m, submitted, op);
    if (st != DS_OK) { submitted(op, st, NULL); }
    return DS_OK;
}

static ds_status ch_create(const ds_plugin_descriptor *plugin, ds_host_handle *host, ds_str config, void **out, ds_error *err) {
    (void)plugin;
    channel_instance *inst = (channel_instance *)calloc(1, sizeof *inst);
    if (!inst) return DS_ERR_FAILED;
    inst->host = host;
    pthread_mutex_init(&inst->lock, NULL);
    char route[256];
    json_string(config, "route", route, sizeof route, "/test/sms");
    json_string(config, "sends_file", inst->sends_file, sizeof inst->sends_file, "");
    json_string(config, "fail_file", inst->fail_file, sizeof inst->fail_file, "");
    json_string(config, "correlations_file", inst->correlations_file, sizeof inst->correlations_file, "");
    ds_status st = g_host->route_register(host, ds_str_from_cstr("POST"), ds_str_from_cstr(route), handle_sms, inst, err);
    if (st != DS_OK) { free(inst); return st; }
    *out = inst;
    return DS_OK;
}

static void ch_destroy(void *instance) { free(instance); }

static ds_status ch_send(void *instance, const ds_outbound_message *m, ds_op *op) {
    channel_instance *inst = (channel_instance *)instance;
    ds_outcome o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    if (inst->fail_file[0] && access(inst->fail_file, F_OK) == 0) {
        o.error = ds_str_from_cstr("fail_file present");
        g_host->complete(op, DS_ERR_UNAVAILABLE, &o);
        return DS_OK;
    }
    if (inst->sends_file[0]) {
        pthread_mutex_lock(&inst->lock);
        int fd = open(inst->sends_file, O_WRONLY | O_APPEND | O_CREAT, 0644);
        if (fd >= 0) {
            dprintf(fd, "%.*s\t%.*s\t%.*s\n", (int)m->message_id.len, m->message_id.ptr ? m->message_id.ptr : "",
                    (int)m->to.len, m->to.ptr ? m->to.ptr : "", (int)m->text.len, m->text.ptr ? m->text.ptr : "");
            fsync(fd);
            close(fd);
        }
        pthread_mutex_unlock(&inst->lock);
    }
    if (inst->correlations_file[0]) {
        pthread_mutex_lock(&inst->lock);
        FILE *f = fopen(inst->correlations_file, "a");
        if (f) {
            fprintf(f, "%.*s\t%.*s\n", (int)m->message_id.len, m->message_id.ptr ? m->message_id.ptr : "",
                    (int)m->correlation_id.len, m->correlation_id.ptr ? m->correlation_id.ptr : "");
            fclose(f);
        }
        pthread_mutex_unlock(&inst->lock);
    }
    o.text = m->message_id;   /* the "provider id" */
    g_host->complete(op, DS_OK, &o);
    return DS_OK;
}

static const ds_channel_v1 channel = { sizeof(ds_channel_v1), ch_create, ch_destroy, ch_send, NULL };

/* ---- flaky agent -------------------------------------------------------------------------- */

typedef struct { char prefix[64]; char fail_file[512]; } flaky_agent;

static ds_status ag_create(const ds_plugin_descriptor *plugin, ds_host_handle *host, ds_str config, void **out, ds_error *err) {
    (void)plugin; (void)config; (void)err;
    *out = host;
    return DS_OK;
}
static void ag_destroy(void *instance) { (void)instance; }
static ds_status ag_open(void *instance, ds_str name, ds_str config, void **out, ds_error *err) {
    (void)instance; (void)name; (void)err;
    flaky_agent *a = (flaky_agent *)calloc(1, sizeof *a);
    if (!a) return DS_ERR_FAILED;
    json_string(config, "prefix", a->prefix, sizeof a->prefix, "flaky");
    json_string(config, "fail_file", a->fail_file, sizeof a->fail_file, "");
    *out = a;
    return DS_OK;
}
static int failing(flaky_agent *a) { return a->fail_file[0] && access(a->fail_file, F_OK) == 0; }
static ds_status ag_call(void *instance, void *agent, const ds_agent_request *req, ds_op *op) {
    (void)instance;
    flaky_agent *a = (flaky_agent *)agent;
    ds_outcome o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    if (failing(a)) {
        o.error = ds_str_from_cstr("fail_file present");
        g_host->complete(op, DS_ERR_UNAVAILABLE, &o);
        return DS_OK;
    }
    char buf[2600];
    int n = snprintf(buf, sizeof buf, "%s: %.*s (history: %lu)", a->prefix, (int)req->text.len,
                     req->text.ptr ? req->text.ptr : "", (unsigned long)req->history_count);
    o.text.ptr = buf; o.text.len = (size_t)n;
    g_host->complete(op, DS_OK, &o);
    return DS_OK;
}
static ds_status ag_probe(void *instance, void *agent, ds_op *op) {
    (void)instance;
    g_host->complete(op, failing((flaky_agent *)agent) ? DS_ERR_UNAVAILABLE : DS_OK, NULL);
    return DS_OK;
}
static void ag_close(void *instance, void *agent) { (void)instance; free(agent); }
static const ds_agent_transport_v1 transport = { sizeof(ds_agent_transport_v1), ag_create, ag_destroy, ag_open, ag_call, ag_probe, ag_close, NULL };

/* ---- descriptor ----------------------------------------------------------------------------- */

static const char *const interfaces[] = { DS_CHANNEL_V1, DS_AGENT_TRANSPORT_V1, NULL };
static const void *get_interface(const ds_plugin_descriptor *plugin, const char *id) {
    (void)plugin;
    if (strcmp(id, DS_CHANNEL_V1) == 0) return &channel;
    if (strcmp(id, DS_AGENT_TRANSPORT_V1) == 0) return &transport;
    return NULL;
}
static const ds_plugin_descriptor descriptor = {
    sizeof(ds_plugin_descriptor), DS_ABI_MAJOR, DS_ABI_MINOR, "fixture-test-channel", "Test channel", "1.0.0",
    "router test fixture: HTTP-submitting channel that records sends, and a file-switched flaky agent", NULL,
    interfaces, get_interface, NULL
};
DS_EXPORT const ds_plugin_descriptor *darkspere_plugin_entry(const ds_host *host, uint32_t major, uint32_t minor) {
    (void)minor;
    if (major != DS_ABI_MAJOR) return NULL;
    g_host = host;
    return &descriptor;
}
